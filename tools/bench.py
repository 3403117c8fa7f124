"""Throughput benchmarks (not tests): input pipelines and training steps of registered models.

    python tools/bench.py                       # every model at smoke size, XLA off and on, SavedModel inference
    python tools/bench.py --sizes smoke,paper   # and the papers' sizes (hours on 2 cores)
    python tools/bench.py --models vae --sizes paper --jit off --steps 10
    python tools/bench.py --settings            # each speed setting per model (make bench-settings)
    make bench BENCH_ARGS="--sizes smoke"

Each measurement runs in its own process (clean memory figures, no XLA cache
shared between settings).  Training is timed on a fixed batch, after warm-up,
as the median of single steps; the input pipeline is timed alone.  Results
are printed as a Markdown table and written to bench_out/results.csv.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools" / "bench"))

from machine import describe  # noqa: E402


# Models whose data is not the embedded digits, and settings a benchmark needs (no weight download).
BENCH_DATA = {"reid": "synthetic_reid", "pe_gan": "synthetic_pxd", "wgan_gp_cond": "synthetic_pxd"}
BENCH_OVERRIDES = {"reid": ["model.backbone_weights=none"]}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_training(name: str, size: str, jit: bool, steps: int, warmup: int, paper_batch: int = 0,
                   precision: str = "float32", per_call: int = 1) -> dict:
    import tensorflow as tf

    from keras_gens import data, registry, run_dirs
    from keras_gens.models.base import DataInfo

    spec = registry.get(name)
    overrides = [f"train.jit_compile={str(jit).lower()}", f"data.source={BENCH_DATA.get(name, 'digits')}",
                 f"train.precision={precision}", f"train.steps_per_execution={per_call}"]
    overrides += BENCH_OVERRIDES.get(name, [])
    if size == "paper":
        overrides.append("data.crop=null")
        if paper_batch:  # the paper's batch takes minutes per step on a CPU; images/s hardly depends on it
            overrides.append(f"train.batch_size={paper_batch}")
            if name == "reid":  # its batches are P identities × K images
                overrides.append(f"data.pk=[{paper_batch // 2}, 2]")
    cfg = spec.config(smoke=(size == "smoke"), overrides=overrides)
    source = data.load(cfg.data)
    with run_dirs.precision(precision):
        model = spec.build(cfg, DataInfo.of(source))
    # A step may consume several batches (a WGAN's critic steps): images/s counts what it consumes.
    step_batch = int(cfg.train.batch_size) * model.batches_per_step
    batch = next(iter(source.dataset(step_batch, seed=0)))
    iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
    step = model.make_train_function()
    steps, warmup = timed_calls(steps, warmup, per_call)
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        logs = step(iterator)  # runs train.steps_per_execution steps
        float(next(iter(logs.values())))  # wait for the step to finish
        if i >= warmup:
            times.append(time.perf_counter() - start)
    ms = statistics.median(times) * 1000 / per_call
    return {"what": f"train {name}", "size": size, "image": "x".join(map(str, source.image_shape)),
            "batch": step_batch, "jit": jit, "precision": precision, "per_call": per_call,
            "threads": threading_label(), "ms_per_step": round(ms, 2),
            "images_per_s": round(step_batch / (ms / 1000), 1), "peak_rss_mb": round(peak_rss_mb())}


def timed_calls(steps: int, warmup: int, per_call: int) -> tuple[int, int]:
    """Calls timed and calls to warm up when each call runs ``per_call`` steps (it already averages them)."""
    if per_call == 1:
        return steps, warmup
    return max(3, -(-steps // per_call)), max(2, -(-warmup // per_call))


def threading_label() -> str:
    import tensorflow as tf

    intra = tf.config.threading.get_intra_op_parallelism_threads() or "default"
    inter = tf.config.threading.get_inter_op_parallelism_threads() or "default"
    return f"{intra}/{inter}"


def print_octave_ratios(results: list[dict]):
    """OC-GAN claims octave convolutions cut spatial redundancy: octave/plain throughput per model pair."""
    by_key = {(r["what"], r["size"], r["jit"]): r for r in results if r["what"].startswith("train ")}
    lines = []
    for (what, size, jit), r in by_key.items():
        plain = by_key.get((what[:-len("_oct")], size, jit)) if what.endswith("_oct") else None
        if plain:
            lines.append(f"| {what[len('train '):]} / {plain['what'][len('train '):]} | {size} | {jit} | "
                         f"{r['images_per_s'] / plain['images_per_s']:.2f} |")
    if lines:
        text = "| octave / plain | size | jit | images/s ratio |\n|---|---|---|---|\n" + "\n".join(lines)
        print("\n" + text)
        return text
    return ""


def markdown_report(title, command, table, ratios, steps, warmup) -> str:
    return (f"{title}\n\nCommand: `{command}`. Training: median of {steps} single steps after {warmup} warm-up "
            f"steps on a fixed batch, each setting in its own process; ms_per_step is per train_step (a WGAN step "
            f"holds its critic steps). SavedModel: serving_default, uint8 images.\n\n## Training steps, input "
            f"pipelines, SavedModel inference\n\n{table}\n" + (f"\nOctave / plain:\n\n{ratios}\n" if ratios else ""))


def make_jpeg_folder(root: Path, n: int):
    """CelebA-shaped stand-ins: 178×218 JPEGs (smooth noise, so they compress like photos)."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        small = rng.integers(0, 256, (28, 23, 3), dtype=np.uint8)
        cv2.imwrite(str(root / f"{i + 1:06d}.jpg"), cv2.resize(small, (178, 218), interpolation=cv2.INTER_CUBIC))


