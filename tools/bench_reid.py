"""Re-ID benchmark (not a test): training images/s per stage, feature extraction, ranking, input pipeline.

    python tools/bench_reid.py                      # the paper's sizes: 224x112, ResNet-50, U-Net, batch 60
    python tools/bench_reid.py --batch 12 --steps 3 # quicker
    make bench-reid BENCH_ARGS="--batch 12"

Training is timed per stage (1 extractor, 2 mask generator, 3 both) on a fixed batch after
warm-up, as the median of single steps; the ImageNet weights are not needed (speed does not
depend on them).  Feature extraction is the exported path (inference mode) at batch 128.
Ranking is ``keras_gens.metrics.reid.evaluate_features`` on random 512-d features at
Market-1501's sizes (3,368 queries × 15,913 gallery images).  The input pipeline reads
Market-format JPEGs through the P×K sampler with resize, crop and flip.  Results are
printed as a Markdown table and written to bench_out/reid.csv.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def build(batch: int, image_size, small: bool):
    from keras_gens import registry
    from keras_gens.models.base import DataInfo

    spec = registry.get("reid")
    overrides = ["data.source=synthetic_reid", "model.backbone_weights=none", f"train.batch_size={batch}",
                 f"data.pk=[{batch // 3}, 3]", f"data.image_size=[{image_size[0]}, {image_size[1]}]"]
    cfg = spec.config(overrides=overrides, smoke=small)
    return spec.build(cfg, DataInfo((*image_size, 3), 0, (0.0, 1.0)))


def time_steps(model, batch, stage: str, steps: int, warmup: int) -> float:
    import tensorflow as tf

    model.current_stage = stage
    step = model.make_train_function(force=True)
    iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        logs = step(iterator)
        float(next(iter(logs.values())))
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=60, help="training batch (a multiple of 3; the paper: 60)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--size", default="224,112", help="height,width (the paper: 224,112)")
    parser.add_argument("--extract-images", type=int, default=512)
    parser.add_argument("--out", default=str(REPO / "bench_out"))
    args = parser.parse_args()

    import keras_gens  # noqa: F401  (quiet TF import)
    import numpy as np
    import tensorflow as tf

    from tools.bench import machine, peak_rss_mb

    size = tuple(int(v) for v in args.size.split(","))
    print(f"# re-ID benchmark — {time.strftime('%Y-%m-%d')}, {machine()}, TensorFlow {tf.__version__}\n", flush=True)
    rows = []
    rng = np.random.default_rng(0)
    model = build(args.batch, size, small=False)
    print(f"extractor {model.extractor.count_params():,} parameters, mask generator "
          f"{model.mask_generator.count_params():,}", flush=True)
    batch = {"image": tf.constant(rng.random((args.batch, *size, 3)), tf.float32),
             "label": tf.constant(np.repeat(np.arange(args.batch // 3), 3), tf.int32)}
    for number, stage in enumerate(("extractor", "mask", "joint"), start=1):
        seconds = time_steps(model, batch, stage, args.steps, args.warmup)
        rows.append({"what": f"train stage {number} ({stage})", "images": f"{size[0]}x{size[1]}",
                     "batch": args.batch, "seconds": round(seconds, 3),
                     "images_per_s": round(args.batch / seconds, 1), "peak_rss_mb": round(peak_rss_mb())})
        print(f"  {rows[-1]['what']}: {rows[-1]['images_per_s']} images/s ({seconds:.2f} s/step)", flush=True)

    features = tf.function(model.features, reduce_retracing=True)
    images = tf.constant(rng.random((128, *size, 3)), tf.float32)
    features(images).numpy()
    start, done = time.perf_counter(), 0
    while done < args.extract_images:
        features(images).numpy()
        done += 128
    seconds = time.perf_counter() - start
    rows.append({"what": "feature extraction (inference)", "images": f"{size[0]}x{size[1]}", "batch": 128,
                 "seconds": round(seconds, 3), "images_per_s": round(done / seconds, 1),
                 "peak_rss_mb": round(peak_rss_mb())})
    print(f"  {rows[-1]['what']}: {rows[-1]['images_per_s']} images/s", flush=True)

    from keras_gens.metrics.reid import evaluate_features

    qf = rng.standard_normal((3368, 512)).astype(np.float32)
    gf = rng.standard_normal((15913, 512)).astype(np.float32)
    start = time.perf_counter()
    evaluate_features(qf, gf, rng.integers(1, 751, 3368), rng.integers(0, 751, 15913), rng.integers(1, 7, 3368),
                      rng.integers(1, 7, 15913))
    seconds = time.perf_counter() - start
    rows.append({"what": "ranking 3,368 x 15,913 (Market), mAP + CMC", "images": "512-d", "batch": 256,
                 "seconds": round(seconds, 2), "images_per_s": round(3368 / seconds, 1),
                 "peak_rss_mb": round(peak_rss_mb())})
    print(f"  {rows[-1]['what']}: {seconds:.2f} s", flush=True)

    from keras_gens import data
    from keras_gens.data.synthetic_reid import write_market_layout

    with tempfile.TemporaryDirectory() as tmp:
        write_market_layout(tmp, train_ids=40, test_ids=1, images_per_camera=3)
        cfg = {"source": f"market1501:{tmp}", "split": "train", "image_size": list(size), "channels": 3,
               "value_range": [0, 1], "validate": "quick", "on_error": "fail", "sampler": "pk", "pk": [20, 3],
               "augment": {"resize": [int(round(size[0] * 234 / 224)), int(round(size[1] * 117 / 112))],
                           "flip": True}}
        stream = iter(data.load(cfg).training_dataset(60, seed=0))
        for _ in range(3):
            next(stream)
        start = time.perf_counter()
        for _ in range(20):
            b = next(stream)
        float(b["image"][0, 0, 0, 0])
        seconds = time.perf_counter() - start
    rows.append({"what": "input pipeline: Market JPEGs, P×K 20×3, resize+crop+flip", "images": f"{size[0]}x{size[1]}",
                 "batch": 60, "seconds": round(seconds / 20, 3), "images_per_s": round(1200 / seconds, 1),
                 "peak_rss_mb": round(peak_rss_mb())})
    print(f"  {rows[-1]['what']}: {rows[-1]['images_per_s']} images/s", flush=True)

    from keras_gens.utils.tables import markdown_table, write_csv

    columns = ["what", "images", "batch", "seconds", "images_per_s", "peak_rss_mb"]
    print("\n" + markdown_table(rows, columns))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "reid.csv", rows, columns)
    print(f"\nwritten: {out / 'reid.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
