"""PE-GAN's layers, losses and networks, and its WGAN-GP baseline (seed 004)."""
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from keras_gens.layers.attention import SelfAttention2D
from keras_gens.layers.biggan import DiscriminatorBlock, GeneratorBlock
from keras_gens.layers.normalization import ConditionalBatchNorm
from keras_gens.layers.spectral import SNConv2D, SNDense, largest_singular_value
from keras_gens.losses.adversarial import discriminator_loss, generator_loss
from keras_gens.losses.consistency import consistency_loss, flip_and_shift
from keras_gens.losses.contrastive import conditional_contrastive_loss


def test_conditional_batch_norm_depends_on_the_label_and_is_plain_bn_without_one():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(3.0, 2.0, (6, 4, 4, 8)), tf.float32)
    layer = ConditionalBatchNorm()
    embedding = tf.keras.layers.Embedding(5, 12)
    a = layer([x, embedding(tf.constant([0] * 6))], training=True)
    b = layer([x, embedding(tf.constant([3] * 6))], training=True)
    assert np.abs(a.numpy() - b.numpy()).max() > 1e-3
    plain = layer([x, tf.zeros([6, 12])], training=True).numpy()
    np.testing.assert_allclose(plain.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(plain.std(axis=(0, 1, 2)), 1.0, atol=1e-2)


@pytest.mark.parametrize("layer, inputs", [(SNDense(24), (5, 40)), (SNConv2D(12, 3), (2, 8, 8, 6))])
def test_spectral_norm_brings_the_largest_singular_value_to_one(layer, inputs):
    x = tf.random.normal(inputs, seed=1)
    layer(x)
    layer.kernel.assign(layer.kernel * 5.0)  # far from 1 before normalization
    assert largest_singular_value(layer.kernel.numpy()) > 2.0
    for _ in range(30):  # each training call is one power iteration on the persistent u
        layer(x, training=True)
    normalized = layer.normalized(layer.kernel, training=False).numpy()
    exact = np.linalg.svd(normalized.reshape(-1, normalized.shape[-1]), compute_uv=False)[0]
    assert exact == pytest.approx(1.0, abs=1e-3)
    assert largest_singular_value(normalized) == pytest.approx(exact, rel=1e-4)


@pytest.mark.parametrize("filters,kernel", [(1, 3), (2, 3), (1, 5)])
def test_a_narrow_convolution_computed_by_shifted_taps_equals_conv2d(filters, kernel):
    """SNConv2D to <= 2 channels (PE-GAN's to_image) sums shifted matmul taps instead of calling conv2d."""
    from keras_gens.layers.spectral import shifted_taps_conv

    x = tf.random.normal((2, 6, 10, 5), seed=1)
    weights = tf.random.normal((kernel, kernel, 5, filters), seed=2)
    expected = tf.nn.conv2d(x, weights, 1, "SAME")
    np.testing.assert_allclose(shifted_taps_conv(x, weights), expected, rtol=1e-5, atol=1e-5)
    layer = SNConv2D(filters, kernel)
    assert layer(x).shape == (2, 6, 10, filters) and layer._narrow()
    normalized = layer.normalized(layer.kernel, False)
    np.testing.assert_allclose(layer(x), tf.nn.conv2d(x, normalized, 1, "SAME") + layer.bias, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer(x, training=True), tf.nn.conv2d(x, layer.normalized(layer.kernel, False), 1,
                                                                      "SAME") + layer.bias, rtol=1e-4, atol=1e-4)
    gradients = []
    for conv in (shifted_taps_conv, lambda a, b: tf.nn.conv2d(a, b, 1, "SAME")):  # the gradients too
        with tf.GradientTape() as tape:
            tape.watch([x, weights])
            loss = tf.reduce_sum(tf.square(conv(x, weights)))
        gradients.append(tape.gradient(loss, [x, weights]))
    for ours, reference in zip(*gradients):
        np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4)
    assert not SNConv2D(3, 3)._narrow() and not SNConv2D(1, 3, strides=2)._narrow()


