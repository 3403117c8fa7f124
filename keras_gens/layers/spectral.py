"""Spectral normalization (Miyato et al. 2018) for convolutions and dense layers, as BigGAN uses it.

The layer keeps its kernel W as the trainable variable and computes with W / σ(W), where σ(W),
the largest singular value of W viewed as a matrix [fan_in, units], is estimated by one step
of power iteration per training call on a persistent vector u (as PyTorch's
``spectral_norm``: the gradient flows through σ, u and v are constants).  Keras's own
``SpectralNormalization`` wrapper instead writes W/σ back into the kernel, which makes the
optimizer's state describe a different matrix each step.

Orthogonal initialization (BigGAN's) is the default for every kernel here.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

ORTHOGONAL = "orthogonal"


def _unit(x, eps):
    return x / (tf.norm(x) + eps)


class SpectralNormMixin:
    """Turns a layer that owns ``kernel`` (last axis: units) into its spectrally normalized version."""

    sn_eps = 1e-6

    def __init__(self, *args, power_iterations: int = 1, **kwargs):
        kwargs.setdefault("kernel_initializer", ORTHOGONAL)
        super().__init__(*args, **kwargs)
        self.power_iterations = int(power_iterations)

    def build(self, input_shape):
        super().build(input_shape)
        # One u for all replicas: every replica computes the same update from the same W.
        self.sn_u = self.add_weight(
            name="sn_u", shape=(self.kernel.shape[-1],), trainable=False,
            initializer=tf.keras.initializers.RandomNormal(0.0, 1.0),
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA, dtype=tf.float32,
            experimental_autocast=False)  # the power iteration runs in float32 under mixed precision too

    def normalized(self, kernel, training) -> tf.Tensor:
        """W/σ(W) in the layer's compute dtype; σ from the float32 weight (under mixed precision too)."""
        weight = tf.convert_to_tensor(getattr(kernel, "_variable", kernel))  # an AutoCastVariable's float32 one
        matrix = tf.reshape(tf.cast(weight, tf.float32), [-1, weight.shape[-1]])
        u = _unit(tf.convert_to_tensor(self.sn_u), self.sn_eps)
        for _ in range(self.power_iterations):
            v = _unit(tf.linalg.matvec(matrix, u), self.sn_eps)
            u = _unit(tf.linalg.matvec(matrix, v, transpose_a=True), self.sn_eps)
        u, v = tf.stop_gradient(u), tf.stop_gradient(v)
        sigma = tf.tensordot(v, tf.linalg.matvec(matrix, u), 1)
        if training:
            self.sn_u.assign(u)
        return tf.cast(tf.cast(weight, tf.float32) / sigma, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}


@tf.keras.utils.register_keras_serializable("keras_gens")
class SNConv2D(SpectralNormMixin, tf.keras.layers.Conv2D):
    def __init__(self, filters, kernel_size, **kwargs):
        kwargs.setdefault("padding", "same")
        super().__init__(filters, kernel_size, **kwargs)

    @tf.autograph.experimental.do_not_convert  # no tensor-dependent control flow: tracing is faster
    def call(self, inputs, training=None):
        training = _training_flag(training)
        kernel = self.normalized(self.kernel, training)
        if not training and self._narrow():  # generation; in training the taps' gradient is the slower one
            outputs = shifted_taps_conv(inputs, kernel)
        else:
            outputs = self.convolution_op(inputs, kernel)
        return tf.nn.bias_add(outputs, self.bias) if self.use_bias else outputs

    def _narrow(self) -> bool:
        """A 'same' stride-1 convolution to at most 2 channels (PE-GAN's to_image: 32 → 1 at 256×768), which
        oneDNN runs at a few GFLOP/s: ``shifted_taps_conv`` computes the same sum faster (not with its gradient:
        356 ms against conv2d's 305 for 8×256×768×32 → 1 on one core, tools/bench/pxd_kernels.py)."""
        return (self.filters <= NARROW_FILTERS and self.padding == "same" and self.strides == (1, 1)
                and self.dilation_rate == (1, 1) and self.data_format == "channels_last" and self.groups == 1)


