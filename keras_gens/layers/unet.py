"""The U-Net mask generator of the re-ID paper (seed 002, section 2.1).

Encoder: 9 convolutions (3×3, stride 1, BN, ReLU) and 4 max-pools (2×2, stride 2) over
5 resolution levels, 32 → 512 filters: two convolutions at each of the four upper
levels, one at the bottom.  Decoder, its mirror: one more 512 convolution at the
bottom, then at each level up a 2×2 stride-2 transposed convolution (256 → 32
filters), concatenation with the encoder's map of that resolution (the skip
connection) and two convolutions.  A final 1×1 convolution with a sigmoid gives a
one-channel mask in [0, 1] at the input resolution.  The paper counts 9 encoder
convolutions; we read the bottom level's second convolution as the decoder's first
("the decoder mirrors the encoder"), which makes this Ronneberger et al.'s U-Net.
"""
from __future__ import annotations

import tensorflow as tf

from keras_gens.layers.normalization import batch_norm
from keras_gens.layers.resnet import scale_width

layers = tf.keras.layers

UNET_FILTERS = (32, 64, 128, 256, 512)


def _conv_bn_relu(x, filters, name):
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv")(x)
    x = batch_norm(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def build_unet(image_shape, *, filters=UNET_FILTERS, width: float = 1.0, name: str = "mask_generator"):
    """Image [H, W, C] -> mask [H, W, 1] in [0, 1]; H and W must be multiples of 2^(levels − 1)."""
    levels = len(filters)
    factor = 2 ** (levels - 1)
    height, width_px = image_shape[0], image_shape[1]
    if height % factor or width_px % factor:
        raise ValueError(f"the U-Net's {levels - 1} poolings need image sides divisible by {factor}; "
                         f"got {height}×{width_px}")
    filters = [scale_width(f, width) for f in filters]
    x = inputs = tf.keras.Input(image_shape, name="image")
    skips = []
    for level, f in enumerate(filters[:-1], start=1):
        x = _conv_bn_relu(x, f, f"down{level}a")
        x = _conv_bn_relu(x, f, f"down{level}b")
        skips.append(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"down{level}_pool")(x)
    x = _conv_bn_relu(x, filters[-1], "bottom_a")
    x = _conv_bn_relu(x, filters[-1], "bottom_b")
    for level, f in reversed(list(enumerate(filters[:-1], start=1))):
        x = layers.Conv2DTranspose(f, 2, strides=2, name=f"up{level}_deconv")(x)
        x = layers.Concatenate(name=f"up{level}_skip")([skips[level - 1], x])
        x = _conv_bn_relu(x, f, f"up{level}a")
        x = _conv_bn_relu(x, f, f"up{level}b")
    mask = layers.Conv2D(1, 1, activation="sigmoid", name="mask", dtype="float32")(x)
    return tf.keras.Model(inputs, mask, name=name)
