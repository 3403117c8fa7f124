"""VAE-ResNet, WAE and WAE-ResNet against the thesis (sections 3.2, 4.3.2–4.3.4), their penalties, and learning."""
import math

import numpy as np
import pytest
import tensorflow as tf

from keras_gens import data, registry
from keras_gens.layers import ConvolutionalBlock, IdentityBlock
from keras_gens.losses import gan_discriminator_loss, gan_encoder_penalty, mmd_penalty, squared_error
from keras_gens.models.base import DataInfo

L = tf.keras.layers
THESIS_SHAPE = (128, 128, 3)


@pytest.fixture(scope="module")
def thesis_models():
    return {name: registry.get(name).build(registry.get(name).config(), DataInfo(THESIS_SHAPE))
            for name in ("vae_resnet", "wae", "wae_resnet")}


# ------------------------------------------------------------------ parameter counts from the layer lists

def conv(k, cin, cout):
    return k * k * cin * cout + cout


def bn(c):
    return 4 * c  # gamma, beta, moving mean, moving variance


def bottleneck(cin, f, projection):
    f1, f2, f3 = f
    n = conv(1, cin, f1) + bn(f1) + conv(3, f1, f2) + bn(f2) + conv(1, f2, f3) + bn(f3)
    return n + (conv(1, cin, f3) + bn(f3) if projection else 0)


def resnet_trunk():
    n = conv(7, 3, 64) + bn(64)
    cin = 64
    for f, identity_blocks in (((64, 64, 256), 2), ((128, 128, 512), 3), ((256, 256, 1024), 3),
                               ((512, 512, 2048), 3)):
        n += bottleneck(cin, f, True) + identity_blocks * bottleneck(f[2], f, False)
        cin = f[2]
    return n


def wae_encoder():
    widths = [3, 128, 256, 512, 1024, 2048]
    return sum(conv(5, a, b) + bn(b) for a, b in zip(widths, widths[1:])) + 4 * 4 * 2048 * 64 + 64


def wae_decoder():
    n = 64 * 32768 + 32768 + bn(32768)
    widths = [2048, 1024, 512, 256, 128, 3]
    return n + sum(conv(5, a, b) + bn(b) for a, b in zip(widths, widths[1:]))


DISCRIMINATOR = 64 * 512 + 512 + 3 * (512 * 512 + 512) + 512 + 1
VAE_DECODER = 19_418_479  # asserted layer by layer in test_vae.py


def test_parameter_counts_of_every_sub_network(thesis_models):
    expected = {
        "vae_resnet": {"encoder": resnet_trunk() + 2 * (32768 * 512 + 512), "decoder": VAE_DECODER},
        "wae": {"encoder": wae_encoder(), "decoder": wae_decoder(), "discriminator": DISCRIMINATOR},
        "wae_resnet": {"encoder": resnet_trunk() + 32768 * 64 + 64, "decoder": wae_decoder(),
                       "discriminator": DISCRIMINATOR},
    }
    for name, parts in expected.items():
        for part, count in parts.items():
            actual = getattr(thesis_models[name], part).count_params()
            print(f"{name} {part}: {actual:,} parameters")
            assert actual == count, (name, part)
    assert expected["wae_resnet"]["encoder"] == 27_913_152 and expected["wae"]["decoder"] == 71_912_207


# ------------------------------------------------------------------ layer lists

