"""OC-GAN's six GANs: one builder, three losses, plain or octave convolutions."""
import numpy as np
import pytest
import tensorflow as tf

from keras_gens import registry, runner, serving
from keras_gens.errors import ConfigError, UserError
from keras_gens.layers.octave import FrequencyWeights, OctaveConv2D, multiply_adds
from keras_gens.losses.adversarial import discriminator_loss, generator_loss
from keras_gens.models.base import DataInfo
from keras_gens.models.dcgan import build_dcgan_discriminator, build_dcgan_generator
from keras_gens.utils import metrics_csv
from tests.helpers import sample_in_plain_tensorflow

GANS = ("dcgan", "lsgan", "wgan", "dcgan_oct", "lsgan_oct", "wgan_oct")


def build(name, size, *overrides, channels=3):
    spec = registry.get(name)
    cfg = spec.config(overrides=list(overrides))
    return cfg, spec.build(cfg, DataInfo((size, size, channels), 0, (-1.0, 1.0)))


def network_weights(model):
    return [v.numpy() for v in model.generator.weights + model.discriminator.weights]


def test_paper_settings_of_the_six():
    for name in GANS:
        cfg = registry.get(name).config()
        assert (cfg.data.image_size, cfg.train.batch_size, cfg.train.epochs, cfg.model.latent_dim) == (128, 64, 50, 100)
        assert cfg.model.conv == ("octave" if name.endswith("_oct") else "plain")
        if name.startswith("wgan"):
            assert (cfg.model.critic_steps, cfg.model.clip_value) == (5, 0.05)
            assert dict(cfg.optimizers.generator) == {"name": "rmsprop", "learning_rate": 5e-5}
        else:
            assert cfg.model.critic_steps == 1 and cfg.model.clip_value is None
            assert dict(cfg.optimizers.discriminator) == {"name": "adam", "learning_rate": 2e-4, "beta_1": 0.5,
                                                          "beta_2": 0.999}
    assert registry.get("lsgan_oct").config().model.loss == "lsgan"


def test_readings_of_the_paper_text_and_the_authors_code():
    """model.reading: the text (Adam everywhere, one D step, all images cropped), the authors' code (wgan.sh,
    the warm-up, all images uncropped, the ocgan_code beta schedule) and ours (the sections as written)."""
    ours, paper, authors = (registry.get("wgan_oct").config(overrides=[f"model.reading={r}"])
                            for r in ("ours", "paper", "authors"))
    assert ours == registry.get("wgan_oct").config()
    assert (ours.model.critic_steps, ours.optimizers.generator.name, ours.model.critic_warmup.critic_steps,
            ours.data.split, ours.data.crop, ours.model.beta_schedule.name) == (5, "rmsprop", 0, "train", 140, "constant")
    assert (paper.model.critic_steps, dict(paper.optimizers.discriminator), paper.model.clip_value,
            paper.data.split, paper.data.crop) == (1, {"name": "adam", "learning_rate": 2e-4, "beta_1": 0.5,
                                                       "beta_2": 0.999}, 0.05, "all", 140)
    assert (authors.model.critic_steps, authors.optimizers.generator.learning_rate,
            authors.model.critic_warmup.critic_steps, authors.data.split, authors.data.crop,
            authors.model.beta_schedule.name) == (5, 5e-5, 20, "all", None, "ocgan_code")
    # The reading lies under the user's settings, and a smoke run keeps its small data.
    mixed = registry.get("wgan").config(overrides=["model.reading=paper", "model.critic_steps=2"], smoke=True)
    assert (mixed.model.critic_steps, mixed.optimizers.generator.name, mixed.data.source) == (2, "adam", "digits")
    assert registry.get("dcgan").config(overrides=["model.reading=authors"]).model.critic_warmup.critic_steps == 0
    with pytest.raises(ConfigError, match="model.reading.*ours, paper, authors"):
        registry.get("dcgan").config(overrides=["model.reading=text"])
    # A setting only the chosen reading makes valid: Adam's beta_1 where the default optimizer is RMSprop.
    tuned = registry.get("wgan").config(overrides=["optimizers.generator.beta_1=0.4", "model.reading=paper"])
    assert tuned.optimizers.generator.beta_1 == 0.4 and tuned.optimizers.generator.name == "adam"


def authors_generator_updates(steps, critic_steps, warm, first, every):
    """The warm-up's rule in plain Python: generator updates after `steps` train steps."""
    g = pending = 0
    for _ in range(steps):
        pending += critic_steps
        if pending >= (warm if g < first or (every and (g + 1) % every == 0) else critic_steps):
            g, pending = g + 1, 0
    return g


