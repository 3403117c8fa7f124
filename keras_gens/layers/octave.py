"""Octave convolution (Chen et al., 2019) as used by OC-GAN, usable in any Keras model.

A feature map is split along channels into a high-frequency part at full
resolution and a low-frequency part at half resolution: ``(x_h, x_l)``, with
α = the fraction of low-frequency channels (``int(α·C)``, as the reference
code rounds).  An ``OctaveConv2D`` computes four paths

    H→H  conv(x_h)                 H→L  conv(avgpool₂(x_h))
    L→H  upsample₂(conv(x_l))      L→L  conv(x_l)

and returns ``y_h = H→H + L→H``, ``y_l = H→L + L→L``.  ``alpha_in = 0`` (the
first layer) takes a plain tensor; ``alpha_out = 0`` (the last layer) returns
one.  Stride 2 average-pools both inputs first.  ``OctaveConv2DTranspose`` is
the transposed alternative for generators (each path a transposed conv).

``FrequencyWeights`` multiplies the two branches by β_H and β_L, OC-GAN's
weighting; they are non-trainable variables, so a callback (``BetaSchedule``
in ``keras_gens.callbacks``) can change them during training, and they are
saved with the model.
"""
from __future__ import annotations

import tensorflow as tf

from keras_gens.layers.normalization import batch_norm

layers = tf.keras.layers


def split_channels(channels: int, alpha: float) -> tuple[int, int]:
    """``(high, low)`` channel counts of ``channels`` at low-frequency fraction ``alpha``."""
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha must be in [0, 1): it is the low-frequency fraction; got {alpha}")
    low = int(alpha * channels)
    return channels - low, low


def as_pair(x):
    """``(x_h, x_l)`` of an octave tensor; a plain tensor is ``(x, None)``."""
    if isinstance(x, (tuple, list)):
        if len(x) != 2:
            raise ValueError(f"an octave feature map is a pair (x_h, x_l); got {len(x)} tensors")
        return x[0], x[1]
    return x, None


