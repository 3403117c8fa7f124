"""The ResNet blocks and encoder of the WAE-ResNet thesis (seed 003, section 3.2).

Identity block: 1×1 conv (F1) → BN → ReLU → f×f conv (F2, 'same') → BN → ReLU →
1×1 conv (F3) → BN → + input → ReLU.
Convolutional block: the same with stride s on the first 1×1 conv, and a 1×1
stride-s projection (conv + BN) of the input on the shortcut.
Encoder: zero-padding (2, 2); conv 64 7×7 stride 2 + BN + ReLU + max-pool 3×3
stride 1; four stages of one convolutional block and 2, 3, 3, 3 identity blocks
(filters [64, 64, 256] … [512, 512, 2048], strides 1, 2, 2, 2); average
pooling 2×2; flatten; dense to the latent code.
"""
from __future__ import annotations

import tensorflow as tf

from keras_gens.layers.normalization import batch_norm

layers = tf.keras.layers

# (filters F1, F2, F3), stride of the convolutional block, number of identity blocks
THESIS_STAGES = (
    ((64, 64, 256), 1, 2),
    ((128, 128, 512), 2, 3),
    ((256, 256, 1024), 2, 3),
    ((512, 512, 2048), 2, 3),
)


def scale_width(n: int, width: float) -> int:
    """A layer width scaled by the config's ``model.width`` multiplier (at least 1)."""
    return max(1, int(round(n * width)))


