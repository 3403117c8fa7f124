"""Attention-mask re-ID on the synthetic_reid stand-in: does stage 3 (masks) improve on stage 1?

Per seed, one run trains stage 1 (the extractor alone), is scored, then goes on through stages 2
and 3 and is scored again.  A second run trains stage 1 alone for as many extractor epochs as the
first run's stages 1 and 3 together, so the masks are also held against an extractor that had the
same number of updates.  Mean-removed pixels (each image minus its mean, resized to the model's
size, Euclidean) are the floor every trained extractor must clear.
"""
from __future__ import annotations

import numpy as np

from keras_gens.results.common import Claim, RunSpec, Section, mean_std, pm

KEY, TITLE = "reid", "Re-ID with generated attention masks: stage 1 vs all three stages"
SETTINGS = {  # epochs of stages 1, 2, 3 (smoke widths, 64x32 crops, P x K = 8 x 3)
    "tiny": {"stages": (1, 1, 1)},
    "quick": {"stages": (30, 8, 24)},
    "standard": {"stages": (120, 30, 100)},
}
ROWS = ("stage 1", "stage 1, as many extractor epochs", "all three stages")
PIXEL_MARGIN = 0.10  # the quality bar: mAP above mean-removed pixels' by more than this


def planned_runs(ctx) -> int:
    return 3 * len(ctx.seeds)  # stage 1, then stages 2-3 of the same run; the stage-1 control


def score_run(result) -> dict:
    return score(result.run_dir)


def score(run_dir) -> dict:
    """mAP and CMC of a run's latest checkpoint on its data's query/gallery split."""
    from keras_gens import data as data_lib
    from keras_gens.evaluation.reid import Templates, extract
    from keras_gens.metrics.reid import evaluate_features

    templates = Templates(run_dir)
    data_cfg = {**templates.data_cfg, "limit": None, "image_size": list(templates.image_size)}
    query = data_lib.load({**data_cfg, "split": "query"})
    gallery = data_lib.load({**data_cfg, "split": "gallery"})
    result = evaluate_features(extract(templates, query, 128), extract(templates, gallery, 128), query.person_ids,
                               gallery.person_ids, query.camera_ids, gallery.camera_ids)
    return {k: float(v) for k, v in result.as_dict().items()} | {"cmc": [float(c) for c in result.cmc[:20]]}


def pixel_baseline(data_cfg) -> dict:
    """Mean-removed pixels as templates: what an extractor must beat to have learned anything."""
    from keras_gens import data as data_lib
    from keras_gens.metrics.reid import evaluate_features

    def templates(source):
        images = np.concatenate([b["image"].numpy() for b in source.dataset(256, shuffle=False, repeat=False,
                                                                              drop_remainder=False)])
        return (images - images.mean(axis=(1, 2, 3), keepdims=True)).reshape(len(images), -1)

    query = data_lib.load({**data_cfg, "split": "query", "limit": None})
    gallery = data_lib.load({**data_cfg, "split": "gallery", "limit": None})
    result = evaluate_features(templates(query), templates(gallery), query.person_ids, gallery.person_ids,
                               query.camera_ids, gallery.camera_ids)
    return {k: float(v) for k, v in result.as_dict().items()} | {"cmc": [float(c) for c in result.cmc[:20]]}


