"""Where a TensorFlow function spends its time, op by op, from TensorFlow's own profiler trace.

    from op_profile import profile
    rows = profile(lambda: train(iterator), group="type")     # or group="scope", depth=2

Runs the callable once to warm up, then ``runs`` times under ``tf.profiler.experimental``, reads the
trace (the XPlane protobuf the profiler writes), and sums the kernels' durations (the executor's
``name:Type`` events) by op type (``_FusedConv2D``, ``_MklSoftmax``, ...) or by the first ``depth``
name scopes (a layer), largest first.  Durations are kernel time, summed over threads: with
inter-op parallelism they may add up to more than the wall time.  Used by ``side_by_side.py
--profile`` and ``bench_pxd.py --profile`` to name what costs the time.
"""
from __future__ import annotations

import collections
import glob
import tempfile
from pathlib import Path


def profile(call, *, group: str = "type", depth: int = 2, runs: int = 1, under: str | None = None) -> list[dict]:
    """[{"what", "ms", "share", "ops"}] per run of ``call`` (a zero-argument callable that runs the function).

    ``under``: with ``group="scope"``, group by the name scope that follows this one (``under="generator"``:
    the generator's layers, wherever the traced function nests them); other ops are "(other)"."""
    return summarize(trace(call, runs), group=group, depth=depth, runs=runs, under=under)


def trace(call, runs: int = 1) -> list[tuple[str, str, int]]:
    """``(op name, op type, picoseconds)`` of every kernel that ``runs`` calls of ``call`` ran, after one
    untraced call to warm up: one trace serves several ``summarize`` groupings."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    call()
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        try:
            for _ in range(runs):
                call()
        finally:
            tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        space.ParseFromString(Path(sorted(glob.glob(f"{logdir}/plugins/profile/*/*.xplane.pb"))[-1]).read_bytes())
    kernels = []
    for plane in space.planes:
        for line in plane.lines:
            if line.name == "python":
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" not in name or name.startswith(("ExecutorState", "MemoryA", "MemoryD")):
                    continue
                op_name, op_type = name.rsplit(":", 1)
                kernels.append((op_name, op_type, event.duration_ps))
    return kernels


def summarize(kernels, *, group: str = "type", depth: int = 2, runs: int = 1, under: str | None = None) -> list[dict]:
    """``trace``'s kernels summed by op type or by scope (see ``profile``), largest first."""
    totals, counts = collections.Counter(), collections.Counter()
    for op_name, op_type, ps in kernels:
        key = op_type if group == "type" else scope_of(op_name, depth, under)
        totals[key] += ps
        counts[key] += 1
    whole = sum(totals.values()) or 1
    return [{"what": key, "ms": round(ps / 1e9 / runs, 2), "share": round(ps / whole, 3), "ops": counts[key] // runs}
            for key, ps in totals.most_common()]


def scope_of(op_name: str, depth: int, under: str | None) -> str:
    parts = op_name.split("/")
    if under is None:
        return "/".join(parts[:depth])
    if under in parts[:-1]:
        return parts[parts.index(under) + 1]
    return "(other)"
