"""FID, KID, Inception Score, precision/recall, density/coverage and sharpness of generated images,
streamed batch by batch.

    fake = generated_images("runs/wae_resnet", n=10_000)          # run dir, SavedModel or image folder
    real = run_data_images("runs/wae_resnet", n=10_000)           # or data_images("celeba:data/celeba", ...)
    extractor = FeatureExtractor()                                # the standard FID Inception
    scores = evaluate(["fid", "kid", "precision_recall"], fake, real, extractor)

Images travel as uint8 batches, so real and generated images are quantised
alike (as PNG files would be); features are summarised by running moments
(float64), so memory does not grow with the number of images.  KID needs
the features themselves, and so do precision/recall and density/coverage: the
first ``KEEP_FEATURES`` are kept when they are asked for (and always for cached
real data); the streams are shuffled (real) or i.i.d. (generated), so those are a
random subset.  The Inception Score keeps every generated image's features and
maps them to the Inception's 1008 classes: one feature pass serves all metrics.

Reference statistics of real data are cached under ``<KERAS_GENS_HOME>/fid_stats``
keyed by the data (its files or array contents), the preprocessing (size,
crop, channels, resize method), the number of images and the feature network's
weights, so they are computed once.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from keras_gens.errors import UserError
from keras_gens.metrics.frechet import FeatureMoments, frechet_distance, frechet_distance_to_samples
from keras_gens.metrics.inception_score import inception_score
from keras_gens.metrics.kid import kernel_inception_distance
from keras_gens.metrics.manifold import density_coverage, precision_recall
from keras_gens.metrics.sharpness import gradient_sharpness, laplacian_variance
from keras_gens.outputs import Kind, check_folder, holds_only, mark, register_kind
from keras_gens.run_dirs import is_run_dir, read_run_info, saved_model_dir
from keras_gens.utils.images import to_uint8
from keras_gens.utils.io import atomic_write_bytes
from keras_gens.utils.progress import progress

# ``evaluate reid|pxd --out DIR``: a report and its figures, in a folder of their own (by default the run's).
EVALUATION_FILES = ("reid_eval.md", "pxd_eval.md", "figures")
EVALUATION = register_kind(Kind("evaluation", "an evaluation report", "python -m keras_gens.evaluate",
                                own=EVALUATION_FILES, recognizes=holds_only(EVALUATION_FILES, needs="*_eval.md")))


def report_folder(out, default: Path) -> Path:
    """Where an evaluation writes its report: ``default`` (the run, or beside the SavedModel), or an ``--out``
    that is new, empty or an earlier report's folder; checked before anything is computed or written."""
    if out is None:
        return default
    return check_folder(out, EVALUATION)


def mark_report_folder(folder: Path, default: Path):
    if Path(folder) != Path(default):
        mark(folder, EVALUATION)

METRICS = ("fid", "kid", "is", "precision_recall", "density_coverage", "sharpness")
# Metrics computed from Inception features; all but the Inception Score compare with real images.
FEATURE_METRICS = ("fid", "kid", "is", "precision_recall", "density_coverage")
REAL_METRICS = ("fid", "kid", "precision_recall", "density_coverage")
# Metrics that need the features themselves, not only their moments.
KEPT_METRICS = ("kid", "precision_recall", "density_coverage")
# The neighbourhood sizes of the papers: k = 3 for precision/recall, k = 5 for density/coverage.
PRECISION_RECALL_K = 3
DENSITY_COVERAGE_K = 5
KEEP_FEATURES = 10_000
STATS_VERSION = 1


@dataclass
class Images:
    """A finite, re-iterable stream of uint8 image batches [B, H, W, C]."""

    name: str
    count: int
    image_size: tuple
    batches: Callable[[], Iterator[np.ndarray]]
    fingerprint: dict | None = None  # identifies real data for the statistics cache
    run_dir: Path | None = None      # set when the images come from a run directory


@dataclass
class Features:
    """Moments of all features, and the first ``KEEP_FEATURES`` of them (for KID)."""

    moments: FeatureMoments
    kept: np.ndarray
    meta: dict = field(default_factory=dict)


# --- where images come from ---------------------------------------------------------------

def data_config(spec: str, image_size, channels=3, split="train", crop=None, resize_method="bilinear", limit=None):
    """A ``data`` section that reads ``spec`` as evaluation does: [0, 1] images, checked quickly."""
    return {"source": spec, "split": split, "image_size": list(image_size), "channels": int(channels),
            "value_range": [0, 1], "crop": crop, "resize_method": resize_method, "validate": "quick",
            "on_error": "fail", "limit": limit}


