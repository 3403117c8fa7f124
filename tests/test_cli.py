"""The train command as a user types it: listing, config printing, and errors as one message."""
from tests.helpers import run_module


def test_list_names_every_registered_model():
    done = run_module("keras_gens.train", "--list", timeout=120)
    assert done.returncode == 0, done.stdout
    names = [line.split()[0] for line in done.stdout.splitlines()]
    assert names == ["bagan_gp", "cgan", "dcgan", "dcgan_oct", "lsgan", "lsgan_oct", "pe_gan", "reid", "vae",
                     "vae_resnet", "wae", "wae_resnet", "wgan", "wgan_gp_cond", "wgan_oct"]
    assert "Unable to register" not in done.stdout  # TF's start-up noise stays hidden


def test_user_errors_are_one_message_without_a_traceback(tmp_path):
    cases = [
        (["vea"], "error: unknown model 'vea'. Did you mean 'vae'?"),
        (["vae", "train.epohcs=2"], "Did you mean 'train.epochs'?"),
        (["vae", "--config", str(tmp_path / "nope.yaml")], "config file not found"),
        (["vae", "--out", str(tmp_path / "r")], "CelebA not found at data/celeba"),
        # The headline command, exactly as typed: CelebA is absent here, so it says what to do.
        (["wae_resnet"], "python -m keras_gens.train wae_resnet --smoke"),
        (["vae", "--data", "folder:" + str(tmp_path)], "no images"),
        # Without Market-1501, the offer is its synthetic stand-in, not digits.
        (["reid", "--out", str(tmp_path / "reid")], "reid --data synthetic_reid"),
        (["vae", "--smoke", "train.batch_size=-4", "--out", str(tmp_path / "b")],
         "error: 'train.batch_size' is a size or count: must be positive; got -4"),
    ]
    for args, expected in cases:
        done = run_module("keras_gens.train", *args, timeout=120)
        assert done.returncode == 2, (args, done.stdout)
        assert expected in done.stdout, (args, done.stdout)
        assert "Traceback" not in done.stdout, (args, done.stdout)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no failed run left a folder behind


def test_help_lists_every_data_source_and_each_models_smoke_settings():
    from keras_gens import registry
    from keras_gens.data.sources import SOURCES

    done = run_module("keras_gens.train", "--help", timeout=120)
    assert done.returncode == 0, done.stdout
    listed = {line.split()[0] for line in done.stdout.split("data sources")[1].split("--smoke trains")[0]
              .splitlines()[1:] if line.strip()}
    assert listed == {kind.usage for kind in SOURCES.values()}
    assert {"covid:PATH", "market1501:PATH", "synthetic_reid", "pxd:PATH", "synthetic_pxd"} <= listed
    smoke = done.stdout.split("--smoke trains")[1].split("resuming:")[0]
    for name in registry.names():
        cfg = registry.get(name).config(smoke=True)
        line = next(line for line in smoke.splitlines() if line.split()[:1] == [name])
        assert f"on {cfg.data.source}," in line, line
        if "stage_epochs" not in cfg.model:
            assert f" {cfg.train.epochs} epochs" in line, line
    assert "reid            2+1+2 epochs (stages)" in smoke
    assert "2 epochs)" not in done.stdout  # the old, wrong claim that every smoke run is 2 epochs


def test_print_config_shows_the_resolved_values():
    done = run_module("keras_gens.train", "vae", "--smoke", "--print-config", "train.epochs=9", timeout=120)
    assert done.returncode == 0, done.stdout
    assert "epochs: 9" in done.stdout and "source: digits" in done.stdout