def test_self_attention_is_the_identity_at_initialisation_and_not_after():
    x = tf.random.normal([2, 8, 12, 16], seed=2)
    layer = SelfAttention2D()
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())
    layer.gamma.assign(1.0)
    assert np.abs(layer(x).numpy() - x.numpy()).max() > 1e-4


def test_biggan_deep_blocks_change_size_and_width_as_table_1_says():
    x = tf.random.normal([2, 4, 12, 32])
    condition = tf.random.normal([2, 20])
    up = GeneratorBlock(16, upsample=True)([x, condition])
    same = GeneratorBlock(32, upsample=False)([x, condition])
    assert up.shape == (2, 8, 24, 16) and same.shape == (2, 4, 12, 32)
    down = DiscriminatorBlock(64, downsample=True)(x)
    keep = DiscriminatorBlock(32, downsample=False)(x)
    assert down.shape == (2, 2, 6, 64) and keep.shape == (2, 4, 12, 32)
    with pytest.raises(ValueError, match="narrows"):
        GeneratorBlock(64, upsample=True)([x, condition])


def _contrastive_by_hand(h, a, labels, t):
    h = h / np.linalg.norm(h, axis=1, keepdims=True)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    losses = []
    for i in range(len(h)):
        anchor = np.exp(h[i] @ a[i] / t)
        same = sum(np.exp(h[i] @ h[k] / t) for k in range(len(h)) if k != i and labels[k] == labels[i])
        every = sum(np.exp(h[i] @ h[k] / t) for k in range(len(h)) if k != i)
        losses.append(-np.log((anchor + same) / (anchor + every)))
    return np.array(losses)


def test_two_c_loss_matches_the_formula_and_ignores_the_embeddings_scale():
    h = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, -2.0], [-1.0, 1.0]])
    a = np.array([[2.0, 0.5], [1.0, 1.0], [0.3, -1.0], [0.2, 0.1]])
    labels = np.array([0, 0, 1, 2])
    for t in (1.0, 0.5):
        got = conditional_contrastive_loss(tf.constant(h), tf.constant(a), tf.constant(labels), t).numpy()
        np.testing.assert_allclose(got, _contrastive_by_hand(h, a, labels, t), rtol=1e-5)
    scaled = conditional_contrastive_loss(tf.constant(7 * h), tf.constant(0.1 * a), tf.constant(labels)).numpy()
    np.testing.assert_allclose(scaled, _contrastive_by_hand(h, a, labels, 1.0), rtol=1e-5)


def test_hinge_losses_on_known_scores():
    real, fake = tf.constant([2.0, 0.5, -1.0]), tf.constant([-2.0, 0.0, 1.5])
    np.testing.assert_allclose(discriminator_loss("hinge", real, fake).numpy(), [0.0, 1.5, 4.5])
    np.testing.assert_allclose(generator_loss("hinge", fake).numpy(), [2.0, 0.0, -1.5])


def test_consistency_loss_is_zero_for_a_discriminator_blind_to_the_augmentation():
    from keras_gens.models.pegan import build_pegan_discriminator

    discriminator = build_pegan_discriminator((16, 48, 1), ch=8, channels=(1, 2, 2), blocks_per_stage=(1, 1),
                                              embed_dim=8)
    # Constant images are unchanged by flips and reflect-padded shifts: any D scores them alike.
    flat = tf.constant(np.linspace(-1, 1, 4).reshape(4, 1, 1, 1) * np.ones((4, 16, 48, 1)), tf.float32)
    draws = tf.random.stateless_uniform([4, 3], seed=[3, 4])
    augmented = flip_and_shift(flat, draws)
    score, embedding = discriminator(flat)
    aug_score, aug_embedding = discriminator(augmented)
    np.testing.assert_allclose(consistency_loss(score, aug_score, embedding, aug_embedding).numpy(), 0.0, atol=1e-8)
    # A structured image is moved, and a D that looks at the left half notices.
    ramp = tf.constant(np.tile(np.linspace(-1, 1, 48), (4, 16, 1))[..., None], tf.float32)
    moved = flip_and_shift(ramp, draws)
    assert moved.shape == ramp.shape and not np.allclose(moved.numpy(), ramp.numpy())

    def left(x):
        return tf.reduce_mean(x[:, :, :24], axis=[1, 2, 3])

    assert consistency_loss(left(ramp), left(moved)).numpy().max() > 1e-3


