"""The WAE-ResNet thesis's comparison (its Tables 4.3-4.5) as a function: ``compare`` trains each
auto-encoder with the runner and scores it on held-out images (interpolation sharpness; FID and
sharpness of prior samples and of reconstructions).  The command and what it writes:
``python -m keras_gens.compare --help`` (keras_gens.cli.compare)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from keras_gens import registry
from keras_gens.errors import UserError
from keras_gens.utils import tables

THESIS_MODELS = ("vae", "vae_resnet", "wae", "wae_resnet")
COLUMNS = ["model", "epochs", "interpolation_sharpness", "random_fid", "random_sharpness", "reconstruction_fid",
           "reconstruction_sharpness", "random_laplacian_var", "reconstruction_laplacian_var", "reconstruction_mse"]


class _MeanOfImages:
    """Per-image metric values averaged over everything added."""

    def __init__(self, fn, value_range):
        self.fn, self.value_range, self.total, self.count = fn, value_range, 0.0, 0

    def add(self, images):
        values = self.fn(images, self.value_range, per_image=True)
        self.total += float(np.sum(values))
        self.count += len(values)

    @property
    def value(self) -> float:
        return self.total / max(self.count, 1)


class _FeatureStream:
    """Running moments of the FID features of everything added (a no-op without an extractor)."""

    def __init__(self, extractor, value_range):
        self.extractor, self.value_range, self.moments = extractor, value_range, None

    def add(self, images):
        if self.extractor is None:
            return
        from keras_gens.metrics.frechet import FeatureMoments
        from keras_gens.utils.images import to_uint8

        features = self.extractor(to_uint8(images, self.value_range))
        self.moments = self.moments or FeatureMoments(features.shape[1])
        self.moments.update(features)

    def fid(self, reference):
        if self.moments is None or reference is None:
            return ""
        return self.moments.distance_to(reference.moments)


def evaluate_autoencoder(model, heldout_source, *, n: int, reconstructions: int | None = None, pairs: int = 16,
                         steps: int = 8, seed: int = 0, batch_size: int = 100, extractor=None,
                         reference=None, judge=None) -> dict:
    """The comparison's metrics for one trained auto-encoder (streamed: memory does not grow with n).

    ``n`` random samples from the prior; ``reconstructions`` held-out images (default ``n``; at most
    the held-out split's size).  With a FID ``extractor`` and the ``reference`` features of real
    held-out images, the random samples and the reconstructions are also scored by FID.  With a
    ``judge`` (keras_gens.evaluation.digit_judge) and a labelled held-out split, also the share of the
    random samples it gives each class (``random_class_shares``) and the share of reconstructions it
    gives their input's label (``reconstruction_agreement``)."""
    from keras_gens.figures import interpolate
    from keras_gens.metrics import gradient_sharpness, laplacian_variance

    vr = model.value_range
    meters = {name: _MeanOfImages(fn, vr) for name, fn in (
        ("random_sharpness", gradient_sharpness), ("random_laplacian_var", laplacian_variance),
        ("reconstruction_sharpness", gradient_sharpness), ("reconstruction_laplacian_var", laplacian_variance),
        ("interpolation_sharpness", gradient_sharpness))}
    random_features, recon_features = _FeatureStream(extractor, vr), _FeatureStream(extractor, vr)
    codes = model.sample_latent(n, seed=seed)
    judged_classes, agreeing = [], 0
    for start in range(0, n, batch_size):
        images = np.asarray(model.generate(codes[start:start + batch_size]))
        meters["random_sharpness"].add(images)
        meters["random_laplacian_var"].add(images)
        random_features.add(images)
        if judge is not None:
            judged_classes.append(judge.classify(images, vr))

    n_real = min(n if reconstructions is None else reconstructions, heldout_source.num_examples)
    squared_error, pixels, done = 0.0, 0, 0
    for batch in heldout_source.dataset(batch_size, seed=seed, shuffle=False, repeat=False, drop_remainder=False):
        real = batch["image"].numpy()[: n_real - done]
        recon = np.asarray(model.reconstruct(real))
        meters["reconstruction_sharpness"].add(recon)
        meters["reconstruction_laplacian_var"].add(recon)
        recon_features.add(recon)
        if judge is not None:
            agreeing += int(np.sum(judge.classify(recon, vr) == batch["label"].numpy()[: len(real)]))
        squared_error += float(np.sum((recon - real) ** 2))
        pixels += real.size
        done += len(real)
        if done >= n_real:
            break

    real = heldout_source.take(2 * pairs, seed=seed + 1)["image"]
    half = len(real) // 2
    meters["interpolation_sharpness"].add(
        interpolate(model, real[:half], real[half:2 * half], steps).reshape(-1, *real.shape[1:]))
    result = {name: meter.value for name, meter in meters.items()}
    result["reconstruction_mse"] = squared_error / max(pixels, 1)
    result["random_fid"], result["reconstruction_fid"] = random_features.fid(reference), recon_features.fid(reference)
    if judge is not None:
        classes = np.concatenate(judged_classes)
        result["random_class_shares"] = (np.bincount(classes, minlength=10) / len(classes)).tolist()
        result["reconstruction_agreement"] = agreeing / max(done, 1)
    return result


def fid_extractor(fid: str, weights=None, log=print):
    """The FID network for ``fid`` = on | off | auto (on when the weights are installed)."""
    if fid == "off":
        return None
    from keras_gens.metrics.inception import FeatureExtractor, default_weights_path

    path = weights or default_weights_path()
    if fid == "auto" and not path.is_file():
        log(f"FID columns left empty: no FID weights at {path} (make fid-weights installs them)")
        return None
    return FeatureExtractor(weights=path)


def markdown_table(rows: list[dict]) -> str:
    return tables.markdown_table(rows, COLUMNS)


# How many images each table scores: the thesis's (Table 4.4: 10,000 random samples; Table 4.5: 40,000
# reconstructions; FID against 40,000 test images) and a quick default for trying the command.
PROTOCOLS = {"quick": {"random": 1000, "reconstructions": 1000, "reference": 1000},
             "thesis": {"random": 10_000, "reconstructions": 40_000, "reference": 40_000}}
THESIS_TEST_FRACTION = 0.2  # its CelebA split: 162,079 training / 40,520 test images


def _comparison_kind():
    from keras_gens.outputs import Kind, holds_only, register_kind
    from keras_gens.run_dirs import is_run_dir

    own = ("comparison.csv", "comparison.md")
    return register_kind(Kind("comparison", "an auto-encoder comparison", "python -m keras_gens.compare", own=own,
                              recognizes=holds_only(own, is_run_dir, needs="comparison.*")))


COMPARISON = _comparison_kind()


def default_out(smoke: bool) -> Path:
    """runs/compare, or runs/compare-smoke: a smoke comparison never blocks the full one's runs."""
    return Path("runs") / ("compare-smoke" if smoke else "compare")


def compare(models=THESIS_MODELS, *, data=None, out=None, overrides=(), smoke=False, random=1000,
            reconstructions=1000, reference=1000, pairs=16, fid="auto", fid_weights=None, log=print) -> list[dict]:
    """Train and score each model.  ``random`` prior samples, ``reconstructions`` held-out images and
    ``reference`` real held-out images for FID; the last two are capped at the held-out split's size,
    and the tables say how many were scored.  ``out``: default runs/compare (runs/compare-smoke with
    ``smoke``, so a smoke comparison never blocks the full one)."""
    from keras_gens import data as data_lib
    from keras_gens import runner
    from keras_gens.run_dirs import hold
    from keras_gens.utils.io import atomic_write_text

    from keras_gens import evaluation

    from keras_gens.outputs import check_folder, mark

    out = check_folder(out if out is not None else default_out(smoke), COMPARISON)
    for name in models:  # every model's settings, before anything is trained or written
        if not registry.get(name).autoencoder:
            raise UserError(f"{name} is not an auto-encoder; compare takes auto-encoders only "
                            f"({', '.join(n for n in registry.names() if registry.get(n).autoencoder)})")
        registry.get(name).config(overrides=[*([f"data.source={json.dumps(data)}"] if data else []), *overrides],
                                  smoke=smoke)
    with hold(out, log):  # one process at a time: each model's run holds its own folder too
        mark(out, COMPARISON)
        rows = []
        extractor = fid_extractor(fid, fid_weights, log)
        reference_count, reference = reference, None
        counts = None
        for name in models:
            log(f"== {name}")
            result = runner.train(name, data=data, out=out / name, overrides=overrides, smoke=smoke, log=log)
            model = result.model
            heldout = data_lib.load_heldout(result.config.data)
            if counts is None:
                counts = {"random": random, "reconstructions": min(reconstructions, heldout.num_examples),
                          "reference": min(reference_count, heldout.num_examples)}
                for what, asked in (("reconstructions", reconstructions), ("reference", reference_count)):
                    if counts[what] < asked:
                        log(f"{what}: {asked:,} asked, but the held-out split ({heldout.name}) has "
                            f"{heldout.num_examples:,} images: scoring {counts[what]:,}")
            if extractor is not None and reference is None:  # the same real images judge every model
                reference = evaluation.reference_features(
                    evaluation.source_images(heldout, counts["reference"], seed=1), extractor, use_cache=False, log=log)
            metrics = evaluate_autoencoder(model, heldout, n=counts["random"],
                                           reconstructions=counts["reconstructions"],
                                           pairs=pairs, seed=result.config.train.seed, extractor=extractor,
                                           reference=reference)
            rows.append({"model": name, "epochs": result.epochs, **metrics})
            log(markdown_table(rows[-1:]))

        # Real held-out images as the reference the generated ones are judged against.
        from keras_gens.metrics import gradient_sharpness, laplacian_variance

        real = heldout.take(counts["reference"], seed=1)["image"]
        rows.append({"model": f"(real held-out images, {len(real)})", "epochs": "",
                     "random_sharpness": gradient_sharpness(real, heldout.value_range),
                     "random_laplacian_var": laplacian_variance(real, heldout.value_range)})
        tables.write_csv(out / "comparison.csv", rows, COLUMNS)
        table = markdown_table(rows)
        fid_note = (f"against {reference.moments.count:,} real held-out images with the standard FID Inception weights"
                    if reference else "not scored (no FID weights, or --fid off)")
        atomic_write_text(out / "comparison.md",
                          f"# Auto-encoder comparison ({heldout.name})\n\nScored: {counts['random']:,} random samples "
                          f"(Table 4.4), {counts['reconstructions']:,} reconstructions of held-out images "
                          f"(Table 4.5), {pairs} interpolated pairs (Table 4.3). Sharpness: the thesis's gradient "
                          f"sharpness on a 0-255 grayscale scale (larger is sharper). FID: {fid_note}.\n\n{table}\n")
        return rows
