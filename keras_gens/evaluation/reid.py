"""Re-ID evaluation of a trained model: its templates (features) from a run directory or an export,
the paper's Table 1 row, the CMC plot.  The command is ``python -m keras_gens.evaluate reid``."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from keras_gens.errors import UserError
from keras_gens.run_dirs import build_from_run, is_run_dir, saved_model_dir

# The paper's Table 1 (mAP, rank-1, %).
PAPER_TABLE1 = {"Market-1501": (63.9, 97.4), "DukeMTMC-reID": (61.1, 90.2), "CUHK03 (L)": (69.0, 93.4),
                "CUHK03 (D)": (66.9, 92.7)}


class Templates:
    """Feature extraction from a run directory (checkpoint) or an export (SavedModel)."""

    def __init__(self, src: Path):
        import tensorflow as tf

        self.model = self.exported = None
        if is_run_dir(src):
            name, self.config, self.model, self.info = build_from_run(src)
            if name != "reid":
                raise UserError(f"{src} holds a '{name}' run; evaluate reid needs a reid run")
            self.image_size = tuple(self.info["image_shape"][:2])
            self.data_cfg = self.config.data.to_dict()
            self._features = tf.function(self.model.features, reduce_retracing=True)
        elif (saved := saved_model_dir(src)) is not None:
            import yaml

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


def plot_cmc(path, result, title):
    from keras_gens.utils.plots import save_line_plot

    ranks = list(range(1, len(result.cmc) + 1))
    save_line_plot(path, {title: (ranks, [100 * c for c in result.cmc])}, xlabel="rank", ylabel="CMC (%)",
                   title=f"CMC, {title} (mAP {100 * result.mAP:.1f}%)")
