"""PXD hitmaps: the loader, the synthetic stand-in, the validation metrics, and pe_gan end to end."""
import numpy as np
import pytest

from keras_gens.data import pxd
from keras_gens.data import synthetic_pxd
from keras_gens.errors import DataError, DataMissing
from keras_gens.metrics import pxd as pxd_metrics


@pytest.fixture(scope="module")
def events():
    return synthetic_pxd.make_events(12, seed=3)


def test_the_synthetic_generator_matches_its_configured_occupancy_per_sensor(events):
    images, sensor_ids = events
    assert images.shape == (12 * 40, 250, 768) and images.dtype == np.uint8
    np.testing.assert_array_equal(sensor_ids[:40], np.arange(1, 41))
    configured = synthetic_pxd.sensor_occupancies()
    measured = pxd.sensor_occupancy(images, sensor_ids)
    # Each hitmap's occupancy fluctuates by ~22% (Gamma, shape 20): 12 hitmaps per sensor, ~6%.
    np.testing.assert_allclose(measured, configured, rtol=0.25)
    assert np.mean(measured / configured) == pytest.approx(1.0, abs=0.04)
    assert measured[:16].mean() > 2 * measured[16:].mean()  # the inner layer is busier
    fired = images[images > 0]
    assert fired.min() >= pxd.THRESHOLD_ADU and fired.max() <= 255  # the 0-7 ADU gap


def _cfg(**changes):
    return {"split": "all", "image_size": [256, 768], "channels": 1, "value_range": [-1, 1], "pxd_threshold": 7,
            "source": "pxd", **changes}


def _load(path, **changes):
    from keras_gens import data as data_lib

    return data_lib.load({**_cfg(**changes), "source": f"pxd:{path}", "crop": None, "resize_method": "bilinear",
                          "limit": None})


def test_the_loader_reads_npz_and_h5_thresholds_pads_and_measures_the_prior(tmp_path, events):
    import h5py

    images, sensor_ids = events[0][:80].copy(), events[1][:80]
    images[0, 0, :3] = [3, 6, 7]  # two below threshold, one at it
    images[0, 249, 767] = 200
    np.savez(tmp_path / "hits.npz", images=images, sensor_ids=sensor_ids)
    with h5py.File(tmp_path / "hits.h5", "w") as h5:
        h5["images"], h5["sensor_ids"] = images, sensor_ids
    for file in ("hits.npz", "hits.h5"):
        source = _load(tmp_path / file)
        assert source.num_classes == 40 and source.image_shape == (256, 768, 1)
        batch = next(iter(source.dataset(80, shuffle=False, repeat=False)))
        image = batch["image"].numpy()[0, ..., 0]
        assert image[0, 0] == -1.0 and image[0, 1] == -1.0 and image[0, 2] == pytest.approx(-1 + 2 * 7 / 255)
        assert image[249, 767] == pytest.approx(-1 + 2 * 200 / 255)
        assert np.all(image[250:] == -1.0)  # zero padding to 256 rows
        assert batch["label"].numpy()[0] == sensor_ids[0] - 1
        expected = pxd.sensor_occupancy(np.where(images < 7, 0, images), sensor_ids)
        np.testing.assert_allclose(source.class_prior, expected, rtol=1e-6)