def warm_wgan(strategy=None, **warmup):
    overrides = ["model.base_filters=4", "model.critic_steps=2",
                 *[f"model.critic_warmup.{k}={v}" for k, v in warmup.items()]]
    spec = registry.get("wgan")
    cfg = spec.config(overrides=overrides)
    with (strategy or tf.distribute.get_strategy()).scope():
        return spec.build(cfg, DataInfo((32, 32, 1), 0, (-1.0, 1.0)))


def test_wgan_critic_warmup_skips_generator_updates_as_the_authors_loop_does(tmp_path):
    model = warm_wgan(critic_steps=6, generator_updates=2, every=4)
    images = tf.random.stateless_uniform((4, 32, 32, 1), seed=[1, 2], minval=-1, maxval=1)
    batch = {"image": images, "label": tf.zeros(4, tf.int32)}
    before = [v.numpy() for v in model.generator.trainable_weights]
    model.fit(tf.data.Dataset.from_tensors(batch).repeat(), epochs=1, steps_per_epoch=2, verbose=0)
    # 6 critic updates due, 4 made: the generator has not moved, the critic has.
    assert int(model.generator_updates) == 0 and int(model.pending_critic_updates) == 4
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.generator.trainable_weights))
    model.fit(tf.data.Dataset.from_tensors(batch).repeat(), epochs=1, steps_per_epoch=38, verbose=0)
    expected = authors_generator_updates(40, 2, 6, 2, 4)
    assert int(model.generator_updates) == expected == 24  # against 40 without warm-up
    assert int(model.optimizer.iterations) == expected and int(model.d_optimizer.iterations) == 80
    assert int(model.step) == 40  # the noise seeds still advance every step
    # The counters are saved with the model, so a resumed run continues the same warm-up.
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    saved = {name for name, _ in tf.train.list_variables(path)}
    assert any("generator_updates" in n for n in saved) and any("pending_critic_updates" in n for n in saved)
    with pytest.raises(ConfigError, match="model.critic_warmup.critic_steps.*multiple of model.critic_steps"):
        warm_wgan(critic_steps=5)


def test_wgan_critic_warmup_under_two_replicas(two_replicas):
    model = warm_wgan(two_replicas, critic_steps=4, generator_updates=1, every=0)
    images = tf.random.stateless_uniform((8, 32, 32, 1), seed=[3, 4], minval=-1, maxval=1)
    batch = {"image": images, "label": tf.zeros(8, tf.int32)}
    model.fit(tf.data.Dataset.from_tensors(batch).repeat(), epochs=1, steps_per_epoch=4, verbose=0)
    assert int(model.generator_updates.read_value()) == authors_generator_updates(4, 2, 4, 1, 0) == 3


@pytest.mark.parametrize("name", GANS)
@pytest.mark.parametrize("size", [64, 128])
def test_a_train_step_at_64_and_128_has_finite_losses_and_changes_both_networks(name, size):
    _, model = build(name, size)
    batch = 2 * model.batches_per_step
    images = tf.random.uniform((batch, size, size, 3), -1, 1)
    before = network_weights(model)
    logs = model.train_step({"image": images, "label": tf.zeros(batch, tf.int32)})
    assert all(np.isfinite(float(v)) for v in logs.values()), logs
    assert {"d_loss", "g_loss"} <= set(logs)
    after = network_weights(model)
    changed = [not np.allclose(a, b) for a, b in zip(before, after)]
    assert any(changed[: len(model.generator.weights)]) and any(changed[len(model.generator.weights):])
    assert model.generate(model.sample_latent(2)).shape == (2, size, size, 3)


@pytest.mark.slow  # (make test-slow) over a minute on 2 cores
def test_nearest_upsampling_equals_keras_and_every_gan_step_compiles_with_xla():
    from keras_gens.layers.octave import NearestUpSampling2D

    x = tf.random.normal((2, 3, 5, 4))
    np.testing.assert_array_equal(NearestUpSampling2D()(x), tf.keras.layers.UpSampling2D()(x))
    weights = tf.random.normal((2, 6, 10, 4))
    gradients = []
    for layer in (NearestUpSampling2D(), tf.keras.layers.UpSampling2D()):  # its own gradient: a pooled sum
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x) * weights)
        gradients.append(tape.gradient(loss, x))
    np.testing.assert_allclose(gradients[0], gradients[1], rtol=1e-6, atol=1e-6)
    for name in ("dcgan", "dcgan_oct"):  # UpSampling2D's gradient had no XLA kernel: jit_compile=true failed
        _, model = build(name, 32, "train.jit_compile=true", "model.base_filters=4", channels=1)
        batch = {"image": tf.random.uniform((4, 32, 32, 1), -1, 1), "label": tf.zeros(4, tf.int32)}
        logs = model.make_train_function()(iter(tf.data.Dataset.from_tensors(batch).repeat()))
        assert all(np.isfinite(float(v)) for v in logs.values()), name


