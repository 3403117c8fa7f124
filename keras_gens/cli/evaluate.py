"""Score generated images: FID, KID, Inception Score, precision/recall, density/coverage, sharpness.

    python -m keras_gens.evaluate fid [kid] [is] [precision_recall] [density_coverage] [sharpness] \
        --fake SRC [--real SPEC|STATS.npz] [--n N]
    python -m keras_gens.evaluate reid --run RUN_DIR [--data SPEC]     (re-ID mAP/CMC: see keras_gens.cli.evaluate_reid)
    python -m keras_gens.evaluate pxd --run RUN_DIR [--data SPEC]      (PE-GAN's validation: keras_gens.cli.evaluate_pxd)

SRC is a run directory (its latest checkpoint generates the images), a SavedModel
or export folder, or a folder of images.  The real images are a data spec
(``celeba:data/celeba``, ``folder:PATH``, ``cifar10``, ``digits``, ...) resized to
the generated images' size, or a pytorch-fid statistics file (``mu``, ``sigma``;
FID only).  With a run directory and no ``--real``, the run's own training data
is used, preprocessed as in training.

All feature metrics use the standard FID Inception weights (see README,
"Evaluation") and one pass over each image set; the real data's features are
cached, so a data set's features are computed once.  ``is`` is the Inception
Score (no real images); ``precision_recall`` is improved precision and recall
(Kynkäänniemi et al. 2019, k = 3); ``density_coverage`` is density and coverage
(Naeem et al. 2020, k = 5), on at most 10,000 features of each set.
Given a run directory, the scores are also written to its metrics.csv (in the
row of the checkpoint's epoch).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from keras_gens.cli import run_cli
from keras_gens.errors import UserError
from keras_gens.run_dirs import checkpoint_epoch, is_run_dir

DEFAULT_N = 10_000
DEFAULT_N_REAL = 50_000


def _count(text: str):
    if text == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'all', got {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError("at least 2 images are needed")
    return value


def format_scores(scores: dict) -> str:
    parts = []
    if "fid" in scores:
        parts.append(f"FID {scores['fid']:.4f}")
    if "kid" in scores:
        parts.append(f"KID {scores['kid'] * 1e3:.4f} ± {scores['kid_std'] * 1e3:.4f} (×10³)")
    if "is" in scores:
        parts.append(f"IS {scores['is']:.4f} ± {scores['is_std']:.4f}")
    for name in ("precision", "recall", "density", "coverage"):
        if name in scores:
            parts.append(f"{name} {scores[name]:.4f}")
    if "sharpness" in scores:
        parts.append(f"sharpness {scores['sharpness']:.4f} (Laplacian variance {scores['laplacian_variance']:.5f})")
    if "fake_images" in scores:
        real = f" vs {scores['real_images']} real" if "real_images" in scores else ""
        parts.append(f"[{scores['fake_images']} generated{real} images]")
    return ", ".join(parts)


def main(argv=None) -> int:
    from keras_gens.evaluation import METRICS

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["reid"]:
        from keras_gens.cli import evaluate_reid

        reid_args = evaluate_reid.parse_args(argv[1:])
        return run_cli(lambda: evaluate_reid.run(reid_args), {"--run": reid_args.run, "--out": reid_args.out})
    if argv[:1] == ["pxd"]:
        from keras_gens.cli import evaluate_pxd

        pxd_args = evaluate_pxd.parse_args(argv[1:])
        return run_cli(lambda: evaluate_pxd.run(pxd_args), {"--run": pxd_args.run, "--out": pxd_args.out,
                                                            "--generated": pxd_args.generated})

    parser = argparse.ArgumentParser(prog="python -m keras_gens.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("metrics", nargs="+", choices=METRICS, metavar="METRIC",
                        help=f"one or more of {', '.join(METRICS)}")
    parser.add_argument("--fake", required=True, help="run directory, SavedModel/export folder, or image folder")
    parser.add_argument("--real", help="data spec, or a .npz statistics file with mu and sigma (FID only)")
    parser.add_argument("--split", default="train", choices=["train", "test", "all"],
                        help="split of --real (default train)")
    parser.add_argument("--n", type=_count, default=DEFAULT_N,
                        help=f"generated images to score (default {DEFAULT_N}; 'all' for a whole folder)")
    parser.add_argument("--n-real", type=_count, default=DEFAULT_N_REAL,
                        help=f"real images for the reference statistics (default {DEFAULT_N_REAL}, or all if fewer)")
    parser.add_argument("--backbone", default="fid_inception", choices=["fid_inception", "keras_imagenet"],
                        help="feature network; keras_imagenet values are NOT comparable with published FIDs")
    parser.add_argument("--weights", help="converted FID Inception weights (default: $KERAS_GENS_FID_WEIGHTS or "
                        "~/.cache/keras_gens/weights/fid_inception_2015-12-05.npz)")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent samples and of the real subset")
    parser.add_argument("--no-cache", action="store_true", help="recompute the real data's statistics")
    parser.add_argument("--kid-subsets", type=int, default=100)
    parser.add_argument("--kid-subset-size", type=int, default=1000)
    args = parser.parse_args(argv)

    def work():
        return run(args)

    return run_cli(work, {"--fake": args.fake, "--real": args.real, "--weights": args.weights})


def run(args) -> int:
    from keras_gens import evaluation as ev

    metrics = list(dict.fromkeys(args.metrics))
    fake_path = Path(args.fake)
    if args.n is None and not (fake_path.is_dir() and not is_run_dir(fake_path)):
        raise UserError("--n all is for image folders; a model needs a number of images to generate")
    fake = ev.generated_images(fake_path, args.n, seed=args.seed, batch_size=args.batch_size)
    real = None
    needs_real = bool(set(ev.REAL_METRICS) & set(metrics))
    if needs_real:
        if args.real and args.real.endswith(".npz") and Path(args.real).is_file():
            real = ev.stats_file_features(args.real)
        elif args.real:
            real = ev.data_images(args.real, args.n_real, image_size=fake.image_size, split=args.split,
                                  seed=args.seed, batch_size=args.batch_size)
        elif fake.run_dir is not None:
            real = ev.run_data_images(fake.run_dir, args.n_real, seed=args.seed, batch_size=args.batch_size)
        else:
            raise UserError(f"{', '.join(m for m in metrics if m in ev.REAL_METRICS)} need real images: "
                            "give --real SPEC (e.g. --real celeba:data/celeba)")

    extractor = None
    if set(ev.FEATURE_METRICS) & set(metrics):
        from keras_gens.metrics.inception import FeatureExtractor

        extractor = FeatureExtractor(args.backbone, weights=args.weights, batch_size=args.batch_size)
    scores = ev.evaluate(metrics, fake, real, extractor, use_cache=not args.no_cache,
                         kid_subsets=args.kid_subsets, kid_subset_size=args.kid_subset_size, seed=args.seed)
    print(f"{fake.name}: {format_scores(scores)}")
    if fake.run_dir is not None:
        from keras_gens.utils import metrics_csv

        epoch = checkpoint_epoch(fake.run_dir) or 0
        suffix = "" if args.backbone == "fid_inception" else f"_{args.backbone}"
        feature_scores = ("fid", "kid", "kid_std", "is", "is_std", "precision", "recall", "density", "coverage")
        values = {f"{k}{suffix}" if k in feature_scores else k: v for k, v in scores.items()
                  if k not in ("fake_images", "real_images")}
        metrics_csv.upsert(fake.run_dir / "metrics.csv", epoch, values)
        print(f"written to {fake.run_dir / 'metrics.csv'} (epoch {epoch})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
