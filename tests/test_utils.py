"""Small pieces on their own: replica-invariant noise, image grids, the metrics table, atomic writes."""
import os

import numpy as np
import pytest

from keras_gens import noise
from keras_gens.utils import metrics_csv
from keras_gens.utils.images import make_grid, to_uint8
from keras_gens.utils.io import atomic_write_text, replace_dir, temp_dir_beside
from keras_gens.utils.tables import write_markdown_section


def test_noise_is_the_same_on_one_replica_and_on_two(two_replicas):
    seed = noise.step_seed(seed=5, stream=1, step=42)
    single = noise.normal(8, (3,), seed).numpy()
    per_replica = two_replicas.run(lambda: noise.normal(4, (3,), seed))
    halves = [t.numpy() for t in two_replicas.experimental_local_results(per_replica)]
    np.testing.assert_array_equal(np.concatenate(halves), single)
    # Another step or stream gives other noise.
    assert not np.allclose(noise.normal(8, (3,), noise.step_seed(5, 1, 43)).numpy(), single)
    assert not np.allclose(noise.normal(8, (3,), noise.step_seed(5, 2, 42)).numpy(), single)
    uniform = noise.uniform(1000, (), seed, minval=2.0, maxval=3.0).numpy()
    assert 2.0 <= uniform.min() and uniform.max() < 3.0


def test_to_uint8_maps_both_value_ranges_and_clips():
    np.testing.assert_array_equal(to_uint8([0.0, 0.5, 1.0, 1.5]), [0, 128, 255, 255])
    np.testing.assert_array_equal(to_uint8([-1.0, 0.0, 1.0, -3.0], (-1, 1)), [0, 128, 255, 0])
    np.testing.assert_array_equal(to_uint8([np.nan]), [0])


def test_grid_places_images_row_by_row():
    images = np.stack([np.full((2, 3, 1), i, np.uint8) for i in range(5)])
    grid = make_grid(images, ncols=3, pad=1, pad_value=255)
    assert grid.shape == (2 * 3 + 1, 3 * 4 + 1, 1)
    assert grid[1, 1, 0] == 0 and grid[1, 5, 0] == 1 and grid[1, 9, 0] == 2 and grid[4, 1, 0] == 3
    assert grid[4, 9, 0] == 255  # the empty sixth cell stays padding
    assert make_grid(images).shape == (2 * (2 + 2) + 2, 3 * (3 + 2) + 2, 1)  # default: ceil(sqrt(5)) = 3 columns


def test_metrics_table_upsert_adds_columns_and_truncate_drops_redone_epochs(tmp_path):
    path = tmp_path / "metrics.csv"
    metrics_csv.upsert(path, 1, {"loss": 2.0})
    metrics_csv.upsert(path, 2, {"loss": 1.5})
    metrics_csv.upsert(path, 1, {"fid": 30.25})  # a later evaluation adds a column to epoch 1
    rows = metrics_csv.read_rows(path)
    assert rows == [{"epoch": "1", "loss": "2", "fid": "30.25"}, {"epoch": "2", "loss": "1.5", "fid": ""}]
    metrics_csv.truncate(path, 1)
    assert [r["epoch"] for r in metrics_csv.read_rows(path)] == ["1"]


def test_atomic_writes_leave_no_partial_files(tmp_path, monkeypatch):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")

    def failing_replace(src, dst):
        raise OSError("interrupted")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]

    final = tmp_path / "model"
    for version in ("v1", "v2"):
        tmp = temp_dir_beside(final)
        (tmp / "content").write_text(version)
        replace_dir(tmp, final)
    assert (final / "content").read_text() == "v2"
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "model"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_end_with_the_mode_a_plain_write_would_have(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "new.txt", "a")
        with open(tmp_path / "plain.txt", "w") as f:
            f.write("a")
        atomic_write_text(tmp_path / "plain.txt", "b")  # replacing a file keeps the umask's mode too
    finally:
        os.umask(previous)
    assert (tmp_path / "new.txt").stat().st_mode & 0o777 == mode
    assert (tmp_path / "plain.txt").stat().st_mode & 0o777 == mode
    assert (tmp_path / "plain.txt").read_text() == "b"


def test_a_markdown_section_is_replaced_in_place_and_the_others_are_kept(tmp_path):
    report = tmp_path / "BENCHMARKS.md"
    write_markdown_section(report, "bench", "# title\n\ntable 1")
    write_markdown_section(report, "pxd", "## PE-GAN\n\nold")
    write_markdown_section(report, "bench", "# title\n\ntable 2")
    text = report.read_text()
    assert "table 1" not in text and "table 2" in text and "## PE-GAN\n\nold" in text
    assert text.index("table 2") < text.index("PE-GAN")  # replaced where it was, not appended
    write_markdown_section(report, "pxd", "## PE-GAN\n\nnew")
    assert report.read_text() == ("<!-- bench: begin -->\n# title\n\ntable 2\n<!-- bench: end -->\n\n"
                                  "<!-- pxd: begin -->\n## PE-GAN\n\nnew\n<!-- pxd: end -->\n")
