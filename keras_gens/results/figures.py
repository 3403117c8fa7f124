"""Small PNGs for RESULTS.md: existing run pictures side by side, and mean ± std curves over seeds."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def montage(pictures: dict, path, *, title: str = "", width: float = 2.6):
    """The PNGs ``{label: path}`` side by side under their labels (missing ones are left out)."""
    from matplotlib.image import imread

    from keras_gens.utils.plots import new_figure, save_figure

    present = [(label, Path(p)) for label, p in pictures.items() if Path(p).is_file()]
    if not present:
        return None
    images = [imread(p) for _, p in present]
    aspect = max(img.shape[0] / img.shape[1] for img in images)
    fig, axes = new_figure(ncols=len(present), figsize=(width * len(present), width * aspect + 0.6), squeeze=False,
                           dpi=80)
    for ax, (label, _), image in zip(axes[0], present, images):
        ax.imshow(image, cmap="gray", interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return path


def band_plot(path, curves: dict, *, xlabel: str, ylabel: str, title: str = "", logy: bool = False):
    """One line per ``{label: [per-seed {x: y}]}``: the mean over seeds, shaded ± one std."""
    from matplotlib.ticker import MaxNLocator

    from keras_gens.utils.plots import new_figure, save_figure

    fig, ax = new_figure(figsize=(7, 4), dpi=80)
    for label, per_seed in curves.items():
        xs = sorted(set.intersection(*(set(c) for c in per_seed))) if per_seed else []
        if not xs:
            continue
        values = np.array([[c[x] for x in xs] for c in per_seed], np.float64)
        mean, std = values.mean(axis=0), values.std(axis=0)
        ax.plot(xs, mean, marker="o", markersize=3, label=label)
        if len(per_seed) > 1:
            ax.fill_between(xs, mean - std, mean + std, alpha=0.15)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    if logy:
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    save_figure(fig, path)
    return path


def bar_plot(path, groups: dict, *, ylabel: str, title: str = ""):
    """Bars of ``{label: [per-seed values]}``: mean with a ± std error bar, each seed's value as a dot."""
    from keras_gens.utils.plots import new_figure, save_figure

    fig, ax = new_figure(figsize=(max(4, 0.9 * len(groups) + 2), 3.5), dpi=80)
    for i, (label, values) in enumerate(groups.items()):
        values = np.asarray(values, np.float64)
        ax.bar(i, values.mean(), yerr=values.std() if len(values) > 1 else None, capsize=4, alpha=0.6)
        ax.plot(np.full(len(values), i), values, "k.", markersize=5)
    ax.set_xticks(range(len(groups)), list(groups), fontsize=8)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    save_figure(fig, path)
    return path
