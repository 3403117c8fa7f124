"""Inception Score, improved precision/recall and density/coverage: the published formulas on fixed
feature sets, and the evaluate command's subcommands on images through the real feature network."""
import numpy as np
import pytest

from keras_gens.cli import evaluate as evaluate_cli
from keras_gens.metrics import manifold
from keras_gens.metrics.inception_score import inception_score
from keras_gens.metrics.manifold import density_coverage, nearest_neighbour_radii, precision_recall
from keras_gens.utils import metrics_csv
from tests.helpers import write_image, write_random_fid_weights
from tests.test_evaluate import image_folder, run_evaluate, train_tiny


def reference_feature_sets():
    rng = np.random.default_rng(2019)
    return rng.standard_normal((300, 8)), rng.standard_normal((250, 8)) * 1.3 + 0.4


# The values of the ``prdc`` package 0.2 of Naeem et al. (compute_prdc, sklearn's pairwise distances)
# on reference_feature_sets(), computed once: pip download --no-deps prdc, then
# compute_prdc(real, fake, k) with the wheel's folder on PYTHONPATH.
PRDC_REFERENCE = {3: dict(precision=0.52, recall=0.97, density=0.42, coverage=0.58),
                  5: dict(precision=0.62, recall=0.99, density=0.3968, coverage=0.7166666666666667)}


@pytest.mark.parametrize("k", [3, 5])
def test_manifold_metrics_match_the_prdc_package(k, monkeypatch):
    monkeypatch.setattr(manifold, "BLOCK_ROWS", 64)  # several row blocks, as with large sets
    real, fake = reference_feature_sets()
    precision, recall = precision_recall(real, fake, k=k)
    density, coverage = density_coverage(real, fake, k=k)
    got = dict(precision=precision, recall=recall, density=density, coverage=coverage)
    assert got == pytest.approx(PRDC_REFERENCE[k], abs=1e-12)


def brute_force(real, fake, k):
    """The papers' definitions, written out with full distance matrices."""
    def distances(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    real_radius = np.sort(distances(real, real), axis=1)[:, k]  # index 0 is the point itself
    fake_radius = np.sort(distances(fake, fake), axis=1)[:, k]
    d = distances(real, fake)
    inside_real = d < real_radius[:, None]
    return dict(precision=inside_real.any(axis=0).mean(), recall=(d < fake_radius[None, :]).any(axis=1).mean(),
                density=inside_real.sum(axis=0).mean() / k, coverage=(d.min(axis=1) < real_radius).mean())


def test_manifold_metrics_follow_their_definitions_on_random_sets():
    rng = np.random.default_rng(5)
    for trial in range(5):
        real = rng.standard_normal((int(rng.integers(20, 60)), 4))
        fake = rng.standard_normal((int(rng.integers(20, 60)), 4)) * rng.uniform(0.3, 2) + rng.uniform(-1, 1)
        for k in (1, 3, 5):
            expected = brute_force(real, fake, k)
            assert precision_recall(real, fake, k) == pytest.approx((expected["precision"], expected["recall"]))
            assert density_coverage(real, fake, k) == pytest.approx((expected["density"], expected["coverage"]))


def test_manifold_metrics_on_sets_worked_by_hand():
    real = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])
    # k = 1: radii 1, 1, 1, 1 and 7 (10's nearest is 3).
    assert nearest_neighbour_radii(real, 1) == pytest.approx([1, 1, 1, 1, 7])
    fake = np.array([[0.5], [20.0], [2.2]])  # fake radii (k = 1): 1.7, 17.8, 1.7
    precision, recall = precision_recall(real, fake, k=1)
    assert precision == pytest.approx(2 / 3)  # 0.5 and 2.2 are inside real balls; 20 is not (|20 - 10| = 10 ≥ 7)
    assert recall == pytest.approx(1.0)  # the fake ball around 20 (radius 17.8) reaches 3 and 10
    density, coverage = density_coverage(real, fake, k=1)
    # 0.5 lies in the balls of 0 and 1; 2.2 in those of 2 and 3 (|10 - 2.2| = 7.8 ≥ 7: not 10's); 20 in none.
    assert density == pytest.approx((2 + 2 + 0) / 3)
    # 0 and 1 have 0.5 within 1; 2 and 3 have 2.2 within 1; 10's nearest generated point is 7.8 away (≥ 7).
    assert coverage == pytest.approx(4 / 5)


def test_identical_and_far_apart_sets():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((200, 6))
    assert precision_recall(real, real, 3) == (1.0, 1.0)
    assert density_coverage(real, real, 5)[1] == 1.0
    far = real + 100.0
    assert precision_recall(real, far, 3) == (0.0, 0.0)
    assert density_coverage(real, far, 5) == (0.0, 0.0)
    # A generator collapsed onto a few real points: each is real, so precision stays high, but it covers little.
    collapsed = np.repeat(real[:4], 50, axis=0) + rng.standard_normal((200, 6)) * 1e-3
    precision, recall = precision_recall(real, collapsed, 3)
    density, coverage = density_coverage(real, collapsed, 5)
    assert precision == 1.0 and recall < 0.1 and coverage < 0.25  # 4 of 200 real points and their neighbours


