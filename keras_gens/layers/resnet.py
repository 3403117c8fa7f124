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

    def __init__(self, filters, kernel_size=3, strides=1, **kwargs):
        super().__init__(**kwargs)
        if len(filters) != 3:
            raise ValueError(f"{self.name}: filters must be three numbers (F1, F2, F3), got {filters}")
        self.filters = tuple(int(f) for f in filters)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        f1, f2, f3 = self.filters
        self.conv1 = layers.Conv2D(f1, 1, strides=self.strides, padding="valid", name="conv1")
        self.bn1 = batch_norm(name="bn1")
        self.conv2 = layers.Conv2D(f2, self.kernel_size, padding="same", name="conv2")
        self.bn2 = batch_norm(name="bn2")
        self.conv3 = layers.Conv2D(f3, 1, padding="valid", name="conv3")
        self.bn3 = batch_norm(name="bn3")

    def residual(self, x, training):
        x = tf.nn.relu(self.bn1(self.conv1(x), training=training))
        x = tf.nn.relu(self.bn2(self.conv2(x), training=training))
        return self.bn3(self.conv3(x), training=training)

    def get_config(self):
        return {**super().get_config(), "filters": list(self.filters), "kernel_size": self.kernel_size,
                "strides": self.strides}


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
        self.shortcut_bn = batch_norm(name="shortcut_bn")

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
