"""PE-GAN's physics validation: real hitmaps of the test split in ADU, the report and its figures
(Figures 3 and 4).  The command is ``python -m keras_gens.evaluate pxd``."""
from __future__ import annotations

from pathlib import Path

import numpy as np



def real_hitmaps(data_cfg, n=None, threshold=7, split: str = "test"):
    """(uint8 ADU [N, rows, W] at the model's size, sensor ids [N]) of the test split (or ``split="train"``)."""
    from keras_gens import data as data_lib
    from keras_gens.data.pxd import to_hitmaps

    source = (data_lib.load_heldout(data_cfg) if split == "test"
              else data_lib.load({**dict(data_cfg), "split": split, "limit": None}))
    images, sensors = [], []
    for batch in source.dataset(64, shuffle=False, repeat=False, drop_remainder=False):
        images.append(to_hitmaps(batch["image"].numpy(), source.value_range, threshold))
        sensors.append(batch["label"].numpy() + 1)
        if n is not None and sum(map(len, images)) >= n:
            break
    images, sensors = np.concatenate(images), np.concatenate(sensors)
    return (images[:n], sensors[:n]) if n is not None else (images, sensors)


def write_figures(result, out_dir: Path, threshold: int):
    from keras_gens.utils.plots import new_figure, save_figure

    real_hist, fake_hist = result["histograms"]
    fig, ax = new_figure(figsize=(7, 4))
    adu = np.arange(256)
    for hist, label in ((real_hist, "simulated"), (fake_hist, "generated")):
        total = max(hist.sum(), 1)
        ax.step(adu, hist / total, where="mid", label=label)
    ax.axvline(threshold, color="grey", linestyle=":", label=f"threshold {threshold} ADU")
    ax.set_yscale("log")
    ax.set_xlabel("pixel intensity (ADU)")
    ax.set_ylabel("fraction of fired pixels")
    ax.set_title("Pixel intensity of fired pixels")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, out_dir / "figures" / "pxd_intensity.png")

    real_occ, fake_occ = result["occupancies"]
    fig, ax = new_figure(figsize=(9, 4))
    sensors = np.arange(1, len(real_occ) + 1)
    ax.bar(sensors - 0.2, real_occ, width=0.4, label="simulated")
    ax.bar(sensors + 0.2, fake_occ, width=0.4, label="generated")
    ax.set_xlabel("sensor")
    ax.set_ylabel("mean occupancy")
    ax.set_title("Sensor-dependent mean occupancy")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, out_dir / "figures" / "pxd_occupancy.png")


def report(result) -> str:
    from keras_gens.utils.tables import markdown_table

    scores = [
        {"metric": "pixel intensity, 1-Wasserstein (ADU)", "value": f"{result['intensity_w1_adu']:.3f}"},
        {"metric": "sensor occupancy, mean relative error", "value": f"{result['occupancy_rel_error']:.4f}"},
        {"metric": "Fréchet distance of per-image statistics", "value": f"{result['statistics_frechet']:.4f}"},
        {"metric": "mean occupancy (simulated / generated)",
         "value": f"{result['real_mean_occupancy']:.5f} / {result['fake_mean_occupancy']:.5f}"},
        {"metric": "hitmaps compared", "value": str(result["hitmaps"])},
    ]
    real_occ, fake_occ = result["occupancies"]
    per_sensor = [{"sensor": s + 1, "simulated": f"{r:.5f}", "generated": f"{f:.5f}",
                   "ratio": f"{f / r:.3f}" if np.isfinite(r) and r > 0 else "n/a"}
                  for s, (r, f) in enumerate(zip(real_occ, fake_occ))]
    return ("# PXD validation\n\n" + markdown_table(scores, ["metric", "value"])
            + "\n\n## Mean occupancy per sensor\n\n" + markdown_table(per_sensor, ["sensor", "simulated", "generated",
                                                                                 "ratio"]) + "\n")
