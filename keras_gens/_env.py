"""Process-wide settings that must be in place before TensorFlow is imported."""
import os
import sys

# Users should see the project's output, not TF's start-up chatter.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TF Addons prints an end-of-life banner on import; we already pin it deliberately.
os.environ.setdefault("TFA_SILENCE_WARNINGS", "1")
# The Keras 2 API on both stacks: from TensorFlow 2.16 on, tf.keras is Keras 3 unless this is set before
# TensorFlow is first imported, and then tf.keras is tf_keras (keras_gens.compat checks it; TF 2.14 ignores it).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def offline() -> bool:
    """``KERAS_GENS_OFFLINE`` is set: whatever would download must say what to fetch instead."""
    return os.environ.get("KERAS_GENS_OFFLINE", "") not in ("", "0", "false")


def keras_home():
    """Where Keras caches downloads (``$KERAS_HOME``, default ``~/.keras``)."""
    from pathlib import Path

    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()


def import_tensorflow_quietly():
    """Import TensorFlow with C-level stderr muted.

    TF 2.14's CUDA plugins log three 'Unable to register ... factory' errors
    at import on every machine, GPU or not, whatever TF_CPP_MIN_LOG_LEVEL says.
    Python exceptions still propagate normally.
    """
    if "tensorflow" in sys.modules:
        return
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to mute
        import tensorflow  # noqa: F401
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
