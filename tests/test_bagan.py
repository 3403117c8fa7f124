"""BAGAN-GP and CGAN (B²-FedGAN's per-client GANs), their losses, and the per-client augmentation."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from keras_gens import registry
from keras_gens.losses import gradient_penalty, wrong_label_critic_loss
from keras_gens.models.base import DataInfo

SMALL = ["data.image_size=16", "model.base_filters=4", "model.latent_dim=8", "train.batch_size=8",
         "model.critic_steps=2", "model.ae_epochs=1"]


def _build(name, overrides=(), shape=(16, 16, 1), classes=3):
    cfg = registry.get(name).config(smoke=True, overrides=list(overrides))
    return registry.get(name).build(cfg, DataInfo(shape, classes, (-1.0, 1.0))), cfg


def test_gradient_penalty_of_a_linear_critic_is_known():
    w = tf.constant(np.full((1, 2, 2, 1), 0.25, np.float32))  # ‖w‖ = 0.5 everywhere: penalty (0.5 − 1)² = 0.25
    real = tf.random.normal((3, 2, 2, 1))
    fake = tf.random.normal((3, 2, 2, 1))
    penalty = gradient_penalty(lambda x: tf.reduce_sum(x * w, axis=[1, 2, 3]), real, fake,
                               tf.random.uniform((3, 1, 1, 1)))
    np.testing.assert_allclose(penalty.numpy(), [0.25] * 3, rtol=1e-5)


def test_wrong_label_critic_losses():
    real, fake, wrong = tf.constant([2.0]), tf.constant([1.0]), tf.constant([-3.0])
    assert float(wrong_label_critic_loss(real, fake, wrong, balanced=False)[0]) == pytest.approx(-4.0)
    assert float(wrong_label_critic_loss(real, fake, wrong)[0]) == pytest.approx(-3.0)
    # Balanced: a constant added to every score leaves the loss unchanged; the reference's moves with it.
    shifted = [t + 10.0 for t in (real, fake, wrong)]
    assert float(wrong_label_critic_loss(*shifted)[0]) == pytest.approx(-3.0)
    assert float(wrong_label_critic_loss(*shifted, balanced=False)[0]) == pytest.approx(6.0)


def test_bagan_networks_at_the_papers_size():
    from keras_gens.models.bagan import build_bagan_decoder, build_bagan_discriminator, build_bagan_encoder

    encoder = build_bagan_encoder((64, 64, 1))
    assert [encoder.get_layer(f"conv{i}").filters for i in range(1, 5)] == [64, 128, 128, 256]
    assert encoder.output_shape == (None, 128)
    decoder = build_bagan_decoder((64, 64, 1))
    assert [decoder.get_layer(f"deconv{i}").filters for i in range(1, 4)] == [256, 128, 64]
    assert decoder.output_shape == (None, 64, 64, 1)
    assert build_bagan_discriminator((64, 64, 1), 4).output_shape == (None, 1)


def _labelled_source(n=48, classes=3):
    from keras_gens.data import ArraySource, Preprocess

    rng = np.random.default_rng(0)
    labels = np.arange(n) % classes
    images = (rng.random((n, 16, 16, 1)) * 60 + labels[:, None, None, None] * 80).astype(np.uint8)
    return ArraySource(name="toy", images=images, labels=labels.astype(np.int32), num_classes=classes,
                       preprocess=Preprocess(size=(16, 16), channels=1, value_range=(-1.0, 1.0)))


def test_pretraining_starts_the_discriminator_from_the_encoder_once():
    model, _ = _build("bagan_gp", SMALL + ["model.latent_prior=class_gaussian"])
    source = _labelled_source()
    assert model.prepare(source, batch_size=8, seed=0, verbose=0, log=lambda *a: None)
    convs = [layer.name for layer in model.encoder.layers if layer.name.startswith("conv")]
    assert convs
    for name in convs:
        for a, b in zip(model.encoder.get_layer(name).get_weights(), model.discriminator.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    # The class prior now holds each class's code mean.
    codes = model.encoder(source.preprocess(tf.constant(source.images)), training=False).numpy()
    np.testing.assert_allclose(model.prior.means.numpy()[1], codes[source.labels == 1].mean(0), atol=1e-4)
    assert not model.prepare(source, batch_size=8, seed=0, verbose=0, log=lambda *a: None)  # done already


def test_class_statistics_match_numpy():
    from keras_gens.models.bagan import class_statistics

    rng = np.random.default_rng(1)
    codes, labels = rng.normal(size=(60, 3)), np.repeat([0, 2], 30)
    means, scales = class_statistics(codes, labels, 3, jitter=0.0)
    np.testing.assert_allclose(means[2], codes[30:].mean(0), rtol=1e-5)
    np.testing.assert_allclose(scales[0] @ scales[0].T, np.cov(codes[:30], rowvar=False), rtol=1e-4)
    np.testing.assert_array_equal(scales[1], np.eye(3))  # a class without data keeps N(0, I)


@pytest.mark.parametrize("name", ["bagan_gp", "cgan"])
def test_a_train_step_gives_finite_losses_and_moves_both_networks(name):
    model, _ = _build(name, SMALL if name == "bagan_gp" else ["model.generator_units=[8, 8, 8]",
                                                               "model.discriminator_units=[8, 8, 8]"])
    g_before = [w.numpy().copy() for w in model.generator.trainable_weights]
    d_before = [w.numpy().copy() for w in model.discriminator.trainable_weights]
    batch = {"image": tf.random.uniform((8, 16, 16, 1), -1, 1), "label": tf.constant([0, 1, 2, 0, 1, 2, 0, 1])}
    logs = model.train_step(batch)
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(g_before, model.generator.trainable_weights))
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(d_before, model.discriminator.trainable_weights))


def test_cgan_half_batch_loop_updates_d_twice_on_half_batches_and_g_on_a_full_one():
    """model.half_batch: the paper's loop; the second half of the fed batch is never read by D."""
    small = ["model.generator_units=[8, 8, 8]", "model.discriminator_units=[8, 8, 8]", "model.dropout=0"]
    model, _ = _build("cgan", small + ["model.half_batch=true"])
    images = tf.random.uniform((8, 16, 16, 1), -1, 1)
    labels = tf.constant([0, 1, 2, 0, 1, 2, 0, 1])
    start = [w.numpy() for w in model.discriminator.trainable_weights + model.generator.trainable_weights]

    def step(second_half):
        for w, value in zip(model.discriminator.trainable_weights + model.generator.trainable_weights, start):
            w.assign(value)
        for optimizer in (model.optimizer, model.d_optimizer):
            for v in optimizer.variables:
                v.assign(tf.zeros_like(v))
        model.step.assign(0)
        batch = {"image": tf.concat([images[:4], second_half], 0), "label": labels}
        logs = model.train_step(batch)
        return logs, [w.numpy() for w in model.discriminator.trainable_weights]

    logs, d_after = step(images[4:])
    assert int(model.d_optimizer.iterations) == 2 and int(model.optimizer.iterations) == 1
    assert all(np.isfinite(float(v)) for v in logs.values())
    _, d_other = step(-images[4:])  # other images in the unused half: the same critic update
    for a, b in zip(d_after, d_other):
        np.testing.assert_array_equal(a, b)
    full, _ = _build("cgan", small)
    full.train_step({"image": images, "label": labels})
    assert int(full.d_optimizer.iterations) == 1  # ours: one critic update on the whole batch


