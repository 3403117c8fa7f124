"""Configs: layering, overrides, and errors that name the key or file and the valid choices."""
import pytest

from keras_gens import config as config_lib
from keras_gens import registry
from keras_gens.errors import ConfigError


def vae_config(**kwargs):
    return registry.get("vae").config(**kwargs)


def test_paper_defaults_come_from_the_thesis():
    cfg = vae_config()
    assert cfg.data.image_size == 128 and cfg.data.channels == 3
    assert cfg.model.latent_dim == 512
    assert cfg.model.encoder_filters == [32, 64, 128, 256, 512]
    assert cfg.model.decoder_filters == [256, 128, 64, 32, 16]
    assert cfg.optimizer.learning_rate == pytest.approx(1e-3)  # written 1e-3 in YAML: a float, not a string
    assert cfg.optimizer.beta_1 == 0.5
    assert cfg.train.epochs == 100


def test_overrides_parse_yaml_values_and_nested_keys():
    cfg = vae_config(overrides=["train.epochs=2", "optimizer.learning_rate=2e-4", "model.encoder_filters=[8, 16]",
                                "data.image_size=[64, 32]", "train.jit_compile=true"])
    assert cfg.train.epochs == 2
    assert cfg.optimizer.learning_rate == pytest.approx(2e-4)
    assert cfg.model.encoder_filters == [8, 16]
    assert cfg.data.image_size == [64, 32]
    assert cfg.train.jit_compile is True
    # An int where a float is expected is promoted.
    assert vae_config(overrides=["model.kl_weight=2"]).model.kl_weight == 2.0


def test_smoke_overlay_then_user_overrides():
    cfg = vae_config(smoke=True, overrides=["train.epochs=5"])
    assert cfg.data.source == "digits" and cfg.data.image_size == 32
    assert cfg.train.epochs == 5
    assert "smoke" not in cfg


def test_unknown_key_names_the_key_a_suggestion_and_the_valid_keys():
    with pytest.raises(ConfigError) as err:
        vae_config(overrides=["model.latnt_dim=3"])
    msg = str(err.value)
    assert "model.latnt_dim" in msg and "Did you mean 'model.latent_dim'" in msg and "encoder_filters" in msg


def test_unknown_section_and_value_not_a_section():
    with pytest.raises(ConfigError, match="unknown config key 'modle'"):
        vae_config(overrides=["modle.latent_dim=3"])
    with pytest.raises(ConfigError, match="'train.epochs' is a value, not a section"):
        vae_config(overrides=["train.epochs.x=3"])


@pytest.mark.parametrize("override, expected", [
    ("train.epochs=two", "'train.epochs' must be an integer"),
    ("train.epochs=2.5", "'train.epochs' must be an integer"),
    ("optimizer.learning_rate=fast", "'optimizer.learning_rate' must be a number"),
    ("train.jit_compile=maybe", "'train.jit_compile' must be true or false"),
    ("model.encoder_filters=8", "'model.encoder_filters' must be a list"),
    ("model.encoder_filters=[8, x]", r"'model.encoder_filters\[1\]' must be an integer"),
    ("data.image_size=[1, 2, 3]", "'data.image_size' must be a positive integer or"),
    ("train.epochs", "must look like key=value"),
])
def test_wrong_types_are_rejected_with_the_key(override, expected):
    with pytest.raises(ConfigError, match=expected):
        vae_config(overrides=[override])


def test_choices_are_listed():
    with pytest.raises(ConfigError) as err:
        vae_config(overrides=["train.distribute=tpu"])
    assert "'train.distribute' must be one of auto, mirrored, multiworker, none" in str(err.value)
    with pytest.raises(ConfigError, match="data.channels"):
        vae_config(overrides=["data.channels=2"])


def test_extra_scores_are_a_list_of_feature_metrics_beside_fid_or_kid():
    cfg = vae_config(overrides=["eval.metric=fid", "eval.also=[precision_recall, density_coverage]"])
    assert list(cfg.eval.also) == ["precision_recall", "density_coverage"]
    with pytest.raises(ConfigError, match="'eval.also' must be a list of distinct entries from kid, precision_recall"):
        vae_config(overrides=["eval.metric=fid", "eval.also=[recall]"])
    with pytest.raises(ConfigError, match="'eval.also' must be a list"):
        vae_config(overrides=["eval.metric=fid", "eval.also=[kid, kid]"])
    with pytest.raises(ConfigError, match="set eval.metric=fid or kid"):
        vae_config(overrides=["eval.metric=sharpness", "eval.also=[kid]"])
    with pytest.raises(ConfigError, match="'eval.precision' must be one of float32, bfloat16"):
        vae_config(overrides=["eval.precision=float16"])


