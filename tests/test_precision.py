"""train.precision=mixed_bfloat16: bfloat16 compute, float32 weights and losses, every loss family sane."""
import numpy as np
import pytest
import tensorflow as tf

from keras_gens import data, registry, runner
from keras_gens.export import export_run
from keras_gens.models.base import DataInfo
from tests.helpers import SMALL_VAE

# One model per loss module: auto-encoder + KL, WAE GAN penalty on a ResNet, octave GAN, WGAN clipping,
# BAGAN-GP's gradient penalty, the MLP CGAN, re-ID's triplet and mask losses.
FAMILIES = ("vae", "wae_resnet", "dcgan_oct", "wgan", "bagan_gp", "cgan", "reid")


def smoke_model(name, policy):
    spec = registry.get(name)
    overrides = ["data.source=synthetic_reid", "model.backbone_weights=none"] if name == "reid" else []
    cfg = spec.config(smoke=True, overrides=overrides + [f"train.precision={policy}"])
    source = data.load(cfg.data)
    with runner.precision(cfg.train.precision):
        model = spec.build(cfg, DataInfo.of(source))
    batch = next(iter(source.training_dataset(int(cfg.train.batch_size) * model.batches_per_step, seed=0)))
    return model, batch


@pytest.mark.parametrize("name", FAMILIES)
def test_a_bfloat16_step_has_finite_float32_losses_and_float32_weights(name):
    model, batch = smoke_model(name, "mixed_bfloat16")
    assert tf.keras.mixed_precision.global_policy().name == "float32"  # the build did not leak its policy
    computing = {layer.compute_dtype for layer in model.submodules if isinstance(layer, tf.keras.layers.Conv2D)}
    assert "bfloat16" in computing or name == "cgan"  # the CGAN is all Dense
    assert all(v.dtype == tf.float32 for v in model.trainable_variables)
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