def test_consistency_loss_on_normalised_embeddings_ignores_their_length():
    rng = np.random.default_rng(0)
    scores, aug_scores = rng.normal(size=(5, 1)), rng.normal(size=(5, 1))
    h, h_aug = rng.normal(size=(5, 8)), rng.normal(size=(5, 8))
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    expected = ((scores - aug_scores) ** 2).sum(1) + ((unit(h) - unit(h_aug)) ** 2).mean(1)
    got = consistency_loss(scores, aug_scores, h, h_aug, normalize_embeddings=True).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # a longer embedding in the same direction costs nothing once normalised, and its length otherwise
    assert consistency_loss(scores, scores, h, 3 * h, normalize_embeddings=True).numpy().max() < 1e-10
    np.testing.assert_allclose(consistency_loss(scores, scores, h, 3 * h).numpy(), (4 * h ** 2).mean(1), rtol=1e-5)


def test_flip_and_shift_moves_by_the_drawn_amounts():
    image = tf.reshape(tf.range(16 * 48, dtype=tf.float32), [1, 16, 48, 1])
    unmoved = flip_and_shift(image, tf.constant([[0.9, 0.5, 0.5]]))  # no flip, centred crop of the padding
    np.testing.assert_array_equal(unmoved.numpy(), image.numpy())
    flipped = flip_and_shift(image, tf.constant([[0.1, 0.5, 0.5]]))
    np.testing.assert_array_equal(flipped.numpy(), image.numpy()[:, :, ::-1])
    shifted = flip_and_shift(image, tf.constant([[0.9, 0.5, 0.999]]))  # the largest shift left: 6 columns
    np.testing.assert_array_equal(shifted.numpy()[0, :, :42, 0], image.numpy()[0, :, 6:, 0])


def test_pe_gan_networks_at_the_papers_size():
    from keras_gens.models.pegan import build_pegan_discriminator, build_pegan_generator

    generator = build_pegan_generator((256, 768, 1), 40)
    assert generator.output_shape == (None, 256, 768, 1)
    assert generator.get_layer("reshape").output_shape == (None, 4, 12, 16 * 32)
    assert generator.get_layer("attention4").output_shape == (None, 64, 192, 4 * 32)
    assert generator.get_layer("condition").output_shape == (None, 128 + 128)
    discriminator = build_pegan_discriminator((256, 768, 1))
    assert discriminator.output_shape == [(None, 1), (None, 1024)]
    assert discriminator.get_layer("block6_2").output_shape == (None, 4, 12, 16 * 32)
    assert discriminator.get_layer("sum_pool").output_shape == (None, 512)


def test_pe_gan_networks_at_a_small_size_run():
    from keras_gens.models.pegan import build_pegan_discriminator, build_pegan_generator

    generator = build_pegan_generator((32, 96, 1), 40, latent_dim=16, embed_dim=8, ch=8, channels=(4, 2, 1, 1),
                                      attention_stage=2)
    images = generator([tf.random.normal([3, 16]), tf.constant([0, 5, 39])])
    assert images.shape == (3, 32, 96, 1) and np.abs(images.numpy()).max() <= 1.0
    score, embedding = build_pegan_discriminator((32, 96, 1), ch=8, channels=(1, 2, 4, 4),
                                                 blocks_per_stage=(1, 2, 2), embed_dim=64)(images)
    assert score.shape == (3, 1) and embedding.shape == (3, 64)


