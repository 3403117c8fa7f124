"""train.precision: mixed_bfloat16 and mixed_float16 (half-precision compute, float32 weights and losses, every loss
family sane; float16 with dynamic loss scaling), and train.steps_per_execution."""
import numpy as np
import pytest
import tensorflow as tf

from keras_gens import data, registry, run_dirs, runner
from keras_gens.serving import export_run
from keras_gens.errors import ConfigError, RunDirError
from keras_gens.models.base import DataInfo
from keras_gens.optim import descend, make_optimizer
from tests.helpers import SMALL_VAE

# One model per loss module: auto-encoder + KL, WAE GAN penalty on a ResNet, octave GAN, WGAN clipping,
# BAGAN-GP's gradient penalty, the MLP CGAN, re-ID's triplet and mask losses.
FAMILIES = ("vae", "wae_resnet", "dcgan_oct", "wgan", "bagan_gp", "cgan", "reid")
# float16 on a CPU is emulated and slow: one model per way of taking gradients (plain, GP's double backward,
# re-ID's replica scaling, spectral norm's float32 power iteration).
FLOAT16_FAMILIES = ("vae", "bagan_gp", "reid", "pe_gan")


def smoke_model(name, policy):
    spec = registry.get(name)
    overrides = {"reid": ["data.source=synthetic_reid", "model.backbone_weights=none"],
                 "pe_gan": ["data.source=synthetic_pxd", "model.d_steps=1"]}.get(name, [])
    cfg = spec.config(smoke=True, overrides=overrides + [f"train.precision={policy}"])
    source = data.load(cfg.data)
    with run_dirs.precision(cfg.train.precision):
        model = spec.build(cfg, DataInfo.of(source))
    batch = next(iter(source.training_dataset(int(cfg.train.batch_size) * model.batches_per_step, seed=0)))
    return model, batch


@pytest.mark.parametrize("name,policy", [(name, "mixed_bfloat16") for name in FAMILIES]
                         + [(name, "mixed_float16") for name in FLOAT16_FAMILIES])
def test_a_half_precision_step_has_finite_float32_losses_and_float32_weights(name, policy):
    model, batch = smoke_model(name, policy)
    assert tf.keras.mixed_precision.global_policy().name == "float32"  # the build did not leak its policy
    half = policy.split("_")[1]
    computing = {layer.compute_dtype for layer in model.submodules if isinstance(layer, tf.keras.layers.Conv2D)}
    assert half in computing or name == "cgan"  # the CGAN is all Dense
    assert all(v.dtype == tf.float32 for v in model.trainable_variables)
    optimizers = [getattr(model, attribute) for attribute in ("optimizer", "d_optimizer", "extractor_optimizer")
                  if getattr(model, attribute, None) is not None]
    scaled = [isinstance(o, tf.keras.mixed_precision.LossScaleOptimizer) for o in optimizers]
    assert optimizers and all(scaled) == (half == "float16") and any(scaled) == (half == "float16")
    logs = model.train_step(batch)
    for key, value in logs.items():
        assert value.dtype == tf.float32 and np.isfinite(float(value)), (name, key, value)


def test_bfloat16_losses_stay_close_to_float32_ones():
    full, batch = smoke_model("dcgan", "float32")
    half, _ = smoke_model("dcgan", "mixed_bfloat16")
    for source, target in zip(full.generator.weights + full.discriminator.weights,
                              half.generator.weights + half.discriminator.weights):
        target.assign(source)
    full_logs, half_logs = full.train_step(batch), half.train_step(batch)  # the same noise: keyed by the step
    for key in ("d_loss", "g_loss"):
        assert float(half_logs[key]) == pytest.approx(float(full_logs[key]), rel=0.05), key


def test_a_bfloat16_run_trains_draws_samples_and_exports(tmp_path):
    out = tmp_path / "run"
    overrides = [*SMALL_VAE, "train.precision=mixed_bfloat16", "train.epochs=1", "train.steps_per_epoch=3"]
    result = runner.train("vae", data="digits", out=out, overrides=overrides)
    assert result.model.decoder.layers[-1].compute_dtype == "bfloat16"
    assert (out / "samples" / "epoch_0001.png").is_file()
    served = tf.saved_model.load(str(export_run(out))).signatures["serving_default"]
    images = served(z=tf.zeros([2, 8]))["images"]
    assert images.dtype == tf.uint8 and images.shape == (2, 32, 32, 3)


def _tiny_dense(policy):
    with run_dirs.precision(policy):
        layer = tf.keras.layers.Dense(3, kernel_initializer="zeros")  # updates of 1e-8 show
        layer.build((None, 4))
        optimizer = make_optimizer({"name": "sgd", "learning_rate": 1.0})
    return layer, optimizer


def _step(layer, optimizer, loss_factor, x, **kwargs):
    before = layer.kernel.numpy().copy()
    with tf.GradientTape() as tape:
        loss = loss_factor * tf.reduce_sum(tf.cast(layer(x), tf.float32))
    descend(optimizer, tape, loss, layer.trainable_variables, **kwargs)
    return layer.kernel.numpy() - before


