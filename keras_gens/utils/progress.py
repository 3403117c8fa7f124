"""Progress bars for long work outside ``model.fit`` (which has Keras's own)."""
from __future__ import annotations

from typing import Iterable


def progress(iterable: Iterable, *, total: int | None = None, desc: str = "", min_total: int = 0, unit: str = "it"):
    """Wrap ``iterable`` in a tqdm bar on a terminal, when there are at least ``min_total`` items."""
    if total is not None and total < min_total:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is a dependency, but a bar is never worth a crash
        return iterable
    # disable=None: tqdm draws only on a terminal, so CI logs stay clean.
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=None, leave=False, dynamic_ncols=True)
