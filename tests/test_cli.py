"""The train command as a user types it: listing, config printing, and errors as one message."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_keras_gens_dispatches_to_each_command_and_names_a_mistyped_one(capsys):
    from keras_gens.cli import main as keras_gens

    assert keras_gens.main(["tran"]) == 2
    assert "unknown command 'tran'; did you mean 'train'?" in capsys.readouterr().err
    assert keras_gens.main([]) == 2 and "usage: keras-gens COMMAND" in capsys.readouterr().err
    assert keras_gens.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("keras-gens 0.1.0 (")
    with pytest.raises(SystemExit) as exit_:
        keras_gens.main(["train", "--help"])
    assert exit_.value.code == 0 and "Train a registered model." in capsys.readouterr().out
    assert keras_gens.main(["train", "--list"]) == 0 and "wae_resnet" in capsys.readouterr().out


def test_the_installed_keras_gens_runs_every_subcommand_from_the_environments_bin():
    exe = Path(sys.executable).parent / "keras-gens"
    assert exe.is_file(), f"{exe} is missing: the README's install (pip install -e .) puts it there"
    listing = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.split("commands:")[1].split("options:")[0].strip().splitlines()
    names = [line.split()[0] for line in lines]
    from keras_gens.cli.main import COMMANDS

    expected = [*COMMANDS, *(["grid", "simulate"] if importlib.util.find_spec("tensorflow_federated") else [])]
    assert set(expected) <= set(names) and len(names) == len(set(names)), names
    runnable = [line.split()[0] for line in lines if "(needs " not in line]
    # two at a time: each is a Python process that imports TensorFlow
    for pair in (runnable[i:i + 2] for i in range(0, len(runnable), 2)):
        procs = [(name, subprocess.Popen([str(exe), name, "--help"], stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True)) for name in pair]
        for name, proc in procs:
            out, _ = proc.communicate(timeout=180)
            assert proc.returncode == 0 and "usage:" in out, f"keras-gens {name} --help:\n{out[-1500:]}"
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=120)
    from keras_gens import compat

    stack = f"{compat.stack()} stack"
    assert version.returncode == 0 and stack in version.stdout, version.stdout + version.stderr