def test_conditional_models_refuse_unlabelled_data():
    from keras_gens.errors import ConfigError

    with pytest.raises(ConfigError, match="labelled"):
        _build("bagan_gp", SMALL, classes=0)


@pytest.mark.parametrize("name", ["cgan", "bagan_gp"])
def test_fakes_are_labelled_only_with_the_classes_the_data_holds(name):
    model, cfg = _build(name, SMALL if name == "bagan_gp" else [], classes=10)
    everything = model.random_labels(4000, stream=2).numpy()
    # every class held: the draws are uniform over all ten, as they were before hold_classes existed
    draw = model.uniform_noise(4000, (), stream=2, maxval=10.0)
    np.testing.assert_array_equal(everything, np.minimum(tf.cast(draw, tf.int32).numpy(), 9))
    assert set(np.unique(everything)) == set(range(10))

    held = _labelled_source(classes=3)  # labels 0, 1, 2 of ten: a non-IID client's share
    held = dataclasses.replace(held, labels=held.labels * 3, num_classes=10)  # classes 0, 3, 6
    model.prepare(held, batch_size=8, seed=0, verbose=0, log=lambda m: None)
    drawn = model.random_labels(4000, stream=2).numpy()
    counts = np.bincount(drawn, minlength=10)
    assert set(np.flatnonzero(counts)) == {0, 3, 6}
    assert counts.min(where=counts > 0, initial=4000) > 4000 / 3 * 0.9  # uniform over the three


