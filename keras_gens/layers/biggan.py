"""BigGAN-deep's residual blocks (Brock et al. 2019), with a bottleneck of 4.

Generator block (conditioned on c = [shared class embedding ‖ z] through every BN):
    cBN → ReLU → 1×1 (C_in → C_in/4) → cBN → ReLU → [nearest ×2] → 3×3 → cBN → ReLU → 3×3
    → cBN → ReLU → 1×1 (→ C_out)
    skip: the first C_out channels of the input, [nearest ×2]
Discriminator block (pre-activation):
    ReLU → 1×1 (C_in → C_out/4) → ReLU → 3×3 → ReLU → 3×3 → ReLU → 1×1 (→ C_out) → [avg-pool 2]
    skip: [avg-pool 2], then, when C_out > C_in, the input joined by a learned 1×1 to C_out − C_in channels

The skip paths carry no weights when the width stays, which is what lets BigGAN-deep grow deep.
"""
from __future__ import annotations

import tensorflow as tf

from keras_gens.layers.normalization import ConditionalBatchNorm
from keras_gens.layers.octave import NearestUpSampling2D
from keras_gens.layers.spectral import conv

BOTTLENECK = 4


@tf.keras.utils.register_keras_serializable("keras_gens")
class GeneratorBlock(tf.keras.layers.Layer):
    def __init__(self, filters: int, *, upsample: bool, spectral: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.upsample, self.spectral = int(filters), bool(upsample), bool(spectral)

    def build(self, input_shape):
        channels = int(input_shape[0][-1])
        if self.filters > channels:
            raise ValueError(f"a BigGAN-deep generator block keeps or narrows its width; got {channels} → "
                             f"{self.filters}")
        hidden = max(channels // BOTTLENECK, 1)
        self.norms = [ConditionalBatchNorm(spectral=self.spectral, name=f"cbn{i}") for i in range(1, 5)]
        self.convs = [conv(hidden, 1, spectral=self.spectral, name="conv1"),
                      conv(hidden, 3, spectral=self.spectral, name="conv2"),
                      conv(hidden, 3, spectral=self.spectral, name="conv3"),
                      conv(self.filters, 1, spectral=self.spectral, name="conv4")]
        self.up = NearestUpSampling2D(name="up") if self.upsample else None
        super().build(input_shape)

    @tf.autograph.experimental.do_not_convert  # no tensor-dependent control flow: tracing is faster
    def call(self, inputs, training=None):
        x, condition = inputs
        skip = x[..., :self.filters]
        for i, (norm, convolution) in enumerate(zip(self.norms, self.convs)):
            x = tf.nn.relu(norm([x, condition], training=training))
            if i == 1 and self.up is not None:
                x = self.up(x)
            x = convolution(x, training=training)
        if self.up is not None:
            skip = self.up(skip)
        return x + skip

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "upsample": self.upsample,
                "spectral": self.spectral}


@tf.keras.utils.register_keras_serializable("keras_gens")
class DiscriminatorBlock(tf.keras.layers.Layer):
    def __init__(self, filters: int, *, downsample: bool, spectral: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.downsample, self.spectral = int(filters), bool(downsample), bool(spectral)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        if self.filters < channels:
            raise ValueError(f"a BigGAN-deep discriminator block keeps or widens its width; got {channels} → "
                             f"{self.filters}")
        hidden = max(self.filters // BOTTLENECK, 1)
        self.convs = [conv(hidden, 1, spectral=self.spectral, name="conv1"),
                      conv(hidden, 3, spectral=self.spectral, name="conv2"),
                      conv(hidden, 3, spectral=self.spectral, name="conv3"),
                      conv(self.filters, 1, spectral=self.spectral, use_bias=False, name="conv4")]
        # conv4's bias, added after the skip (the same sum): a biased conv feeding the residual add that
        # the next block's ReLU reads is a pattern Grappler's remapper fails on ("remapper failed:
        # Mutation::Apply error"), which then leaves the whole training graph without its fusions.
        self.conv4_bias = self.add_weight(name="conv4_bias", shape=(self.filters,), initializer="zeros")
        self.pool = tf.keras.layers.AveragePooling2D(2, name="pool") if self.downsample else None
        self.extra = (conv(self.filters - channels, 1, spectral=self.spectral, name="skip")
                      if self.filters > channels else None)
        super().build(input_shape)

    @tf.autograph.experimental.do_not_convert  # no tensor-dependent control flow: tracing is faster
    def call(self, x, training=None):
        skip = x
        for convolution in self.convs:
            x = convolution(tf.nn.relu(x), training=training)
        if self.pool is not None:
            x, skip = self.pool(x), self.pool(skip)
        if self.extra is not None:
            skip = tf.concat([skip, self.extra(skip, training=training)], axis=-1)
        return x + skip + tf.cast(self.conv4_bias, x.dtype)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "downsample": self.downsample,
                "spectral": self.spectral}