class _Bottleneck(layers.Layer):
    """The three-convolution residual path shared by both blocks."""

    def __init__(self, filters, kernel_size=3, strides=1, bn_epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        if len(filters) != 3:
            raise ValueError(f"{self.name}: filters must be three numbers (F1, F2, F3), got {filters}")
        self.filters = tuple(int(f) for f in filters)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.bn_epsilon = float(bn_epsilon)
        f1, f2, f3 = self.filters
        self.conv1 = layers.Conv2D(f1, 1, strides=self.strides, padding="valid", name="conv1")
        self.bn1 = batch_norm(name="bn1", epsilon=self.bn_epsilon)
        self.conv2 = layers.Conv2D(f2, self.kernel_size, padding="same", name="conv2")
        self.bn2 = batch_norm(name="bn2", epsilon=self.bn_epsilon)
        self.conv3 = layers.Conv2D(f3, 1, padding="valid", name="conv3")
        self.bn3 = batch_norm(name="bn3", epsilon=self.bn_epsilon)

    def residual(self, x, training):
        x = tf.nn.relu(self.bn1(self.conv1(x), training=training))
        x = tf.nn.relu(self.bn2(self.conv2(x), training=training))
        return self.bn3(self.conv3(x), training=training)

    def get_config(self):
        return {**super().get_config(), "filters": list(self.filters), "kernel_size": self.kernel_size,
                "strides": self.strides, "bn_epsilon": self.bn_epsilon}


@tf.keras.utils.register_keras_serializable(package="keras_gens")
class IdentityBlock(_Bottleneck):
    """H(x) = ReLU(F(x) + x): input and output have F3 channels and the same size."""

    def __init__(self, filters, kernel_size=3, **kwargs):
        kwargs.pop("strides", None)
        super().__init__(filters, kernel_size, strides=1, **kwargs)

    def build(self, input_shape):
        if input_shape[-1] != self.filters[-1]:
            raise ValueError(f"{self.name}: an identity block needs {self.filters[-1]} input channels "
                             f"(its F3), got {input_shape[-1]}; use a ConvolutionalBlock to change width")
        super().build(input_shape)

    def call(self, inputs, training=None):
        return tf.nn.relu(self.residual(inputs, training) + inputs)


@tf.keras.utils.register_keras_serializable(package="keras_gens")
class ConvolutionalBlock(_Bottleneck):
    """H(x) = ReLU(F(x) + W_s·x): a 1×1 stride-s projection matches the shortcut to F(x)."""

    def __init__(self, filters, kernel_size=3, strides=2, **kwargs):
        super().__init__(filters, kernel_size, strides, **kwargs)
        self.shortcut_conv = layers.Conv2D(self.filters[-1], 1, strides=self.strides, padding="valid",
                                           name="shortcut_conv")
        self.shortcut_bn = batch_norm(name="shortcut_bn", epsilon=self.bn_epsilon)

    def call(self, inputs, training=None):
        shortcut = self.shortcut_bn(self.shortcut_conv(inputs), training=training)
        return tf.nn.relu(self.residual(inputs, training) + shortcut)


def build_resnet_encoder(image_shape, latent_dim: int, *, gaussian: bool, width: float = 1.0,
                         stem_filters: int = 64, stages=THESIS_STAGES, name: str = "resnet_encoder"):
    """Image -> latent code (``gaussian=False``, WAE) or (mean, log-variance) (``gaussian=True``, VAE)."""
    x = inputs = tf.keras.Input(image_shape, name="image")
    x = layers.ZeroPadding2D((2, 2), name="zero_pad")(x)
    x = layers.Conv2D(scale_width(stem_filters, width), 7, strides=2, name="stage1_conv")(x)
    x = batch_norm(name="stage1_bn")(x)
    # The thesis lists no activation here; its wording ("BatchNormalization is applied
    # to the channels axis=3") follows the standard Keras ResNet-50, which has a ReLU.
    x = layers.Activation("relu", name="stage1_relu")(x)
    x = layers.MaxPooling2D(3, strides=1, name="stage1_pool")(x)
    for stage, (filters, stride, identity_blocks) in enumerate(stages, start=2):
        filters = [scale_width(f, width) for f in filters]
        x = ConvolutionalBlock(filters, 3, strides=stride, name=f"stage{stage}_conv_block")(x)
        for i in range(1, identity_blocks + 1):
            x = IdentityBlock(filters, 3, name=f"stage{stage}_identity{i}")(x)
    # The thesis pools with a 2×2 window, which at 128×128 input turns the final
    # 8×8 map into 4×4.  'same' padding gives exactly that there and still
    # works when a small input leaves a 1×1 map (valid pooling would fail).
    x = layers.AveragePooling2D(2, padding="same", name="avg_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    if not gaussian:
        return tf.keras.Model(inputs, layers.Dense(latent_dim, name="z")(x), name=name)
    mean = layers.Dense(latent_dim, name="z_mean")(x)
    # Zero-initialised for the reason given in keras_gens.models.vae.build_encoder.
    log_variance = layers.Dense(latent_dim, kernel_initializer="zeros", name="z_log_variance")(x)
    return tf.keras.Model(inputs, [mean, log_variance], name=name)


# ResNet-50 (He et al. 2016) as keras.applications builds it: filters F1 of each stage (F3 = 4·F1),
# number of blocks, stride of the first block.
RESNET50_STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))
# keras.applications' batch-norm epsilon: ImageNet weights are only exact with it.
RESNET50_BN_EPSILON = 1.001e-5
RESNET50_WEIGHTS_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
RESNET50_WEIGHTS_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
                        + RESNET50_WEIGHTS_FILE)