PIPELINE_VARIANTS = ("autotune", "nondeterministic", "one thread")


def bench_pipeline(kind: str, batches: int, variant: str = "autotune") -> dict:
    """Batches/s of a loader; ``variant``: ours (autotuned parallel maps and prefetch, deterministic order),
    "nondeterministic" (elements may come out of order), "one thread" (what the parallelism buys)."""
    import tensorflow as tf

    from keras_gens import data

    cfg = {"split": "train", "image_size": 128, "channels": 3, "value_range": [0, 1], "crop": None,
           "resize_method": "bilinear", "validate": "quick", "on_error": "fail", "limit": None}
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "digits":
            cfg["source"] = "digits"
        else:
            make_jpeg_folder(Path(tmp) / "img_align_celeba", 512)
            cfg.update(source=f"celeba:{tmp}", crop=140)
        source = data.load(cfg)
        dataset = source.dataset(64, seed=0)
        options = tf.data.Options()
        if variant == "nondeterministic":
            options.deterministic = False
        elif variant == "one thread":
            options.threading.private_threadpool_size = 1
        ds = iter(dataset.with_options(options))
        for _ in range(3):
            next(ds)
        start = time.perf_counter()
        for _ in range(batches):
            batch = next(ds)
        float(batch["image"][0, 0, 0, 0])
        elapsed = time.perf_counter() - start
    label = "digits -> 128x128x3" if kind == "digits" else "CelebA-format JPEG 178x218, crop 140 -> 128x128x3"
    if variant != "autotune":
        label += f", {variant}"
    return {"what": f"input pipeline: {label}", "size": "paper", "image": "128x128x3", "batch": 64, "jit": "",
            "ms_per_step": round(elapsed / batches * 1000, 1), "images_per_s": round(64 * batches / elapsed, 1),
            "peak_rss_mb": round(peak_rss_mb())}


