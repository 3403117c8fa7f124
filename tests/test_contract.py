"""What every registered model promises, checked over ``registry.names()``: a new model gets these
tests by registering.  At smoke size, on the smoke config's own data:

- its config resolves and it builds;
- one training step (through ``fit``, with the model's own callbacks) gives finite losses and moves weights;
- a checkpoint restores into a fresh build to identical weights and outputs;
- its export has the documented signatures;
- its samples have the data's shape, the right dtype and range (re-ID, which generates nothing, refuses).
"""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from keras_gens import data as data_lib
from keras_gens import registry, run_dirs
from keras_gens.errors import UserError
from keras_gens.models.adversarial import AdversarialModel
from keras_gens.models.base import DataInfo
from keras_gens.sampling import model_batches
from keras_gens.serving import SIGNATURES, export_model

# One step is all a contract needs: smaller batches, fewer blocks and critic steps where the smoke
# settings allow, the same code paths (a loop of critic steps stays a loop).
SMALLER = {
    "*": ["train.batch_size=8"],
    "reid": ["data.pk=[4, 2]"],
    "bagan_gp": ["model.ae_epochs=1"],
    "pe_gan": ["model.g_blocks_per_stage=1", "model.d_blocks_per_stage=[1, 1, 1]"],
    "wgan": ["model.critic_steps=2"],
    "wgan_oct": ["model.critic_steps=2"],
}


def _build(name):
    spec = registry.get(name)
    cfg = spec.config(smoke=True, overrides=SMALLER["*"] + SMALLER.get(name, []) + ["train.verbose=0"])
    tf.keras.utils.set_random_seed(int(cfg.train.seed))
    source = data_lib.load(cfg.data)
    with run_dirs.precision(cfg.train.precision):
        model = spec.build(cfg, DataInfo.of(source))
    return spec, cfg, source, model


def _optimizers(model) -> list:
    found = [v for v in vars(model).values() if isinstance(v, tf.keras.optimizers.Optimizer)]
    found += [m.optimizer for m in vars(model).values() if isinstance(m, tf.keras.Model) and m.optimizer]
    return list({id(o): o for o in found}.values())


def _outputs(model, source):
    """What the model computes for fixed inputs: samples for generators, templates for re-ID."""
    if not model.draws_samples:
        return np.asarray(model(source.take(4, seed=0)["image"], training=False))
    z = model.sample_latent(4, seed=1)
    labels = model.sample_labels(4)
    return np.asarray(model.generate(tf.constant(z), None if labels is None else tf.constant(labels)))


@pytest.mark.parametrize("name", registry.names())
def test_registered_model_keeps_the_contract(name, tmp_path):
    spec, cfg, source, model = _build(name)
    assert spec.config_path.is_file() and spec.summary
    assert spec.autoencoder == model.encodes_images  # what compare checks before it trains anything
    # generate draws its latents batch by batch: the same values as all at once
    pieces = list(model.latent_batches(10, seed=3, batch_size=4))
    np.testing.assert_array_equal(np.concatenate([z for z, _ in pieces]), model.sample_latent(10, seed=3))
    if model.num_classes:
        np.testing.assert_array_equal(np.concatenate([c for _, c in pieces]), model.sample_labels(10))

    # One training step, as the runner takes it.
    batch_size = int(cfg.train.batch_size)
    model.prepare(source, batch_size=batch_size, seed=0, verbose=0, log=lambda *a: None)
    before = [w.numpy().copy() for w in model.trainable_weights]
    # Every optimizer's slots exist before the first step (else the step is traced twice).
    slots = {id(o): len(o.variables) for o in _optimizers(model)}
    assert slots and all(slots.values()), f"{name}: an optimizer is not built at compile time"
    dataset = source.training_dataset(batch_size * model.batches_per_step, seed=0)
    # The same train_step run eagerly: tracing and optimising a graph costs 5-60 s per model for one
    # step (every model's own tests train in graph mode).
    model.run_eagerly = True
    callbacks = model.training_callbacks(tmp_path, write=False, examples=source.take(4, seed=0)["image"])
    history = model.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0, callbacks=callbacks)
    losses = {k: v[-1] for k, v in history.history.items()}
    assert losses and all(np.isfinite(v) for v in losses.values()), losses
    assert int(model.step.numpy()) == 1
    assert {id(o): len(o.variables) for o in _optimizers(model)} == slots
    moved = {id(w) for b, w in zip(before, model.trainable_weights) if not np.array_equal(b, w.numpy())}
    assert moved, f"{name}: no trainable weight changed in a training step"
    if isinstance(model, AdversarialModel):  # both players took a step
        for network in (model.generator, model.discriminator):
            assert moved & {id(w) for w in network.trainable_weights}, f"{name}: {network.name} did not move"

    # A checkpoint restores into a fresh build: the same weights, the same outputs.
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "checkpoints" / "ckpt"))
    expected = _outputs(model, source)
    tf.keras.utils.set_random_seed(int(cfg.train.seed) + 1)  # a different initialisation to overwrite
    with run_dirs.precision(cfg.train.precision):
        fresh = spec.build(cfg, DataInfo.of(source))
    assert not np.array_equal(_outputs(fresh, source), expected)
    if isinstance(model, AdversarialModel):  # runs written before the shared base still resume
        saved = {key for key, _ in tf.train.list_variables(path)}
        for attribute in model.checkpointed_trackers.values():
            assert f"model/{attribute}/total/.ATTRIBUTES/VARIABLE_VALUE" in saved
    tf.train.Checkpoint(model=fresh).restore(path).assert_existing_objects_matched()
    for a, b in zip(model.weights, fresh.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"{name}: {a.name}")
    np.testing.assert_array_equal(_outputs(fresh, source), expected)

    # Samples: the data's shape, uint8 in [0, 255] through sampling, floats in the value range.
    if model.draws_samples:
        lo, hi = model.value_range
        assert expected.shape == (4, *source.image_shape) and expected.dtype == np.float32
        assert lo - 1e-5 <= expected.min() and expected.max() <= hi + 1e-5
        images, labels = next(model_batches(model, 3, seed=0))
        assert images.shape == (3, *source.image_shape) and images.dtype == np.uint8
        assert (labels is None) == (model.num_classes == 0)
    else:
        with pytest.raises(UserError, match="generates no images"):
            model.generate(tf.zeros([1, 1]))

    # The export's documented signatures.
    loaded = tf.saved_model.load(str(export_model(model, tmp_path / "export" / "1")))
    if model.serving_signatures() is not None:  # re-ID: templates and masks
        assert set(loaded.signatures) == {"serving_default", "features_float", "masks"}
    else:
        wanted = set(SIGNATURES) | ({"hitmaps", "event"} if model.generates_hitmaps else set())
        assert set(loaded.signatures) == wanted
        out = loaded.signatures["sample"](n=tf.constant(2, tf.int32), seed=tf.constant(0, tf.int64))
        assert out["images"].dtype == tf.uint8 and tuple(out["images"].shape) == (2, *source.image_shape)

