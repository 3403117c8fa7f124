"""Quality side by side with PyTorch: keras_gens and its PyTorch mirrors trained on the same digits, scored alike.

    make bench-quality                  # dcgan, dcgan_oct, wae; 3 seeds each; into BENCHMARKS.md
    python tools/bench/quality.py --families dcgan --seeds 0 --epochs 2 --steps 20 --out /tmp/q   # a try

For each family and seed, keras_gens trains its model (``python -m keras_gens.train FAMILY --smoke
data.source=mnist5k``: the widths and budget of the OC-GAN and thesis sections at ``--budget standard``) and
tools/bench/quality_torch.py trains the PyTorch mirror (equal parameter counts, checked) on the same 4,000
training digits with the same batch, optimizers and number of updates, one after the other, never at once.
Every ``--score-every`` epochs both stop their clocks and write 1,000 new samples (and, for the WAE,
reconstructions of 1,000 held-out digits).  Afterwards the same scorer reads both: FID of the samples
against 2,000 real training digits with our standard Inception (bfloat16 where the CPU has it, as the
results use), the digit judge's share of each digit among them, and the WAE's share of reconstructions
that keep their digit.  The quality bar is the results' (RESULTS.md): FID <= 70 for the GANs, every digit
2-25 % of the samples, and reconstructions keeping their digit >= 90 % for the WAE.  Time to the bar: the
training seconds (steps only, not the scoring or keras_gens's checkpoints and sample grids) up to the
first scored epoch that meets it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from machine import describe  # noqa: E402

DEFAULT_TORCH_PYTHON = REPO / ".venv-bench" / "bin" / "python"
# The results' standard budgets and widths (keras_gens/results/ocgan.py and thesis.py): epochs x updates per
# epoch; the DCGANs at the paper's base width 32 and batch 64, the WAE at its --smoke width and batch 32.
PAPER_WIDTH = ("model.base_filters=32", "train.batch_size=64")
FAMILIES = {"dcgan": {"epochs": 12, "steps": 200, "overrides": PAPER_WIDTH},
            "dcgan_oct": {"epochs": 12, "steps": 200, "overrides": PAPER_WIDTH},
            "wae": {"epochs": 40, "steps": None}}
FID_BAR = 70.0


def keras_overrides(family, seed, epochs, steps) -> list:
    return [*FAMILIES[family].get("overrides", ()), "data.source=mnist5k", f"train.epochs={epochs}", f"train.seed={seed}", "eval.metric=none",
            "train.verbose=0", "checkpoint.every_minutes=0",  # no checkpoint inside the timed steps
            *([f"train.steps_per_epoch={steps}"] if steps else [])]


def finished(out: Path, settings: dict) -> bool:
    """Whether ``out`` holds a complete run of exactly these settings; otherwise it is cleared for a new one
    (a run of other settings, or one cut short, would mix epochs and times)."""
    import shutil

    timing = out / "timing.json"
    if timing.is_file():
        saved = json.loads(timing.read_text())
        if saved.get("settings") == settings and saved.get("done"):
            return True
    elif out.exists() and any(out.iterdir()):
        # not a run of ours (every run writes timing.json after its first epoch): never delete it
        print(f"error: {out} holds files this benchmark did not write; choose another --out", file=sys.stderr)
        sys.exit(2)
    shutil.rmtree(out, ignore_errors=True)
    return False


def data_file(family, out: Path) -> tuple[Path, dict]:
    """The training digits (and held-out ones with their labels) exactly as keras_gens feeds the family, as uint8."""
    from keras_gens import data as data_lib
    from keras_gens import runner
    from keras_gens.utils.images import to_uint8

    _, cfg = runner.resolve_config(family, smoke=True, overrides=keras_overrides(family, 0, 1, None))
    path = out / f"data-{family}.npz"
    source = data_lib.load(cfg.data)
    heldout = data_lib.load_heldout(cfg.data) if family == "wae" else None
    info = {"batch": int(cfg.train.batch_size), "train": source.num_examples,
            "steps": source.steps_per_epoch(int(cfg.train.batch_size)),
            "base": int(cfg.model.get("base_filters", 0) or 0), "width": float(cfg.model.get("width", 1.0) or 1.0)}
    if not path.is_file():
        arrays = {"train": to_uint8(np.asarray(source.take(source.num_examples, seed=0)["image"]), source.value_range)}
        if heldout is not None:
            taken = heldout.take(min(1000, heldout.num_examples), seed=1)
            arrays["heldout"] = to_uint8(np.asarray(taken["image"]), heldout.value_range)
            arrays["heldout_labels"] = np.asarray(taken["label"])
        np.savez(path, **arrays)
    return path, info


def train_keras(family, seed, epochs, steps, every, samples, data_path, out: Path) -> None:
    import tensorflow as tf

    from keras_gens import runner
    from keras_gens.sampling import model_batches
    from keras_gens.utils.images import to_uint8

    settings = {"epochs": epochs, "steps": steps, "every": every, "samples": samples}
    if finished(out, settings):
        return
    out.mkdir(parents=True)
    (out / "timing.json").write_text(json.dumps({"settings": settings, "done": False}))  # this folder is ours
    with np.load(data_path) as archive:
        heldout = archive["heldout"] if "heldout" in archive.files else None

    class Recorder(tf.keras.callbacks.Callback):
        """Training seconds per epoch (its steps only), and the outputs every ``every`` epochs."""

        def __init__(self):
            super().__init__()
            self._supports_tf_logs = True  # it reads no logs: no copy of them to numpy after every step
            self.trained, self.seconds, self.last = 0.0, {}, None

        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.last = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.trained += self.last - self.began
            self.seconds[epoch + 1] = self.trained
            if (epoch + 1) % every == 0 or epoch + 1 == epochs:
                model = self.model
                arrays = {"samples": np.concatenate([b for b, _ in model_batches(model, samples, seed=12345,
                                                                                   batch_size=100)])}
                if heldout is not None:
                    x = heldout.astype(np.float32) / 255.0 * (model.value_range[1] - model.value_range[0]) \
                        + model.value_range[0]
                    arrays["reconstructions"] = np.concatenate(
                        [to_uint8(np.asarray(model.reconstruct(tf.constant(x[i:i + 100]))), model.value_range)
                         for i in range(0, len(x), 100)])
                np.savez(out / f"epoch{epoch + 1:03d}.npz", **arrays)

    recorder = Recorder()
    result = runner.train(family, smoke=True, overrides=keras_overrides(family, seed, epochs, steps),
                          out=out / "run", callbacks=[recorder], log=lambda m: None)
    parameters = sum(int(np.prod(v.shape)) for v in result.model.trainable_variables)
    (out / "timing.json").write_text(json.dumps({"parameters": parameters, "seconds": recorder.seconds,
                                                 "settings": settings, "done": True}, indent=1))
    tf.keras.backend.clear_session()


def train_torch(python, family, seed, epochs, steps, every, samples, data_path, out: Path, info: dict) -> None:
    if finished(out, {"epochs": epochs, "steps": steps, "every": every, "samples": samples}):
        return
    env = dict(os.environ, PYTHONPATH=str(HERE), PYTHONUNBUFFERED="1")
    subprocess.run([str(python), str(HERE / "quality_torch.py"), "--family", family, "--data", str(data_path),
                    "--seed", str(seed), "--epochs", str(epochs), "--steps", str(steps), "--batch", str(info["batch"]),
                    "--base", str(info["base"] or 16), "--width", str(info["width"]),
                    "--score-every", str(every), "--samples", str(samples), "--out", str(out)],
                   env=env, check=True, stdout=subprocess.DEVNULL)


def score(run: Path, family, data_path, reference, extractor, judge) -> dict:
    """{epoch: scores} of every epochNNN.npz in ``run`` (cached in scores.json)."""
    from keras_gens import evaluation
    from keras_gens.evaluation.digit_judge import mode_coverage

    cache = run / "scores.json"
    scores = {int(k): v for k, v in json.loads(cache.read_text()).items()} if cache.is_file() else {}
    with np.load(data_path) as archive:
        labels = archive["heldout_labels"] if "heldout_labels" in archive.files else None
    for path in sorted(run.glob("epoch*.npz")):
        epoch = int(path.stem[5:])
        if epoch in scores:
            continue
        with np.load(path) as archive:
            samples = archive["samples"]
            recons = archive["reconstructions"] if "reconstructions" in archive.files else None
        fake = evaluation.Images(f"{run.name} epoch {epoch}", len(samples), samples.shape[1:3],
                                 lambda s=samples: (s[i:i + 50] for i in range(0, len(s), 50)))
        shares = judge.class_shares(samples, (0, 255))
        row = {"fid": float(evaluation.evaluate(["fid"], fake, reference, extractor, log=lambda m: None)["fid"]),
               "coverage_ok": mode_coverage(shares)[0], "shares": [float(s) for s in shares]}
        if recons is not None:
            row["reconstruction"] = judge.agreement(recons, labels, (0, 255))
        scores[epoch] = row
        cache.write_text(json.dumps(scores, indent=1))
    return scores


def meets_bar(family, row) -> bool:
    from keras_gens.evaluation.digit_judge import RECONSTRUCTION_BAR

    if family == "wae":
        return row["coverage_ok"] and row["reconstruction"] >= RECONSTRUCTION_BAR
    return row["coverage_ok"] and row["fid"] <= FID_BAR


def summarise(family, runs: list) -> dict:
    """Over seeds: final FID, final reconstruction share, seconds to the bar (None where never met)."""
    finals, recons, to_bar, totals, params = [], [], [], [], set()
    for timing, scores in runs:
        last = max(scores)
        finals.append(scores[last]["fid"])
        if "reconstruction" in scores[last]:
            recons.append(scores[last]["reconstruction"])
        met = [e for e in sorted(scores) if meets_bar(family, scores[e])]
        to_bar.append(timing["seconds"][str(met[0])] if met else None)
        totals.append(timing["seconds"][str(max(int(k) for k in timing["seconds"]))])
        params.add(timing["parameters"])
    return {"fid": finals, "reconstruction": recons, "to_bar": to_bar, "total": totals, "parameters": params}


def pm(values, digits=1) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}" if len(values) > 1 else \
        f"{values[0]:.{digits}f}"


def report(results: dict, args, plan: dict, seconds: float, precision: str) -> str:
    from keras_gens.utils.tables import markdown_table

    rows = []
    for family in args.families:
        for framework in ("keras_gens", "pytorch"):
            s = results.get((family, framework))
            if s is None:
                continue
            reached = [t for t in s["to_bar"] if t is not None]
            rows.append({
                "family": family, "framework": framework, "parameters": ", ".join(f"{p:,}" for p in s["parameters"]),
                "final FID": pm(s["fid"]),
                "reconstructions keep their digit": pm([100 * r for r in s["reconstruction"]]) + " %"
                if s["reconstruction"] else "–",
                "seconds to the bar": (pm(reached, 0) + (f" ({len(reached)} of {len(s['to_bar'])} seeds)"
                                                         if len(reached) < len(s["to_bar"]) else ""))
                if reached else f"not reached ({len(s['to_bar'])} seeds)",
                "training seconds": pm(s["total"], 0)})
    columns = ["family", "framework", "parameters", "final FID", "reconstructions keep their digit",
               "seconds to the bar", "training seconds"]
    budgets = "; ".join(f"{f}: {epochs} epochs of {steps} updates at batch {batch}"
                        for f, (epochs, steps, batch) in plan.items())
    return (f"## Quality side by side with PyTorch ({time.strftime('%Y-%m-%d')})\n\n"
            f"Command: `make bench-quality` (`python tools/bench/quality.py`), {seconds / 60:.0f} min in all. "
            f"Machine: {describe()}. Nothing else ran.\n\n"
            f"Both frameworks train the same networks (equal parameter counts) on the same 4,000 mnist5k digits at "
            f"32×32 with the same batch, optimizers, losses and number of updates ({budgets}; seeds "
            f"{', '.join(map(str, args.seeds))}), one run at a time on this machine. Each keeps its framework's "
            "defaults: initialisation, and BatchNorm (keras_gens: Keras's momentum 0.99 and epsilon 1e-3; PyTorch: "
            "momentum 0.1, i.e. Keras's 0.9, and epsilon 1e-5), which also sets how closely the moving statistics "
            "that sampling uses follow training. Seconds count training steps only (keras_gens's first epoch includes "
            f"tracing its step). Every {args.score_every} epochs both write {args.samples:,} new samples; one scorer "
            "reads both: FID against 2,000 real "
            f"digits (standard Inception, {precision} features), the digit judge's share of each digit, and for "
            "the WAE the share of 1,000 held-out reconstructions that keep their digit. The bar is the results': "
            "FID ≤ 70 and every digit 2–25 % of the samples (GANs); reconstructions ≥ 90 % and the same digit "
            "shares (WAE). Seconds: training steps only, to the first scored epoch at the bar; mean ± std over "
            "seeds.\n\n" + markdown_table(rows, columns) + "\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--families", default=",".join(FAMILIES), type=lambda s: s.split(","))
    p.add_argument("--seeds", default="0,1,2", type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--epochs", type=int, default=None, help="override every family's epochs (a quick try)")
    p.add_argument("--steps", type=int, default=None, help="override the updates per epoch (a quick try)")
    p.add_argument("--score-every", type=int, default=2)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--torch-python", default=str(DEFAULT_TORCH_PYTHON))
    p.add_argument("--out", default=str(REPO / "runs" / "bench-quality"))
    p.add_argument("--markdown", default=None, help="write the section into this file (BENCHMARKS.md)")
    args = p.parse_args(argv)
    unknown = [f for f in args.families if f not in FAMILIES]
    if unknown:
        p.error(f"unknown families {unknown}; choose from {', '.join(FAMILIES)}")
    if not Path(args.torch_python).is_file():
        p.error(f"{args.torch_python} not found: make bench-venv installs PyTorch for the benchmarks")

    from keras_gens.results.common import cpu_flags, digit_judge, feature_extractor

    began = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plan = {}
    for family in args.families:
        data_path, info = data_file(family, out)
        epochs = args.epochs or FAMILIES[family]["epochs"]
        steps = args.steps or FAMILIES[family]["steps"] or info["steps"]
        plan[family] = (epochs, steps, info["batch"])
        for seed in args.seeds:
            print(f"{family} seed {seed}: keras_gens", flush=True)
            train_keras(family, seed, epochs, steps, args.score_every, args.samples, data_path,
                        out / f"{family}-keras-s{seed}")
            print(f"{family} seed {seed}: pytorch", flush=True)
            train_torch(args.torch_python, family, seed, epochs, steps, args.score_every, args.samples, data_path,
                        out / f"{family}-torch-s{seed}", info)

    from keras_gens import evaluation
    from keras_gens import runner

    precision = "bfloat16" if {"avx512_bf16", "amx_bf16"} & cpu_flags() else "float32"
    extractor = feature_extractor(precision)
    judge = digit_judge(())
    results = {}
    for family in args.families:
        data_path, _ = data_file(family, out)
        _, cfg = runner.resolve_config(family, smoke=True, overrides=keras_overrides(family, 0, 1, None))
        reference = evaluation.reference_features(evaluation.training_data_images(cfg.data, 2000, seed=0), extractor,
                                                  log=lambda m: None)
        for framework, tag in (("keras_gens", "keras"), ("pytorch", "torch")):
            runs = []
            for seed in args.seeds:
                run = out / f"{family}-{tag}-s{seed}"
                print(f"scoring {run.name}", flush=True)
                runs.append((json.loads((run / "timing.json").read_text()),
                             score(run, family, data_path, reference, extractor, judge)))
            results[family, framework] = summarise(family, runs)
        keras_params, torch_params = results[family, "keras_gens"]["parameters"], results[family, "pytorch"]["parameters"]
        if keras_params != torch_params:
            sys.exit(f"error: {family}'s parameter counts differ: keras_gens {keras_params}, pytorch "
                     f"{torch_params}; the mirror in tools/bench/torch_models.py or torch_families.py is out of date")
    text = report(results, args, plan, time.perf_counter() - began, precision)
    print(text)
    if args.markdown:
        from keras_gens.utils.tables import write_markdown_section

        write_markdown_section(args.markdown, "bench-quality", text)


if __name__ == "__main__":
    main()
