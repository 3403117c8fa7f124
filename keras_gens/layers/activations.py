"""Activations with a faster path where TensorFlow's own kernel is slow."""
from __future__ import annotations

import tensorflow as tf


def leaky_relu(x, alpha: float = 0.2):
    """``tf.nn.leaky_relu(x, alpha)`` whose gradient reads its output, not its input (for ``alpha`` ≥ 0).

    TF 2.14's Grappler remapper fuses Conv2D → BiasAdd → LeakyRelu into one _FusedConv2D, but the
    stock gradient, LeakyReluGrad(dy, features), still reads the BiasAdd that the fusion removed: the
    whole remapper pass then fails ("remapper failed: ... fanout 'gradient_tape/.../LeakyReluGrad'
    exist for missing node '.../BiasAdd'") and no op of that train step is fused.  For a slope ≥ 0 the
    output has the sign of the input, so LeakyReluGrad(dy, output) is the same gradient, bit for bit,
    and it reads only what the fused op produces.  (ReluGrad reads the output too: ReLU never hit this.)
    """
    alpha = float(alpha)
    if alpha < 0:
        return tf.nn.leaky_relu(x, alpha=alpha)

    @tf.custom_gradient
    def of_output(x):
        # stop_gradient: a tape recording this (the outer one of a gradient penalty) must see only the
        # custom gradient, not also the stock LeakyRelu with its read of the input.
        y = tf.nn.leaky_relu(tf.stop_gradient(x), alpha=alpha)

        def grad(dy):
            # LeakyReluGrad has a registered gradient: double backprop (gradient penalties) works through it.
            return tf.raw_ops.LeakyReluGrad(gradients=dy, features=y, alpha=alpha)

        return y, grad

    return of_output(x)


@tf.keras.utils.register_keras_serializable("keras_gens")
class LeakyReLU(tf.keras.layers.LeakyReLU):
    """``tf.keras.layers.LeakyReLU`` with two CPU fixes; outputs and gradients are unchanged.

    * Its gradient reads the output (``leaky_relu`` above), so Grappler can fuse a convolution, its
      bias and this activation, and does not log "remapper failed" for every train step.
    * Computing in bfloat16 on a CPU, it computes in float32 instead. TF 2.14's CPU gradient kernel for
      bfloat16 (LeakyReluGrad) runs about 16× slower than the float32 one: 54 ms of a 220 ms DCGAN 64×64
      step under mixed_bfloat16, against 3 ms in float32. The casts around it cost about 20 ms of that
      step, which drops to about 200 ms. Results agree with the bfloat16 kernel's to within one bfloat16
      rounding.
    """

    def call(self, inputs):
        alpha = float(self.alpha)
        if inputs.dtype == tf.bfloat16 and not tf.config.list_logical_devices("GPU"):
            return tf.cast(leaky_relu(tf.cast(inputs, tf.float32), alpha), tf.bfloat16)
        return leaky_relu(inputs, alpha)