def test_weight_clipping_holds_after_a_wgan_step():
    _, model = build("wgan_oct", 64, "model.clip_value=0.01")
    for v in model.discriminator.trainable_variables:  # far outside the clip range before the step
        v.assign(tf.ones_like(v) * 0.5)
    model.train_step({"image": tf.random.uniform((10, 64, 64, 3), -1, 1), "label": tf.zeros(10, tf.int32)})
    assert max(float(tf.reduce_max(tf.abs(v))) for v in model.discriminator.trainable_variables) <= 0.01 + 1e-7


def test_losses_on_known_outputs():
    real, fake = tf.constant([2.0, -1.0]), tf.constant([0.0, 3.0])
    np.testing.assert_allclose(discriminator_loss("lsgan", real, fake), [1.0 + 0.0, 4.0 + 9.0])
    np.testing.assert_allclose(generator_loss("lsgan", fake), [1.0, 4.0])
    np.testing.assert_allclose(discriminator_loss("wgan", real, fake), [-2.0, 4.0])
    np.testing.assert_allclose(generator_loss("wgan", fake), [0.0, -3.0])
    softplus = np.log1p(np.exp([-2.0, 1.0])) + np.log1p(np.exp([0.0, 3.0]))  # −log σ(r) − log(1 − σ(f))
    np.testing.assert_allclose(discriminator_loss("gan", real, fake), softplus, rtol=1e-6)
    np.testing.assert_allclose(generator_loss("gan", fake), np.log1p(np.exp([0.0, -3.0])), rtol=1e-6)


def test_octave_networks_keep_the_parameters_and_cut_the_multiply_adds():
    shape = (128, 128, 3)
    plain_g, octave_g = (build_dcgan_generator(shape, conv=kind) for kind in ("plain", "octave"))
    plain_d, octave_d = (build_dcgan_discriminator(shape, conv=kind) for kind in ("plain", "octave"))
    # The four octave kernels partition the plain kernel: the same trainable weights.
    for plain, octave in ((plain_g, octave_g), (plain_d, octave_d)):
        trainable = [sum(int(np.prod(v.shape)) for v in m.trainable_weights) for m in (plain, octave)]
        assert trainable[0] == trainable[1]
    # A hidden octave layer at α = 0.5 costs (1−α)² + (2α(1−α) + α²)/4 = 0.4375 of the plain one.
    layer = octave_g.get_layer("conv2")
    plain_layer = plain_g.get_layer("conv2")
    h, w = plain_layer.output.shape[1:3]
    plain_macs = h * w * 9 * plain_layer.kernel.shape[-2] * plain_layer.filters
    assert isinstance(layer, OctaveConv2D)
    assert layer.multiply_adds((h, w)) / plain_macs == pytest.approx(0.4375, rel=1e-3)
    # Whole generator: the first and last layers keep full-resolution paths, so the saving is smaller.
    g_ratio = multiply_adds(octave_g) / multiply_adds(plain_g)
    assert 0.4375 < g_ratio < 0.7
    # The plain D strides by convolution, the octave one pools first: still cheaper.
    assert multiply_adds(octave_d) < 0.7 * multiply_adds(plain_d)


def test_generator_and_discriminator_shapes_for_the_paper_size():
    g = build_dcgan_generator((128, 128, 3), conv="octave")
    d = build_dcgan_discriminator((128, 128, 3), conv="octave")
    assert g.output_shape == (None, 128, 128, 3) and d.output_shape == (None, 1)
    assert g.get_layer("reshape").output_shape == (None, 4, 4, 512)
    assert [d.get_layer(f"conv{i}").filters for i in range(1, 6)] == [32, 64, 128, 256, 512]
    assert len([m for m in g.submodules if isinstance(m, FrequencyWeights)]) == 4
    with pytest.raises(ConfigError, match="4·2\\^k"):
        build_dcgan_generator((96, 96, 3))
    with pytest.raises(ConfigError, match="plain, octave"):
        build_dcgan_generator((64, 64, 3), conv="wavelet")


def test_transposed_upsampling_alternative():
    g = build_dcgan_generator((64, 64, 3), conv="octave", upsampling="transpose")
    assert g(tf.zeros((2, 100))).shape == (2, 64, 64, 3)


