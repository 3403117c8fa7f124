"""OC-GAN: the six GANs (DCGAN, LSGAN, WGAN and their octave variants) and DCGAN-OCT's RAMP and
COMBI β schedules on mnist5k, scored during training and once more at the end, over several seeds.

During training each scored epoch gives FID, recall and coverage of a small sample against the
same real digits.  A *collapse* is a scored epoch (from the second on) where FID rises above
``JUMP`` × the run's best FID so far, or recall or coverage falls below 1/``JUMP`` of the run's
best so far: a generator that drops modes loses recall and coverage before its FID says so.  At
the end, FID of ``final`` generated digits against ``reference`` real ones (the quality bar), and
the digit judge's share of each digit among the same samples (mode coverage).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from keras_gens.results.common import Claim, RunSpec, Section, mean_std, pm

KEY, TITLE = "ocgan", "OC-GAN: octave convolutions against their plain GANs"
JUMP = 1.5
FLOOR = 0.1  # recall and coverage from a few hundred samples are noise below this: no drop counts from there
# The quality bar: FID of the final samples, standard Inception (WGAN under either reading learns slower).
FID_BARS = {"dcgan": 70.0, "lsgan": 70.0, "wgan": 100.0}
INVESTIGATED = """**Read with care.** At the quick budget every GAN has had about a hundred generator updates and
its samples (above) are still blobs, not yet digits, so this table compares the first stretch of
training, not converged models, and no run has had the time to collapse. WGAN's settings are the
authors' script's (RMSprop 5e-5, weight clipping), which learn more slowly per update than Adam
2e-4. `--budget standard` trains until every model meets its bar.
"""
SETTINGS = {  # an "epoch" is steps_per_epoch generator updates; samples/reference: FID during training
    "tiny": {"epochs": 2, "steps": 3, "samples": 20, "reference": 40, "final": 30, "runs": ("dcgan", "dcgan_oct")},
    "quick": {"epochs": 3, "steps": 40, "samples": 50, "reference": 500, "final": 200},
    # standard. At the smoke width (base 16, batch 32) the three dcgan seeds ended at final FID 55.4, 65.1 and 85.2
    # after 4,800 updates, oscillating by +-10 from epoch to epoch since 3,200 (sampling from the batch statistics
    # instead of the moving ones moved them by at most 6), so the GAN/LSGAN family trains at the paper's width and
    # batch (base 32, batch 64), where issue 36's trial reached 65 after 1,240 updates: 2,400 here. WGANs (the
    # authors' RMSprop 5e-5, clipping, 5 critic steps) at the paper's width too, batch 32 (149.6 after 3,600 at
    # the smoke width; 93 in issue 36's trial at base 32). Scores during training every second epoch.
    "standard": {"epochs": 12, "steps": 200, "samples": 250, "reference": 2000, "final": 1000, "every": 2,
                 "overrides": ("model.base_filters=32", "train.batch_size=64"),
                 "wgan": {"epochs": 12, "steps": 300, "overrides": ("model.base_filters=32",)},
                 "variants_seeds": 1, "precision": "bfloat16"},
}


def settings(ctx, model: str) -> dict:
    """The budget's settings, with WGAN's own epochs and steps where the budget gives them."""
    s = SETTINGS[ctx.budget]
    return {**s, **(s.get("wgan", {}) if model.startswith("wgan") else {})}


def runs(ctx) -> list:
    """(label, model, overrides): the six models, then DCGAN-OCT with RAMP and COMBI (the paper's Fig. 6)."""
    from keras_gens.experiments.ocgan import PAPER_VARIANTS, plan

    chosen = plan("all", ())
    chosen += [(f"dcgan_{v}", "dcgan_oct", PAPER_VARIANTS[v]) for v in ("RAMP", "COMBI")]
    wanted = SETTINGS[ctx.budget].get("runs")
    return [r for r in chosen if wanted is None or r[0] in wanted]


def seeds_of(ctx, label: str) -> list:
    """Every seed for the six compared models; RAMP and COMBI, which no claim compares, may take fewer."""
    fewer = SETTINGS[ctx.budget].get("variants_seeds")
    return ctx.seeds[:fewer] if fewer and label.endswith(("_RAMP", "_COMBI")) else ctx.seeds


def planned_runs(ctx) -> int:
    return sum(len(seeds_of(ctx, label)) for label, _, _ in runs(ctx))


def ordinal(n: int) -> str:
    return {2: "second", 3: "third", 4: "fourth"}.get(n, f"{n}th")


def base_of(label: str) -> str:
    return label.split("_")[0]


def measure_run(result, samples: int, reference: int, precision: str, fid: bool, judge_settings=(),
                check_float32: bool = False) -> dict:
    """The quality bar's measures of one trained GAN (in whichever process trained it): FID, precision/recall
    and density/coverage of ``samples`` generated digits against ``reference`` real training digits (the
    same for every run and seed), and the digit judge's share of each digit among the same samples.
    ``check_float32``: with bfloat16 features, the same FID from float32 features too (what bfloat16 moves)."""

    from keras_gens import evaluation
    from keras_gens.results.common import digit_judge, feature_extractor
    from keras_gens.sampling import model_batches

    images = np.concatenate([b for b, _ in model_batches(result.model, samples, seed=FINAL_SEED, batch_size=50)])
    judge = digit_judge(tuple(judge_settings))
    values = {"class_shares": [float(s) for s in judge.class_shares(images, (0, 255))],
              "judge_accuracy": judge.heldout_accuracy}
    if fid:
        extractor = feature_extractor(precision)
        real = evaluation.reference_features(evaluation.training_data_images(result.config.data, reference, seed=0),
                                             extractor, log=lambda m: None)
        fake = evaluation.Images("final samples", len(images), images.shape[1:3],
                                 lambda: (images[i:i + 50] for i in range(0, len(images), 50)))
        scores = evaluation.evaluate(["fid", "precision_recall", "density_coverage"], fake, real, extractor,
                                     log=lambda m: None)
        values.update({k: float(scores[k]) for k in ("fid", "precision", "recall", "density", "coverage")})
        if check_float32 and precision != "float32":
            full = feature_extractor("float32")
            real = evaluation.reference_features(evaluation.training_data_images(result.config.data, reference,
                                                                                 seed=0), full, log=lambda m: None)
            values["fid_float32"] = float(evaluation.evaluate(["fid"], fake, real, full, log=lambda m: None)["fid"])
    return values


COMPARED = ("dcgan", "dcgan_oct", "lsgan", "lsgan_oct", "wgan", "wgan_oct")
FINAL_SEED = 12345  # the final samples' latents: not the ones scored during training


def collapses(curve: dict, higher: tuple = ()) -> int:
    """Scored epochs (from the second on) that collapse: FID above JUMP × the best FID of the epochs before,
    or any of the ``higher`` curves (recall, coverage) below 1/JUMP of its best before."""
    count, best_fid, best_high = 0, math.inf, [-math.inf] * len(higher)
    for epoch in sorted(curve):
        dropped = any(best >= FLOOR and c.get(epoch, best) < best / JUMP for c, best in zip(higher, best_high))
        if (best_fid < math.inf and curve[epoch] > JUMP * best_fid) or dropped:
            count += 1
        best_fid = min(best_fid, curve[epoch])
        best_high = [max(best, c.get(epoch, best)) for c, best in zip(higher, best_high)]
    return count


def _column(rows, name) -> dict:
    return {int(r["epoch"]): float(r[name]) for r in rows if r.get(name) not in (None, "")}


def run(ctx) -> Section:
    from keras_gens.experiments.ocgan import choose_metric
    from keras_gens.results.common import digit_judge, judge_settings_of
    from keras_gens.results.figures import band_plot, montage
    from keras_gens.utils import metrics_csv
    from keras_gens.utils.tables import markdown_table

    s = SETTINGS[ctx.budget]
    metric = choose_metric("auto", log=ctx.log)
    fid = metric == "fid"
    judge = judge_settings_of(ctx.budget)
    precision = s.get("precision", "float32") if _has_bfloat16() else "float32"
    specs = {}
    for label, model, variant in runs(ctx):
        m = settings(ctx, model)
        for seed in seeds_of(ctx, label):
            overrides = [*variant, *m.get("overrides", ()), "data.source=mnist5k", f"train.seed={seed}",
                         f"train.epochs={m['epochs']}", f"train.steps_per_epoch={m['steps']}", f"eval.metric={metric}",
                         f"eval.every={m.get('every', 1)}", f"eval.samples={m['samples']}", f"eval.reference_samples={m['reference']}",
                         "eval.reference_seed=0",  # every seed's scores against the same real digits
                         f"eval.precision={precision}",
                         *(["eval.also=[precision_recall,density_coverage]"] if fid else [])]
            measure = functools.partial(measure_run, samples=m["final"], reference=m["reference"],
                                        precision=precision, fid=fid, judge_settings=judge,
                                        check_float32=seed == ctx.seeds[0] and label in COMPARED)
            specs[label, seed] = RunSpec(f"{label}-s{seed}", model, tuple(overrides),
                                         measure=(f"ocgan-final-{m['final']}-{m['reference']}-{precision}-{metric}",
                                                  measure, None))
    digit_judge(judge)  # trained once here, then read from its cache by the workers
    ctx.train_all(KEY, specs.values())
    curves, finals, widths = {}, {}, {}
    for label, _, _ in runs(ctx):
        curves[label], finals[label] = [], []
        for seed in seeds_of(ctx, label):
            result, values = ctx.trained(KEY, specs[label, seed])
            rows = metrics_csv.read_rows(result.run_dir / "metrics.csv")
            curves[label].append({name: _column(rows, name) for name in (metric, "recall", "coverage")})
            widths[base_of(label)] = (result.config.model.base_filters, result.config.train.batch_size)
            finals[label].append(values)

    lower_better = metric in ("fid", "kid")
    best = min if lower_better else max
    table, summary = [], {}
    for label, _, variant in runs(ctx):
        scored = [c for c in curves[label] if c[metric]]
        ends = [c[metric][max(c[metric])] for c in scored]
        bests = [best(c[metric].values()) for c in scored]
        jumps = sum(collapses(c[metric], (c["recall"], c["coverage"])) for c in scored) if lower_better else 0
        final_fid = [v.get("fid") for v in finals[label]]
        # "final": the end-of-training FID of the larger final sample where it was measured
        summary[label] = {"final": mean_std(final_fid) if fid else mean_std(ends), "best": mean_std(bests),
                          "collapses": jumps, "seeds": len(finals[label])}
        table.append({"run": label, "settings": " ".join(variant) or "paper defaults",
                      f"final FID ({m_final(ctx)} samples)": pm(final_fid),
                      f"best {metric} in training": pm(bests),
                      "recall": pm([v.get("recall") for v in finals[label]], 2),
                      "coverage": pm([v.get("coverage") for v in finals[label]], 2),
                      "collapses": jumps if lower_better else "n/a"})
    columns = list(table[0])
    quality_rows, misses = quality(finals, ctx, fid)

    s_dcgan = settings(ctx, "dcgan")
    band_plot(ctx.figure("ocgan_fid.png"), {k: [c[metric] for c in v] for k, v in curves.items()},
              xlabel="epoch", ylabel=metric.upper() if lower_better else metric,
              title=f"{metric.upper()} of {s_dcgan['samples']} samples during training (mean ± std over seeds)")
    if fid:
        band_plot(ctx.figure("ocgan_recall.png"), {k: [c["recall"] for c in v] for k, v in curves.items()},
                  xlabel="epoch", ylabel="recall (k = 3)", title="recall during training: a dropped mode lowers it")
    montage({label: _last_grid(ctx.out / KEY / f"{label}-s0") for label, _, _ in runs(ctx)},
            ctx.figure("ocgan_samples.png"), title="samples after the last epoch (seed 0), the paper's Figure 4",
            width=1.8)
    claims = claims_of(summary, metric, len(ctx.seeds), misses)
    wgan = settings(ctx, "wgan")
    body = (quality_text(quality_rows, finals, ctx, fid) + "\n\n**The paper's comparison.** "
            f"mnist5k (real MNIST digits) at 32×32, base width (the authors' d) and batch "
            + ", ".join(f"{b} {w} and {batch}" for b, (w, batch) in widths.items()) + ", "
            f"{s_dcgan['epochs']} epochs of {s_dcgan['steps']} generator steps (WGANs: {wgan['epochs']} of "
            f"{wgan['steps']}, 5 critic batches per step), {len(ctx.seeds)} seed(s) per compared model "
            f"(RAMP and COMBI: {len(seeds_of(ctx, 'dcgan_RAMP'))}). During training, {metric.upper()} of "
            f"{s_dcgan['samples']} samples after every "
            f"{'epoch' if s_dcgan.get('every', 1) == 1 else ordinal(s_dcgan['every']) + ' epoch'} against the same "
            f"{s_dcgan['reference']} training "
            f"digits for every seed" + (_collapse_text(precision, m_final(ctx)) if fid else ". ") +
            "The paper's Figures 2 and 6 are on CelebA 128×128 over 50 epochs, so no number of ours stands "
            f"beside theirs.\n\n{markdown_table(table, columns)}\n\n"
            "![FID per epoch](docs/results/ocgan_fid.png)\n"
            + ("![recall per epoch](docs/results/ocgan_recall.png)\n" if fid else "")
            + "![samples](docs/results/ocgan_samples.png)\n\n" + _precision_note(finals)
            + (INVESTIGATED if ctx.budget == "quick" else ""))
    return Section(KEY, TITLE, body, claims)


def _precision_note(finals) -> str:
    """How far bfloat16 features moved the final FIDs, where seed 0 was also scored in float32."""
    pairs = [(v["fid"], v["fid_float32"]) for per_seed in finals.values() for v in per_seed if "fid_float32" in v]
    if not pairs:
        return ""
    change = [abs(b / f - 1) for b, f in pairs]
    return (f"**bfloat16 features.** The final FIDs above come from bfloat16 Inception features (this CPU has "
            f"bfloat16 instructions). Scored again from float32 features (seed 0 of the six compared models), they "
            f"differ by {100 * float(np.mean(change)):.2f}% on average and {100 * max(change):.2f}% at most "
            f"(bfloat16 {', '.join(f'{b:.1f}' for b, _ in pairs)}; float32 {', '.join(f'{f:.1f}' for _, f in pairs)})."
            "\n\n")


def _collapse_text(precision: str, final: int) -> str:
    return (f", with recall (k = 3) and coverage (k = 5) from the same features ({precision} Inception features). "
            f"A collapse is a scored epoch whose FID rises above {JUMP}× the run's best so far, or whose recall or "
            f"coverage falls below 1/{JUMP} of its best so far (once that best is at least {FLOOR}). The final "
            f"columns score {final} new samples of the last epoch. ")


def m_final(ctx) -> int:
    return SETTINGS[ctx.budget]["final"]


def _last_grid(run_dir):
    grids = sorted((run_dir / "samples").glob("epoch_*.png"))
    return grids[-1] if grids else run_dir / "samples" / "none.png"


def _has_bfloat16() -> bool:
    """bfloat16 Inception features only where the CPU computes bfloat16 natively (AVX512_BF16 or AMX)."""
    from keras_gens.results.common import cpu_flags

    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def quality(finals: dict, ctx, fid: bool) -> tuple[list, list]:
    """The "Does each model work?" rows, one per run, and the misses of the six compared models."""
    from keras_gens.evaluation.digit_judge import mode_coverage

    rows, misses = [], []
    for label, _, _ in runs(ctx):
        bar = FID_BARS[base_of(label)]
        for seed, values in zip(seeds_of(ctx, label), finals[label]):
            covered, detail = mode_coverage(values["class_shares"])
            fid_met = fid and values["fid"] <= bar
            compared = not label.endswith(("_RAMP", "_COMBI"))
            if compared and not fid_met:
                misses.append(f"{label} seed {seed}: " + (f"FID {values['fid']:.1f} > {bar:.0f}" if fid
                                                          else "FID not measured (make fid-weights)"))
            if compared and not covered:
                misses.append(f"{label} seed {seed}: {detail}")
            shares = values["class_shares"]
            rows.append({"run": label, "seed": seed,
                         f"FID ({m_final(ctx)} vs {SETTINGS[ctx.budget]['reference']})":
                             f"{values['fid']:.1f}" if fid else "n/a",
                         "bar": f"≤ {bar:.0f}", "FID met": ("yes" if fid_met else "**no**") if fid else "n/a",
                         "samples per digit": f"{min(shares):.1%}–{max(shares):.1%}",
                         "every digit 2–25%": "yes" if covered else "**no**"})
    return rows, misses


def quality_text(rows, finals, ctx, fid: bool) -> str:
    from keras_gens.utils.tables import markdown_table

    accuracy = next(iter(finals.values()))[0]["judge_accuracy"]
    return (f"**Does each model work?** FID of {m_final(ctx)} samples after the last epoch against "
            f"{SETTINGS[ctx.budget]['reference']} real training digits, standard Inception: at most "
            f"{FID_BARS['dcgan']:.0f} for the GAN and LSGAN losses and their octave variants, "
            f"{FID_BARS['wgan']:.0f} for WGAN. A digit judge (a small CNN trained on the 4,000 real mnist5k "
            f"training digits; {accuracy:.1%} correct on the 1,000 held-out ones) labels the same samples, and "
            f"every digit must get 2–25% of them. A claim about models that miss a bar is undecided (RAMP and "
            f"COMBI enter no claim).\n\n" + markdown_table(rows, list(rows[0])))


def claims_of(summary, metric, seeds, misses=None) -> list:
    bar = {"met": misses is not None and not misses,
           "detail": "; ".join(misses) if misses else "every run of the six models met its bars"
           if misses is not None else "not measured"}
    if metric not in ("fid", "kid") or any(b not in summary or f"{b}_oct" not in summary
                                          for b in ("dcgan", "lsgan", "wgan")):
        why = "not scored by FID (make fid-weights)" if metric not in ("fid", "kid") else "not every base trained"
        return [Claim("OC-GAN", "octave variants reach an equal or lower FID, with less spread and fewer collapses",
                      None, why, quality_bar=bar)]
    pairs = [(b, f"{b}_oct") for b in ("dcgan", "lsgan", "wgan")]
    # "Equal or lower": the octave mean is below the plain mean plus the larger of the two spreads.
    equal_or_lower = [summary[o]["best"][0] <= summary[b]["best"][0] + max(summary[o]["best"][1],
                                                                           summary[b]["best"][1]) for b, o in pairs]
    spread = [summary[o]["final"][1] < summary[b]["final"][1] for b, o in pairs]
    fewer = [summary[o]["collapses"] < summary[b]["collapses"] for b, o in pairs]
    none_collapsed = all(summary[x]["collapses"] == 0 for pair in pairs for x in pair)

    def text(key, i=0):
        return "; ".join(f"{o} {summary[o][key][i]:.1f} vs {b} {summary[b][key][i]:.1f}" for b, o in pairs)

    claims = [
        Claim("OC-GAN", "the octave variants reach an equal or lower FID (best over epochs)",
              all(equal_or_lower), f"mean best FID: {text('best')} (equal = within the larger std)"),
        Claim("OC-GAN", "the octave variants' final FID varies less between seeds", all(spread) if seeds > 1 else None,
              f"std of the final FID over {seeds} seeds: {text('final', 1)}"),
        Claim("OC-GAN", "the octave variants collapse less often", None if none_collapsed else all(fewer),
              "collapses (FID jumps, recall or coverage drops) over all seeds: "
              + "; ".join(f"{o} {summary[o]['collapses']} vs {b} {summary[b]['collapses']}" for b, o in pairs)
              + (" (no run collapsed at this budget)" if none_collapsed else "")),
    ]
    for claim in claims:
        claim.quality_bar = bar
    return claims
