"""What differs between the two supported stacks, in one place; model code never asks which it runs on.

    federated   Python 3.11, TensorFlow 2.14 (its own Keras 2.14 as tf.keras), TFF 0.87, numpy 1.25
    current     Python 3.12 / 3.13, TensorFlow 2.21 with tf_keras 2.21 (the Keras 2 API), numpy 2

One code base serves both through ``tf.keras``: keras_gens._env sets ``TF_USE_LEGACY_KERAS=1`` before
TensorFlow is first imported, which on TensorFlow 2.16 and newer makes ``tf.keras`` mean tf_keras rather
than Keras 3.  ``check_keras()`` refuses, in one line, a process where that did not happen.
"""
from __future__ import annotations

from importlib import metadata

import tensorflow as tf

TF_VERSION = tuple(int(part) for part in tf.__version__.split(".")[:2])
#: TensorFlow 2.16 and newer ship Keras 3 as tf.keras; keras_gens then runs on tf_keras.
LEGACY_KERAS = TF_VERSION >= (2, 16)


def stack() -> str:
    """``"current"`` on TensorFlow 2.16+ (tf_keras), ``"federated"`` on the pinned TensorFlow 2.14 (with or
    without TFF installed beside it)."""
    return "current" if LEGACY_KERAS else "federated"


def has_federated() -> bool:
    """Whether TensorFlow Federated is installed (federated/ and its commands need it)."""
    try:
        metadata.version("tensorflow-federated")
        return True
    except metadata.PackageNotFoundError:
        return False


def check_keras():
    """Refuse Keras 3 as tf.keras: keras_gens is written against the Keras 2 API (subclassed models with
    their own train_step, tf.function steps, tf.train.Checkpoint) that tf_keras keeps."""
    try:
        version = getattr(tf.keras, "__version__", "")
    except ImportError:  # TensorFlow 2.16+ told to use tf_keras, which is not installed
        version = "3 (tf_keras is not installed)"
    if version.startswith("3"):
        raise ImportError(
            f"tf.keras is Keras {version} here: keras_gens needs the Keras 2 API. Import keras_gens before "
            "TensorFlow, or set TF_USE_LEGACY_KERAS=1 before TensorFlow is imported, and install tf_keras at "
            f"TensorFlow's version (pip install \"tf-keras=={tf.__version__.rsplit('.', 1)[0]}.*\").")