def test_resnet_encoder_follows_section_3_2(thesis_models):
    encoder = thesis_models["wae_resnet"].encoder
    assert encoder.get_layer("zero_pad").padding == ((2, 2), (2, 2))
    assert encoder.get_layer("zero_pad").output_shape == (None, 132, 132, 3)
    stem = encoder.get_layer("stage1_conv")
    assert (stem.filters, stem.kernel_size, stem.strides) == (64, (7, 7), (2, 2))
    assert stem.output_shape == (None, 63, 63, 64)
    assert isinstance(encoder.get_layer("stage1_bn"), L.BatchNormalization)
    pool = encoder.get_layer("stage1_pool")
    assert (pool.pool_size, pool.strides, pool.output_shape) == ((3, 3), (1, 1), (None, 61, 61, 64))
    stages = {2: ((64, 64, 256), 1, 2, 61), 3: ((128, 128, 512), 2, 3, 31), 4: ((256, 256, 1024), 2, 3, 16),
              5: ((512, 512, 2048), 2, 3, 8)}
    for stage, (filters, stride, identity_blocks, size) in stages.items():
        block = encoder.get_layer(f"stage{stage}_conv_block")
        assert isinstance(block, ConvolutionalBlock)
        assert block.filters == filters and block.strides == stride and block.kernel_size == 3
        assert block.output_shape == (None, size, size, filters[2])
        names = [layer.name for layer in encoder.layers if layer.name.startswith(f"stage{stage}_identity")]
        assert len(names) == identity_blocks
        for name in names:
            assert isinstance(encoder.get_layer(name), IdentityBlock)
            assert encoder.get_layer(name).filters == filters
    assert encoder.get_layer("avg_pool").pool_size == (2, 2)
    assert encoder.get_layer("avg_pool").output_shape == (None, 4, 4, 2048)
    assert encoder.get_layer("flatten").output_shape == (None, 32768)
    assert encoder.get_layer("z").units == 64
    heads = thesis_models["vae_resnet"].encoder
    assert heads.get_layer("z_mean").units == 512 and heads.get_layer("z_log_variance").units == 512


def test_wae_encoder_decoder_and_discriminator_follow_section_4_3_2(thesis_models):
    wae = thesis_models["wae"]
    for i, (f, size) in enumerate(zip((128, 256, 512, 1024, 2048), (64, 32, 16, 8, 4)), 1):
        layer = wae.encoder.get_layer(f"conv{i}")
        assert (layer.filters, layer.kernel_size, layer.strides, layer.padding) == (f, (5, 5), (2, 2), "same")
        assert layer.output_shape == (None, size, size, f)
        assert isinstance(wae.encoder.get_layer(f"bn{i}"), L.BatchNormalization)
        assert wae.encoder.get_layer(f"relu{i}").activation.__name__ == "relu"
    assert wae.encoder.output_shape == (None, 64)

    dec = wae.decoder
    assert dec.get_layer("dense").units == 4 * 4 * 2048 and dec.get_layer("dense").activation.__name__ == "relu"
    assert dec.get_layer("reshape").output_shape == (None, 4, 4, 2048)
    for i, (f, size) in enumerate(zip((1024, 512, 256, 128), (8, 16, 32, 64)), 1):
        layer = dec.get_layer(f"deconv{i}")
        assert isinstance(layer, L.Conv2DTranspose)
        assert (layer.filters, layer.kernel_size, layer.strides) == (f, (5, 5), (2, 2))
        assert layer.output_shape == (None, size, size, f)
    out = dec.get_layer("to_image")
    assert (out.filters, out.kernel_size, out.strides, out.output_shape) == (3, (5, 5), (2, 2), (None, 128, 128, 3))
    assert dec.layers[-1].activation.__name__ == "sigmoid"

    disc = wae.discriminator
    for i in range(1, 5):
        assert disc.get_layer(f"dense{i}").units == 512 and disc.get_layer(f"dense{i}").activation.__name__ == "relu"
    assert disc.get_layer("logit").units == 1
    assert wae.prior_stddev == pytest.approx(1.414)
    assert thesis_models["wae_resnet"].decoder.count_params() == dec.count_params()


def test_thesis_optimizers(thesis_models):
    wae = thesis_models["wae"]
    assert float(wae.optimizer.learning_rate) == pytest.approx(3e-4) and float(wae.optimizer.beta_1) == 0.5
    assert float(wae.d_optimizer.learning_rate) == pytest.approx(1e-3) and float(wae.d_optimizer.beta_1) == 0.5
    assert float(thesis_models["vae_resnet"].optimizer.learning_rate) == pytest.approx(1e-3)


# ------------------------------------------------------------------ penalties on known inputs

