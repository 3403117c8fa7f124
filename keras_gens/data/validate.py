"""Finding unreadable image files before they crash a training run deep inside TensorFlow.

``quick`` reads a few bytes at each end of every file: the format's signature
and its end marker, which catches the usual damage (truncated downloads,
empty files, HTML error pages saved as .jpg).  ``full`` decodes every file
with the same decoder training uses.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Sequence

import numpy as np

from keras_gens.data.pipeline import FileSource
from keras_gens.errors import DataError
from keras_gens.utils import faults
from keras_gens.utils.progress import progress

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def quick_problem(path: str) -> str | None:
    """Why the file cannot be an intact image, or None if it looks intact."""
    faults.point("data_check")
    try:
        size = os.path.getsize(path)
        if size == 0:
            return "empty file"
        with open(path, "rb") as f:
            head = f.read(16)
            f.seek(max(0, size - 1024))
            tail = f.read()
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if head.startswith(b"\xff\xd8\xff"):
        # Some writers pad after the end-of-image marker, so look near the end, not at it.
        return None if b"\xff\xd9" in tail else "truncated JPEG (no end-of-image marker)"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return None if b"IEND" in tail[-16:] else "truncated PNG (no IEND chunk)"
    if head.startswith(b"BM"):
        declared = int.from_bytes(head[2:6], "little")
        return None if size >= declared else f"truncated BMP ({size} of {declared} bytes)"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return None if tail.endswith(b"\x3b") else "truncated GIF"
    return "not a JPEG, PNG, BMP or GIF file"


def check_npz_archive(file):
    """Refuse a file that is not an .npz archive (a zip of .npy arrays) with that reason, before numpy
    reads it as one .npy array and reports "pickled data"."""
    import zipfile

    if not zipfile.is_zipfile(file):
        raise DataError(f"{file} is not an .npz archive (a zip of .npy arrays, as numpy.savez writes)")


def full_problem(path: str) -> str | None:
    import tensorflow as tf

    problem = quick_problem(path)
    if problem:
        return problem
    try:
        tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as exc:
        return "cannot be decoded: " + exc.message.splitlines()[0][:200]
    return None


def find_unreadable(paths: Sequence[str], mode: str = "quick", desc: str = "checking images") -> list[tuple[str, str]]:
    """``[(path, reason), ...]`` for every file that is not an intact image."""
    if mode == "none":
        return []
    check = {"quick": quick_problem, "full": full_problem}[mode]
    workers = min(16, (os.cpu_count() or 2) * 4)
    with ThreadPoolExecutor(workers) as pool:
        results: Iterable = pool.map(check, paths, chunksize=256)
        results = progress(results, total=len(paths), desc=desc, min_total=5000 if mode == "quick" else 500)
        return [(p, why) for p, why in zip(paths, results) if why]


def describe(bad: list[tuple[str, str]], limit: int = 10) -> str:
    lines = [f"  {p}: {why}" for p, why in bad[:limit]]
    if len(bad) > limit:
        lines.append(f"  ... and {len(bad) - limit} more")
    return "\n".join(lines)


def checked_file_source(name, paths, labels, data_cfg, preprocess, num_classes=0, class_names=(), *,
                        source_class=FileSource, per_example=None) -> FileSource:
    """Drop or refuse unreadable files (data.validate, data.on_error) and build the source.

    ``per_example``: further arrays aligned with ``paths`` (fields of ``source_class``), kept aligned.
    """
    paths = [str(p) for p in paths]
    labels = np.asarray(labels, np.int32)
    per_example = dict(per_example or {})
    bad = find_unreadable(paths, data_cfg["validate"], desc=f"checking {name}")
    if bad and data_cfg["on_error"] == "fail":
        raise DataError(
            f"{len(bad)} of {len(paths)} images in {name} cannot be read:\n{describe(bad)}\n"
            "Replace or delete them, or set data.on_error=skip to train without them.")
    skipped = [p for p, _ in bad]
    if bad:
        unreadable = set(skipped)
        keep = np.array([p not in unreadable for p in paths])
        paths = [p for p, k in zip(paths, keep) if k]
        labels = labels[keep]
        per_example = {k: v[keep] for k, v in per_example.items()}
        print(f"warning: skipped {len(bad)} unreadable images in {name} (data.on_error=skip):\n{describe(bad, 5)}")
    if not paths:
        raise DataError(f"no readable images left in {name}")
    return source_class(name=name, paths=paths, labels=labels, num_classes=num_classes,
                        class_names=list(class_names), preprocess=preprocess, skipped=skipped, **per_example)