def test_a_bfloat16_generator_with_the_same_weights_stays_close_to_float32():
    """What `export --precision mixed_bfloat16` serves: the float32 weights computed in bfloat16."""
    from keras_gens.models.pegan import build_pegan_generator
    from keras_gens.run_dirs import precision

    def build():
        return build_pegan_generator((32, 96, 1), 40, latent_dim=16, embed_dim=8, ch=8, channels=(4, 2, 1, 1),
                                     attention_stage=2)

    full = build()
    with precision("mixed_bfloat16"):
        half = build()
    half.set_weights(full.get_weights())
    inputs = [tf.random.normal([6, 16], seed=5), tf.constant([0, 3, 9, 17, 30, 39])]
    reference, reduced = full(inputs).numpy(), half(inputs).numpy()
    assert half.get_layer("block1_1").compute_dtype == "bfloat16" and reduced.dtype == np.float32
    assert np.abs(reference - reduced).mean() < 0.02 and np.abs(reference - reduced).max() < 0.2


def test_relational_anchors_differ_per_class_and_follow_the_prior():
    from keras_gens.models.hitmaps import standardized_prior
    from keras_gens.models.pegan import RelationalEmbedding

    prior = np.linspace(0.002, 0.02, 40)
    layer = RelationalEmbedding(40, standardized_prior(prior, 40), dim=32)
    anchors = layer.anchors().numpy()
    assert anchors.shape == (40, 32)
    assert np.linalg.norm(anchors[0] - anchors[1]) > 1e-3
    np.testing.assert_allclose(standardized_prior(prior, 40).std(), 1.0, rtol=1e-5)
    layer.prior.assign(layer.prior[::-1])
    assert np.abs(layer.anchors().numpy() - anchors).max() > 1e-4


def test_contrastive_training_pulls_same_sensor_embeddings_to_their_anchors():
    """The 2C loss through the relational anchors trains: a linear embedding of class-dependent features."""
    from keras_gens.models.hitmaps import standardized_prior
    from keras_gens.models.pegan import RelationalEmbedding

    tf.keras.utils.set_random_seed(0)  # the layers' initial weights
    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(8), 4)
    centres = rng.normal(size=(8, 12))
    features = tf.constant(centres[labels] + 0.3 * rng.normal(size=(32, 12)), tf.float32)
    relational = RelationalEmbedding(8, standardized_prior(np.linspace(0.001, 0.01, 8), 8), dim=16)
    embed = tf.keras.layers.Dense(16)
    optimizer = tf.keras.optimizers.Adam(1e-2)

    def loss():
        anchors = tf.gather(relational.anchors(training=True), labels)
        return tf.reduce_mean(conditional_contrastive_loss(embed(features), anchors, tf.constant(labels), 0.5))

    first = float(loss())
    for _ in range(150):
        with tf.GradientTape() as tape:
            value = loss()
        variables = embed.trainable_variables + relational.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(value, variables), variables))
    # With 8 classes in 16 dimensions the best arrangement (a simplex) leaves about 0.54 at t = 0.5.
    assert float(loss()) < 0.6 * first, (first, float(loss()))
    h = tf.math.l2_normalize(embed(features), axis=1).numpy()
    cosine = h @ h.T
    same = labels[:, None] == labels[None, :]
    assert cosine[same & ~np.eye(32, dtype=bool)].mean() > 0.9 > 0.1 > cosine[~same].mean()


def _small_model(name, **overrides):
    from keras_gens import registry
    from keras_gens.models.base import DataInfo

    spec = registry.get(name)
    cfg = spec.config(smoke=True, overrides=[f"{k}={v}" for k, v in overrides.items()])
    prior = tuple(np.linspace(0.001, 0.01, 40))
    return spec.build(cfg, DataInfo((32, 96, 1), 40, (-1.0, 1.0), prior))