def test_gan_penalty_values():
    zero = tf.zeros([3, 1])
    np.testing.assert_allclose(gan_discriminator_loss(zero, zero).numpy(), [2 * math.log(2)] * 3, rtol=1e-6)
    np.testing.assert_allclose(gan_encoder_penalty(zero).numpy(), [math.log(2)] * 3, rtol=1e-6)
    right = gan_discriminator_loss(tf.fill([2, 1], 20.0), tf.fill([2, 1], -20.0)).numpy()
    wrong = gan_discriminator_loss(tf.fill([2, 1], -20.0), tf.fill([2, 1], 20.0)).numpy()
    assert right.max() < 1e-8 and wrong.min() == pytest.approx(40.0, rel=1e-6)
    assert gan_encoder_penalty(tf.fill([1, 1], 20.0)).numpy()[0] < 1e-8  # a fooled discriminator


def mmd_by_hand(p, q, variance):
    """The unbiased IMQ MMD² with explicit loops."""
    n, dim = p.shape
    total = 0.0
    for scale in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0):
        c = 2 * dim * variance * scale
        k = lambda a, b: c / (c + np.sum((a - b) ** 2))  # noqa: E731
        within = sum(k(p[i], p[j]) + k(q[i], q[j]) for i in range(n) for j in range(n) if i != j) / (n * n - n)
        across = sum(k(p[i], q[j]) for i in range(n) for j in range(n)) * 2 / (n * n)
        total += within - across
    return total


def test_mmd_penalty_against_a_hand_computation_and_its_ordering():
    rng = np.random.default_rng(0)
    p, q = rng.standard_normal((5, 3)), rng.standard_normal((5, 3)) + 0.5
    value = mmd_penalty(tf.constant(p, tf.float32), tf.constant(q, tf.float32), 2.0).numpy()
    assert value == pytest.approx(mmd_by_hand(p, q, 2.0), rel=1e-4)

    prior = tf.constant(rng.standard_normal((200, 8)) * 1.414, tf.float32)
    same = tf.constant(rng.standard_normal((200, 8)) * 1.414, tf.float32)
    shifted = same + 2.0
    near, far = float(mmd_penalty(prior, same, 2.0)), float(mmd_penalty(prior, shifted, 2.0))
    assert abs(near) < 0.02 and far > 10 * abs(near) and far > 0.1


# ------------------------------------------------------------------ training at test size

SMALL = ["data.source=digits", "data.image_size=32", "data.crop=null", "train.batch_size=16", "model.width=0.0625"]


def small(name, *extra):
    spec = registry.get(name)
    cfg = spec.config(overrides=SMALL + list(extra))
    return spec.build(cfg, DataInfo((32, 32, 3))), cfg


@pytest.fixture(scope="module")
def digit_batch():
    cfg = registry.get("wae").config(overrides=SMALL)
    return next(iter(data.load(cfg.data).dataset(16, seed=0)))


@pytest.mark.parametrize("name, extra", [
    ("vae_resnet", ["model.latent_dim=16"]),
    ("wae", []),
    ("wae_resnet", []),
    ("wae", ["model.penalty=mmd"]),
])
def test_one_train_step_lowers_the_reconstruction_loss(name, extra, digit_batch):
    model, _ = small(name, *extra)
    x = digit_batch["image"]

    # A VAE's step descends the reconstruction at z = mean + σ·ε for the ε of that step.
    eps = model.normal_noise(16, (model.latent_dim,))

    def reconstruction():
        if name.startswith("wae"):
            return float(tf.reduce_mean(squared_error(x, model(x, training=True))))
        return float(tf.reduce_mean(model.losses_per_example(x, eps)[1]))

    before = reconstruction()
    logs = model.train_step(digit_batch)
    after = reconstruction()
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert after < before, (before, after)
    if "model.penalty=mmd" in extra:
        assert model.discriminator is None and "d_loss" not in logs


def test_prior_and_sample_latent_use_sigma_1_414():
    model, _ = small("wae")
    z = model.sample_latent(20000, seed=0)
    assert z.shape == (20000, 64) and z.std() == pytest.approx(1.414, rel=0.02)


def test_unknown_penalty_is_refused():
    from keras_gens.errors import ConfigError

    with pytest.raises(ConfigError, match="'model.penalty' must be one of gan, mmd"):
        registry.get("wae").config(overrides=["model.penalty=kl"])
