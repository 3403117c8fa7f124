"""OC-GAN: the six GANs (DCGAN, LSGAN, WGAN and their octave variants) and DCGAN-OCT's RAMP and
COMBI β schedules on mnist5k, scored by FID after every epoch, over several seeds.

A *collapse* here is a FID jump: an epoch whose FID is more than ``JUMP`` × the run's best FID
so far (from the second scored epoch on).  It is counted per model over the seeds.
"""
from __future__ import annotations

import math

from keras_gens.results.common import Claim, RunSpec, Section, mean_std, pm

KEY, TITLE = "ocgan", "OC-GAN: octave convolutions against their plain GANs"
JUMP = 1.5
INVESTIGATED = """**Read with care.** At the quick budget every GAN has had about a hundred generator updates and
its samples (above) are still blobs, not yet digits, so this table compares the first stretch of
training, not converged models, and no run has had the time to collapse. WGAN's settings are the
authors' script's (RMSprop 5e-5, weight clipping), which learn more slowly per update than Adam
2e-4. `--budget full` trains about fifteen times longer and scores 20 times more samples.
"""
SETTINGS = {  # an "epoch" is steps_per_epoch generator updates of batch 32 (32x32 digits)
    "tiny": {"epochs": 2, "steps": 3, "samples": 20, "reference": 40, "runs": ("dcgan", "dcgan_oct")},
    "quick": {"epochs": 3, "steps": 40, "samples": 50, "reference": 500},
    "full": {"epochs": 15, "steps": 125, "samples": 1000, "reference": 4000},
}


def runs(ctx) -> list:
    """(label, model, overrides): the six models, then DCGAN-OCT with RAMP and COMBI (the paper's Fig. 6)."""
    from keras_gens.experiments.ocgan import PAPER_VARIANTS, plan

    chosen = plan("all", ())
    chosen += [(f"dcgan_{v}", "dcgan_oct", PAPER_VARIANTS[v]) for v in ("RAMP", "COMBI")]
    wanted = SETTINGS[ctx.budget].get("runs")
    return [r for r in chosen if wanted is None or r[0] in wanted]


def planned_runs(ctx) -> int:
    return len(runs(ctx)) * len(ctx.seeds)


def collapses(curve: dict) -> int:
    """FID jumps: epochs whose FID exceeds JUMP × the best FID of the epochs before."""
    epochs, count, best = sorted(curve), 0, math.inf
    for epoch in epochs:
        if best < math.inf and curve[epoch] > JUMP * best:
            count += 1
        best = min(best, curve[epoch])
    return count


