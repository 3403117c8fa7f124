"""The non-local (self-attention) block of SAGAN and BigGAN.

    θ = conv1×1(x) → C/8,  φ = maxpool₂(conv1×1(x)) → C/8,  g = maxpool₂(conv1×1(x)) → C/2
    β = softmax over key positions of θ φᵀ
    out = x + γ · conv1×1(β g) → C,  γ a learned scalar starting at 0

With γ = 0 the block is the identity when training starts, so the network first learns from
local features and lets attention in gradually.  φ and g are pooled so the attention matrix is
(H·W) × (H·W/4), a quarter of the full one.
"""
from __future__ import annotations

import tensorflow as tf

from keras_gens.layers.spectral import conv


@tf.keras.utils.register_keras_serializable("keras_gens")
class SelfAttention2D(tf.keras.layers.Layer):
    def __init__(self, *, spectral: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.spectral = bool(spectral)

    def build(self, input_shape):
        channels = self.channels = int(input_shape[-1])
        if channels < 8:
            raise ValueError(f"self-attention needs at least 8 channels (C/8 query channels); got {channels}")
        self.theta = conv(channels // 8, 1, spectral=self.spectral, use_bias=False, name="theta")
        self.phi = conv(channels // 8, 1, spectral=self.spectral, use_bias=False, name="phi")
        self.g = conv(channels // 2, 1, spectral=self.spectral, use_bias=False, name="g")
        self.out = conv(channels, 1, spectral=self.spectral, use_bias=False, name="out")
        self.pool = tf.keras.layers.MaxPool2D(2, name="pool")
        self.gamma = self.add_weight(name="gamma", shape=(), initializer="zeros", trainable=True)
        super().build(input_shape)

    @tf.autograph.experimental.do_not_convert  # no tensor-dependent control flow: tracing is faster
    def call(self, x, training=None):
        shape = tf.shape(x)
        n, h, w = shape[0], shape[1], shape[2]
        query, value = self.channels // 8, self.channels // 2
        theta = tf.reshape(self.theta(x, training=training), [n, h * w, query])
        phi = tf.reshape(self.pool(self.phi(x, training=training)), [n, (h // 2) * (w // 2), query])
        g = tf.reshape(self.pool(self.g(x, training=training)), [n, (h // 2) * (w // 2), value])
        beta = tf.nn.softmax(tf.matmul(theta, phi, transpose_b=True), axis=-1)
        attended = tf.reshape(tf.matmul(beta, g), [n, h, w, value])
        return x + tf.cast(self.gamma, x.dtype) * self.out(attended, training=training)

    def get_config(self):
        return {**super().get_config(), "spectral": self.spectral}