def test_reduced_sizes_max_pool_so_single_hits_survive(tmp_path):
    images = np.zeros((2, 250, 768), np.uint8)
    images[0, 13, 100] = 90
    np.savez(tmp_path / "one.npz", images=images, sensor_ids=np.array([1, 2]))
    source = _load(tmp_path / "one.npz", image_size=[32, 96])
    image = next(iter(source.dataset(2, shuffle=False, repeat=False)))["image"].numpy()[0, ..., 0]
    assert image.shape == (32, 96)
    assert image[13 // 8, 100 // 8] == pytest.approx(-1 + 2 * 90 / 255) and (image > -1).sum() == 1
    with pytest.raises(DataError, match="divided by one integer"):
        _load(tmp_path / "one.npz", image_size=[32, 64])


def test_bad_pxd_files_get_clear_errors(tmp_path):
    np.savez(tmp_path / "shape.npz", images=np.zeros((2, 100, 768), np.uint8), sensor_ids=np.array([1, 2]))
    np.savez(tmp_path / "ids.npz", images=np.zeros((2, 250, 768), np.uint8), sensor_ids=np.array([0, 41]))
    np.savez(tmp_path / "keys.npz", x=np.zeros((2, 250, 768), np.uint8))
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    for name, message in (("shape", r"\[N, 250, 768\]"), ("ids", "1–40"), ("keys", "sensor_ids"),
                          ("broken", "is not an .npz archive")):
        with pytest.raises(DataError, match=message):
            _load(tmp_path / f"{name}.npz")
    with pytest.raises(DataMissing, match="synthetic_pxd"):
        _load(tmp_path / "absent.npz")


def test_validation_metrics_are_zero_for_identical_data_and_see_a_doubled_occupancy(events):
    images, sensor_ids = events[0][:160], events[1][:160]
    same = pxd_metrics.compare(images, sensor_ids, images, sensor_ids)
    assert same["intensity_w1_adu"] == 0.0 and same["occupancy_rel_error"] == 0.0
    assert abs(same["statistics_frechet"]) < 1e-6
    doubled = synthetic_pxd.make_events(4, seed=9, occupancies=2 * synthetic_pxd.sensor_occupancies())
    result = pxd_metrics.compare(images, sensor_ids, *doubled)
    assert result["occupancy_rel_error"] == pytest.approx(1.0, abs=0.2)
    assert result["statistics_frechet"] > 1.0
    brighter = np.where(images > 0, np.minimum(images.astype(int) + 20, 255), 0).astype(np.uint8)
    shifted = pxd_metrics.compare(images, sensor_ids, brighter, sensor_ids)
    assert shifted["intensity_w1_adu"] == pytest.approx(20.0, abs=2.0)
    assert shifted["occupancy_rel_error"] == 0.0


def test_pe_gan_trains_exports_events_and_evaluates(tmp_path):
    """The smoke run through the runner, then the exported event signature and `evaluate pxd`."""
    import tensorflow as tf
    import yaml

    from keras_gens import runner
    from keras_gens.cli import evaluate, pxd_events

    run = tmp_path / "run"
    # One block per stage and one D step: the same code paths in a graph that traces in half the time.
    lighter = ["model.g_blocks_per_stage=1", "model.d_blocks_per_stage=[1, 1, 1]", "model.d_steps=1"]
    result = runner.train("pe_gan", out=run, smoke=True, overrides=["train.epochs=1", "train.steps_per_epoch=3",
                                                                     "model.singular_values.every=2", *lighter],
                          log=lambda *a: None)
    assert np.isfinite(result.history["d_loss"][-1]) and np.isfinite(result.history["contrastive"][-1])
    assert "sigma_generator" in result.history
    assert (run / "singular_values.csv").is_file() and (run / "figures" / "singular_values.png").is_file()
    assert len(yaml.safe_load((run / "run.yaml").read_text())["class_prior"]) == 40

    assert pxd_events.main([str(run), "--events", "2", "--out", str(tmp_path / "events.npz")]) == 0
    with np.load(tmp_path / "events.npz") as archive:
        hitmaps, sensor_ids = archive["images"], archive["sensor_ids"]
    assert hitmaps.shape == (80, pxd.kept_rows(32), 96) and hitmaps.dtype == np.uint8
    np.testing.assert_array_equal(sensor_ids[:40], np.arange(1, 41))
    assert not np.any((hitmaps > 0) & (hitmaps < 7))  # thresholded
    export = next((run / "export").iterdir())
    loaded = tf.saved_model.load(str(export))
    out = loaded.signatures["hitmaps"](z=tf.zeros([3, 32]), sensor_ids=tf.constant([1, 20, 40]))["hitmaps"]
    assert out.shape == (3, pxd.kept_rows(32), 96)

    assert evaluate.main(["pxd", "--run", str(run), "--n", "40"]) == 0
    report = (run / "pxd_eval.md").read_text()
    assert "sensor occupancy" in report and "| 40 |" in report
    assert (run / "figures" / "pxd_intensity.png").is_file() and (run / "figures" / "pxd_occupancy.png").is_file()
    assert evaluate.main(["pxd", "--run", str(run), "--generated", str(tmp_path / "events.npz"), "--n", "40",
                          "--out", str(tmp_path / "eval")]) == 0


def test_numpy_and_graph_hitmap_conversions_agree():
    """Evaluation (numpy) and the exported signatures (graph) turn model images into the same hitmaps."""
    import tensorflow as tf

    images = np.random.default_rng(1).uniform(-1, 1, (3, 32, 96, 1)).astype(np.float32)
    hitmaps = pxd.to_hitmaps(images, (-1.0, 1.0))
    assert hitmaps.shape == (3, pxd.kept_rows(32), 96) and not np.any((hitmaps > 0) & (hitmaps < 7))
    graph = pxd.unit_to_adu(tf.constant((images + 1) / 2), rows=pxd.kept_rows(32))[..., 0].numpy()
    both = (hitmaps > 0) & (graph > 0)  # rounding at .5 may differ by one ADU (and so cross the threshold)
    assert np.abs(hitmaps[both].astype(int) - graph[both].astype(int)).max() <= 1
    assert np.mean(hitmaps == graph) > 0.99
