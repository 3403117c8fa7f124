"""The thesis's plain VAE: layer list at 128×128×3, losses on known inputs, and a step that learns."""
import numpy as np
import pytest
import tensorflow as tf

from keras_gens import registry
from keras_gens.losses import gaussian_kl, squared_error
from keras_gens.models.base import DataInfo
from keras_gens.models.vae import build_decoder, build_encoder
from tests.helpers import SMALL_VAE

L = tf.keras.layers

# (layer name, type, filters/units, kernel, strides, output shape) from the thesis, section 4.3.1.
THESIS_ENCODER = [
    ("conv1", L.Conv2D, 32, (3, 3), (2, 2), (64, 64, 32)),
    ("conv2", L.Conv2D, 64, (3, 3), (2, 2), (32, 32, 64)),
    ("conv3", L.Conv2D, 128, (3, 3), (2, 2), (16, 16, 128)),
    ("conv4", L.Conv2D, 256, (3, 3), (2, 2), (8, 8, 256)),
    ("conv5", L.Conv2D, 512, (3, 3), (2, 2), (4, 4, 512)),
    ("flatten", L.Flatten, None, None, None, (8192,)),
    ("dense", L.Dense, 2048, None, None, (2048,)),
]
THESIS_DECODER = [
    ("dense1", L.Dense, 2048, None, None, (2048,)),
    ("dense2", L.Dense, 8192, None, None, (8192,)),
    ("reshape", L.Reshape, None, None, None, (4, 4, 512)),
    ("deconv1", L.Conv2DTranspose, 256, (3, 3), (2, 2), (8, 8, 256)),
    ("deconv2", L.Conv2DTranspose, 128, (3, 3), (2, 2), (16, 16, 128)),
    ("deconv3", L.Conv2DTranspose, 64, (3, 3), (2, 2), (32, 32, 64)),
    ("deconv4", L.Conv2DTranspose, 32, (3, 3), (2, 2), (64, 64, 32)),
    ("deconv5", L.Conv2DTranspose, 16, (3, 3), (2, 2), (128, 128, 16)),
    ("to_image", L.Conv2DTranspose, 3, (3, 3), (1, 1), (128, 128, 3)),
]


def check_layers(model, spec):
    for name, cls, width, kernel, strides, shape in spec:
        layer = model.get_layer(name)
        assert isinstance(layer, cls), name
        assert layer.output_shape[1:] == shape, name
        if width is not None:
            assert (layer.filters if hasattr(layer, "filters") else layer.units) == width, name
        if kernel is not None:
            assert layer.kernel_size == kernel and layer.strides == strides and layer.padding == "same", name


@pytest.fixture(scope="module")
def thesis_vae():
    cfg = registry.get("vae").config()
    return registry.get("vae").build(cfg, DataInfo((128, 128, 3)))


def test_encoder_matches_the_thesis(thesis_vae):
    encoder = thesis_vae.encoder
    check_layers(encoder, THESIS_ENCODER)
    for i in range(1, 6):  # every conv: LeakyReLU(0.02) and BatchNormalization
        assert encoder.get_layer(f"lrelu{i}").alpha == pytest.approx(0.02)
        assert isinstance(encoder.get_layer(f"bn{i}"), L.BatchNormalization)
    assert encoder.get_layer("dense").activation.__name__ == "selu"
    assert [o.shape[1:] for o in encoder.outputs] == [(512,), (512,)]


def test_decoder_matches_the_thesis(thesis_vae):
    decoder = thesis_vae.decoder
    check_layers(decoder, THESIS_DECODER)
    assert decoder.get_layer("dense1").activation.__name__ == "selu"
    assert decoder.get_layer("dense2").activation.__name__ == "selu"
    assert isinstance(decoder.get_layer("bn_dense1"), L.BatchNormalization)
    for i in range(1, 6):
        assert decoder.get_layer(f"lrelu{i}").alpha == pytest.approx(0.02)
    assert decoder.layers[-1].activation.__name__ == "sigmoid"
    assert decoder.output_shape == (None, 128, 128, 3)


def conv_params(k, cin, cout):
    return k * k * cin * cout + cout