def test_variant_configs_extend_their_base():
    cfg = registry.get("wgan_oct").config(overrides=["model.beta_schedule.name=ramp"])
    assert (cfg.model.loss, cfg.model.conv, cfg.model.critic_steps) == ("wgan", "octave", 5)
    assert cfg.model.beta_schedule.name == "ramp" and cfg.model.beta_schedule.end is None  # ramp's own: 1.0
    with pytest.raises(ConfigError, match="model.conv"):
        registry.get("dcgan").config(overrides=["model.conv=wavelet"])


def test_wgan_runs_consume_critic_steps_batches_and_record_the_beta_schedule(tmp_path):
    run_dir = tmp_path / "run"
    result = runner.train("wgan_oct", smoke=True, out=run_dir, log=lambda *_: None,
                          overrides=["train.epochs=2", "train.verbose=0", "data.limit=320", "train.batch_size=16",
                                     "model.base_filters=4", "model.beta_schedule.name=ocgan_code"])
    rows = metrics_csv.read_rows(run_dir / "metrics.csv")
    # 320 images / (16 × 5 critic batches) = 4 generator steps per epoch
    assert [int(r["step"]) for r in rows] == [4, 8]
    assert [float(r["beta_high"]) for r in rows] == pytest.approx([0.7, 0.7])  # f = 0.5 → 0.7; f = 1 → 0.7
    assert (run_dir / "figures" / "beta_schedule.png").stat().st_size > 1000
    layer = [m for m in result.model.generator.submodules if isinstance(m, FrequencyWeights)][0]
    assert float(layer.beta_high) == pytest.approx(0.7) and float(layer.beta_low) == pytest.approx(0.3)


def test_all_six_generators_export_and_load_with_tensorflow_alone(tmp_path):
    paths = []
    for name in GANS:
        _, model = build(name, 32, "model.base_filters=4", channels=1)
        paths.append(serving.export_model(model, tmp_path / name))
    result = sample_in_plain_tensorflow(paths, cwd=tmp_path)
    assert result["project"] == []
    assert all(shape == ["uint8", 2, 32, 32, 1] for shape in result["shapes"].values()), result


def test_experiment_sets():
    from keras_gens.experiments.ocgan import plan

    assert [label for label, _, _ in plan("pair", ["wgan"])] == ["wgan", "wgan_oct"]
    assert [model for _, model, _ in plan("all", ["dcgan"])] == list(GANS[:1]) + ["dcgan_oct", "lsgan", "lsgan_oct",
                                                                                   "wgan", "wgan_oct"]
    paper = plan("paper", ["lsgan"])
    assert [label for label, _, _ in paper] == ["lsgan", "lsgan_OCT", "lsgan_LOW", "lsgan_RAMP", "lsgan_COMBI"]
    assert paper[2][2] == ["model.alpha=0.99"] and paper[2][1] == "lsgan_oct"
    with pytest.raises(UserError, match="unknown base"):
        plan("pair", ["stylegan"])


def test_experiment_trains_with_one_budget_and_draws_the_comparison(tmp_path):
    from keras_gens.experiments.ocgan import experiment

    rows = experiment("pair", ["dcgan"], out=tmp_path, smoke=True, metric="sharpness", samples=16,
                      overrides=["train.epochs=2", "train.verbose=0", "data.limit=128", "model.base_filters=4"],
                      log=lambda *_: None)
    assert [r["run"] for r in rows] == ["dcgan", "dcgan_oct"]
    assert all(r["epochs"] == 2 and r["final_sharpness"] > 0 for r in rows)
    assert (tmp_path / "sharpness_comparison.png").stat().st_size > 1000
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["epoch_0001.png", "epoch_0002.png"]
    from matplotlib.image import imread

    sheet, grid = imread(tmp_path / "samples" / "epoch_0002.png"), imread(tmp_path / "dcgan" / "samples" / "epoch_0002.png")
    assert sheet.shape[1] >= 2 * 2 * grid.shape[1] and sheet.shape[1] >= 800  # each run's grid at 2x, legible
    assert "| dcgan_oct | dcgan_oct |" in (tmp_path / "comparison.md").read_text()
    configs = [(tmp_path / name / "config.yaml").read_text() for name in ("dcgan", "dcgan_oct")]
    assert all("seed: 0" in c and "epochs: 2" in c for c in configs)
    assert all("every: 1" in c.split("eval:")[1].split("\n\n")[0] for c in configs)  # sharpness: every epoch
