"""Line plots written as PNG files (matplotlib without a display)."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping, Sequence

from keras_gens.utils.io import atomic_write_bytes


def save_line_plot(path, series: Mapping[str, tuple[Sequence, Sequence]], *, xlabel: str, ylabel: str,
                   title: str = "", logy: bool = False):
    """One line per ``name -> (xs, ys)``; the file is replaced atomically."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    try:
        for name, (xs, ys) in series.items():
            ax.plot(list(xs), list(ys), marker="o", markersize=3, label=name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title)
        if logy:
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs and rounds are whole numbers
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend()
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())
