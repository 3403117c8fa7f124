"""A trained generator as a SavedModel that TF Serving (or plain TensorFlow) loads.

Signatures (all images are NHWC):
    serving_default  z: float32 [N, latent] (+ labels: int32 [N] for conditional models)
                     -> images: uint8 [N, H, W, C] in [0, 255]
    generate_float   same inputs -> images: float32 [N, H, W, C] in [0, 1]
    sample           n: int32 [], seed: int64 [] -> images: uint8 [...], z: float32 [n, latent]
                     (z drawn from the model's prior; conditional models cycle through the classes)
PXD hitmap generators (pe_gan, wgan_gp_cond) add (keras_gens.models.hitmaps):
    hitmaps          z, sensor_ids: int32 [N] (1-40) -> hitmaps: uint8 [N, 250, 768] ADU, thresholded
    event            seed: int64 [] -> hitmaps: uint8 [40, 250, 768], sensor_ids: int32 [40]
The re-ID model exports its own (keras_gens.models.reid):
    serving_default  images: uint8 [N, H, W, 3] (any size; resized) -> features: float32 [N, 512]
    features_float   the same for float32 images in [0, 1]
    masks            images: uint8 [N, H, W, 3] -> masks: float32 [N, h, w, 1], hidden: uint8 (top 30% blacked out)

The folder is written under a temporary name and renamed when complete, so
an interrupted export never leaves a half-written model where a server looks.
"""
from __future__ import annotations

from pathlib import Path

from keras_gens.errors import RunDirError
from keras_gens.outputs import Kind, check_folder, kind_of, register_kind
from keras_gens.run_dirs import build_from_run, read_run_info

SIGNATURES = ("serving_default", "generate_float", "sample")
DESCRIPTION = Path("assets.extra") / "keras_gens.yaml"


def is_export(folder) -> bool:
    """A SavedModel that keras_gens.export wrote (its description in ``assets.extra``)."""
    return (Path(folder) / "saved_model.pb").is_file() and (Path(folder) / DESCRIPTION).is_file()


# A SavedModel is sealed: only the next export into its folder replaces it (whole). Its description file is
# its marker, so the folder TF Serving loads holds nothing but the SavedModel.
EXPORT = register_kind(Kind("export", "a SavedModel", "python -m keras_gens.export",
                            own=("saved_model.pb", "variables", "assets", "assets.extra", "fingerprint.pb"),
                            recognizes=is_export, sealed=True))


def check_export_dir(out_dir) -> Path:
    """Refuse (writing nothing) an export folder that is the run, lies among its files, or holds anything
    but an earlier export; a run's ``export/`` folder itself takes numbered versions below it."""
    if out_dir is None or str(out_dir).strip() == "":
        return check_folder(out_dir, EXPORT)  # the one message for an empty --out
    out_dir = Path(out_dir)
    if out_dir.is_dir() and not is_export(out_dir):
        versions = sorted(p.name for p in out_dir.iterdir() if p.name.isdigit() and is_export(p))
        if versions and kind_of(out_dir) is None:
            raise RunDirError(f"--out {out_dir} holds exported versions ({', '.join(versions[:5])}): give a version "
                              f"folder below it, e.g. {next_version_dir(out_dir)}, or leave --out out")
    return check_folder(out_dir, EXPORT)


