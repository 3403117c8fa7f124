"""Writes that never leave a half-written file or folder behind."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes):
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    The file ends with the mode a plain ``open(path, "wb")`` would give it (0666 less the umask):
    ``mkstemp`` creates its file 0600, which would leave results unreadable to anyone else."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text: str):
    atomic_write_bytes(path, text.encode("utf-8"))


def temp_dir_beside(final) -> Path:
    """A fresh folder next to ``final`` (same file system, so a rename is atomic).

    It gets the mode a plain ``mkdir`` would give it (0777 less the umask), not mkdtemp's private
    0700: renamed into place, it is what others (a TF Serving user) must be able to read."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.tmp-"))
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


def replace_dir(tmp, final):
    """Move the finished folder ``tmp`` to ``final``; an older ``final`` is swapped out, then removed.

    At every moment ``final`` is either the old complete folder, absent for the
    instant between two renames, or the new complete folder.
    """
    tmp, final = Path(tmp), Path(final)
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
