"""Figures written as PNG files through matplotlib's object API.

No pyplot and no ``matplotlib.use``: saving a figure never changes the process's backend, so a
notebook that trains a model keeps drawing its own figures inline.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping, Sequence

from keras_gens.utils.io import atomic_write_bytes


def new_figure(*, figsize=(6, 4), dpi=100, ncols=1, nrows=1, squeeze=True):
    """A figure and its axes, off-screen."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze)


def save_figure(fig, path):
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(Path(path), buf.getvalue())


def save_line_plot(path, series: Mapping[str, tuple[Sequence, Sequence]], *, xlabel: str, ylabel: str,
                   title: str = "", logy: bool = False):
    """One line per ``name -> (xs, ys)``; the file is replaced atomically."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = new_figure(figsize=(6, 4), dpi=100)
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
    save_figure(fig, path)