def run(ctx) -> Section:
    from keras_gens.experiments.ocgan import choose_metric
    from keras_gens.results.figures import band_plot, montage
    from keras_gens.utils import metrics_csv
    from keras_gens.utils.tables import markdown_table

    s = SETTINGS[ctx.budget]
    metric = choose_metric("auto", log=ctx.log)
    specs = {}
    for label, model, variant in runs(ctx):
        for seed in ctx.seeds:
            overrides = [*variant, "data.source=mnist5k", f"train.seed={seed}", f"train.epochs={s['epochs']}",
                         f"train.steps_per_epoch={s['steps']}", f"eval.metric={metric}", "eval.every=1",
                         f"eval.samples={s['samples']}", f"eval.reference_samples={s['reference']}",
                         "eval.reference_seed=0"]  # every seed's FID against the same real digits
            specs[label, seed] = RunSpec(f"{label}-s{seed}", model, tuple(overrides))
    ctx.train_all(KEY, specs.values())
    curves = {}
    for label, _, _ in runs(ctx):
        curves[label] = []
        for seed in ctx.seeds:
            result = ctx.train(KEY, specs[label, seed])
            rows = metrics_csv.read_rows(result.run_dir / "metrics.csv")
            curves[label].append({int(r["epoch"]): float(r[metric]) for r in rows if r.get(metric) not in (None, "")})

    lower_better = metric in ("fid", "kid")
    best = min if lower_better else max
    table, summary = [], {}
    for label, _, variant in runs(ctx):
        per_seed = curves[label]
        finals = [c[max(c)] for c in per_seed if c]
        bests = [best(c.values()) for c in per_seed if c]
        jumps = sum(collapses(c) for c in per_seed) if lower_better else 0
        summary[label] = {"final": mean_std(finals), "best": mean_std(bests), "collapses": jumps}
        table.append({"run": label, "settings": " ".join(variant) or "paper defaults",
                      f"final {metric}": pm(finals), f"best {metric}": pm(bests),
                      "collapses": jumps if lower_better else "n/a"})
    columns = ["run", "settings", f"final {metric}", f"best {metric}", "collapses"]

    band_plot(ctx.figure("ocgan_fid.png"), curves, xlabel=f"epoch ({s['steps']} generator steps)",
              ylabel=metric.upper() if lower_better else metric,
              title=f"{metric.upper()} per epoch on mnist5k (mean ± std over {len(ctx.seeds)} seeds)")
    last = s["epochs"]
    montage({label: ctx.out / KEY / f"{label}-s0" / "samples" / f"epoch_{last:04d}.png" for label, _, _ in runs(ctx)},
            ctx.figure("ocgan_samples.png"), title=f"samples after epoch {last} (seed 0), the paper's Figure 4",
            width=1.8)
    claims = claims_of(summary, metric, len(ctx.seeds))
    body = (f"mnist5k (real MNIST digits) at 32×32, the models' `--smoke` widths (base width 16), batch 32, "
            f"{s['epochs']} epochs of {s['steps']} generator steps (WGANs: 5 critic batches per step), "
            f"{len(ctx.seeds)} seed(s) per model. {metric.upper()} of {s['samples']} samples after every epoch "
            f"against the same {s['reference']} training digits for every seed (so few samples bias FID upwards: "
            f"compare within this table). A collapse is a FID jump above {JUMP}× the run's best FID so far. "
            f"The paper's Figures 2 and 6 are on CelebA 128×128 over 50 epochs, so no number of ours stands "
            f"beside theirs.\n\n"
            f"{markdown_table(table, columns)}\n\n"
            "![FID per epoch](docs/results/ocgan_fid.png)\n![samples](docs/results/ocgan_samples.png)\n\n"
            + (INVESTIGATED if ctx.budget == "quick" else ""))
    return Section(KEY, TITLE, body, claims)


def claims_of(summary, metric, seeds) -> list:
    if metric not in ("fid", "kid") or any(b not in summary or f"{b}_oct" not in summary
                                          for b in ("dcgan", "lsgan", "wgan")):
        why = "not scored by FID (make fid-weights)" if metric not in ("fid", "kid") else "not every base trained"
        return [Claim("OC-GAN", "octave variants reach an equal or lower FID, with less spread and fewer collapses",
                      None, why)]
    pairs = [(b, f"{b}_oct") for b in ("dcgan", "lsgan", "wgan")]
    # "Equal or lower": the octave mean is below the plain mean plus the larger of the two spreads.
    equal_or_lower = [summary[o]["best"][0] <= summary[b]["best"][0] + max(summary[o]["best"][1],
                                                                           summary[b]["best"][1]) for b, o in pairs]
    spread = [summary[o]["final"][1] < summary[b]["final"][1] for b, o in pairs]
    fewer = [summary[o]["collapses"] < summary[b]["collapses"] for b, o in pairs]
    none_collapsed = all(summary[x]["collapses"] == 0 for pair in pairs for x in pair)

    def text(key, i=0):
        return "; ".join(f"{o} {summary[o][key][i]:.1f} vs {b} {summary[b][key][i]:.1f}" for b, o in pairs)

    return [
        Claim("OC-GAN", "the octave variants reach an equal or lower FID (best over epochs)",
              all(equal_or_lower), f"mean best FID: {text('best')} (equal = within the larger std)"),
        Claim("OC-GAN", "the octave variants' final FID varies less between seeds", all(spread) if seeds > 1 else None,
              f"std of the final FID over {seeds} seeds: {text('final', 1)}"),
        Claim("OC-GAN", "the octave variants collapse less often", None if none_collapsed else all(fewer),
              "FID jumps over all seeds: " + "; ".join(f"{o} {summary[o]['collapses']} vs {b} "
                                                       f"{summary[b]['collapses']}" for b, o in pairs)
              + (" (no run collapsed at this budget)" if none_collapsed else "")),
    ]