def test_user_config_file_is_checked_like_overrides(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("train:\n  epochs: 7\nmodel:\n  latent_dim: 64\n")
    cfg = vae_config(user_file=good, overrides=["train.epochs=8"])
    assert cfg.model.latent_dim == 64 and cfg.train.epochs == 8  # command line wins over the file

    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochz: 7\n")
    with pytest.raises(ConfigError, match=rf"{bad}: unknown config key 'train.epochz'"):
        vae_config(user_file=bad)

    with pytest.raises(ConfigError, match="config file not found: .*missing.yaml"):
        vae_config(user_file=tmp_path / "missing.yaml")

    broken = tmp_path / "broken.yaml"
    broken.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        vae_config(user_file=broken)


def test_unknown_model_suggests_a_name():
    with pytest.raises(ConfigError, match="unknown model 'vea'. Did you mean 'vae'"):
        registry.get("vea")


def test_resolved_config_round_trips_through_yaml(tmp_path):
    cfg = vae_config(smoke=True)
    config_lib.save(cfg, tmp_path / "config.yaml")
    again = config_lib.load_yaml(tmp_path / "config.yaml")
    assert again == cfg.to_dict()
    assert config_lib.diff(again, vae_config(smoke=True, overrides=["train.epochs=3"]).to_dict()) == [
        "train.epochs: 10 -> 3"]


@pytest.mark.parametrize("override, message", [
    ("train.batch_size=-4", "'train.batch_size' is a size or count: must be positive; got -4"),
    ("train.batch_size=0", "'train.batch_size' is a size or count: must be positive; got 0"),
    ("train.epochs=0", "'train.epochs' is a size or count: must be positive"),
    ("model.encoder_filters=[32, 0]", "'model.encoder_filters' is a size or count: every entry must be positive"),
    ("eval.samples=-1", "'eval.samples' is a size or count"),
    ("train.seed=-1", "'train.seed' is a size or count: must be 0 or more"),
    ("train.verbose=3", "'train.verbose' must be one of 0, 1, 2"),
    ("eval.reference_seed=-2", "'eval.reference_seed' is a size or count: must be 0 or more"),
    ("eval.reference_seed=first", "'eval.reference_seed' must be an integer or null, got 'first'"),
])
def test_sizes_and_counts_must_be_positive(override, message):
    with pytest.raises(ConfigError) as info:
        vae_config(smoke=True, overrides=[override])
    assert message in str(info.value)


def test_zero_is_allowed_where_it_means_never_or_skip():
    cfg = vae_config(overrides=["samples.every=0", "eval.every=0", "train.seed=0"])
    assert (cfg.samples.every, cfg.eval.every, cfg.train.seed) == (0, 0, 0)
    reid = registry.get("reid").config(overrides=["model.stage_epochs=[3, 0, 0]"])
    assert reid.model.stage_epochs == [3, 0, 0]


def test_every_shipped_config_passes_the_count_check():
    for name in registry.names():
        for smoke in (False, True):
            registry.get(name).config(smoke=smoke)  # raises ConfigError on a bad default


@pytest.mark.federated
def test_every_shipped_federated_experiment_passes_the_count_check():
    from federated import config as fed_config

    experiments = sorted(config_lib.find_config_dir().glob("fed_*.yaml"))
    assert len(experiments) >= 4
    for path in experiments:
        fed_config.resolve(path)
    with pytest.raises(ConfigError, match="'federated.rounds' is a size or count"):
        fed_config.resolve(experiments[0], overrides=["federated.rounds=0"])


def test_smoke_runs_evaluate_in_proportion_and_paper_runs_keep_the_papers_counts():
    for name in registry.names():
        smoke, paper = registry.get(name).config(smoke=True), registry.get(name).config()
        assert (smoke.eval.samples, smoke.eval.reference_samples, smoke.eval.every) == (500, 1000, 5), name
        assert (paper.eval.samples, paper.eval.reference_samples, paper.eval.every) == (5000, 10000, 1), name
    # a model's own smoke block and the command line still win
    assert vae_config(smoke=True, overrides=["eval.samples=64"]).eval.samples == 64


def test_a_pk_batch_must_match_the_batch_size():
    reid = registry.get("reid")
    assert reid.config(smoke=True).train.batch_size == 24  # [8, 3]
    with pytest.raises(ConfigError, match=r"P×K = 8×3 = 24 images \(data.pk\), but train.batch_size is 32"):
        reid.config(smoke=True, overrides=["train.batch_size=32"])
    with pytest.raises(ConfigError, match=r"'data.pk' must be \[P, K\]"):
        reid.config(smoke=True, overrides=["data.pk=[8, 3, 2]"])


def test_the_fid_reference_images_follow_eval_reference_seed_or_else_the_runs_seed(tmp_path):
    from keras_gens import runner

    def reference_seed(*overrides):
        cfg = vae_config(smoke=True, overrides=["eval.metric=fid", *overrides])
        return runner._scores_callback(cfg, tmp_path, 0, chief=False).real.fingerprint["seed"]

    assert reference_seed("train.seed=3") == 3
    assert reference_seed("train.seed=3", "eval.reference_seed=0") == 0
    assert reference_seed("train.seed=5", "eval.reference_seed=0") == 0
