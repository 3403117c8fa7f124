"""Importing TensorFlow Federated, and stopping the worker process it leaves behind.

``import tensorflow_federated`` starts a ``worker_binary`` child (TFF's local C++
execution context) that outlives Python and keeps its stdout open, so a shell
pipeline or CI job waiting for end-of-output hangs.  ``tff()`` imports TFF once
and registers an exit handler that ends this process's children while they are
still its children.  A SIGTERM (``kill``, a CI job's timeout, ``timeout``) would end Python
without running exit handlers, so ``tff()`` also turns it into ``SystemExit`` when nothing else
handles it; a kill -9 cannot be caught, and then the worker is left behind.
"""
from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import warnings

from keras_gens.utils.processes import stop_child_processes  # noqa: F401  (notebooks call it from here)

_TFF = None


def tff():
    """The ``tensorflow_federated`` module, imported quietly, its worker stopped at exit."""
    global _TFF
    if _TFF is None:
        # The worker inherits this: without it, it prints TF's start-up lines for every computation.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras_gens  # noqa: F401  (quiet TensorFlow import)

        with warnings.catch_warnings():
            # googleapis-common-protos (TFF's google.rpc) imports pkg_resources, which warns that it is
            # deprecated on every import; the pinned setuptools (<82) still has it. Only that warning.
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
            import tensorflow_federated

        atexit.register(stop_child_processes)
        _exit_handlers_on_sigterm()
        _TFF = tensorflow_federated
    return _TFF


def _exit_handlers_on_sigterm():
    """SIGTERM raises SystemExit (exit status 128 + 15, as the default action's), so atexit runs."""
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
