"""Optimizers from config sections such as ``{name: adam, learning_rate: 0.001, beta_1: 0.5}``, and the one
gradient step every model's ``train_step`` takes (``descend``)."""
from __future__ import annotations

import tensorflow as tf

from keras_gens.errors import ConfigError

_OPTIMIZERS = {
    "adam": (tf.keras.optimizers.Adam, {"learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad"}),
    "rmsprop": (tf.keras.optimizers.RMSprop, {"learning_rate", "rho", "momentum", "epsilon", "centered"}),
    "sgd": (tf.keras.optimizers.SGD, {"learning_rate", "momentum", "nesterov"}),
}
_COMMON = {"clipnorm", "clipvalue", "global_clipnorm"}


def make_optimizer(section, where: str = "optimizer") -> tf.keras.optimizers.Optimizer:
    """The configured optimizer; built under a float16 policy (``train.precision: mixed_float16``) it is
    wrapped in a dynamic ``LossScaleOptimizer``, which ``descend`` then uses."""
    section = dict(section)
    name = str(section.pop("name", "adam")).lower()
    if name not in _OPTIMIZERS:
        raise ConfigError(f"{where}.name must be one of {', '.join(_OPTIMIZERS)}; got {name!r}")
    cls, allowed = _OPTIMIZERS[name]
    kwargs = {k: v for k, v in section.items() if v is not None}
    unknown = set(kwargs) - allowed - _COMMON
    if unknown:
        raise ConfigError(f"{where}: {name} takes no {', '.join(sorted(unknown))}; "
                          f"valid: {', '.join(sorted(allowed | _COMMON))}")
    optimizer = cls(**kwargs)
    if tf.keras.mixed_precision.global_policy().compute_dtype == "float16":
        # float16 gradients of small losses underflow to zero: scale the loss up, the gradients back down.
        optimizer = tf.keras.mixed_precision.LossScaleOptimizer(optimizer)
    return optimizer


def descend(optimizer, tape, loss, variables, scale=None):
    """Apply the gradients of ``loss`` (times ``scale``, when given) to ``variables``.

    With a ``LossScaleOptimizer`` the backward pass is seeded with the loss scale instead of 1
    (the same as differentiating the scaled loss, without recording the product on the tape),
    the gradients are unscaled, and the optimizer skips the step and lowers the scale when
    any is not finite.
    """
    seed = None if scale is None else tf.fill(tf.shape(loss), tf.cast(scale, loss.dtype))
    if isinstance(optimizer, tf.keras.mixed_precision.LossScaleOptimizer):
        seed = optimizer.get_scaled_loss(tf.ones_like(loss) if seed is None else seed)
        gradients = optimizer.get_unscaled_gradients(tape.gradient(loss, variables, output_gradients=seed))
    else:
        gradients = tape.gradient(loss, variables, output_gradients=seed)
    optimizer.apply_gradients(zip(gradients, variables))
