"""The evaluate command, cached reference statistics, and FID/sharpness during training.

The feature network runs with a made-up weight file (tests.helpers.write_random_fid_weights):
every code path is the real one, only the numbers are not published FIDs.
"""
import numpy as np
import pytest

from keras_gens.cli import evaluate as evaluate_cli
from keras_gens import evaluation, runner
from keras_gens.metrics.frechet import FeatureMoments
from keras_gens.metrics.inception import FeatureExtractor
from keras_gens.utils import metrics_csv
from tests.helpers import SMALL_VAE, write_image, write_random_fid_weights


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    return write_random_fid_weights(tmp_path_factory.mktemp("fid") / "random_fid_weights.npz", seed=1)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_GENS_HOME", str(tmp_path / "home"))


def image_folder(path, n, seed, size=24, bright=False):
    rng = np.random.default_rng(seed)
    for i in range(n):
        image = rng.integers(0, 120, (size, size, 3), dtype=np.uint8)
        if bright:
            image = (image + 120).astype(np.uint8)
            image[size // 3: 2 * size // 3] = 255  # a white band the other set never has
        write_image(path / f"{i:03d}.png", image)
    return path


def run_evaluate(capsys, *args):
    code = evaluate_cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out + out.err


def parse_fid(text):
    return float(text.split("FID ")[1].split(",")[0])


def test_evaluate_command_on_image_folders(tmp_path, capsys, weights_file):
    dark = image_folder(tmp_path / "dark", 12, seed=0)
    dark_too = image_folder(tmp_path / "dark_too", 12, seed=1)
    bright = image_folder(tmp_path / "bright", 12, seed=2, bright=True)
    common = ["--n", "all", "--weights", weights_file, "--batch-size", 6, "--kid-subsets", 10,
              "--kid-subset-size", 10]

    code, out = run_evaluate(capsys, "fid", "kid", "sharpness", "--fake", dark, "--real", f"folder:{bright}", *common)
    assert code == 0, out
    far = parse_fid(out)
    assert "KID" in out and "sharpness" in out and "[12 generated vs 12 real images]" in out
    code, out = run_evaluate(capsys, "fid", "--fake", dark, "--real", f"folder:{dark_too}", *common)
    assert code == 0, out
    near = parse_fid(out)
    code, out = run_evaluate(capsys, "fid", "--fake", dark, "--real", f"folder:{dark}", *common)
    same = parse_fid(out)
    assert far > near > 0
    assert abs(same) < 1e-3 * far


def test_reference_statistics_are_cached_and_keyed_by_the_data(tmp_path, weights_file):
    real_dir = image_folder(tmp_path / "real", 8, seed=3)
    extractor = FeatureExtractor(weights=weights_file, batch_size=4)
    messages = []

    def features():
        images = evaluation.data_images(f"folder:{real_dir}", None, image_size=24, batch_size=4)
        return evaluation.reference_features(images, extractor, log=messages.append)

    first = features()
    assert len(messages) == 1 and "cached reference statistics" in messages[0]
    cache_files = list((tmp_path / "home" / "fid_stats").glob("*.npz"))
    assert len(cache_files) == 1
    second = features()
    assert len(messages) == 1  # read back, not recomputed
    np.testing.assert_allclose(second.moments.cov, first.moments.cov)
    np.testing.assert_allclose(second.kept, first.kept)
    assert first.moments.count == 8 and first.kept.shape == (8, 2048)

    image_folder(tmp_path / "real", 9, seed=4)  # one more image: new statistics
    third = features()
    assert len(messages) == 2 and third.moments.count == 9
    assert len(list((tmp_path / "home" / "fid_stats").glob("*.npz"))) == 2

    newest = max((tmp_path / "home" / "fid_stats").glob("*.npz"), key=lambda p: p.stat().st_mtime_ns)
    newest.write_bytes(b"damaged")  # a damaged cache is recomputed, not trusted
    again = features()
    assert any("ignoring unreadable statistics cache" in m for m in messages)
    np.testing.assert_allclose(again.moments.mean, third.moments.mean, rtol=1e-6)


def test_statistics_file_as_reference_gives_fid_but_not_kid(tmp_path, capsys, weights_file):
    fake = image_folder(tmp_path / "fake", 6, seed=5)
    extractor = FeatureExtractor(weights=weights_file, batch_size=6)
    features = extractor(np.stack([np.asarray(a) for a in evaluation.folder_images(fake, None).batches()][0]))
    FeatureMoments(2048).update(features).save(tmp_path / "stats.npz")
    code, out = run_evaluate(capsys, "fid", "--fake", fake, "--real", tmp_path / "stats.npz", "--n", "all",
                             "--weights", weights_file)
    assert code == 0 and abs(parse_fid(out)) < 1e-3, out
    code, out = run_evaluate(capsys, "kid", "--fake", fake, "--real", tmp_path / "stats.npz", "--n", "all",
                             "--weights", weights_file)
    assert code == 2 and "KID needs real features" in out


def test_missing_weights_and_missing_real_data_are_clear_errors(tmp_path, capsys):
    fake = image_folder(tmp_path / "fake", 4, seed=6)
    code, out = run_evaluate(capsys, "fid", "--fake", fake, "--real", f"folder:{fake}", "--n", "all",
                             "--weights", tmp_path / "none.npz")
    assert code == 2 and "make fid-weights" in out and str(tmp_path / "none.npz") in out
    code, out = run_evaluate(capsys, "fid", "--fake", fake, "--n", "all")
    assert code == 2 and "--real" in out
    code, out = run_evaluate(capsys, "sharpness", "--fake", tmp_path / "absent")
    assert code == 2 and "does not exist" in out


def train_tiny(out, *extra):
    return runner.train("vae", data="digits", out=out, log=lambda *_: None,
                        overrides=SMALL_VAE + ["data.limit=64", "train.steps_per_epoch=2", *extra])


def test_evaluate_a_run_directory_writes_its_metrics_table(tmp_path, capsys, weights_file):
    run_dir = tmp_path / "run"
    train_tiny(run_dir, "train.epochs=1")
    code, out = run_evaluate(capsys, "fid", "sharpness", "--fake", run_dir, "--n", 16, "--n-real", 32,
                             "--weights", weights_file, "--batch-size", 8)
    assert code == 0, out
    assert "[16 generated vs 32 real images]" in out
    row = metrics_csv.read_rows(run_dir / "metrics.csv")[0]
    assert row["epoch"] == "1" and float(row["fid"]) == pytest.approx(parse_fid(out), rel=1e-4)
    assert float(row["sharpness"]) > 0 and row["loss"]  # the training columns are kept


@pytest.mark.slow  # (make test-slow) two minutes on 2 cores; the sharpness test below keeps the callback path
def test_fid_during_training_logs_plots_and_survives_resume(tmp_path, weights_file):
    run_dir = tmp_path / "run"
    scoring = ["eval.metric=fid", f"eval.weights={weights_file}", "eval.samples=12", "eval.reference_samples=24",
               "eval.batch_size=12"]
    also = "eval.also=[precision_recall, density_coverage]"  # from the same features, into the same table
    first = train_tiny(run_dir, "train.epochs=1", *scoring, also)
    assert "fid" in first.history and "recall" in first.history
    train_tiny(run_dir, "train.epochs=3", *scoring, also, "eval.every=2")  # resumes; scores epoch 2 and the last
    rows = {int(r["epoch"]): r for r in metrics_csv.read_rows(run_dir / "metrics.csv")}
    assert sorted(rows) == [1, 2, 3]
    assert all(float(rows[e]["fid"]) > 0 for e in (1, 2, 3))
    assert all(0 <= float(rows[e][name]) <= 1 for e in (1, 2, 3) for name in ("precision", "recall", "coverage"))
    assert (run_dir / "figures" / "fid.png").stat().st_size > 1000
    assert list((run_dir / "logs" / "train").glob("events.out.tfevents.*"))


def test_sharpness_during_training_needs_no_weights(tmp_path):
    run_dir = tmp_path / "run"
    result = train_tiny(run_dir, "train.epochs=2", "eval.metric=sharpness", "eval.samples=8")
    assert len(result.history["sharpness"]) == 2 and min(result.history["sharpness"]) > 0
    assert (run_dir / "figures" / "sharpness.png").is_file()


def test_fid_during_training_without_weights_fails_before_training(tmp_path):
    from keras_gens.metrics.inception import WeightsMissing

    with pytest.raises(WeightsMissing, match="make fid-weights"):
        train_tiny(tmp_path / "run", "train.epochs=1", "eval.metric=fid", f"eval.weights={tmp_path / 'none.npz'}")
    assert not list((tmp_path / "run").glob("checkpoints/ckpt-*"))
