"""Importing TensorFlow Federated, and stopping the worker process it leaves behind.

``import tensorflow_federated`` starts a ``worker_binary`` child (TFF's local C++
execution context) that outlives Python and keeps its stdout open, so a shell
pipeline or CI job waiting for end-of-output hangs.  ``tff()`` imports TFF once
and registers an exit handler that ends this process's children while they are
still its children.
"""
from __future__ import annotations

import atexit
import os

_TFF = None


def stop_child_processes(timeout: float = 5.0):
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(children, timeout=timeout)
    for child in alive:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass


def tff():
    """The ``tensorflow_federated`` module, imported quietly, its worker stopped at exit."""
    global _TFF
    if _TFF is None:
        # The worker inherits this: without it, it prints TF's start-up lines for every computation.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras_gens  # noqa: F401  (quiet TensorFlow import)
        import tensorflow_federated

        atexit.register(stop_child_processes)
        _TFF = tensorflow_federated
    return _TFF