def _build_module(model):
    import tensorflow as tf

    latent_dim = int(model.latent_dim)
    num_classes = int(model.num_classes)
    lo, hi = model.value_range
    prior_stddev = float(model.prior_stddev)
    generator = model.generator

    class GeneratorExport(tf.Module):
        def __init__(self):
            super().__init__(name="generator_export")
            # Track the weights, not the Keras model: saving a Keras model also traces
            # every layer's training-mode call (unneeded for serving, and slow to load).
            self.generator_weights = list(generator.weights)
            self.latent_dim = tf.Variable(latent_dim, trainable=False, name="latent_dim")
            self.num_classes = tf.Variable(num_classes, trainable=False, name="num_classes")

        def unit_images(self, z, labels=None):
            inputs = z if labels is None else [z, labels]
            images = tf.cast(generator(inputs, training=False), tf.float32)
            return tf.clip_by_value((images - lo) / (hi - lo), 0.0, 1.0)

        def uint8_images(self, z, labels=None):
            return tf.cast(tf.round(self.unit_images(z, labels) * 255.0), tf.uint8)

        def sample_inputs(self, n, seed):
            z = tf.random.stateless_normal([n, latent_dim], seed=tf.stack([seed, tf.constant(0, tf.int64)]),
                                           stddev=prior_stddev)
            labels = tf.math.floormod(tf.range(n, dtype=tf.int32), max(num_classes, 1)) if num_classes else None
            return z, labels

    module = GeneratorExport()
    z_spec = tf.TensorSpec([None, latent_dim], tf.float32, name="z")
    n_spec = tf.TensorSpec([], tf.int32, name="n")
    seed_spec = tf.TensorSpec([], tf.int64, name="seed")
    if num_classes:
        label_spec = tf.TensorSpec([None], tf.int32, name="labels")
        serve = tf.function(lambda z, labels: {"images": module.uint8_images(z, labels)},
                            input_signature=[z_spec, label_spec])
        serve_float = tf.function(lambda z, labels: {"images": module.unit_images(z, labels)},
                                  input_signature=[z_spec, label_spec])

        def _sample(n, seed):
            z, labels = module.sample_inputs(n, seed)
            return {"images": module.uint8_images(z, labels), "z": z, "labels": labels}
    else:
        serve = tf.function(lambda z: {"images": module.uint8_images(z)}, input_signature=[z_spec])
        serve_float = tf.function(lambda z: {"images": module.unit_images(z)}, input_signature=[z_spec])

        def _sample(n, seed):
            z, _ = module.sample_inputs(n, seed)
            return {"images": module.uint8_images(z), "z": z}

    sample = tf.function(_sample, input_signature=[n_spec, seed_spec])
    module.serve, module.serve_float, module.sample = serve, serve_float, sample
    signatures = {"serving_default": serve, "generate_float": serve_float, "sample": sample}
    return module, signatures


def next_version_dir(base: Path) -> Path:
    versions = [int(p.name) for p in base.glob("*") if p.is_dir() and p.name.isdigit()]
    return base / str(max(versions, default=0) + 1)


def export_model(model, out_dir, info: dict | None = None) -> Path:
    """Write ``model.generator`` with the signatures above to ``out_dir`` atomically."""
    import tensorflow as tf
    import yaml

    from keras_gens.utils import faults
    from keras_gens.utils.io import replace_dir, temp_dir_beside

    out_dir = check_export_dir(out_dir)
    # Models that are not sample generators (re-ID: templates and masks) bring their own signatures.
    own = model.serving_signatures()
    module, signatures = own if own is not None else _build_module(model)
    signatures.update(model.extra_serving_signatures(module))  # PXD hitmap generators: hitmaps and whole events
    tmp = temp_dir_beside(out_dir)
    try:
        faults.point("export")
        tf.saved_model.save(module, str(tmp), signatures=signatures)
        extra = tmp / "assets.extra"
        extra.mkdir(exist_ok=True)
        described = {"latent_dim": int(model.latent_dim), "num_classes": int(model.num_classes),
                     "signatures": list(signatures), **(info or {})}
        if own is None:
            described["output"] = "serving_default returns uint8 images in [0, 255]"
        (extra / "keras_gens.yaml").write_text(yaml.safe_dump(described, sort_keys=False))
        replace_dir(tmp, out_dir)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def export_run(run_dir, out=None, compute_precision=None) -> Path:
    run_dir = Path(run_dir)
    read_run_info(run_dir)  # a run directory, or one message
    out_dir = check_export_dir(next_version_dir(run_dir / "export") if out is None else out)
    _, cfg, model, info = build_from_run(run_dir, compute_precision=compute_precision)
    used = compute_precision or cfg.train.get("precision", "float32")
    return export_model(model, out_dir, {**info, "data_config": cfg.data.to_dict(), "precision": used})
