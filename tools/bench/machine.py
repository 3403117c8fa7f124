"""The machine a benchmark ran on, for the reports' headers."""
from __future__ import annotations

import os
import platform
from pathlib import Path


def _cpuinfo(field: str) -> str | None:
    """The value of the first ``field`` line of /proc/cpuinfo (None where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_name() -> str:
    return _cpuinfo("model name") or platform.processor() or platform.machine() or "unknown CPU"


SIMD_FLAGS = ("fma", "avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile", "amx_int8")


def cpu_flags() -> list[str]:
    """The vector-instruction flags that decide oneDNN's kernels (AMX: bfloat16 matrix tiles)."""
    present = set((_cpuinfo("flags") or "").split())
    return [flag for flag in SIMD_FLAGS if flag in present]


def describe() -> str:
    flags = cpu_flags()
    return f"{cpu_name()}, {os.cpu_count()} cores" + (f" (flags {' '.join(flags)})" if flags else "")