def test_manifold_metrics_refuse_too_few_points_and_mismatched_dimensions():
    with pytest.raises(ValueError, match="more than 3 generated"):
        precision_recall(np.zeros((10, 2)), np.zeros((3, 2)), k=3)
    with pytest.raises(ValueError, match="differ in dimension"):
        density_coverage(np.zeros((10, 2)), np.zeros((10, 3)), k=5)


def openai_inception_score(probabilities, splits):
    """The original code (openai/improved-gan, inception_score.py), on softmax outputs."""
    scores = []
    n = len(probabilities)
    for i in range(splits):
        part = probabilities[(i * n // splits):((i + 1) * n // splits), :]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return np.mean(scores), np.std(scores)


def test_inception_score_follows_the_original_code():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((1003, 1008)) * 3
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert inception_score(logits, splits=10) == pytest.approx(openai_inception_score(probabilities, 10), rel=1e-10)


def test_inception_score_bounds():
    confident = np.full((100, 10), -50.0)
    confident[np.arange(100), np.arange(100) % 10] = 50.0  # each image surely one class, all classes equally often
    assert inception_score(confident, splits=1)[0] == pytest.approx(10.0, rel=1e-6)
    same = np.tile(np.random.default_rng(0).standard_normal(10), (100, 1))  # every image gets the same prediction
    assert inception_score(same, splits=5) == pytest.approx((1.0, 0.0), abs=1e-9)
    with pytest.raises(ValueError, match="10 splits need at least 10"):
        inception_score(same[:9], splits=10)


@pytest.fixture(scope="module")
def weights_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fid")
    return (write_random_fid_weights(folder / "with_classifier.npz", seed=1),
            write_random_fid_weights(folder / "convolutions_only.npz", seed=1, classifier=False))


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_GENS_HOME", str(tmp_path / "home"))


def parse(text, name):
    return float(text.split(f"{name} ")[1].split()[0].rstrip(","))


def test_evaluate_subcommands_score_image_folders(tmp_path, capsys, weights_files):
    with_classifier, _ = weights_files
    dark = image_folder(tmp_path / "dark", 12, seed=0)  # the Inception Score needs 10 or more
    bright = image_folder(tmp_path / "bright", 12, seed=2, bright=True)
    common = ["--n", "all", "--weights", with_classifier, "--batch-size", 8]
    code, out = run_evaluate(capsys, "is", "precision_recall", "density_coverage", "--fake", dark,
                             "--real", f"folder:{dark}", *common)
    assert code == 0, out
    assert parse(out, "precision") == parse(out, "recall") == parse(out, "coverage") == 1.0  # the same images
    assert 1.0 <= parse(out, "IS") <= 1008 and "[12 generated vs 12 real images]" in out
    code, out = run_evaluate(capsys, "precision_recall", "density_coverage", "--fake", dark,
                             "--real", f"folder:{bright}", *common)
    assert code == 0, out
    assert parse(out, "precision") < 0.5 and parse(out, "coverage") < 0.5
    code, out = run_evaluate(capsys, "is", "--fake", dark, *common)  # no real images needed
    assert code == 0 and "IS " in out and "real" not in out.split("IS ")[1], out


def test_inception_score_without_the_classifier_is_refused_before_any_image_is_read(tmp_path, capsys,
                                                                                       weights_files):
    _, convolutions_only = weights_files
    folder = tmp_path / "images"
    write_image(folder / "a.png", np.zeros((8, 8, 3), np.uint8))
    code, out = run_evaluate(capsys, "is", "--fake", folder, "--n", "all", "--weights", convolutions_only)
    assert code == 2
    assert "lacks the Inception's classifier" in out and "make fid-weights" in out
    code, out = run_evaluate(capsys, "precision_recall", "--fake", folder, "--n", "all",
                             "--weights", convolutions_only)
    assert code == 2 and "need real images" in out


def test_too_few_images_for_the_neighbourhoods_is_one_clear_line(tmp_path, capsys, weights_files):
    few = image_folder(tmp_path / "few", 3, seed=0)
    code, out = run_evaluate(capsys, "precision_recall", "--fake", few, "--real", f"folder:{few}", "--n", "all",
                             "--weights", weights_files[0])
    assert code == 2 and "more than 3 real and generated images" in out


@pytest.mark.slow  # (make test-slow) trains a run; test_evaluate checks a run's metrics.csv for FID in make test
def test_scores_of_a_run_go_into_its_metrics_table(tmp_path, capsys, weights_files):
    run = tmp_path / "run"
    train_tiny(run, "train.epochs=1")
    code, out = run_evaluate(capsys, "is", "precision_recall", "density_coverage", "--fake", run, "--n", 20,
                             "--n-real", 20, "--weights", weights_files[0])
    assert code == 0, out
    row = metrics_csv.read_rows(run / "metrics.csv")[-1]
    for name in ("is", "precision", "recall", "density", "coverage"):
        assert float(row[name]) == pytest.approx(parse(out, {"is": "IS"}.get(name, name)), abs=1e-4)
