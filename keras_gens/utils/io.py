"""Writes that never leave a half-written file or folder behind."""
from __future__ import annotations

import glob
import os
import shutil
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it runs
        pass
    return True


def _remove_leftovers(final: Path, marker: str):
    """Delete the temporary files or folders that killed processes left beside ``final``.

    Their names carry the writer's PID (``.NAME.<marker>PID-...``): a running writer's are kept."""
    for leftover in final.parent.glob(f".{glob.escape(final.name)}.{marker}*"):
        pid = leftover.name[len(final.name) + 2 + len(marker):].split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)


def atomic_write_bytes(path, data: bytes):
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    The file ends with the mode a plain ``open(path, "wb")`` would give it (0666 less the umask):
    ``mkstemp`` creates its file 0600, which would leave results unreadable to anyone else.
    A write that fails (a full disk) leaves ``path`` as it was; the temporary file a killed
    writer left is removed by the next write of the same file."""
    from keras_gens.utils import faults

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path, "tmp")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp{os.getpid()}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), 0o666 & ~_umask())
        faults.point("file_write")
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:  # say which file could not be written
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise


def atomic_write_text(path, text: str):
    atomic_write_bytes(path, text.encode("utf-8"))


def temp_dir_beside(final) -> Path:
    """A fresh folder next to ``final`` (same file system, so a rename is atomic).

    It gets the mode a plain ``mkdir`` would give it (0777 less the umask), not mkdtemp's private
    0700: renamed into place, it is what others (a TF Serving user) must be able to read."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(final, "tmp")
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.tmp{os.getpid()}-"))
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
        old = final.with_name(f".{final.name}.old{os.getpid()}-")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    _remove_leftovers(final, "old")  # what a writer killed between the two renames left
