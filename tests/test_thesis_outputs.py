"""The thesis's outputs: interpolations, the comparison table, and exports of all four decoders."""
import csv
from pathlib import Path

import numpy as np
import pytest

from keras_gens import registry, serving
from keras_gens.experiments import thesis
from keras_gens.figures import interpolate, interpolation_grid
from keras_gens.models.base import DataInfo
from tests.helpers import sample_in_plain_tensorflow, write_random_fid_weights

SMALL = ["data.image_size=32", "data.crop=null", "model.width=0.0625", "model.latent_dim=8"]
THESIS_MODELS = ("vae", "vae_resnet", "wae", "wae_resnet")


def small(name):
    spec = registry.get(name)
    return spec.build(spec.config(overrides=SMALL), DataInfo((32, 32, 3)))


def test_interpolating_between_one_code_and_itself_gives_its_reconstruction():
    model = small("wae")
    images = np.random.default_rng(0).random((3, 32, 32, 3)).astype(np.float32)
    path = interpolate(model, images, images, steps=4)
    assert path.shape == (3, 4, 32, 32, 3)
    recon = model.reconstruct(images).numpy()
    for k in range(4):
        np.testing.assert_allclose(path[:, k], recon, atol=1e-5)
    grid = interpolation_grid(images, path, images)
    assert grid.shape == (3 * 34 + 2, 6 * 34 + 2, 3)  # each row: real, 4 decoded, real


class GreyLevelAutoencoder:
    """Code = the image's mean grey level; decoding paints the whole image with the code."""

    value_range = (0.0, 1.0)

    def encode(self, images):
        return images.mean(axis=(1, 2, 3))[:, None]

    def generate(self, codes):
        return np.broadcast_to(np.asarray(codes)[:, :, None, None], (len(codes), 4, 4, 1)).transpose(0, 2, 3, 1)


def test_interpolation_walks_the_straight_line_between_codes():
    black, white = np.zeros((1, 4, 4, 1), np.float32), np.ones((1, 4, 4, 1), np.float32)
    path = interpolate(GreyLevelAutoencoder(), black, white, steps=3)
    np.testing.assert_allclose(path[0, :, 0, 0, 0], [0.25, 0.5, 0.75], rtol=1e-6)


@pytest.mark.slow  # (make test-slow) a minute on 2 cores; the results tiny run scores the auto-encoders the same way
def test_comparison_table_and_run_figures(tmp_path):
    weights = write_random_fid_weights(tmp_path / "fid.npz")
    tmp_path = tmp_path / "comparison"  # a folder of its own: compare writes into nothing it did not make
    logged = []
    rows = thesis.compare(["vae", "wae"], smoke=True, out=tmp_path,
                           overrides=["train.epochs=1", "train.steps_per_epoch=3", "train.verbose=0"],
                           random=40, reconstructions=30, reference=1000, pairs=4, fid="on", fid_weights=weights,
                           log=logged.append)
    assert [r["model"] for r in rows][:2] == ["vae", "wae"] and rows[2]["model"].startswith("(real held-out")
    for row in rows[:2]:
        for key in ("interpolation_sharpness", "random_sharpness", "reconstruction_sharpness", "reconstruction_mse"):
            assert np.isfinite(row[key]) and row[key] > 0, (row["model"], key)
        assert row["random_fid"] > 0 and row["reconstruction_fid"] > 0 and row["epochs"] == 1
    with open(tmp_path / "comparison.csv") as f:
        table = list(csv.DictReader(f))
    assert table[0]["model"] == "vae" and float(table[1]["random_sharpness"]) == pytest.approx(
        rows[1]["random_sharpness"], rel=1e-6)
    report = (tmp_path / "comparison.md").read_text()
    assert "| vae | 1 |" in report
    # Separate counts; the reference is capped at the 359 held-out digits, and both say so.
    assert "40 random samples" in report and "30 reconstructions" in report and "against 359 real" in report
    assert any("reference: 1,000 asked" in str(line) and "scoring 359" in str(line) for line in logged)
    assert rows[2]["model"] == "(real held-out images, 359)"
    for name in ("vae", "wae"):
        for figure in ("random.png", "reconstructions.png", "interpolations.png"):
            assert (tmp_path / name / "figures" / figure).is_file(), (name, figure)


def test_all_four_decoders_export_and_load_with_tensorflow_alone(tmp_path):
    paths = [serving.export_model(small(name), tmp_path / name) for name in THESIS_MODELS]
    result = sample_in_plain_tensorflow(paths, cwd=tmp_path, timeout=180)
    assert result["project"] == []
    assert all(shape == ["uint8", 2, 32, 32, 3] for shape in result["shapes"].values()), result


def test_compare_command_counts_and_the_thesis_protocol(monkeypatch):
    from keras_gens.cli import compare as command

    calls = []
    monkeypatch.setattr(command, "compare", lambda models, **kw: calls.append((models, kw)) or [])
    assert command.main(["--samples", "500", "--reconstructions", "300"]) == 0
    models, kw = calls[-1]
    assert models == list(THESIS_MODELS) and (kw["random"], kw["reconstructions"], kw["reference"]) == (500, 300, 500)
    assert kw["overrides"] == [] and kw["out"] == Path("runs/compare")
    assert command.main(["--smoke"]) == 0 and calls[-1][1]["out"] == Path("runs/compare-smoke")
    assert command.main(["wae", "--protocol", "thesis", "train.epochs=3"]) == 0
    models, kw = calls[-1]
    assert models == ["wae"] and (kw["random"], kw["reconstructions"], kw["reference"]) == (10_000, 40_000, 40_000)
    assert kw["overrides"] == ["data.test_fraction=0.2", "train.epochs=3"]
    assert command.main(["--protocol", "thesis", "data.test_fraction=0.25"]) == 0
    assert calls[-1][1]["overrides"] == ["data.test_fraction=0.25"]
    with pytest.raises(SystemExit):
        command.main(["--random", "0"])