def test_loss_scaling_keeps_gradients_that_float16_would_flush_to_zero():
    x = tf.ones([2, 4])
    factor = 1e-8  # dloss/doutput = 1e-8 is below float16's smallest subnormal (6e-8)
    reference, sgd = _tiny_dense("float32")
    expected = _step(reference, sgd, factor, x)
    np.testing.assert_allclose(expected, -2e-8, rtol=1e-5)

    layer, optimizer = _tiny_dense("mixed_float16")
    assert isinstance(optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
    np.testing.assert_allclose(_step(layer, optimizer, factor, x), expected, rtol=1e-2)
    unscaled = tf.keras.optimizers.SGD(1.0)  # what happens without loss scaling
    assert np.all(_step(layer, unscaled, factor, x) == 0.0)


def test_an_overflowing_float16_step_is_skipped_and_the_loss_scale_halves():
    layer, optimizer = _tiny_dense("mixed_float16")
    scale = float(optimizer.loss_scale)
    # 10 x the loss scale (32768) is beyond float16's largest value, 65504: the gradients are inf.
    assert np.all(_step(layer, optimizer, 10.0, tf.ones([2, 4])) == 0.0)
    assert float(optimizer.loss_scale) == scale / 2
    assert np.all(_step(layer, optimizer, 1e-3, tf.ones([2, 4])) != 0.0)  # a normal step goes through


def test_descend_scales_the_gradients_as_asked():
    layer, sgd = _tiny_dense("float32")
    full = _step(layer, sgd, 1.0, tf.ones([2, 4]))
    np.testing.assert_allclose(_step(layer, sgd, 1.0, tf.ones([2, 4]), scale=0.25), full / 4, rtol=1e-6)


def test_steps_per_execution_changes_speed_not_results(tmp_path):
    overrides = [*SMALL_VAE, "train.epochs=1", "train.steps_per_epoch=5", "samples.every=0"]
    one = runner.train("vae", data="digits", out=tmp_path / "one", overrides=overrides)
    # 5 steps in calls of 2: the last call runs the remaining one.
    two = runner.train("vae", data="digits", out=tmp_path / "two",
                       overrides=[*overrides, "train.steps_per_execution=2"])
    assert int(one.model.step.numpy()) == int(two.model.step.numpy()) == 5
    assert one.history["loss"] == pytest.approx(two.history["loss"], rel=1e-5)
    # Outputs, not weights, and not to the last bit: a bias just before a BatchNorm has only rounding noise
    # for a gradient, which Adam's normalization turns into steps of visible size in either run.
    z = one.model.sample_latent(8)
    np.testing.assert_allclose(one.model.generate(z).numpy(), two.model.generate(z).numpy(), atol=1e-3)
    with pytest.raises(ConfigError, match="'train.steps_per_execution' is a size or count: must be positive; got 0"):
        runner.train("vae", data="digits", out=tmp_path / "zero", overrides=[*overrides, "train.steps_per_execution=0"])


def test_a_float16_run_trains_resumes_and_refuses_to_switch_loss_scaling(tmp_path):
    out = tmp_path / "run"
    overrides = [*SMALL_VAE, "train.precision=mixed_float16", "train.steps_per_epoch=3", "samples.every=0"]
    first = runner.train("vae", data="digits", out=out, overrides=[*overrides, "train.epochs=1"])
    scale = float(first.model.optimizer.loss_scale)
    assert scale < 2 ** 15  # the summed reconstruction error overflowed float16 at the initial scale
    _, _, restored, _ = run_dirs.build_from_run(out)
    assert float(restored.optimizer.loss_scale) == scale  # the checkpoint holds the loss scale
    resumed = runner.train("vae", data="digits", out=out, overrides=[*overrides, "train.epochs=2"])
    assert int(resumed.model.step.numpy()) == 6 and np.isfinite(resumed.history["loss"][-1])
    with pytest.raises(RunDirError, match="mixed_float16"):
        runner.train("vae", data="digits", out=out, overrides=[*overrides, "train.epochs=3", "train.precision=float32"])


def test_our_leaky_relu_gives_tf_keras_results_without_the_slow_bfloat16_gradient_kernel():
    from keras_gens.layers.activations import LeakyReLU

    x = tf.cast(tf.random.stateless_normal([4, 8, 8, 3], seed=[1, 2]), tf.bfloat16)
    with run_dirs.precision("mixed_bfloat16"):  # as the models build them
        ours, reference = LeakyReLU(alpha=0.2), tf.keras.layers.LeakyReLU(alpha=0.2)

    @tf.function
    def values_and_gradients(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) * tf.range(1.0, 4.0))
        return y, tape.gradient(loss, x)

    (y, dx), (y_ref, dx_ref) = values_and_gradients(ours), values_and_gradients(reference)
    assert y.dtype == dx.dtype == tf.bfloat16
    for a, b in ((y, y_ref), (dx, dx_ref)):  # equal up to one bfloat16 rounding (8 significant bits)
        np.testing.assert_allclose(tf.cast(a, tf.float32), tf.cast(b, tf.float32), rtol=2 ** -7, atol=1e-6)
    graph = values_and_gradients.get_concrete_function(ours).graph
    kernels = {op.get_attr("T") for op in graph.get_operations() if op.type in ("LeakyRelu", "LeakyReluGrad")}
    assert kernels == {tf.float32}