def _source_fingerprint(source) -> str:
    """Changes when the data set's contents change (file names, sizes and times, or array bytes)."""
    digest = hashlib.sha256()
    paths = getattr(source, "paths", None)
    if paths is not None and len(paths):
        for p in paths:
            stat = os.stat(p)
            digest.update(f"{os.path.abspath(p)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    elif getattr(source, "images", None) is not None:
        digest.update(np.ascontiguousarray(source.images).tobytes())
    digest.update(np.asarray(source.labels).tobytes())
    return digest.hexdigest()[:16]


def source_images(source, n: int | None, *, seed: int = 0, batch_size: int = 50) -> Images:
    """``n`` images of an already loaded ``DataSource`` (no cache fingerprint)."""
    return _source_images(source, None, n, seed, batch_size)


def _source_images(source, data_cfg, n: int | None, seed: int, batch_size: int) -> Images:
    count = source.num_examples if n is None else min(int(n), source.num_examples)

    def batches():
        # One shuffled pass: the first `count` examples are a random subset, each image at most once.
        done = 0
        for batch in source.dataset(batch_size, seed=seed, shuffle=True, repeat=True, drop_remainder=False):
            images = to_uint8(batch["image"].numpy()[: count - done], source.value_range)
            done += len(images)
            yield images
            if done >= count:
                return

    fingerprint = None
    if data_cfg is not None:
        fingerprint = {key: data_cfg[key] for key in ("source", "split", "image_size", "channels", "crop",
                                                      "resize_method", "limit")}
        fingerprint.update(count=count, seed=seed, content=_source_fingerprint(source))
    return Images(source.name, count, tuple(source.image_shape[:2]), batches, fingerprint)


def data_images(spec: str, n: int | None, *, image_size, channels=3, split="train", crop=None,
                resize_method="bilinear", seed: int = 0, batch_size: int = 50) -> Images:
    """``n`` real images (all when ``None``) of a data spec, preprocessed to ``image_size``."""
    from keras_gens import data as data_lib

    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    cfg = data_config(spec, size, channels, split, crop, resize_method)
    return _source_images(data_lib.load(cfg), cfg, n, seed, batch_size)


def training_data_images(data_cfg, n: int | None, *, seed: int = 0, batch_size: int = 50) -> Images:
    """The real images of a config's ``data`` section, preprocessed as in training."""
    from keras_gens import data as data_lib

    cfg = dict(data_cfg)
    cfg["value_range"] = [0, 1]
    size = cfg["image_size"]
    cfg["image_size"] = [size, size] if isinstance(size, int) else list(size)
    return _source_images(data_lib.load(cfg), cfg, n, seed, batch_size)


def run_data_images(run_dir, n: int | None, *, seed: int = 0, batch_size: int = 50) -> Images:
    """The real images a run trained on, preprocessed as in training."""
    from keras_gens.config import load_yaml

    return training_data_images(load_yaml(Path(run_dir) / "config.yaml")["data"], n, seed=seed,
                                batch_size=batch_size)


def generated_images(src, n: int, *, seed: int = 0, batch_size: int = 50) -> Images:
    """``n`` images from a run directory (latest checkpoint), a SavedModel / export folder, or an image folder."""
    from keras_gens.sampling import sample_batches

    src = Path(src)
    if not src.exists():
        raise UserError(f"{src} does not exist (expected a run directory, a SavedModel or an image folder)")
    run = is_run_dir(src)
    saved = None if run else saved_model_dir(src)
    if run or saved is not None:
        image_size = tuple(read_run_info(src)["image_shape"][:2]) if run else _saved_model_image_size(saved)

        def batches():
            for images, _ in sample_batches(src, n, seed=seed, batch_size=batch_size):
                yield images

        return Images(str(src), int(n), image_size, batches, run_dir=src if run else None)
    return folder_images(src, n, seed=seed, batch_size=batch_size)


def _saved_model_image_size(saved_dir: Path) -> tuple:
    import tensorflow as tf

    shape = tf.saved_model.load(str(saved_dir)).signatures["sample"].structured_outputs["images"].shape
    return tuple(int(d) for d in shape[1:3])


def folder_images(folder, n: int | None, *, seed: int = 0, batch_size: int = 50) -> Images:
    """Images in a folder (e.g. written by ``keras_gens.generate``) at their own size."""
    from PIL import Image

    from keras_gens import data as data_lib
    from keras_gens.data.pipeline import Preprocess

    cfg = data_config(f"folder:{folder}", (1, 1))
    source = data_lib.load(cfg)
    first = source.paths[0]
    try:
        with Image.open(first) as image:
            width, height = image.size
    except OSError as exc:
        raise UserError(f"cannot read {first}: {exc}") from None
    cfg["image_size"] = [height, width]
    source = dataclasses.replace(source, preprocess=Preprocess.from_config(cfg))
    return _source_images(source, cfg, n, seed, batch_size)


# --- features and statistics -----------------------------------------------------------------

def extract(images: Images, extractor, *, keep: int = KEEP_FEATURES, desc: str = "") -> Features:
    """Moments of every image's features, and the first ``keep`` features (0 for FID alone)."""
    moments, kept, seen = None, None, 0
    steps = -(-images.count // max(extractor.batch_size, 1))
    for batch in progress(images.batches(), total=steps, desc=desc or f"features of {images.name}",
                          unit="batch", min_total=2):
        features = extractor(batch)
        if moments is None:
            moments = FeatureMoments(features.shape[1])
            # One buffer, filled in place: memory stays flat however many images follow.
            kept = np.empty((min(keep, images.count or keep), features.shape[1]), np.float32)
        moments.update(features)
        take = min(len(features), len(kept) - seen) if seen < len(kept) else 0
        kept[seen:seen + take] = features[:take]
        seen += len(features)
    if moments is None or moments.count < 2:
        raise UserError(f"{images.name}: at least 2 images are needed for FID/KID, got {seen}")
    return Features(moments, kept[:min(seen, len(kept))], {"name": images.name, "count": moments.count})


def stats_cache_dir() -> Path:
    from keras_gens.metrics.inception import home

    return home() / "fid_stats"


def _cache_file(images: Images, extractor, cache_dir: Path) -> Path:
    key = {**images.fingerprint, "backbone": extractor.backbone, "weights": extractor.weights_id,
           "version": STATS_VERSION}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]
    stem = "".join(c if c.isalnum() else "_" for c in str(images.fingerprint["source"]))[-40:].strip("_")
    return cache_dir / f"{stem}-{digest}.npz"


def reference_features(images: Images, extractor, *, cache_dir=None, use_cache: bool = True,
                       log=print) -> Features:
    """Features of real images; cached when ``images`` has a fingerprint and ``use_cache``."""
    if not (use_cache and images.fingerprint):
        return extract(images, extractor, desc=f"reference features of {images.name}")
    path = _cache_file(images, extractor, Path(cache_dir) if cache_dir else stats_cache_dir())
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as f:
                moments = FeatureMoments.from_stats(f["mu"], f["sigma"], int(f["n"]))
                return Features(moments, f["features"], json.loads(str(f["meta"])))
        except Exception as exc:  # a damaged cache file is recomputed, never trusted
            log(f"ignoring unreadable statistics cache {path} ({exc})")
    features = extract(images, extractor, desc=f"reference features of {images.name}")
    import io

    buf = io.BytesIO()
    meta = {**features.meta, "fingerprint": images.fingerprint, "weights": extractor.weights_id}
    np.savez(buf, mu=features.moments.mean, sigma=features.moments.cov, n=np.int64(features.moments.count),
             features=features.kept, meta=np.array(json.dumps(meta, default=str)))
    atomic_write_bytes(path, buf.getvalue())
    log(f"cached reference statistics of {images.name} ({features.moments.count} images): {path}")
    return features


def stats_file_features(path) -> Features:
    """A pytorch-fid style statistics file (``mu``, ``sigma``) as a reference: FID only, no KID."""
    moments = FeatureMoments.load(path)
    return Features(moments, np.zeros((0, moments.dim), np.float32), {"name": str(path), "count": moments.count})


# --- the metrics ---------------------------------------------------------------------------

def fid_score(fake: Features, real: Features) -> float:
    # Where one side kept all its features and they are fewer than the dimensions, the trace comes
    # from their n×n Gram-like matrix (same value, milliseconds instead of seconds).
    for few, other in sorted(((fake, real), (real, fake)), key=lambda pair: pair[0].moments.count):
        if len(few.kept) == few.moments.count < few.moments.dim:
            return frechet_distance_to_samples(other.moments.mean, other.moments.cov, few.kept)
    return frechet_distance(fake.moments.mean, fake.moments.cov, real.moments.mean, real.moments.cov)


def _kept_real(real: Features, metric: str) -> np.ndarray:
    if len(real.kept) < 2:
        raise UserError(f"{metric} needs real features, and {real.meta.get('name')} holds only mean and covariance; "
                        "give --real a data spec instead of a statistics file")
    return real.kept


def kid_score(fake: Features, real: Features, *, subsets: int = 100, subset_size: int = 1000,
              seed: int = 0) -> tuple[float, float]:
    return kernel_inception_distance(_kept_real(real, "KID"), fake.kept, subsets=subsets, subset_size=subset_size,
                                     seed=seed)


def manifold_scores(metrics, fake: Features, real: Features) -> dict:
    """Precision and recall (k = 3) and density and coverage (k = 5) of the kept features, as asked."""
    scores = {}
    pairs = (("precision_recall", precision_recall, PRECISION_RECALL_K, ("precision", "recall")),
             ("density_coverage", density_coverage, DENSITY_COVERAGE_K, ("density", "coverage")))
    for metric, score, k, names in pairs:
        if metric not in metrics:
            continue
        kept_real = _kept_real(real, metric)
        if min(len(kept_real), len(fake.kept)) <= k:
            raise UserError(f"{metric} compares each image with its {k} nearest neighbours: it needs more than {k} "
                            f"real and generated images, got {len(kept_real)} and {len(fake.kept)}")
        scores.update(zip(names, score(kept_real, fake.kept, k=k)))
    return scores


def inception_score_of(fake: Features, extractor, splits: int = 10) -> tuple[float, float]:
    """The Inception Score of every generated image's features (``extract(..., keep=count)``)."""
    if len(fake.kept) < fake.moments.count:
        raise ValueError("the Inception Score needs the features of every image; extract them with keep=count")
    if len(fake.kept) < splits:
        raise UserError(f"the Inception Score averages over {splits} parts: it needs at least {splits} images, "
                        f"got {len(fake.kept)}")
    return inception_score(extractor.logits(fake.kept), splits=splits)


def sharpness_scores(images: Images) -> dict:
    """The thesis's gradient sharpness and the WAE code's Laplacian variance, averaged over all images."""
    total_gradient = total_laplacian = 0.0
    count = 0
    for batch in images.batches():
        total_gradient += float(np.sum(gradient_sharpness(batch, (0, 255), per_image=True)))
        total_laplacian += float(np.sum(laplacian_variance(batch, (0, 255), per_image=True)))
        count += len(batch)
    if not count:
        raise UserError(f"{images.name} yielded no images")
    return {"sharpness": total_gradient / count, "laplacian_variance": total_laplacian / count}


def evaluate(metrics, fake: Images, real: Images | Features | None = None, extractor=None, *,
             cache_dir=None, use_cache: bool = True, kid_subsets: int = 100, kid_subset_size: int = 1000,
             seed: int = 0, log=print) -> dict:
    """The scores asked for, from one pass of the feature network over each image set: ``fid``, ``kid`` and
    ``kid_std``, ``is`` and ``is_std``, ``precision`` and ``recall``, ``density`` and ``coverage``,
    ``sharpness`` and ``laplacian_variance``."""
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise UserError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")
    scores = {}
    if set(REAL_METRICS) & set(metrics) and real is None:
        raise UserError(f"{', '.join(m for m in metrics if m in REAL_METRICS)} compare with real images: "
                        "give --real SPEC (or a run directory as --fake)")
    if set(FEATURE_METRICS) & set(metrics):
        if extractor is None:
            from keras_gens.metrics.inception import FeatureExtractor

            extractor = FeatureExtractor()
        if "is" in metrics:
            extractor.check_logits()  # before any image is read: the weight file may lack the classifier
        keep = fake.count if "is" in metrics else KEEP_FEATURES if set(KEPT_METRICS) & set(metrics) else 0
        fake_features = extract(fake, extractor, keep=keep, desc=f"features of {fake.name}")
        if "is" in metrics:
            scores["is"], scores["is_std"] = inception_score_of(fake_features, extractor)
        scores["fake_images"] = fake_features.moments.count
    if set(REAL_METRICS) & set(metrics):
        real_features = real if isinstance(real, Features) else reference_features(
            real, extractor, cache_dir=cache_dir, use_cache=use_cache, log=log)
        if "fid" in metrics:
            scores["fid"] = fid_score(fake_features, real_features)
        if "kid" in metrics:
            scores["kid"], scores["kid_std"] = kid_score(fake_features, real_features, subsets=kid_subsets,
                                                         subset_size=kid_subset_size, seed=seed)
        scores.update(manifold_scores(metrics, fake_features, real_features))
        scores["real_images"] = real_features.moments.count
    if "sharpness" in metrics:
        scores.update(sharpness_scores(fake))
    return scores