@pytest.mark.federated
def test_generator_gives_the_requested_count_of_each_class():
    from federated.augment import generate_per_class, shortfall

    labels = np.array([0] * 10 + [1] * 4 + [3] * 7)
    missing = shortfall(labels, 5)
    np.testing.assert_array_equal(missing, [0, 6, 0, 3, 0])  # absent classes 2 and 4 are not invented
    model, _ = _build("bagan_gp", SMALL, classes=5)
    images, generated = generate_per_class(model, missing, seed=0)
    assert images.shape == (9, 16, 16, 1)
    np.testing.assert_array_equal(np.bincount(generated, minlength=5), missing)
    assert images.min() >= 0.0 and images.max() <= 1.0


@pytest.mark.federated
def test_augmenting_a_client_trains_on_its_data_and_balances_it(tmp_path):
    from federated.augment import augment_client

    rng = np.random.default_rng(0)
    labels = np.array([0] * 30 + [1] * 12 + [2] * 6, np.int32)
    images = rng.random((len(labels), 8, 8, 1)).astype(np.float32)
    generated, generated_labels = augment_client(
        "cgan", images, labels, 3, tmp_path / "client", smoke=True,
        overrides=["train.epochs=1", "train.steps_per_epoch=3", "model.generator_units=[8, 8, 8]",
                   "model.discriminator_units=[8, 8, 8]"], log=lambda *a: None)
    assert generated.shape == (18 + 24, 8, 8, 1)
    np.testing.assert_array_equal(np.bincount(np.concatenate([labels, generated_labels])), [30, 30, 30])
    run_info = (tmp_path / "client" / "cgan" / "run.yaml").read_text()
    assert "num_examples: 48" in run_info  # the GAN saw this client's 48 images, no others
    again = augment_client("cgan", images, labels, 3, tmp_path / "client", log=lambda *a: None)
    np.testing.assert_array_equal(again[1], generated_labels)  # kept, not retrained


def test_bagan_gp_trains_through_the_runner_and_resumes_after_pretraining(tmp_path):
    from keras_gens import runner

    def settings(epochs):
        return SMALL + [f"train.epochs={epochs}", "data.image_size=8", "data.limit=64", "train.verbose=0",
                        "samples.count=9"]

    first = runner.train("bagan_gp", out=tmp_path / "run", smoke=True, overrides=settings(1), log=lambda *a: None)
    assert bool(first.model.pretrained.numpy())
    lines = []
    runner.train("bagan_gp", out=tmp_path / "run", smoke=True, overrides=settings(2), log=lines.append)
    assert any("resuming" in line for line in lines)
    assert not any("pre-training" in line for line in lines)  # the checkpoint remembered it
    assert (tmp_path / "run" / "samples" / "epoch_0002.png").is_file()


@pytest.mark.parametrize("name", ["bagan_gp", "cgan"])
def test_conditional_generators_export_with_their_class_prior(name, tmp_path):
    """The SavedModel takes (z, labels) and gives what the model gives; BAGAN's class prior travels with it."""
    from keras_gens.serving import export_model

    if name == "bagan_gp":
        model, _ = _build(name, SMALL + ["model.latent_prior=class_gaussian"])
        model.prior.means.assign(np.full(model.prior.means.shape, 0.7, np.float32))
    else:
        model, _ = _build(name, ["model.generator_units=[8, 8, 8]", "model.discriminator_units=[8, 8, 8]"])
    loaded = tf.saved_model.load(str(export_model(model, tmp_path / "export" / "1")))
    z = model.sample_latent(6, seed=3)
    labels = np.array([0, 1, 2, 0, 1, 2], np.int32)
    served = loaded.signatures["generate_float"](z=tf.constant(z), labels=tf.constant(labels))["images"].numpy()
    lo, hi = model.value_range
    expected = (model.generate(z, labels).numpy() - lo) / (hi - lo)
    np.testing.assert_allclose(served, expected, atol=1e-5)
    assert served.shape == (6, 16, 16, 1)