def run(ctx) -> Section:
    from keras_gens.results.figures import band_plot
    from keras_gens.utils.tables import markdown_table

    e1, e2, e3 = SETTINGS[ctx.budget]["stages"]
    scores = {row: [] for row in ROWS}
    stages = f"model.stage_epochs=[{e1},{e2},{e3}]"
    common = {seed: ("data.source=synthetic_reid", f"train.seed={seed}") for seed in ctx.seeds}
    stage1 = {seed: RunSpec(f"masks-s{seed}", "reid", (*common[seed], stages, "model.stage=extractor"),
                            measure=("reid", score_run, f"ckpt-{e1}")) for seed in ctx.seeds}
    control = {seed: RunSpec(f"stage1-s{seed}", "reid",
                             (*common[seed], f"model.stage_epochs=[{e1 + e3},0,0]", "model.stage=extractor"),
                             measure=("reid", score_run, None)) for seed in ctx.seeds}
    all_stages = {seed: RunSpec(f"masks-s{seed}", "reid", (*common[seed], stages, "model.stage=all"),
                                measure=("reid", score_run, None)) for seed in ctx.seeds}
    # Stages 2 and 3 go on in stage 1's run, so stage 1 is scored (as it ends) before they start: its
    # checkpoint is not kept for ever.
    ctx.train_all(KEY, [*stage1.values(), *control.values()])
    scores["stage 1"] = [ctx.trained(KEY, stage1[seed])[1] for seed in ctx.seeds]
    ctx.train_all(KEY, all_stages.values())
    finished = [ctx.trained(KEY, all_stages[seed]) for seed in ctx.seeds]
    scores["all three stages"] = [values for _, values in finished]
    scores["stage 1, as many extractor epochs"] = [ctx.trained(KEY, control[seed])[1] for seed in ctx.seeds]
    data_cfg = finished[0][0].config.data.to_dict()
    pixels = pixel_baseline(data_cfg)

    table = [{"templates": "mean-removed pixels (no training)", "epochs": "", "mAP %": f"{100 * pixels['mAP']:.1f}",
              "rank-1 %": f"{100 * pixels['rank1']:.1f}", "rank-5 %": f"{100 * pixels['rank5']:.1f}",
              "rank-10 %": f"{100 * pixels['rank10']:.1f}"}]
    epochs = {"stage 1": f"{e1} / 0 / 0", "stage 1, as many extractor epochs": f"{e1 + e3} / 0 / 0",
              "all three stages": f"{e1} / {e2} / {e3}"}
    for row in ROWS:
        table.append({"templates": row, "epochs": epochs[row], **{
            f"{name} %": pm([v[key] for v in scores[row]], 1, 100)
            for name, key in (("mAP", "mAP"), ("rank-1", "rank1"), ("rank-5", "rank5"), ("rank-10", "rank10"))}})
    columns = ["templates", "epochs", "mAP %", "rank-1 %", "rank-5 %", "rank-10 %"]

    curves = {row: [dict(enumerate(v["cmc"], 1)) for v in scores[row]] for row in ROWS}
    curves["mean-removed pixels"] = [dict(enumerate(pixels["cmc"], 1))]
    band_plot(ctx.figure("reid_cmc.png"), {k: [{x: 100 * y for x, y in c.items()} for c in v]
                                           for k, v in curves.items()},
              xlabel="rank", ylabel="CMC (%)", title="CMC on synthetic_reid (mean ± std over seeds)")
    _mask_picture(ctx.out / KEY / "masks-s0", ctx.figure("reid_masks.png"))

    mean = {row: {k: mean_std([v[k] for v in scores[row]]) for k in ("mAP", "rank1")} for row in ROWS}
    first, control, masked = mean["stage 1"], mean["stage 1, as many extractor epochs"], mean["all three stages"]
    quality_rows, bar = quality(scores, pixels["mAP"], ctx.seeds)
    claims = [
        Claim("re-ID", "the masks (stage 3) improve on stage 1: mAP and rank-1",
              _better(masked, first) if len(ctx.seeds) > 1 else None, _versus(masked, first, "stage 1"),
              quality_bar=bar),
        Claim("re-ID", "... and on stage 1 trained for as many extractor epochs",
              _better(masked, control) if len(ctx.seeds) > 1 else None,
              _versus(masked, control, "the equal-update control"), quality_bar=bar),
    ]
    quality_table = ("**Does each model work?** Every trained extractor must rank the query images better than "
                     f"mean-removed pixels do (mAP {100 * pixels['mAP']:.1f}%) by more than "
                     f"{100 * PIXEL_MARGIN:.0f} mAP points. A claim about extractors that miss the bar is "
                     f"undecided.\n\n{markdown_table(quality_rows, list(quality_rows[0]))}\n\n")
    body = (quality_table + "synthetic_reid stand-in (48 training identities, 48 test identities seen by 3 of 6 "
            f"cameras: "
            f"{_counts(data_cfg)}), smoke widths (ResNet-50 structure at width 0.125 with one "
            f"block per stage, 64×32 crops, P×K = 8×3), no ImageNet weights; stage epochs as listed "
            f"(stage 1 / 2 / 3). Mean ± std over {len(ctx.seeds)} seed(s); query/gallery as Market-1501 "
            f"(same-camera matches of the query's identity excluded).\n\n{markdown_table(table, columns)}\n\n"
            "The paper's Table 1 is on Market-1501, DukeMTMC-reID and CUHK03 with an ImageNet ResNet-50; "
            "those need the real data sets (`--data market1501:PATH`), so no number of ours stands beside it.\n\n"
            "What was wrong before: the smoke extractor was trained for 24 steps at the paper's fine-tuning "
            "rate (Adam 2e-4), from scratch. After 480 steps at 2e-4 it still ranked below mean-removed pixels "
            "(mAP 10% vs 24% on the old 24-identity stand-in); at Hermans et al.'s from-scratch rate (Adam 1e-3, "
            "now the smoke setting) it reached 62%. The stand-in was also enlarged (48 + 48 identities, a "
            "lean and height per picture; version 2) so that 144 queries, not 72, score each run.\n\n"
            "Stage 3 trains the extractor further, so 'all three stages' is held against two stage-1 runs: the "
            "same run before stages 2 and 3 (the paper's comparison), and a run with as many extractor epochs "
            "(the control, which separates what the masks add from what more extractor training adds). The "
            "stand-in's backgrounds and lighting are the camera's, not the person's, which is the kind of "
            "distraction the masks are meant to hide; how much of the paper's gain needs real pedestrians, "
            "occlusions and an ImageNet backbone, only the real data sets can say.\n\n"
            "![CMC](docs/results/reid_cmc.png)\n![masks](docs/results/reid_masks.png)\n")
    return Section(KEY, TITLE, body, claims)