def bench_export(name: str, size: str, batches: int) -> dict:
    """Generator inference through the exported SavedModel's serving_default (uint8 images), batch 64."""
    import numpy as np
    import tensorflow as tf

    from keras_gens import registry
    from keras_gens.serving import export_model
    from keras_gens.models.base import DataInfo

    spec = registry.get(name)
    cfg = spec.config(smoke=(size == "smoke"), overrides=[f"data.source={BENCH_DATA.get(name, 'digits')}",
                                                          *BENCH_OVERRIDES.get(name, [])])
    side = cfg.data.image_size
    shape = (*((side, side) if isinstance(side, int) else side), int(cfg.data.channels))
    classes = {"bagan_gp": 10, "cgan": 10, "pe_gan": 40, "wgan_gp_cond": 40}.get(name, 0)
    model = spec.build(cfg, DataInfo(shape, classes, tuple(cfg.data.value_range)))
    with tempfile.TemporaryDirectory() as tmp:
        export_model(model, Path(tmp) / "1")
        serve = tf.saved_model.load(str(Path(tmp) / "1")).signatures["serving_default"]
        inputs = {"z": tf.constant(model.sample_latent(64))}
        if classes:
            inputs["labels"] = tf.constant(np.arange(64) % classes, tf.int32)
        serve(**inputs)["images"].numpy()
        start = time.perf_counter()
        for _ in range(batches):
            serve(**inputs)["images"].numpy()
        elapsed = time.perf_counter() - start
    return {"what": f"SavedModel generate {name}", "size": size, "image": "x".join(map(str, shape)), "batch": 64,
            "jit": "", "ms_per_step": round(elapsed / batches * 1000, 1),
            "images_per_s": round(64 * batches / elapsed, 1), "peak_rss_mb": round(peak_rss_mb())}


def run_worker(args) -> int:
    import keras_gens  # noqa: F401  (quiet TF import)

    if args.threads:  # before the first op: TF fixes its thread pools then
        import tensorflow as tf

        intra, inter = (int(t) for t in args.threads.split("/"))
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)

    if args.worker == "pipeline":
        result = bench_pipeline(args.kind, args.batches, args.variant)
    elif args.worker == "export":
        result = bench_export(args.model, args.size, max(2, args.steps))
    else:
        result = bench_training(args.model, args.size, args.jit_on, args.steps, args.warmup, args.paper_batch,
                                args.precision, args.per_call)
    print("RESULT " + json.dumps(result))
    return 0


# Seconds one measurement may take (XLA-compiling PE-GAN's BigGAN-deep blocks on 2 cores takes longer).
TIMEOUT_S = 300