NARROW_FILTERS = 2


def shifted_taps_conv(x, kernel):
    """A 'same', stride-1 convolution as one matmul to every tap's output, then shifted sums.

    taps = x · K (each pixel's contribution to each of the kh·kw taps, [N, H, W, kh·kw·C_out]), padded,
    and out[y, x] = Σ_ij taps_ij[y + i − ph, x + j − pw]: what conv2d computes, in another order of the
    sum.  For few output channels the matmul is efficient where oneDNN's direct convolution is not:
    8×256×768×32 → 1 (3×3) took 62 ms instead of 145 ms on one core (tools/bench/pxd_kernels.py)."""
    kh, kw, channels, filters = kernel.shape
    n, height, width = (x.shape[i] if x.shape[i] is not None else tf.shape(x)[i] for i in range(3))
    matrix = tf.reshape(tf.transpose(kernel, [2, 0, 1, 3]), [channels, kh * kw * filters])
    taps = tf.reshape(tf.matmul(tf.reshape(x, [-1, channels]), matrix), [n, height, width, kh * kw * filters])
    top, left = (kh - 1) // 2, (kw - 1) // 2
    taps = tf.pad(taps, [[0, 0], [top, kh - 1 - top], [left, kw - 1 - left], [0, 0]])
    out = None
    for i in range(kh):
        for j in range(kw):
            tap = (i * kw + j) * filters
            part = taps[:, i:i + height, j:j + width, tap:tap + filters]
            out = part if out is None else out + part
    return out


@tf.keras.utils.register_keras_serializable("keras_gens")
class SNDense(SpectralNormMixin, tf.keras.layers.Dense):
    @tf.autograph.experimental.do_not_convert
    def call(self, inputs, training=None):
        outputs = tf.matmul(inputs, self.normalized(self.kernel, _training_flag(training)))
        return tf.nn.bias_add(outputs, self.bias) if self.use_bias else outputs


def _training_flag(training) -> bool:
    # Keras passes a Python bool (or None outside fit): u moves only in training calls.
    return bool(training) if training is not None else False


def conv(filters, kernel_size, *, spectral: bool, name=None, use_bias=True, **kwargs):
    """A convolution with orthogonal init, spectral-normalized when ``spectral``."""
    if spectral:
        return SNConv2D(filters, kernel_size, use_bias=use_bias, name=name, **kwargs)
    return tf.keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=use_bias,
                                  kernel_initializer=ORTHOGONAL, name=name, **kwargs)


def dense(units, *, spectral: bool, name=None, use_bias=True, **kwargs):
    if spectral:
        return SNDense(units, use_bias=use_bias, name=name, **kwargs)
    return tf.keras.layers.Dense(units, use_bias=use_bias, kernel_initializer=ORTHOGONAL, name=name, **kwargs)


def power_iteration(matrix, u=None, iterations: int = 50, seed: int = 0) -> tuple[float, np.ndarray]:
    """(σ_max, right singular vector) of a weight viewed as [fan_in, units] (kernels are reshaped), by power
    iteration in numpy; ``u`` warm-starts it (a previous call's vector: a few iterations then suffice)."""
    w = np.asarray(matrix, np.float64)
    w = w.reshape(-1, w.shape[-1]) if w.ndim > 1 else w.reshape(1, -1)
    if u is None:
        u = np.random.default_rng(seed).standard_normal(w.shape[1])
    u = u / (np.linalg.norm(u) + 1e-12)
    for _ in range(iterations):
        v = w @ u
        v /= np.linalg.norm(v) + 1e-12
        u = w.T @ v
        u /= np.linalg.norm(u) + 1e-12
    return float(v @ w @ u), u


def largest_singular_value(matrix, iterations: int = 50, seed: int = 0) -> float:
    return power_iteration(matrix, iterations=iterations, seed=seed)[0]