def quality(scores, pixel_map: float, seeds) -> tuple[list, dict]:
    """The "Does each model work?" rows (one per trained extractor and seed) and the claims' quality bar."""
    rows, missed = [], []
    for row in ROWS:
        for seed, values in zip(seeds, scores[row]):
            margin = values["mAP"] - pixel_map
            met = margin > PIXEL_MARGIN
            if not met:
                missed.append(f"{row} seed {seed}: mAP {100 * values['mAP']:.1f}% is {100 * margin:.1f} points "
                              f"above pixels' (bar {100 * PIXEL_MARGIN:.0f})")
            rows.append({"extractor": row, "seed": seed, "mAP %": f"{100 * values['mAP']:.1f}",
                         "above pixels (points)": f"{100 * margin:+.1f}", f"> {100 * PIXEL_MARGIN:.0f}":
                         "yes" if met else "**no**"})
    detail = "; ".join(missed) or (f"every extractor of every seed beats pixels by > {100 * PIXEL_MARGIN:.0f} "
                                   "mAP points")
    return rows, {"met": not missed, "detail": detail}


def _better(a, b) -> bool:
    """Better on both mAP and rank-1 by more than the seeds' spread (the larger std of the two)."""
    return all(a[k][0] - b[k][0] > max(a[k][1], b[k][1]) for k in ("mAP", "rank1"))


def _versus(a, b, name) -> str:
    return (f"mAP {100 * a['mAP'][0]:.1f} ± {100 * a['mAP'][1]:.1f} vs {100 * b['mAP'][0]:.1f} ± "
            f"{100 * b['mAP'][1]:.1f} ({name}); rank-1 {100 * a['rank1'][0]:.1f} vs {100 * b['rank1'][0]:.1f}; "
            "holds only if both differences exceed the seeds' spread")


def _counts(data_cfg) -> str:
    from keras_gens import data as data_lib

    parts = {split: data_lib.load({**data_cfg, "split": split, "limit": None}).num_examples
             for split in ("train", "query", "gallery")}
    return ", ".join(f"{n} {split}" for split, n in parts.items())


def _mask_picture(run_dir, path):
    from keras_gens.evaluation.reid import Templates
    from keras_gens import data as data_lib
    from keras_gens.utils.images import save_png

    templates = Templates(run_dir)
    query = data_lib.load({**templates.data_cfg, "split": "query", "limit": None,
                           "image_size": list(templates.image_size)})
    save_png(path, templates.mask_picture(query.take(8, seed=0)["image"]))