@pytest.mark.slow  # (make test-slow) 40 s on 2 cores, most of it the export; test_pxd exports a PE-GAN too
def test_generator_prior_joins_the_conditioning_as_the_text_reads(tmp_path):
    """model.generator_prior: Table 1's generator takes Embed(y) and z; the text's also the sensor's
    mean occupancy, projected, a constant that the exported generator carries."""
    from keras_gens import serving
    from keras_gens.models.hitmaps import standardized_prior

    table_1 = _small_model("pe_gan")
    text = _small_model("pe_gan", **{"model.generator_prior": "true"})
    names = {layer.name for layer in text.generator.layers} - {layer.name for layer in table_1.generator.layers}
    assert names == {"prior", "prior_projection"}
    assert table_1.generator.get_layer("condition").output.shape[-1] + 32 == \
        text.generator.get_layer("condition").output.shape[-1]  # + the projection: embed_dim, 32 at smoke size
    stored = text.generator.get_layer("prior").embeddings.numpy()[:, 0]
    np.testing.assert_allclose(stored, standardized_prior(np.linspace(0.001, 0.01, 40), 40), rtol=1e-6)
    assert not text.generator.get_layer("prior").trainable_weights
    # Two sensors with the same embedding and noise differ only by their occupancy.
    shared = text.generator.get_layer("shared")
    shared.embeddings.assign(tf.zeros_like(shared.embeddings))
    z = tf.random.stateless_normal([2, text.latent_dim], seed=[0, 1])
    z = tf.stack([z[0], z[0]])
    images = text.generator([z, tf.constant([0, 39])], training=False).numpy()
    assert np.abs(images[0] - images[1]).max() > 1e-4
    path = serving.export_model(text, tmp_path / "export")
    assert path.is_dir()


@pytest.mark.parametrize("name", ["pe_gan", "wgan_gp_cond"])
def test_a_train_step_gives_finite_losses_and_moves_both_networks(name):
    model = _small_model(name)
    n = 4 * model.batches_per_step
    batch = {"image": tf.random.uniform([n, 32, 96, 1], -1, 1), "label": tf.constant(np.arange(n) % 40, tf.int32)}
    g_before = [w.numpy().copy() for w in model.generator.trainable_weights]
    d_before = [w.numpy().copy() for w in model.discriminator.trainable_weights]
    logs = model.train_step(batch)
    assert all(np.isfinite(float(v)) for v in logs.values()), logs
    assert any(not np.allclose(a, w.numpy()) for a, w in zip(g_before, model.generator.trainable_weights))
    assert any(not np.allclose(a, w.numpy()) for a, w in zip(d_before, model.discriminator.trainable_weights))
    if name == "pe_gan":
        assert {"contrastive", "consistency"} <= set(logs)


def test_singular_value_monitor_flags_a_jump_in_the_generator(tmp_path):
    from keras_gens.models.hitmaps import SingularValues

    generator = tf.keras.Sequential([tf.keras.layers.Dense(8, input_shape=(4,)), tf.keras.layers.Dense(3)])
    discriminator = tf.keras.Sequential([tf.keras.layers.Dense(5, input_shape=(3,))])
    messages = []
    monitor = SingularValues(tmp_path, {"generator": generator, "discriminator": discriminator}, jump=2.0,
                             log=messages.append)
    monitor.record(1)
    first = dict(monitor._last)
    for name, sigma in first.items():
        assert sigma == pytest.approx(np.linalg.svd(
            next(w for n, w in ((n, w) for _, n, w in monitor.matrices()) if n == name).numpy(),
            compute_uv=False)[0], rel=1e-4)
    monitor.record(2)
    assert not monitor.collapses
    generator.layers[0].kernel.assign(generator.layers[0].kernel * 3.0)
    discriminator.layers[0].kernel.assign(discriminator.layers[0].kernel * 0.9)
    monitor.record(3)
    assert len(monitor.collapses) == 1 and "generator" in monitor.collapses[0]
    rows = (tmp_path / "singular_values.csv").read_text().splitlines()
    assert rows[0] == "step,network,layer,sigma" and len(rows) == 1 + 3 * 3
    assert (tmp_path / "collapse.txt").is_file()