class _OctaveBase(layers.Layer):
    """What the convolution and its transpose share: channel split, shape checks, paths, config."""

    transposed = False

    def __init__(self, filters, kernel_size, alpha_in=0.5, alpha_out=0.5, strides=1, use_bias=False,
                 kernel_initializer="glorot_uniform", kernel_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = int(filters), kernel_size
        self.alpha_in, self.alpha_out = float(alpha_in), float(alpha_out)
        self.strides = int(strides)
        if self.strides not in (1, 2):
            raise ValueError(f"{self.name}: octave convolutions take stride 1 or 2, got {strides}")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = tf.keras.initializers.get(kernel_initializer)
        self.kernel_constraint = tf.keras.constraints.get(kernel_constraint)
        self.out_high, self.out_low = split_channels(self.filters, self.alpha_out)
        if self.alpha_out > 0 and self.out_low == 0:
            raise ValueError(f"{self.name}: alpha_out={alpha_out} of filters={filters} leaves no low-frequency "
                             f"channel; use more filters or alpha_out=0")

    def _conv(self, filters, name):
        # A fresh initializer per path: one unseeded instance would give every path the same values.
        initializer = tf.keras.initializers.deserialize(tf.keras.initializers.serialize(self.kernel_initializer))
        common = dict(padding="same", use_bias=self.use_bias, kernel_initializer=initializer,
                      kernel_constraint=self.kernel_constraint, name=name)
        if self.transposed:
            return layers.Conv2DTranspose(filters, self.kernel_size, strides=self.strides, **common)
        return layers.Conv2D(filters, self.kernel_size, **common)

    def build(self, input_shape):
        pair = isinstance(input_shape, (tuple, list)) and len(input_shape) == 2 and all(
            isinstance(s, (tf.TensorShape, tuple, list)) for s in input_shape)
        high_shape, low_shape = (input_shape if pair else (input_shape, None))
        high_shape = tf.TensorShape(high_shape)
        in_high = int(high_shape[-1])
        in_low = int(tf.TensorShape(low_shape)[-1]) if low_shape is not None else 0
        if self.alpha_in > 0 and low_shape is None:
            raise ValueError(f"{self.name}: alpha_in={self.alpha_in} needs a pair (x_h, x_l); got one tensor")
        if self.alpha_in == 0 and low_shape is not None:
            raise ValueError(f"{self.name}: alpha_in=0 takes one tensor; got a pair (use alpha_in > 0)")
        if low_shape is not None:
            expected_high, expected_low = split_channels(in_high + in_low, self.alpha_in)
            if (expected_high, expected_low) != (in_high, in_low):
                raise ValueError(
                    f"{self.name}: alpha_in={self.alpha_in} of {in_high + in_low} channels means "
                    f"{expected_high} high + {expected_low} low, but the inputs have {in_high} + {in_low}")
            low_shape = tf.TensorShape(low_shape)
            for axis in (1, 2):
                h, l_ = high_shape[axis], low_shape[axis]
                if h is not None and l_ is not None and h != 2 * l_:
                    raise ValueError(f"{self.name}: the low-frequency map must be half the high one's size; "
                                     f"got {tuple(high_shape[1:3])} and {tuple(low_shape[1:3])}")
        needs_pooling = self.out_low > 0 or (self.strides == 2 and not self.transposed)
        for axis in (1, 2):
            size = high_shape[axis]
            if needs_pooling and size is not None and size % 2:
                raise ValueError(f"{self.name}: average pooling by 2 needs even sizes; got {tuple(high_shape[1:3])}")
        self.in_high, self.in_low = in_high, in_low
        self.h2h = self._conv(self.out_high, "h2h")
        self.h2l = self._conv(self.out_low, "h2l") if self.out_low else None
        self.l2h = self._conv(self.out_high, "l2h") if in_low else None
        self.l2l = self._conv(self.out_low, "l2l") if in_low and self.out_low else None
        super().build(input_shape)

    def call(self, inputs):
        x_h, x_l = as_pair(inputs)
        if self.strides == 2 and not self.transposed:
            x_h = tf.nn.avg_pool2d(x_h, 2, 2, "VALID")
            x_l = None if x_l is None else tf.nn.avg_pool2d(x_l, 2, 2, "VALID")
        y_h = self.h2h(x_h)
        if x_l is not None:
            y_h = y_h + _upsample(self.l2h(x_l))
        if not self.out_low:
            return y_h
        y_l = self.h2l(tf.nn.avg_pool2d(x_h, 2, 2, "VALID"))
        if x_l is not None:
            y_l = y_l + self.l2l(x_l)
        return y_h, y_l

    def multiply_adds(self, high_size) -> int:
        """Multiply-adds per example for an output high map of ``high_size`` (h, w)."""
        kh, kw = (self.kernel_size, self.kernel_size) if isinstance(self.kernel_size, int) else self.kernel_size
        h, w = high_size
        if self.transposed:  # a transposed convolution computes at its input's size
            h, w = h // self.strides, w // self.strides
        full, half = h * w, (h // 2) * (w // 2)
        k = kh * kw
        total = full * k * self.in_high * self.out_high
        total += half * k * self.in_high * self.out_low          # H→L at half resolution
        total += half * k * self.in_low * self.out_high          # L→H, then upsampled
        total += half * k * self.in_low * self.out_low
        return int(total)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "alpha_in": self.alpha_in, "alpha_out": self.alpha_out, "strides": self.strides,
                "use_bias": self.use_bias,
                "kernel_initializer": tf.keras.initializers.serialize(self.kernel_initializer),
                "kernel_constraint": tf.keras.constraints.serialize(self.kernel_constraint)}


@tf.custom_gradient
def _upsample(x):
    """Nearest-neighbour ×2 as one broadcast into [N, H, 2, W, 2, C] and a free reshape; its gradient, the sum
    of each 2×2 block, as 4 × a 2×2 average pool.  For 8×128×384×32 on one core (tools/bench/pxd_kernels.py)
    two ``tf.repeat``s (two Tile ops, each writing a copy) took 22 ms forward and 82 ms with the gradient,
    this 14–20 and 77 ms; with BroadcastTo's own gradient (a Sum over the strided axes), 403 ms."""
    n, h, w, c = (x.shape[i] if x.shape[i] is not None else tf.shape(x)[i] for i in range(4))
    doubled = tf.reshape(tf.broadcast_to(x[:, :, None, :, None, :], [n, h, 2, w, 2, c]), [n, 2 * h, 2 * w, c])

    def gradient(upstream):
        return 4.0 * tf.nn.avg_pool2d(upstream, 2, 2, "VALID")

    return doubled, gradient


@tf.keras.utils.register_keras_serializable("keras_gens")
class OctaveConv2D(_OctaveBase):
    """Octave convolution, 'same' padding; stride 2 pools the inputs first."""


@tf.keras.utils.register_keras_serializable("keras_gens")
class OctaveConv2DTranspose(_OctaveBase):
    """Transposed octave convolution: every path is a transposed convolution (stride 2 doubles both maps)."""

    transposed = True


@tf.keras.utils.register_keras_serializable("keras_gens")
class OctaveBatchNorm(layers.Layer):
    """Separate (synchronized) batch normalization for the high and the low maps."""

    def __init__(self, momentum=0.99, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.momentum, self.epsilon = momentum, epsilon
        self.bn_high = batch_norm(name="bn_high", momentum=momentum, epsilon=epsilon)
        self.bn_low = batch_norm(name="bn_low", momentum=momentum, epsilon=epsilon)

    def call(self, inputs, training=None):
        x_h, x_l = as_pair(inputs)
        y_h = self.bn_high(x_h, training=training)
        return y_h if x_l is None else (y_h, self.bn_low(x_l, training=training))

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


@tf.keras.utils.register_keras_serializable("keras_gens")
class NearestUpSampling2D(layers.Layer):
    """Nearest-neighbour ×2, as ``UpSampling2D`` computes it, from ops XLA can compile with their gradient
    (``UpSampling2D``'s ResizeNearestNeighborGrad has no XLA kernel, so ``train.jit_compile`` failed)."""

    def call(self, inputs):
        return _upsample(inputs)


@tf.keras.utils.register_keras_serializable("keras_gens")
class OctaveUpSampling2D(layers.Layer):
    """Nearest-neighbour ×2 of both maps: with an ``OctaveConv2D`` after it, the generator's up-sampling
    octave block of OC-GAN's code (which has no transposed octave convolution)."""

    def call(self, inputs):
        x_h, x_l = as_pair(inputs)
        return _upsample(x_h) if x_l is None else (_upsample(x_h), _upsample(x_l))


@tf.keras.utils.register_keras_serializable("keras_gens")
class FrequencyWeights(layers.Layer):
    """OC-GAN's β_H·x_h and β_L·x_l, with β non-trainable variables (1.0 at first) that callbacks set."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.beta_high = self.add_weight(name="beta_high", shape=(), initializer="ones", trainable=False,
                                         aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.beta_low = self.add_weight(name="beta_low", shape=(), initializer="ones", trainable=False,
                                        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

    def call(self, inputs):
        x_h, x_l = as_pair(inputs)
        y_h = x_h * tf.cast(self.beta_high, x_h.dtype)
        return y_h if x_l is None else (y_h, x_l * tf.cast(self.beta_low, x_l.dtype))


def set_frequency_weights(model: tf.keras.Model, beta_high: float, beta_low: float) -> int:
    """Set β in every ``FrequencyWeights`` layer of ``model`` (and its sub-models); returns how many."""
    found = [m for m in model.submodules if isinstance(m, FrequencyWeights)]
    for layer in found:
        layer.beta_high.assign(beta_high)
        layer.beta_low.assign(beta_low)
    return len(found)


def multiply_adds(model: tf.keras.Model) -> int:
    """Multiply-adds per example of the convolutions and dense layers of a functional model."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, tf.keras.Model):
            total += multiply_adds(layer)
        elif isinstance(layer, _OctaveBase):
            out = layer.output
            high = out[0] if isinstance(out, (tuple, list)) else out
            total += layer.multiply_adds(tuple(high.shape[1:3]))
        elif isinstance(layer, layers.Conv2DTranspose):  # computes at its input's size; kernel (kh, kw, out, in)
            kh, kw = layer.kernel_size
            h, w = layer.input.shape[1:3]
            total += h * w * kh * kw * int(layer.kernel.shape[-1]) * layer.filters
        elif isinstance(layer, layers.Conv2D):
            kh, kw = layer.kernel_size
            h, w = layer.output.shape[1:3]
            total += h * w * kh * kw * int(layer.kernel.shape[-2]) * layer.filters
        elif isinstance(layer, layers.Dense):
            total += int(layer.kernel.shape[0]) * int(layer.kernel.shape[1])
    return int(total)
