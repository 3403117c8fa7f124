"""Named points where the fault-matrix tests make a command fail on purpose.

A kill from outside lands wherever the process happens to be; these points let a
test say *where*: ``KERAS_GENS_FAULT=<point>@<n>[:<action>]`` makes the n-th arrival
at ``<point>`` (counted from 1 in this process)

- ``kill``: SIGKILL this process there (no clean-up runs, as with ``kill -9``);
- ``kill-during``: SIGKILL it from another thread a moment later, while the work that
  follows the point (a checkpoint write, an export) is under way; the delay comes
  from ``KERAS_GENS_FAULT_SEED`` (0 unless set), so a case is repeatable;
- ``enospc``: raise ``OSError(ENOSPC)`` there, as a write to a full disk would;
- ``stop``: end training there as a reached budget would (``train_step`` only: the epoch's
  callbacks and checkpoint still run): the property tests' one-step runs, whatever the config's epochs.

Unset, a point costs one dictionary look-up.  The points: ``data_check`` (each file
the data check reads), ``train_step`` (each training step, counted when the call of the
train function that ran it returns: with several steps per call, the n-th arrival stops
the run at the end of that call), ``checkpoint_write`` (each checkpoint, before it is
written), ``export`` (each SavedModel, before it is written), ``federated_round`` (each
round, before its clients train), ``file_write`` (each atomic file write, its data
written, before it is renamed into place).
"""
from __future__ import annotations

import errno
import os
import random
import signal
import threading

ENV = "KERAS_GENS_FAULT"
SEED_ENV = "KERAS_GENS_FAULT_SEED"
ACTIONS = ("kill", "kill-during", "enospc", "stop")
# The longest delay of a ``kill-during``: long enough to land inside a small model's checkpoint write.
MAX_DELAY_S = 0.05

_arrivals: dict[str, int] = {}
_lock = threading.Lock()  # the data check arrives from several threads


def _parse(spec: str) -> tuple[str, int, str]:
    where, _, action = spec.partition(":")
    name, _, count = where.partition("@")
    action = action or "kill"
    if not name or not count.isdigit() or int(count) < 1 or action not in ACTIONS:
        raise ValueError(f"{ENV}={spec!r}: expected <point>@<n>[:{'|'.join(ACTIONS)}] with n >= 1")
    return name, int(count), action


def _kill():
    os.kill(os.getpid(), signal.SIGKILL)


def point(name: str) -> bool:
    """Arrive at fault point ``name``; fails here only when ``KERAS_GENS_FAULT`` names it.  True when the
    caller is to stop (the ``stop`` action, from its n-th arrival on)."""
    spec = os.environ.get(ENV)
    if not spec:
        return False
    target, count, action = _parse(spec)
    if target != name:
        return False
    with _lock:
        _arrivals[name] = arrival = _arrivals.get(name, 0) + 1
    if action == "stop":
        return arrival >= count
    if arrival != count:
        return False
    if action == "kill":
        _kill()
    elif action == "kill-during":
        delay = random.Random(int(os.environ.get(SEED_ENV, "0"))).uniform(0.0, MAX_DELAY_S)
        timer = threading.Timer(delay, _kill)
        timer.daemon = True
        timer.start()
    else:
        raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (simulated by {ENV}={spec})")
    return False


def reset():
    """Forget the arrivals counted so far (a test that runs several commands in one process)."""
    with _lock:
        _arrivals.clear()
