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

import numpy as np

from keras_gens.errors import UserError

# The paper's Table 1 (mAP, rank-1, %).
PAPER_TABLE1 = {"Market-1501": (63.9, 97.4), "DukeMTMC-reID": (61.1, 90.2), "CUHK03 (L)": (69.0, 93.4),
                "CUHK03 (D)": (66.9, 92.7)}


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


class Templates:
    """Feature extraction from a run directory (checkpoint) or an export (SavedModel)."""

    def __init__(self, src: Path):
        import tensorflow as tf

        from keras_gens.evaluation import _is_run_dir
        from keras_gens.generate import _saved_model_dir

        self.model = self.exported = None
        if _is_run_dir(src):
            from keras_gens.runner import build_from_run

            name, self.config, self.model, self.info = build_from_run(src)
            if name != "reid":
                raise UserError(f"{src} holds a '{name}' run; evaluate reid needs a reid run")
            self.image_size = tuple(self.info["image_shape"][:2])
            self.data_cfg = self.config.data.to_dict()
            self._features = tf.function(self.model.features, reduce_retracing=True)
        elif _saved_model_dir(src) is not None:
            import yaml

            saved = _saved_model_dir(src)
            loaded = tf.saved_model.load(str(saved))
            if "masks" not in loaded.signatures:
                raise UserError(f"{saved} is not a reid export (it has no 'masks' signature)")
            self.exported = loaded
            described = yaml.safe_load((saved / "assets.extra" / "keras_gens.yaml").read_text())
            self.image_size = tuple(described["image_shape"][:2])
            self.data_cfg = described["data_config"]
            serve = loaded.signatures["features_float"]
            self._features = lambda images: serve(images=tf.convert_to_tensor(images, tf.float32))["features"]
        else:
            raise UserError(f"{src} is neither a run directory nor a SavedModel export")

    def features(self, images) -> np.ndarray:
        return np.asarray(self._features(images))

    def mask_picture(self, images) -> np.ndarray:
        from keras_gens.models.reid import mask_figure, mask_grid

        if self.model is not None:
            return mask_figure(self.model, images)
        out = self.exported.signatures["masks"](images=_uint8(images))
        return mask_grid(images, out["hidden"].numpy() / 255.0, out["masks"].numpy())


def _uint8(images):
    import tensorflow as tf

    return tf.cast(tf.round(tf.clip_by_value(images, 0.0, 1.0) * 255.0), tf.uint8)


def extract(templates: Templates, source, batch_size: int) -> np.ndarray:
    from keras_gens.utils.progress import progress

    batches = source.dataset(batch_size, shuffle=False, repeat=False, drop_remainder=False)
    total = -(-source.num_examples // batch_size)
    parts = [templates.features(b["image"]) for b in progress(batches, total=total, desc=f"features of {source.name}",
                                                               unit="batch")]
    return np.concatenate(parts)


def table_row(title: str, scores: dict, label: str) -> str:
    from keras_gens.utils.tables import markdown_table

    rows = []
    if title in PAPER_TABLE1:
        paper_map, paper_r1 = PAPER_TABLE1[title]
        rows.append({"Method": "paper (Table 1)", f"{title} mAP": f"{paper_map:.1f}",
                     f"{title} rank-1": f"{paper_r1:.1f}"})
    rows.append({"Method": label, f"{title} mAP": f"{100 * scores['mAP']:.1f}",
                 f"{title} rank-1": f"{100 * scores['rank1']:.1f}", "rank-5": f"{100 * scores['rank5']:.1f}",
                 "rank-10": f"{100 * scores['rank10']:.1f}"})
    return markdown_table(rows, ["Method", f"{title} mAP", f"{title} rank-1", "rank-5", "rank-10"])


def run(args) -> int:
    from keras_gens import data as data_lib
    from keras_gens.evaluate import checkpoint_epoch
    from keras_gens.metrics.reid import evaluate_features
    from keras_gens.utils.images import save_png
    from keras_gens.utils.io import atomic_write_text

    src = Path(args.run)
    templates = Templates(src)
    data_cfg = dict(templates.data_cfg)
    if args.data:
        data_cfg["source"] = args.data
    data_cfg.update(limit=None, image_size=list(templates.image_size))
    out_dir = Path(args.out) if args.out else (src if templates.model is not None else src.parent)
    query = data_lib.load({**data_cfg, "split": "query"})
    title = getattr(query, "title", "") or query.name
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
    _plot_cmc(out_dir / "figures" / "cmc.png", result, title)
    if templates.model is not None:
        from keras_gens.utils import metrics_csv

        metrics_csv.upsert(src / "metrics.csv", epoch or 0,
                           {k: v for k, v in scores.items() if k not in ("valid_queries", "skipped_queries")})
    return 0


def _plot_cmc(path, result, title):
    from keras_gens.utils.plots import save_line_plot

    ranks = list(range(1, len(result.cmc) + 1))
    save_line_plot(path, {title: (ranks, [100 * c for c in result.cmc])}, xlabel="rank", ylabel="CMC (%)",
                   title=f"CMC, {title} (mAP {100 * result.mAP:.1f}%)")