def spawn(*extra) -> dict | None:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO))
    try:
        proc = subprocess.run([sys.executable, __file__, *extra], capture_output=True, text=True, env=env,
                              timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:  # subprocess.run kills the worker
        print(f"  timed out after {TIMEOUT_S} s: {' '.join(extra)}", file=sys.stderr, flush=True)
        return None
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    print(f"  failed: {' '.join(extra)}\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}", file=sys.stderr)
    return None


def half_precision_policies() -> list[str]:
    """The mixed-precision policies this machine runs natively (float16 is emulated, and slow, on CPUs)."""
    import tensorflow as tf

    flags = ""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        pass
    policies = ["mixed_bfloat16"] if ("avx512_bf16" in flags or "amx_bf16" in flags) else []
    if tf.config.list_physical_devices("GPU"):
        policies = ["mixed_bfloat16", "mixed_float16"]
    return policies


def setting_grid() -> dict:
    """Speed settings, each against the float32 baseline: worker flags by label."""
    import multiprocessing

    cores = multiprocessing.cpu_count()
    grid = {"float32": [], "xla": ["--jit-on"], f"threads {cores}/1": ["--threads", f"{cores}/1"],
            "steps_per_execution 8": ["--per-call", "8"]}
    grid.update({policy: ["--precision", policy] for policy in half_precision_policies()})
    return grid


def sweep_settings(names, sizes, args) -> str:
    """Every model under every speed setting; returns the Markdown section (ms per step, speed-ups)."""
    grid = setting_grid()
    rows, faster = [], {label: [] for label in grid if label != "float32"}
    for name in names:
        for size in sizes:
            row = {"model": name, "size": size}
            for label, flags in grid.items():
                r = spawn("--worker", "train", "--model", name, "--size", size, "--steps", str(args.steps),
                          "--warmup", str(args.warmup), "--paper-batch", str(args.paper_batch), *flags)
                row[label] = r["ms_per_step"] if r else "n/a"
                if r:
                    row.setdefault("image", r["image"])
                    row.setdefault("batch", r["batch"])
            timed = {k: row[k] for k in grid if isinstance(row.get(k), float)}
            base = timed.get("float32")
            best = min(timed, key=timed.get) if timed else None
            row["fastest"] = f"{best} x{base / timed[best]:.2f}" if best and base else ""
            for label in faster:
                if base and label in timed and base / timed[label] >= 1.05:
                    faster[label].append(name if len(sizes) == 1 else f"{name} ({size})")
            print(f"  {name} {size}: " + ", ".join(f"{k} {v}" for k, v in timed.items()), flush=True)
            rows.append(row)
    pipelines = [spawn("--worker", "pipeline", "--kind", kind, "--batches", str(args.batches), "--variant", variant)
                 for kind in ("digits", "jpeg") for variant in PIPELINE_VARIANTS]
    layouts = subprocess.run([sys.executable, str(REPO / "tools" / "bench" / "ceiling.py"), "--layouts"],
                             capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    layout = next((json.loads(line[8:]) for line in layouts.stdout.splitlines() if line.startswith("LAYOUTS ")), {})
    from keras_gens.utils.tables import markdown_table

    columns = ["model", "size", "image", "batch", *grid, "fastest"]
    verdicts = "\n".join(f"- **{label}**: at least 5% faster for "
                          + (", ".join(models) if models else "no model") for label, models in faster.items())
    calls, warm_calls = timed_calls(args.steps, args.warmup, 8)
    text = (f"## Speed settings, per model\n\n{time.strftime('%Y-%m-%d')}, {describe()}; `python tools/bench.py "
            f"--settings --sizes {','.join(sizes)} --steps {args.steps}` (`make bench-settings`). Milliseconds per "
            f"training step (median of {args.steps}, after {args.warmup} warm-up calls; with 8 steps per call, "
            f"median of {calls} calls after {warm_calls}), each setting "
            "alone against the float32 baseline (XLA off, TensorFlow's thread pools, one step per call).\n\n"
            + markdown_table(rows, columns) + "\n\n"
            + (f"n/a: no result within {TIMEOUT_S} s, or the measurement failed (the command's output says "
               "which; PE-GAN's XLA compilation takes longer).\n\n" if any(
                "n/a" in row.values() for row in rows) else "") + verdicts + "\n")
    if layout:
        text += (f"\nData layout, a 3x3 convolution stack's training step: channels last (NHWC) "
                 f"{layout['NHWC']:.0f} GFLOP/s, channels first (NCHW) {layout['NCHW']:.0f} GFLOP/s "
                 f"({layout['NCHW'] / layout['NHWC']:.2f}x).\n")
    pipelines = [r for r in pipelines if r]
    if pipelines:
        text += "\nInput pipelines, batch 64:\n\n" + markdown_table(pipelines, ["what", "ms_per_step", "images_per_s"])
    return text


def main() -> int:
    global TIMEOUT_S
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="all", help="comma-separated model names (default: all registered)")
    parser.add_argument("--sizes", default="smoke", help="smoke, paper or smoke,paper (paper takes hours on 2 cores)")
    parser.add_argument("--jit", default="both", choices=("off", "on", "both"))
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batches", type=int, default=30, help="batches timed for the input pipeline")
    parser.add_argument("--paper-batch", type=int, default=8,
                        help="batch size at paper size (0: the config's; the WAEs take ~2 s per 128x128 image on "
                             "2 cores)")
    parser.add_argument("--no-pipeline", action="store_true")
    parser.add_argument("--no-export", action="store_true", help="skip SavedModel inference")
    parser.add_argument("--out", default=str(REPO / "bench_out"))
    parser.add_argument("--markdown", help="write the tables, with the machine and settings, to this file")
    parser.add_argument("--timeout", type=int, default=TIMEOUT_S, help="seconds one measurement may take")
    parser.add_argument("--settings", action="store_true",
                        help="instead: every speed setting (XLA, threads, steps per call, mixed precision) per model")
    # internal: one measurement in this process
    parser.add_argument("--worker", choices=("pipeline", "train", "export"))
    parser.add_argument("--kind", default="digits")
    parser.add_argument("--variant", default="autotune", choices=PIPELINE_VARIANTS)
    parser.add_argument("--model")
    parser.add_argument("--size")
    parser.add_argument("--jit-on", action="store_true")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--per-call", type=int, default=1, help="train.steps_per_execution")
    parser.add_argument("--threads", help="INTRA/INTER op threads, e.g. 2/1 (default: TensorFlow's)")
    args = parser.parse_args()
    if args.worker:
        return run_worker(args)
    TIMEOUT_S = args.timeout

    sys.path.insert(0, str(REPO))
    import keras_gens  # noqa: F401
    import tensorflow as tf

    from keras_gens import registry

    names = registry.names() if args.models == "all" else args.models.split(",")
    sizes = args.sizes.split(",")
    if args.settings:
        section = sweep_settings(names, sizes, args)
        print("\n" + section)
        if args.markdown:
            from keras_gens.utils.tables import write_markdown_section

            write_markdown_section(args.markdown, "settings", section)
        return 0
    jits = {"off": [False], "on": [True], "both": [False, True]}[args.jit]
    intra, inter = threading_label().split("/")
    title = (f"# keras_gens benchmarks — {time.strftime('%Y-%m-%d')}, {describe()}, TensorFlow {tf.__version__}, "
             f"threads intra={intra} inter={inter}")
    print(title + "\n", flush=True)
    results = []
    if not args.no_pipeline:
        for kind in ("digits", "jpeg"):
            results.append(spawn("--worker", "pipeline", "--kind", kind, "--batches", str(args.batches)))
    for name in names:
        for size in sizes:
            for jit in jits:
                extra = ["--worker", "train", "--model", name, "--size", size, "--steps", str(args.steps),
                         "--warmup", str(args.warmup), "--paper-batch", str(args.paper_batch)] + (
                            ["--jit-on"] if jit else [])
                results.append(spawn(*extra))
                if results[-1]:
                    r = results[-1]
                    print(f"  {r['what']} {size} jit={jit}: {r['images_per_s']} images/s", flush=True)
            if not args.no_export and name != "reid":  # reid serves templates: make bench-reid times it
                results.append(spawn("--worker", "export", "--model", name, "--size", size, "--steps", str(args.steps)))
                if results[-1]:
                    print(f"  {results[-1]['what']} {size}: {results[-1]['images_per_s']} images/s", flush=True)
    results = [r for r in results if r]
    from keras_gens.utils.tables import markdown_table, write_csv, write_markdown_section

    columns = ["what", "size", "image", "batch", "jit", "ms_per_step", "images_per_s", "peak_rss_mb"]
    table = markdown_table([{k: round(v) if isinstance(v, float) and v >= 100 else v for k, v in r.items()}
                            for r in results], columns)
    print("\n" + table)
    ratios = print_octave_ratios(results)
    if args.markdown:
        command = "python tools/bench.py " + " ".join(sys.argv[1:])
        write_markdown_section(args.markdown, "bench", markdown_report(title, command, table, ratios, args.steps,
                                                                      args.warmup))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "results.csv", results, columns + ["precision", "per_call", "threads"])
    print(f"\nwritten: {out / 'results.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