def build_resnet50(image_shape, *, width: float = 1.0, stages=RESNET50_STAGES, name: str = "resnet50"):
    """ResNet-50 without its classifier: image -> final feature map (2048 channels at ``width`` 1).

    At the default ``width`` and ``stages`` this is exactly ``keras.applications.ResNet50``'s
    topology (``load_resnet50_weights`` copies its ImageNet weights in); smaller ``width`` and
    fewer blocks per stage give the same structure at test size.
    """
    x = inputs = tf.keras.Input(image_shape, name="image")
    x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
    x = layers.Conv2D(scale_width(64, width), 7, strides=2, name="conv1_conv")(x)
    x = batch_norm(name="conv1_bn", epsilon=RESNET50_BN_EPSILON)(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (f1, blocks, stride) in enumerate(stages, start=2):
        filters = [scale_width(f1, width)] * 2 + [scale_width(4 * f1, width)]
        x = ConvolutionalBlock(filters, 3, strides=stride, bn_epsilon=RESNET50_BN_EPSILON,
                               name=f"conv{stage}_block1")(x)
        for block in range(2, blocks + 1):
            x = IdentityBlock(filters, 3, bn_epsilon=RESNET50_BN_EPSILON, name=f"conv{stage}_block{block}")(x)
    return tf.keras.Model(inputs, x, name=name)


def _resnet50_layer_pairs(ours: tf.keras.Model, reference: tf.keras.Model):
    """(our layer, keras.applications layer) for every layer with weights."""
    yield ours.get_layer("conv1_conv"), reference.get_layer("conv1_conv")
    yield ours.get_layer("conv1_bn"), reference.get_layer("conv1_bn")
    for stage, (_, blocks, _) in enumerate(RESNET50_STAGES, start=2):
        for block in range(1, blocks + 1):
            name = f"conv{stage}_block{block}"
            ours_block = ours.get_layer(name)
            parts = [("conv1", "_1_conv"), ("bn1", "_1_bn"), ("conv2", "_2_conv"), ("bn2", "_2_bn"),
                     ("conv3", "_3_conv"), ("bn3", "_3_bn")]
            if block == 1:
                parts += [("shortcut_conv", "_0_conv"), ("shortcut_bn", "_0_bn")]
            for attribute, suffix in parts:
                yield getattr(ours_block, attribute), reference.get_layer(name + suffix)


def copy_resnet50_weights(reference: tf.keras.Model, ours: tf.keras.Model):
    """Copy a ``keras.applications.ResNet50(include_top=False)``'s weights into ``build_resnet50()``."""
    for mine, theirs in _resnet50_layer_pairs(ours, reference):
        values = theirs.get_weights()
        shapes = [tuple(w.shape) for w in mine.weights]
        if shapes != [v.shape for v in values]:
            raise ValueError(f"{mine.name}: weights of shapes {shapes} cannot take {theirs.name}'s "
                             f"{[v.shape for v in values]}; ImageNet weights need model.backbone_width=1")
        mine.set_weights(values)


def load_resnet50_weights(ours: tf.keras.Model, weights: str):
    """``weights``: ``imagenet`` (Keras's download, cached in ~/.keras/models) or a path to that .h5 file."""
    from pathlib import Path

    from keras_gens._env import keras_home, offline
    from keras_gens.errors import DataMissing

    if weights != "imagenet":
        file = Path(weights).expanduser()
        if not file.is_file():
            raise DataMissing(f"ResNet-50 weights file not found: {file}\n  It should be Keras's "
                              f"{RESNET50_WEIGHTS_FILE} ({RESNET50_WEIGHTS_URL})")
    else:
        file = keras_home() / "models" / RESNET50_WEIGHTS_FILE
        how = (f"  Download {RESNET50_WEIGHTS_URL}\n  and save it as {file} (or pass model.backbone_weights=PATH),"
               " or train from scratch with model.backbone_weights=none (expect far lower accuracy).")
        if not file.is_file() and offline():
            raise DataMissing("ResNet-50 ImageNet weights are not on this machine and KERAS_GENS_OFFLINE is set, so "
                              "none were downloaded.\n" + how)
        if not file.is_file():
            try:
                tf.keras.utils.get_file(RESNET50_WEIGHTS_FILE, RESNET50_WEIGHTS_URL, cache_subdir="models",
                                        cache_dir=str(keras_home()))
            except Exception as exc:  # urllib raises several types; all mean the same to the user
                raise DataMissing(f"ResNet-50 ImageNet weights could not be downloaded ({exc}).\n" + how) from None
    reference = tf.keras.applications.ResNet50(include_top=False, weights=str(file),
                                               input_shape=tuple(ours.input_shape[1:]))
    copy_resnet50_weights(reference, ours)
