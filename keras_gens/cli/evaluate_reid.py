"""``python -m keras_gens.evaluate reid``: mAP and CMC of a trained re-ID model, and the mask pictures.

    python -m keras_gens.evaluate reid --run RUN_DIR [--data SPEC] [--masks 8] [--batch-size 128]

RUN_DIR is a ``reid`` run directory (its latest checkpoint) or its SavedModel export.
``--data`` defaults to the run's own data set; its query and gallery splits are read,
preprocessed as at training time without augmentation.  The scores are printed as a row
of the paper's Table 1 beside the paper's own, and written to RUN_DIR/reid_eval.md,
RUN_DIR/metrics.csv (the checkpoint's epoch) and RUN_DIR/figures/cmc.png;
``--masks N`` writes the paper's Figure 1 for N query images to
RUN_DIR/figures/reid_masks.png (``--masks-only``: just that).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from keras_gens.errors import UserError
from keras_gens.evaluation import mark_report_folder, report_folder
from keras_gens.evaluation.reid import Templates, extract, plot_cmc, table_row
from keras_gens.run_dirs import checkpoint_epoch


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m keras_gens.evaluate reid", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="reid run directory or its export folder")
    parser.add_argument("--data", help="data spec (default: the run's data.source), e.g. market1501:data/market1501")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--chunk", type=int, default=256, help="queries ranked at a time")
    parser.add_argument("--masks", type=int, default=8, help="query images in the mask picture (0: none)")
    parser.add_argument("--masks-only", action="store_true", help="only write the mask picture")
    parser.add_argument("--out", help="folder for reid_eval.md and figures (default: the run directory)")
    return parser.parse_args(argv)


def run(args) -> int:
    from keras_gens import data as data_lib
    from keras_gens.metrics.reid import evaluate_features
    from keras_gens.utils.images import save_png
    from keras_gens.utils.io import atomic_write_text

    src = Path(args.run)
    templates = Templates(src)
    data_cfg = dict(templates.data_cfg)
    if args.data:
        data_cfg["source"] = args.data
    data_cfg.update(limit=None, image_size=list(templates.image_size))
    default = src if templates.model is not None else src.parent
    out_dir = report_folder(args.out, default)
    query = data_lib.load({**data_cfg, "split": "query"})
    title = getattr(query, "title", "") or query.name
    mark_report_folder(out_dir, default)
    if args.masks:
        picked = query.take(args.masks, seed=0)["image"]
        path = out_dir / "figures" / "reid_masks.png"
        save_png(path, templates.mask_picture(picked))
        print(f"mask picture ({len(picked)} query images: originals, top 30% hidden, masks): {path}")
    if args.masks_only:
        return 0
    gallery = data_lib.load({**data_cfg, "split": "gallery"})
    if not hasattr(query, "person_ids"):
        raise UserError(f"{data_cfg['source']} is not a re-ID data set (market1501:, dukemtmc:, cuhk03:, "
                        "synthetic_reid)")
    q_features = extract(templates, query, args.batch_size)
    g_features = extract(templates, gallery, args.batch_size)
    result = evaluate_features(q_features, g_features, query.person_ids, gallery.person_ids, query.camera_ids,
                               gallery.camera_ids, chunk=args.chunk)
    scores = result.as_dict()
    epoch = checkpoint_epoch(src) if templates.model is not None else None
    label = f"this run ({src.name}" + (f", epoch {epoch})" if epoch else ")")
    table = table_row(title, scores, label)
    print(f"{title}: {query.num_examples} queries ({scores['skipped_queries']} without a valid match skipped), "
          f"{gallery.num_examples} gallery images; AP non-interpolated\n{table}")
    atomic_write_text(out_dir / "reid_eval.md", f"# Re-ID evaluation: {title}\n\n{table}\n\n"
                      f"{scores['valid_queries']} queries scored, {scores['skipped_queries']} skipped "
                      f"(no match from another camera); {gallery.num_examples} gallery images.\n")
    plot_cmc(out_dir / "figures" / "cmc.png", result, title)
    if templates.model is not None:
        from keras_gens.utils import metrics_csv

        metrics_csv.upsert(src / "metrics.csv", epoch or 0,
                           {k: v for k, v in scores.items() if k not in ("valid_queries", "skipped_queries")})
    return 0
