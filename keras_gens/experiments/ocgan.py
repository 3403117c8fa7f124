"""OC-GAN's experiments as functions: ``plan`` names the runs of a set (pair, all, paper), ``experiment``
trains them with the same seed and budget, scored every epoch, and writes the comparison plot and
sample sheets.  The command: ``python -m keras_gens.ocgan --help`` (keras_gens.cli.ocgan)."""
from __future__ import annotations

import json
from pathlib import Path

from keras_gens.errors import UserError

BASES = ("dcgan", "lsgan", "wgan")
SETS = ("pair", "all", "paper")
# The paper's octave variants (its Figure 6): label suffix -> overrides of the *_oct model.
PAPER_VARIANTS = {
    "OCT": [],
    "LOW": ["model.alpha=0.99"],
    # End points: keras_gens.beta_schedules.END_POINTS, the one definition of each schedule.
    "RAMP": ["model.beta_schedule.name=ramp"],
    "COMBI": ["model.beta_schedule.name=combi"],
}


def plan(which: str, bases) -> list[tuple[str, str, list[str]]]:
    """``(label, model, overrides)`` of every run in a set."""
    unknown = [b for b in bases if b not in BASES]
    if unknown:
        raise UserError(f"unknown base model(s) {', '.join(unknown)}; choose from {', '.join(BASES)}")
    if which == "pair":
        return [run for base in bases for run in ((base, base, []), (f"{base}_oct", f"{base}_oct", []))]
    if which == "all":
        return [(name, name, []) for base in BASES for name in (base, f"{base}_oct")]
    if which == "paper":
        return [run for base in bases for run in [(base, base, [])] + [
            (f"{base}_{suffix}", f"{base}_oct", overrides) for suffix, overrides in PAPER_VARIANTS.items()]]
    raise UserError(f"unknown set {which!r}; choose from {', '.join(SETS)}")


def _ocgan_kind():
    from keras_gens.outputs import Kind, holds_only, register_kind
    from keras_gens.run_dirs import is_run_dir

    own = ("comparison.csv", "comparison.md", "*_comparison.png", "samples")
    return register_kind(Kind("ocgan", "an OC-GAN comparison", "python -m keras_gens.ocgan", own=own,
                              recognizes=holds_only(own, is_run_dir, needs="*_comparison.png")))


OCGAN = _ocgan_kind()


def default_out(smoke: bool) -> Path:
    """runs/ocgan, or runs/ocgan-smoke: a smoke comparison never blocks the full one's runs."""
    return Path("runs") / ("ocgan-smoke" if smoke else "ocgan")


def choose_metric(metric: str, weights=None, log=print) -> str:
    if metric != "auto":
        return metric
    from keras_gens.metrics.inception import default_weights_path

    path = Path(weights) if weights else default_weights_path()
    if path.is_file():
        return "fid"
    log(f"scoring by sharpness: no FID weights at {path} (make fid-weights installs them; KID needs them too)")
    return "sharpness"


def experiment(which="pair", bases=("dcgan",), *, data=None, out=None, overrides=(), smoke=False,
               metric="auto", samples=None, log=print) -> list[dict]:
    from keras_gens import registry, runner
    from keras_gens.outputs import check_folder, mark
    from keras_gens.run_dirs import hold
    from keras_gens.utils import metrics_csv

    out = check_folder(out if out is not None else default_out(smoke), OCGAN)
    runs = plan(which, bases)
    metric = choose_metric(metric, log=log)
    # Sharpness costs next to nothing: every epoch. FID/KID keep the config's eval.every (5 in --smoke).
    scoring = ([f"eval.metric={metric}"] + (["eval.every=1"] if metric == "sharpness" else [])
               + ([f"eval.samples={samples}"] if samples else []))
    for _, model, variant in runs:  # every run's settings, before anything is trained or written
        registry.get(model).config(overrides=[*([f"data.source={json.dumps(data)}"] if data else []), *variant,
                                              *scoring, *overrides], smoke=smoke)
    with hold(out, log):  # one process at a time: each model's run holds its own folder too
        mark(out, OCGAN)
        rows, curves = [], {}
        for label, model, variant in runs:
            log(f"== {label} ({' '.join([model, *variant])})")
            result = runner.train(model, data=data, out=out / label, overrides=[*variant, *scoring, *overrides],
                                  smoke=smoke, log=log)
            table = metrics_csv.read_rows(out / label / "metrics.csv")
            curve = {int(r["epoch"]): float(r[metric]) for r in table if r.get(metric) not in (None, "")}
            curves[label] = curve
            best = (min if metric in ("fid", "kid") else max)(curve.values()) if curve else ""
            rows.append({"run": label, "model": model, "settings": " ".join(variant), "epochs": result.epochs,
                         f"final_{metric}": curve.get(max(curve), "") if curve else "", f"best_{metric}": best})
        write_outputs(out, metric, runs, rows, curves)
        return rows


def write_outputs(out: Path, metric: str, runs, rows: list[dict], curves: dict):
    from keras_gens.utils import tables
    from keras_gens.utils.io import atomic_write_text
    from keras_gens.utils.plots import save_line_plot

    label = {"fid": "FID", "kid": "KID", "sharpness": "sharpness"}[metric]
    save_line_plot(out / f"{metric}_comparison.png",
                   {name: (sorted(c), [c[e] for e in sorted(c)]) for name, c in curves.items() if c},
                   xlabel="epoch", ylabel=label, title=f"{label} per epoch (same seed and budget)")
    columns = list(rows[0])
    tables.write_csv(out / "comparison.csv", rows, columns)
    atomic_write_text(out / "comparison.md", f"# OC-GAN comparison ({label}; lower FID/KID, higher sharpness is "
                      f"better)\n\n{tables.markdown_table(rows, columns)}\n\n"
                      f"![{label} per epoch]({metric}_comparison.png)\n")
    write_sample_sheets(out, [name for name, _, _ in runs])


SHEET_DPI = 100


def write_sample_sheets(out: Path, labels: list[str]):
    """samples/epoch_NNNN.png: every run's grid of that epoch side by side, titled (Figure 4 style)."""
    from matplotlib.image import imread

    from keras_gens.utils.plots import new_figure, save_figure

    epochs = sorted({int(p.stem.split("_")[1]) for name in labels
                     for p in (out / name / "samples").glob("epoch_*.png")})
    for epoch in epochs:
        grids = [(name, out / name / "samples" / f"epoch_{epoch:04d}.png") for name in labels]
        grids = [(name, imread(path)) for name, path in grids if path.is_file()]
        # Each grid at twice its pixel size (at least 4 in wide): one generated image must stay legible.
        side = max(4.0, 2 * max(image.shape[1] for _, image in grids) / SHEET_DPI)
        fig, axes = new_figure(ncols=len(grids), figsize=(side * len(grids), side + 0.6), dpi=SHEET_DPI,
                               squeeze=False)
        for ax, (name, image) in zip(axes[0], grids):
            ax.imshow(image, cmap="gray", interpolation="nearest")
            ax.set_title(name, fontsize=12)
            ax.axis("off")
        fig.suptitle(f"epoch {epoch}")
        fig.tight_layout()
        save_figure(fig, out / "samples" / f"epoch_{epoch:04d}.png")