@pytest.mark.slow  # (make test-slow) over a minute on 2 cores
def test_pe_gan_trains_on_two_replicas(two_replicas):
    """Spectral norm's u, the 2C loss and the consistency draws under MirroredStrategy."""
    from keras_gens import registry
    from keras_gens.models.base import DataInfo
    from keras_gens.runner import group_for_replicas

    spec = registry.get("pe_gan")
    # Two stages, one block each, one D step: the graph is built once per replica, so keep it small.
    cfg = spec.config(smoke=True, overrides=["model.g_blocks_per_stage=1", "model.g_channels=[2, 1, 1]",
                                             "model.g_attention_stage=1", "model.d_channels=[1, 2, 2]",
                                             "model.d_blocks_per_stage=[1, 1]", "model.d_steps=1"])
    with two_replicas.scope():
        model = spec.build(cfg, DataInfo((16, 48, 1), 40, (-1.0, 1.0), tuple(np.linspace(0.001, 0.01, 40))))
    n = 8 * model.batches_per_step
    batch = {"image": tf.random.uniform([n, 16, 48, 1], -1, 1, seed=3),
             "label": tf.constant(np.arange(n) % 5, tf.int32)}
    u = next(v for v in model.discriminator.weights if "sn_u" in v.name)
    before = u.numpy().copy()
    ds = group_for_replicas(tf.data.Dataset.from_tensors(batch), model.batches_per_step, 2)
    logs = model.fit(ds, epochs=1, steps_per_epoch=1, verbose=0).history
    assert all(np.isfinite(v[0]) for v in logs.values()), logs
    copies = [c.numpy() for c in u.values]
    assert len(copies) == 2 and not np.allclose(copies[0], before)
    np.testing.assert_allclose(copies[0], copies[1])


def test_singular_values_measured_after_the_checkpoint_are_dropped_on_resume(tmp_path):
    from keras_gens.models.hitmaps import SingularValues

    rows = [f"{step},generator,000:linear/kernel,{1 + step / 10}" for step in range(1, 6)]
    (tmp_path / "singular_values.csv").write_text("step,network,layer,sigma\n" + "\n".join(rows) + "\n")
    monitor = SingularValues(tmp_path, {})
    monitor.set_model(SimpleNamespace(step=tf.Variable(3, dtype=tf.int64)))
    monitor.on_train_begin()
    kept = (tmp_path / "singular_values.csv").read_text().splitlines()
    assert kept == ["step,network,layer,sigma", *rows[:3]]


def test_an_epoch_resumed_within_it_counts_the_singular_values_measured_before_the_stop(tmp_path):
    """metrics.csv's sigma_<network> is the epoch's largest: a run resumed 7 steps into epoch 2 (of 10
    steps) keeps the measurements of steps 11-17 from before it was stopped, not those of epoch 1."""
    from keras_gens.models.hitmaps import SingularValues

    rows = [f"{step},generator,000:linear/kernel,{sigma}" for step, sigma in [(5, 9.0), (10, 1.0), (15, 4.0)]]
    (tmp_path / "singular_values.csv").write_text("step,network,layer,sigma\n" + "\n".join(rows) + "\n")
    monitor = SingularValues(tmp_path, {}, every=5)
    monitor.set_model(SimpleNamespace(step=tf.Variable(17, dtype=tf.int64)))
    monitor.set_params({"steps": 10, "epochs": 3})
    monitor.on_train_begin()
    monitor.on_epoch_begin(1)
    assert monitor._epoch_max == {"generator": 4.0}
    monitor.model.step.assign(20)
    monitor.on_epoch_begin(2)  # an epoch begun at its start has measured nothing yet
    assert monitor._epoch_max == {}


@pytest.mark.parametrize("steps_per_call,expected", [(1, [3, 6]), (2, [4, 6]), (4, [4, 8])])
def test_singular_values_are_measured_every_n_steps_when_callbacks_see_every_kth(tmp_path, steps_per_call, expected):
    """train.steps_per_execution=k: batch callbacks run every k steps, and none of the measurements is lost."""
    from keras_gens.models.hitmaps import SingularValues

    generator = tf.keras.Sequential([tf.keras.layers.Dense(3, input_shape=(2,))])
    monitor = SingularValues(tmp_path, {"generator": generator}, every=3, log=lambda *a: None)
    step = tf.Variable(0, dtype=tf.int64)
    monitor.set_model(SimpleNamespace(step=step))
    monitor.on_train_begin()
    for _ in range(8 // steps_per_call if steps_per_call > 1 else 6):
        step.assign_add(steps_per_call)
        monitor.on_train_batch_end(0)
    rows = (tmp_path / "singular_values.csv").read_text().splitlines()[1:]
    assert sorted({int(row.split(",")[0]) for row in rows}) == expected
