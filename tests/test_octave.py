"""Octave convolution layers, β weighting and the β schedules (OC-GAN, seed 001)."""
import numpy as np
import pytest
import tensorflow as tf

from keras_gens.beta_schedules import beta_values
from keras_gens.errors import ConfigError
from keras_gens.layers.octave import (FrequencyWeights, OctaveBatchNorm, OctaveConv2D, OctaveConv2DTranspose,
                                      OctaveUpSampling2D, set_frequency_weights, split_channels)

rng = np.random.default_rng(0)


def octave_input(batch, size, channels, alpha):
    high, low = split_channels(channels, alpha)
    x_h = tf.constant(rng.standard_normal((batch, size, size, high)), tf.float32)
    if not low:
        return x_h
    return x_h, tf.constant(rng.standard_normal((batch, size // 2, size // 2, low)), tf.float32)


@pytest.mark.parametrize("alpha_in,alpha_out,strides", [
    (0.0, 0.5, 1), (0.5, 0.5, 1), (0.5, 0.5, 2), (0.25, 0.75, 2), (0.5, 0.0, 1), (0.5, 0.0, 2), (0.0, 0.0, 2),
    (0.99, 0.99, 1)])
def test_octave_conv_output_shapes(alpha_in, alpha_out, strides):
    layer = OctaveConv2D(16, 3, alpha_in=alpha_in, alpha_out=alpha_out, strides=strides)
    out = layer(octave_input(2, 8, 16, alpha_in))
    high, low = split_channels(16, alpha_out)
    size = 8 // strides
    if alpha_out == 0:
        assert out.shape == (2, size, size, 16)
    else:
        assert out[0].shape == (2, size, size, high) and out[1].shape == (2, size // 2, size // 2, low)


def test_transposed_octave_conv_doubles_both_maps():
    out = OctaveConv2DTranspose(8, 3, alpha_in=0.5, alpha_out=0.5, strides=2)(octave_input(2, 8, 16, 0.5))
    assert out[0].shape == (2, 16, 16, 4) and out[1].shape == (2, 8, 8, 4)


def test_upsampling_block_doubles_both_maps_by_nearest_neighbour():
    x_h, x_l = octave_input(1, 4, 4, 0.5)
    y_h, y_l = OctaveUpSampling2D()((x_h, x_l))
    np.testing.assert_array_equal(y_h.numpy()[0, :, :, 0], np.kron(x_h.numpy()[0, :, :, 0], np.ones((2, 2))))
    assert y_l.shape == (1, 4, 4, 2)
    out = OctaveConv2D(4, 3, alpha_in=0.5, alpha_out=0.5)(OctaveUpSampling2D()((x_h, x_l)))
    assert out[0].shape == (1, 8, 8, 2) and out[1].shape == (1, 4, 4, 2)


def test_without_low_frequencies_it_is_a_plain_convolution():
    x = octave_input(2, 8, 5, 0.0)
    octave = OctaveConv2D(7, 3, alpha_in=0.0, alpha_out=0.0, use_bias=True)
    plain = tf.keras.layers.Conv2D(7, 3, padding="same", use_bias=True)
    octave(x), plain(x)
    plain.set_weights(octave.h2h.get_weights())
    np.testing.assert_allclose(octave(x).numpy(), plain(x).numpy(), rtol=1e-6, atol=1e-6)
    # stride 2 pools first (OctConv), so it equals a convolution of the 2×2-averaged input
    strided = OctaveConv2D(7, 3, alpha_in=0.0, alpha_out=0.0, strides=2, use_bias=True)
    strided(x)
    strided.set_weights(octave.get_weights())
    np.testing.assert_allclose(strided(x).numpy(), plain(tf.nn.avg_pool2d(x, 2, 2, "VALID")).numpy(), atol=1e-6)


def test_high_to_low_and_low_to_high_paths_by_hand():
    # 1×1 kernels on one channel per branch make every path a scaling we can write down.
    x_h = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    x_l = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32).reshape(1, 2, 2, 1)
    layer = OctaveConv2D(2, 1, alpha_in=0.5, alpha_out=0.5)
    layer((x_h, x_l))
    w_hh, w_hl, w_lh, w_ll = 2.0, 3.0, 5.0, 7.0
    for conv, w in ((layer.h2h, w_hh), (layer.h2l, w_hl), (layer.l2h, w_lh), (layer.l2l, w_ll)):
        conv.set_weights([np.full((1, 1, 1, 1), w, np.float32)])
    y_h, y_l = (t.numpy()[0, ..., 0] for t in layer((x_h, x_l)))
    pooled = x_h[0, :, :, 0].reshape(2, 2, 2, 2).mean(axis=(1, 3))  # 2×2 average pooling
    upsampled = np.kron(x_l[0, :, :, 0], np.ones((2, 2)))           # nearest ×2
    np.testing.assert_allclose(y_h, w_hh * x_h[0, :, :, 0] + w_lh * upsampled)
    np.testing.assert_allclose(y_l, w_hl * pooled + w_ll * x_l[0, :, :, 0])
    np.testing.assert_allclose(pooled, [[2.5, 4.5], [10.5, 12.5]])


def test_with_beta_low_zero_the_low_branch_contributes_nothing():
    weights, conv = FrequencyWeights(), OctaveConv2D(6, 3, alpha_in=0.5, alpha_out=0.5)
    x_h, x_l = octave_input(2, 8, 8, 0.5)
    conv(weights((x_h, x_l)))
    weights.beta_low.assign(0.0)
    first = conv(weights((x_h, x_l)))
    second = conv(weights((x_h, tf.random.normal(x_l.shape) * 10)))
    for a, b in zip(first, second):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    weights.beta_low.assign(1.0)
    assert not np.allclose(conv(weights((x_h, x_l)))[0].numpy(), first[0].numpy())


def test_paths_start_from_different_random_kernels():
    layer = OctaveConv2D(8, 3, alpha_in=0.5, alpha_out=0.5)
    layer(octave_input(1, 8, 8, 0.5))
    kernels = [k.numpy().ravel()[:8] for k in (layer.h2h.kernel, layer.h2l.kernel, layer.l2h.kernel, layer.l2l.kernel)]
    assert len({tuple(np.round(k, 6)) for k in kernels}) == 4


def test_frequency_weights_are_non_trainable_and_set_model_wide():
    inputs = tf.keras.Input((8, 8, 4))
    x = OctaveConv2D(4, 3, alpha_in=0.0, alpha_out=0.5)(inputs)
    x = FrequencyWeights(name="w1")(x)
    x = OctaveConv2D(4, 3, alpha_in=0.5, alpha_out=0.5)(x)
    x = FrequencyWeights(name="w2")(x)
    model = tf.keras.Model(inputs, OctaveConv2D(2, 3, alpha_in=0.5, alpha_out=0.0)(x))
    assert set_frequency_weights(model, 0.7, 0.3) == 2
    layer = model.get_layer("w2")
    assert layer.trainable_weights == [] and float(layer.beta_high) == pytest.approx(0.7)
    assert float(model.get_layer("w1").beta_low) == pytest.approx(0.3)


def test_octave_batch_norm_normalises_each_branch_on_its_own():
    x_h, x_l = tf.random.normal((16, 8, 8, 3)) * 5 + 3, tf.random.normal((16, 4, 4, 2)) * 2 - 7
    y_h, y_l = OctaveBatchNorm()((x_h, x_l), training=True)
    for y in (y_h, y_l):
        np.testing.assert_allclose(tf.reduce_mean(y, axis=(0, 1, 2)).numpy(), 0, atol=1e-4)
        np.testing.assert_allclose(tf.math.reduce_std(y, axis=(0, 1, 2)).numpy(), 1, atol=1e-2)


def test_mismatched_shapes_are_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="alpha_in=0.5 of 12 channels means 6 high"):
        OctaveConv2D(8, 3, alpha_in=0.5)((tf.zeros((1, 8, 8, 8)), tf.zeros((1, 4, 4, 4))))
    with pytest.raises(ValueError, match="half the high one"):
        OctaveConv2D(8, 3, alpha_in=0.5)((tf.zeros((1, 8, 8, 4)), tf.zeros((1, 8, 8, 4))))
    with pytest.raises(ValueError, match="needs a pair"):
        OctaveConv2D(8, 3, alpha_in=0.5)(tf.zeros((1, 8, 8, 4)))
    with pytest.raises(ValueError, match="no low-frequency channel"):
        OctaveConv2D(1, 3, alpha_out=0.5)
    with pytest.raises(ValueError, match="even sizes"):
        OctaveConv2D(4, 3, alpha_in=0.0, alpha_out=0.5)(tf.zeros((1, 7, 7, 3)))
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        split_channels(8, 1.0)


def test_octave_conv_survives_a_keras_save_and_load(tmp_path):
    inputs = tf.keras.Input((8, 8, 3))
    x = OctaveConv2D(4, 3, alpha_in=0.0, alpha_out=0.5)(inputs)
    x = OctaveBatchNorm()(x)
    x = FrequencyWeights()(x)
    model = tf.keras.Model(inputs, OctaveConv2D(2, 3, alpha_in=0.5, alpha_out=0.0)(x))
    set_frequency_weights(model, 0.6, 0.4)
    model.save(tmp_path / "m.keras")
    loaded = tf.keras.models.load_model(tmp_path / "m.keras")
    x = np.random.default_rng(1).standard_normal((2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-6)


# --- β schedules ---------------------------------------------------------------------------------

def test_schedule_values_at_known_epochs():
    code = {"name": "ocgan_code"}
    # f = (epoch + 1) / epochs; β_H = f + 0.2 up to f = 0.5, then 0.7.
    assert beta_values(code, 0, 10) == pytest.approx((0.3, 0.7))
    assert beta_values(code, 4, 10) == pytest.approx((0.7, 0.3))
    assert beta_values(code, 5, 10) == pytest.approx((0.7, 0.3))
    assert beta_values(code, 2, 10) == pytest.approx((0.5, 0.5))
    ramp = {"name": "ramp", "start": 0.0, "end": 1.0}
    assert beta_values(ramp, 0, 4) == pytest.approx((0.25, 0.75))
    assert beta_values(ramp, 3, 4) == pytest.approx((1.0, 0.0))
    combi = {"name": "combi", "start": 0.3, "end": 0.7, "ramp_fraction": 0.5}
    assert beta_values(combi, 0, 10) == pytest.approx((0.38, 0.62))
    assert beta_values(combi, 7, 10) == pytest.approx((0.7, 0.3))
    assert beta_values({"name": "constant", "beta_high": 1.0, "beta_low": 0.5}, 3, 10) == (1.0, 0.5)
    with pytest.raises(ConfigError, match="ocgan_code"):
        beta_values({"name": "cosine"}, 0, 10)


def test_combi_and_ramp_have_one_definition_for_train_and_ocgan():
    """`train dcgan_oct model.beta_schedule.name=combi` and `keras_gens.ocgan`'s COMBI run the same β."""
    from keras_gens import registry
    from keras_gens.experiments.ocgan import PAPER_VARIANTS

    for variant, ends in (("COMBI", [(0, (0.316, 0.684)), (24, (0.7, 0.3)), (49, (0.7, 0.3))]),
                          ("RAMP", [(0, (0.02, 0.98)), (24, (0.5, 0.5)), (49, (1.0, 0.0))])):
        by_name = registry.get("dcgan_oct").config(overrides=[f"model.beta_schedule.name={variant.lower()}"])
        by_ocgan = registry.get("dcgan_oct").config(overrides=PAPER_VARIANTS[variant])
        for epoch, expected in ends:
            assert beta_values(by_name.model.beta_schedule, epoch, 50) == pytest.approx(expected)
            assert beta_values(by_ocgan.model.beta_schedule, epoch, 50) == pytest.approx(expected)
    # An end point set in the config wins over the schedule's own.
    assert beta_values({"name": "combi", "end": 0.9, "start": None}, 49, 50) == pytest.approx((0.9, 0.1))
    with pytest.raises(ConfigError, match="model.beta_schedule.start"):
        beta_values({"name": "ramp", "start": "low"}, 0, 10)


def test_ocgan_smoke_runs_go_to_their_own_folder(monkeypatch, tmp_path):
    from pathlib import Path

    from keras_gens.cli import ocgan as command

    calls = []

    def fake_experiment(*args, out, **kwargs):
        calls.append(out)
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "comparison.md").write_text("| run |\n")
        return [{}]

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(command, "experiment", fake_experiment)
    assert command.main(["--smoke"]) == 0 and calls[-1] == Path("runs/ocgan-smoke")
    assert command.main([]) == 0 and calls[-1] == Path("runs/ocgan")