def test_parameter_counts_follow_from_the_layer_list(thesis_vae):
    widths = [3, 32, 64, 128, 256, 512]
    encoder = sum(conv_params(3, a, b) + 4 * b for a, b in zip(widths, widths[1:]))  # conv + BN
    encoder += 8192 * 2048 + 2048 + 2 * (2048 * 512 + 512)  # dense, mean and log-variance heads
    decoder = 512 * 2048 + 2048 + 4 * 2048 + 2048 * 8192 + 8192
    dwidths = [512, 256, 128, 64, 32, 16]
    decoder += sum(conv_params(3, a, b) + 4 * b for a, b in zip(dwidths, dwidths[1:]))
    decoder += conv_params(3, 16, 3) + 4 * 3
    print(f"VAE parameters: encoder {thesis_vae.encoder.count_params():,}, decoder {thesis_vae.decoder.count_params():,}")
    assert thesis_vae.encoder.count_params() == encoder == 20_449_984
    assert thesis_vae.decoder.count_params() == decoder


def test_image_size_must_fit_the_upsampling():
    from keras_gens.errors import ConfigError

    with pytest.raises(ConfigError, match="multiple of 32"):
        build_decoder((100, 100, 3))


def test_squared_error_and_kl_on_known_inputs():
    x = tf.zeros([2, 2, 2, 1])
    y = tf.constant([[[[1.0], [2.0]], [[0.0], [0.0]]], [[[0.5], [0.5]], [[0.5], [0.5]]]])
    np.testing.assert_allclose(squared_error(x, y).numpy(), [5.0, 1.0])
    assert gaussian_kl(tf.zeros([3, 4]), tf.zeros([3, 4])).numpy() == pytest.approx([0, 0, 0])
    # KL(N(1, 4) || N(0, 1)) = 0.5 (σ² + μ² − 1 − ln σ²) per dimension
    kl = gaussian_kl(tf.ones([1, 3]), tf.fill([1, 3], float(np.log(4.0))))
    assert kl.numpy()[0] == pytest.approx(3 * 0.5 * (4 + 1 - 1 - np.log(4.0)), rel=1e-6)


def vae_data_config():
    return registry.get("vae").config(overrides=SMALL_VAE + ["data.source=digits"]).data


def small_vae(*extra):
    spec = registry.get("vae")
    cfg = spec.config(overrides=SMALL_VAE + list(extra))
    return spec.build(cfg, DataInfo((32, 32, 3)))


def test_loss_is_the_negative_elbo():
    vae = small_vae("model.decoder_variance=0.25", "model.kl_weight=3")
    x = tf.random.uniform([4, 32, 32, 3], seed=1)
    eps = tf.zeros([4, 8])  # z = mean: the reconstruction term is deterministic
    loss, recon, kl = vae.losses_per_example(x, eps, training=False)
    mean, log_variance = vae.encoder(x, training=False)
    expected_recon = squared_error(x, vae.decoder(mean, training=False)) / (2 * 0.25)
    np.testing.assert_allclose(recon.numpy(), expected_recon.numpy(), rtol=1e-5)
    np.testing.assert_allclose(kl.numpy(), gaussian_kl(mean, log_variance).numpy(), rtol=1e-5)
    np.testing.assert_allclose(loss.numpy(), (recon + 3 * kl).numpy(), rtol=1e-5)


def test_every_weight_gets_a_gradient_and_repeated_steps_lower_the_loss():
    from keras_gens import data

    vae = small_vae()
    digits = data.load(vae_data_config())
    batch = next(iter(digits.dataset(16, seed=0)))
    with tf.GradientTape() as tape:
        loss, _, _ = vae.losses_per_example(batch["image"], tf.random.normal([16, 8], seed=3))
        loss = tf.reduce_mean(loss)
    grads = tape.gradient(loss, vae.trainable_variables)
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)

    first = float(vae.train_step(batch)["loss"])
    for _ in range(24):
        vae.reset_metrics()
        last = float(vae.train_step(batch)["loss"])
    assert int(vae.step.numpy()) == 25
    assert last < 0.9 * first  # about 0.82 seen: a steady decline on this tiny network


def test_vae_requires_unit_value_range():
    from keras_gens.errors import ConfigError

    spec = registry.get("vae")
    with pytest.raises(ConfigError, match=r"value_range must be \[0, 1\]"):
        spec.build(spec.config(overrides=SMALL_VAE), DataInfo((32, 32, 3), value_range=(-1.0, 1.0)))


def test_encoder_alone_builds_at_other_sizes():
    enc = build_encoder((64, 32, 1), filters=(4, 8), dense_units=16, latent_dim=5)
    assert enc.get_layer("conv2").output_shape == (None, 16, 8, 8)
    assert [o.shape[1] for o in enc.outputs] == [5, 5]
