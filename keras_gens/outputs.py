"""Whose output a folder holds, so that no command writes into what it did not make.

Every folder a command fills carries a marker, ``.keras_gens.yaml``, naming the kind of output (a
training run, a generated set, a federated experiment ...) and the command that made it.  Before it
writes anything, a command checks where it is about to write (``check_folder``, ``check_file``); it
refuses, with one line and nothing written:

- a path that is empty, a file where a folder is meant (or the reverse), or that lies under a file;
- a folder it cannot write in (no permission, a read-only file system);
- a folder that holds another kind of output, or files no keras_gens command wrote;
- a path among another output's own files (a run's ``checkpoints/``), or inside a sealed output
  (a SavedModel, a generated set), whose contents only its own command replaces.

A folder an earlier version wrote, before markers, is recognised by its layout (``Kind.recognizes``).
Kinds register themselves beside the code that writes them (``register_kind``); a marker names its
command in words, so a kind this process has not imported is still refused by name.
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from keras_gens.errors import RunDirError

MARKER = ".keras_gens.yaml"
# Hidden files the commands themselves leave: the marker, a run's lock, and the temporary names of
# atomic writes (``.NAME.tmpPID-...``, ``.NAME.oldPID-...``, keras_gens.utils.io).
# A cluster's other workers keep scratch checkpoints in ``.worker-N`` (keras_gens.runner).
OWN_HIDDEN = (MARKER, ".lock", ".*.tmp*", ".*.old*", ".worker-*", ".chief-*")


@dataclass(frozen=True)
class Kind:
    """One kind of output folder."""

    name: str                     # the marker's ``kind``: "run"
    what: str                     # in a sentence: "a training run"
    command: str                  # what makes it: "python -m keras_gens.train"
    own: tuple = ()               # glob patterns of the files and folders it writes at its top level
    recognizes: Callable[[Path], bool] | None = None  # a folder an earlier version wrote (no marker)
    sealed: bool = False          # nothing else may be written inside it


KINDS: dict[str, Kind] = {}


def register_kind(kind: Kind) -> Kind:
    KINDS[kind.name] = kind
    return kind


def holds_only(own: tuple, child: Callable[[Path], bool] | None = None, needs: str | None = None
               ) -> Callable[[Path], bool]:
    """A ``Kind.recognizes`` for a folder an earlier version wrote: every entry is one of ``own`` (glob
    patterns) or a folder that ``child`` recognises (the runs of a comparison), and one entry matches
    ``needs`` where given (the file only that command writes: a results figures folder's claims.json)."""
    def recognizes(folder: Path) -> bool:
        entries = [p for p in folder.iterdir() if not _is_own_hidden(p.name)]
        if not entries or (needs is not None and not any(fnmatch.fnmatch(p.name, needs) for p in entries)):
            return False
        return all(any(fnmatch.fnmatch(p.name, pattern) for pattern in own)
                   or (child is not None and p.is_dir() and child(p)) for p in entries)

    return recognizes


def _marker(folder: Path) -> dict | None:
    import yaml

    try:
        held = yaml.safe_load((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return held if isinstance(held, dict) and isinstance(held.get("kind"), str) else None


def kind_of(folder) -> dict | None:
    """``{"kind", "what", "command"}`` of the output ``folder`` holds, or None (not a keras_gens output)."""
    folder = Path(folder)
    try:
        if not folder.is_dir():
            return None
    except OSError:
        return None
    held = _marker(folder)
    if held is not None:
        known = KINDS.get(held["kind"])
        return {"kind": held["kind"], "what": known.what if known else held.get("what", held["kind"]),
                "command": known.command if known else held.get("command", "keras_gens")}
    for kind in KINDS.values():
        try:
            recognized = kind.recognizes is not None and kind.recognizes(folder)
        except OSError:  # a folder this user may not list (an ancestor such as /root) holds no output of ours
            recognized = False
        if recognized:
            return {"kind": kind.name, "what": kind.what, "command": kind.command}
    return None


def mark(folder, kind: str | Kind, **details) -> Path:
    """Write ``folder``'s marker (creating the folder): call once the command's checks have passed."""
    import yaml

    import keras_gens
    from keras_gens.utils.io import atomic_write_text

    spec = kind if isinstance(kind, Kind) else KINDS[kind]
    kind = spec.name
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump({"kind": kind, "what": spec.what, "command": spec.command,
                           "keras_gens": keras_gens.__version__, **details}, sort_keys=False)
    if not (folder / MARKER).is_file() or (folder / MARKER).read_text(encoding="utf-8", errors="replace") != text:
        atomic_write_text(folder / MARKER, text)
    return folder


def marker_details(folder) -> dict:
    """What the marker of ``folder`` records beyond its kind ({} when there is none)."""
    return _marker(Path(folder)) or {}


def _is_own_hidden(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in OWN_HIDDEN)


def _foreign_entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not _is_own_hidden(p.name))


def _check_path_shape(path: Path, flag: str, folder: bool):
    """The path itself: not empty, the right kind of thing, not under a file, writable."""
    if path.is_symlink() and not path.exists():
        raise RunDirError(f"{flag} {path} is a link to nothing ({os.readlink(path)})")
    if path.exists():
        if folder and not path.is_dir():
            raise RunDirError(f"{flag} {path} is a file, not a folder")
        if not folder and path.is_dir():
            raise RunDirError(f"{flag} {path} is a folder, not a file")
    nearest = path if path.is_dir() else path.parent
    while not nearest.exists():
        if nearest.is_symlink():
            raise RunDirError(f"{flag} {path} lies under {nearest}, a link to nothing")
        nearest = nearest.parent
    if not nearest.is_dir():
        raise RunDirError(f"{flag} {path} lies under {nearest}, which is a file, not a folder")
    _check_writable(nearest, path, flag)


def _check_writable(folder: Path, path: Path, flag: str):
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only:
        raise RunDirError(f"{flag} {path}: {folder} is on a read-only file system")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RunDirError(f"{flag} {path}: no permission to write in {folder}")


def _check_not_inside_another(path: Path, flag: str, allowed: Callable[[dict, str], bool] | None = None):
    """Refuse a path among the files of the nearest output above it, or inside a sealed one."""
    absolute = Path(os.path.abspath(path))
    for above in absolute.parents:
        held = kind_of(above)
        if held is None:
            continue
        spec = KINDS.get(held["kind"])
        first = absolute.relative_to(above).parts[0]
        if allowed is not None and allowed(held, first):
            return
        if spec is None or spec.sealed:
            raise RunDirError(f"{flag} {path} lies inside {held['what']} ({above}), which only "
                              f"{held['command']} changes; choose a folder outside it")
        if any(fnmatch.fnmatch(first, pattern) for pattern in spec.own):
            raise RunDirError(f"{flag} {path} lies among the files of {held['what']} ({above}: its {first}); "
                              "choose a folder outside them")
        return


def check_folder(path, kind: str | Kind, *, flag: str = "--out",
                 inside: Callable[[dict, str], bool] | None = None) -> Path:
    """Check that ``kind``'s command may write into folder ``path``; returns it as a Path.  Writes nothing.

    It may if the folder does not exist yet, is empty, or holds ``kind``'s own output.  ``inside``:
    a rule that allows the path within another output (``(its kind, the first part of the path
    below it) -> bool``: an export in ``RUN/export/``)."""
    if path is None or str(path).strip() == "":
        raise RunDirError(f"{flag} is empty: give a folder")
    spec = kind if isinstance(kind, Kind) else KINDS[kind]
    kind = spec.name
    path = Path(path)
    _check_path_shape(path, flag, folder=True)
    _check_not_inside_another(path, flag, inside)
    if not path.is_dir():
        return path
    held = kind_of(path)
    if held is not None and held["kind"] == kind:
        return path
    if held is not None:
        raise RunDirError(f"{flag} {path} holds {held['what']} ({held['command']}), not {spec.what}; "
                          "choose another folder")
    try:
        foreign = _foreign_entries(path)
    except OSError as exc:
        raise RunDirError(f"{flag} {path} cannot be listed: {exc.strerror or exc}") from None
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise RunDirError(f"{flag} {path} already holds files that {spec.command} did not write ({shown}); "
                          "choose a new or empty folder")
    return path


def check_file(path, flag: str, made_here: Callable[[Path], bool], command: str) -> Path:
    """Check that a command may write the single file ``path``: a new file, or one ``made_here``
    recognises as its own earlier output.  Writes nothing."""
    if path is None or str(path).strip() == "":
        raise RunDirError(f"{flag} is empty: give a file name")
    path = Path(path)
    _check_path_shape(path, flag, folder=False)
    _check_not_inside_another(path, flag)
    if path.exists() and not made_here(path):
        raise RunDirError(f"{flag} {path} already exists and was not written by {command}; "
                          "choose another name (or move that file away)")
    return path
