"""The mistakes a tired user makes, each refused with one line and exit code 2, and nothing that existed
before changed (every file, checked by its bytes); or, where the input is fine, the command works.

The commands run in this process (their ``main``), so a case costs what the command does, not a
TensorFlow start-up; the few that need a process of their own (a read-only file system, Ctrl-C) say so.
"""
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from keras_gens import runner
from keras_gens.cli import compare as compare_cli
from keras_gens.cli import export as export_cli
from keras_gens.cli import generate as generate_cli
from keras_gens.cli import ocgan as ocgan_cli
from keras_gens.cli import pxd_events as pxd_events_cli
from keras_gens.cli import results as results_cli
from keras_gens.cli import train as train_cli
from tests.helpers import HAS_FEDERATED, REPO, SMALL_VAE, python_env, write_image

TINY = [*SMALL_VAE, "train.epochs=1", "train.verbose=0", "samples.count=4"]


def snapshot(root) -> dict:
    """Every path below ``root`` (hidden ones too) with its kind, mode and content hash."""
    root = Path(root)
    found = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            found[rel] = ("dir", path.stat().st_mode)
        else:
            found[rel] = ("file", path.stat().st_mode, hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def refused(main, argv, capsys, *expected):
    """Run a command's ``main``: it must exit 2 with one ``error:`` line holding each ``expected`` text."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2, (argv, code, err)
    assert err.startswith("error: ") and "\n" not in err, (argv, err)
    for text in expected:
        assert text in err, (argv, err)
    return err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished one-epoch VAE run: the run the cases aim at (each copies it first)."""
    from keras_gens import runner

    out = tmp_path_factory.mktemp("trained") / "run"
    runner.train("vae", smoke=True, out=out, overrides=TINY, log=lambda *a: None)
    return out


@pytest.fixture
def run(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


# ---------------------------------------------------------------- 1. export never deletes a run


def test_export_into_the_run_itself_or_a_users_folder_is_refused_and_nothing_changes(run, tmp_path, capsys):
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("my notes")
    before = snapshot(tmp_path)
    refused(export_cli.main, [run, "--out", run], capsys, "holds a training run", "not a SavedModel")
    refused(export_cli.main, [run, "--out", other], capsys, "already holds files", "notes.txt")
    refused(export_cli.main, [run, "--out", run / "checkpoints" / "v1"], capsys, "among the files of a training run")
    refused(export_cli.main, [run, "--out", run / "samples"], capsys, "among the files of a training run")
    refused(export_cli.main, [run, "--out", tmp_path], capsys, "already holds files")  # the run's parent
    refused(export_cli.main, [run, "--out", ""], capsys, "--out is empty")
    refused(export_cli.main, [run, "--out", other / "notes.txt"], capsys, "is a file, not a folder")
    assert snapshot(tmp_path) == before


def test_an_export_replaces_only_an_earlier_export_and_a_versions_folder_asks_for_a_version(run, capsys):
    assert export_cli.main([str(run)]) == 0 and export_cli.main([str(run)]) == 0  # export/1, export/2
    version = run / "export" / "1"
    assert export_cli.main([str(run), "--out", str(version)]) == 0  # the same version again: replaced whole
    before = snapshot(run)
    refused(export_cli.main, [run, "--out", run / "export"], capsys, "holds exported versions (1, 2)",
            str(run / "export" / "3"))
    refused(export_cli.main, [run, "--out", version / "variables"], capsys, "lies inside a SavedModel")
    assert snapshot(run) == before


# ---------------------------------------------------------------- 2. train and federated keep to their own


@pytest.mark.federated
def test_train_and_federated_refuse_each_others_folders(run, tmp_path, capsys):
    from federated import simulate
    from keras_gens.outputs import mark

    experiment = tmp_path / "experiment"
    mark(experiment, simulate.FEDERATED)
    (experiment / "config.yaml").write_text("federated: {rounds: 2}\n")
    before = snapshot(tmp_path)
    refused(simulate.main, ["federated.rounds=2", "--out", run], capsys, "holds a training run",
            "not a federated experiment")
    refused(train_cli.main, ["vae", "--smoke", "--out", experiment], capsys, "holds a federated experiment",
            "not a training run")
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------- 3. a failed train rewrites nothing


def test_a_run_without_its_config_or_of_another_model_is_refused_before_anything_is_written(run, capsys):
    (run / "config.yaml").rename(run / "config.yaml.aside")
    before = snapshot(run)
    refused(train_cli.main, ["vae", "--smoke", "model.latent_dim=16", "--out", run], capsys,
            "holds checkpoints but no config.yaml")
    assert snapshot(run) == before
    (run / "config.yaml.aside").rename(run / "config.yaml")
    before = snapshot(run)
    refused(train_cli.main, ["wae", "--smoke", "--out", run], capsys, "holds a vae run, not wae")
    refused(train_cli.main, ["vae", "--smoke", *TINY, "model.latent_dim=16", "--out", run], capsys,
            "holds a run with a different config")
    assert snapshot(run) == before


# ---------------------------------------------------------------- 4-5. values the schema refuses


@pytest.mark.parametrize("setting, expected", [
    ("optimizer.learning_rate=-0.01", "'optimizer.learning_rate' must be > 0"),
    ("optimizer.learning_rate=.nan", "'optimizer.learning_rate' must be a finite number"),
    ("optimizer.learning_rate=.inf", "'optimizer.learning_rate' must be a finite number"),
    ("model.kl_weight=1e300", "'model.kl_weight' must be a finite number (at most 3.4e+38 in size"),
    ("optimizer.beta_1=1.5", "'optimizer.beta_1' must be in [0, 1)"),
    ("model.kl_weight=-1", "'model.kl_weight' must be >= 0"),
    ("data.crop=500", "'data.crop' is 500, larger than the 8x8 images of digits"),
    ("train.batch_size=100000", "digits has 1438 examples, fewer than one training step takes: 100000"),
    ("train.epochs=null", "'train.epochs' must be an integer (it has no null setting)"),
    ("train.epochs=4294967296", "'train.epochs' is a size or count: must be at most 2147483647"),
    ("samples.count=100000", "'samples.count' must be in [1, 4096]"),
])
def test_train_refuses_values_outside_their_range(setting, expected, tmp_path, capsys):
    refused(train_cli.main, ["vae", "--smoke", setting, "--out", tmp_path / "r"], capsys, expected)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.federated
@pytest.mark.parametrize("setting, expected", [
    ("partition.alpha=0", "'partition.alpha' must be >= 0.0001"),
    ("partition.alpha=-1", "'partition.alpha' must be >= 0.0001"),
    ("partition.concentration=1e-300", "'partition.concentration' must be >= 0.0001"),
    ("federated.mixing=2.5", "'federated.mixing' must be in [0, 1]"),
    ("federated.client_learning_rate=0", "'federated.client_learning_rate' must be > 0"),
    ("federated.clients_per_round=10", "'federated.clients_per_round' is 10, more than the 5 clients"),
])
def test_federated_refuses_impossible_settings_before_writing(setting, expected, tmp_path, capsys):
    from federated import simulate

    started = time.monotonic()
    refused(simulate.main, ["partition.name=dirichlet", "partition.num_clients=5", "federated.clients_per_round=5",
                            setting, "--out", tmp_path / "f"], capsys, expected)
    assert time.monotonic() - started < 30  # alpha=0 once drew Dirichlet samples for ever
    assert list(tmp_path.iterdir()) == []


def test_config_files_with_repeated_keys_or_not_utf8_are_refused_naming_the_file(tmp_path, capsys):
    twice = tmp_path / "twice.yaml"
    twice.write_text("train:\n  epochs: 2\ntrain:\n  epochs: 3\n")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("train:\n  epochs: 2 # größer\n".encode("latin-1"))
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    refused(train_cli.main, ["vae", "--smoke", "--config", twice, "--out", tmp_path / "r"], capsys,
            str(twice), "line 3", "the key 'train' appears twice (first on line 1)")
    refused(train_cli.main, ["vae", "--smoke", "--config", latin, "--out", tmp_path / "r"], capsys,
            str(latin), "is not UTF-8 text")
    refused(train_cli.main, ["vae", "--smoke", "--config", folder, "--out", tmp_path / "r"], capsys,
            f"{folder} is a folder, not a config file")
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------- data the loaders refuse


def test_arrays_and_folders_that_cannot_train_are_refused_naming_the_file(tmp_path, capsys):
    np.savez(tmp_path / "nan.npz", images=np.full((40, 8, 8), np.nan, np.float32))
    (tmp_path / "text.npz").write_text("not an archive")
    one = tmp_path / "one"
    write_image(one / "a.png", np.zeros((28, 28), np.uint8))
    linked = tmp_path / "linked"
    for i in range(3):
        write_image(linked / f"{i}.png", np.full((28, 28), 40 * i, np.uint8))
    (linked / "gone.png").symlink_to(tmp_path / "nowhere.png")
    before = snapshot(tmp_path)
    out = ["--out", tmp_path / "r"]
    refused(train_cli.main, ["vae", "--smoke", "--data", f"npz:{tmp_path / 'nan.npz'}", *out], capsys,
            "nan.npz[images]: holds 2560 values that are not finite numbers")
    refused(train_cli.main, ["vae", "--smoke", "--data", f"npz:{tmp_path / 'text.npz'}", *out], capsys,
            "text.npz is not an .npz archive")
    refused(train_cli.main, ["vae", "--smoke", "--data", f"folder:{one}", *out], capsys,
            "has 1 examples, fewer than one training step takes: 32")
    refused(train_cli.main, ["vae", "--smoke", "--data", f"folder:{one}", "train.batch_size=1", *out], capsys,
            "pairs of held-out images", "holds 1")
    refused(train_cli.main, ["vae", "--smoke", "--data", f"folder:{one / 'a.png'}", *out], capsys,
            "is a file, not a folder of images")
    refused(train_cli.main, ["vae", "--smoke", "--data", "folder:", *out], capsys, "folder needs a path")
    refused(train_cli.main, ["vae", "--smoke", "--out", ""], capsys, "--out is empty")
    capsys.readouterr()
    assert train_cli.main(["vae", "--smoke", "--data", f"folder:{linked}", *map(str, out)]) == 2
    err = capsys.readouterr()
    assert "1 of 4 images in folder:" in err.err and "gone.png: cannot read" in err.err  # listed, not dropped
    assert snapshot(tmp_path) == before


def test_a_damaged_metrics_table_stops_a_resumed_run_naming_the_line(run, capsys):
    rows = (run / "metrics.csv").read_text().splitlines()
    (run / "metrics.csv").write_text("\n".join([rows[0], "one" + rows[1][1:], *rows[2:]]) + "\n")
    before = snapshot(run)
    refused(train_cli.main, ["vae", "--smoke", *TINY, "train.epochs=2", "--out", run], capsys,
            "metrics.csv, line 2: 'epoch' is 'one', not a whole number")
    assert snapshot(run) == before


# ---------------------------------------------------------------- paths that are not folders one can write


def test_out_paths_that_are_files_or_lie_under_files_are_refused_by_every_command(run, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    before = snapshot(tmp_path)
    commands = [(train_cli.main, ["vae", "--smoke"]), (generate_cli.main, [run, "--n", "2"]),
                (compare_cli.main, ["vae", "--smoke"]), (ocgan_cli.main, ["--smoke"])]
    if HAS_FEDERATED:
        from federated import simulate

        commands.append((simulate.main, ["federated.rounds=2"]))
    for main, argv in commands:
        refused(main, [*argv, "--out", afile], capsys, f"{afile} is a file, not a folder")
        refused(main, [*argv, "--out", afile / "below"], capsys, f"lies under {afile}, which is a file")
    refused(results_cli.main, ["reid", "--budget", "tiny", "--out", afile], capsys, "is a file, not a folder")
    refused(pxd_events_cli.main, [run, "--out", tmp_path], capsys, "is a folder, not a file")
    refused(pxd_events_cli.main, [run, "--out", afile], capsys, "already exists and was not written by")
    assert snapshot(tmp_path) == before


def test_compare_refuses_a_model_that_is_not_an_auto_encoder_before_training_it(tmp_path, capsys):
    refused(compare_cli.main, ["vae", "dcgan", "--smoke", "--out", tmp_path / "c"], capsys,
            "dcgan is not an auto-encoder", "vae, vae_resnet, wae, wae_resnet")
    assert list(tmp_path.iterdir()) == []


def test_the_results_report_must_be_one_the_results_wrote(tmp_path, capsys):
    mine = tmp_path / "README.md"
    mine.write_text("# my project\n")
    before = snapshot(tmp_path)
    refused(results_cli.main, ["reid", "--budget", "tiny", "--out", tmp_path / "runs", "--report", mine], capsys,
            "--report", "was not written by python -m keras_gens.results")
    assert snapshot(tmp_path) == before


def test_a_folder_without_write_permission_is_refused_before_anything_is_written(monkeypatch, tmp_path, capsys):
    """As a user without write permission sees it (the suite may run as root, whom permissions do not stop)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == locked else real_access(path, mode))
    refused(train_cli.main, ["vae", "--smoke", "--out", locked / "run"], capsys,
            f"no permission to write in {locked}")
    assert list(locked.iterdir()) == []


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux) for a read-only mount")
def test_a_read_only_file_system_is_named_as_such(tmp_path):
    target = tmp_path / "ro"
    target.mkdir()
    script = (f"mount --bind {target} {target} && mount -o remount,bind,ro {target} && "
              f"exec {sys.executable} -m keras_gens.train vae --smoke --out {target}/run")
    probe = subprocess.run(["unshare", "-r", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"user namespaces are not available here: {probe.stderr.decode().strip()}")
    done = subprocess.run(["unshare", "-r", "-m", "sh", "-c", script], cwd=REPO, env=python_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == f"error: --out {target}/run: {target} is on a read-only file system"


# ---------------------------------------------------------------- generate


def test_generate_replaces_its_own_set_whole_and_refuses_anything_else(run, tmp_path, capsys):
    out, grid = tmp_path / "set", tmp_path / "grid.png"
    assert generate_cli.main([str(run), "--n", "10", "--out", str(out), "--grid", str(grid)]) == 0
    assert generate_cli.main([str(run), "--n", "3", "--out", str(out), "--grid", str(grid)]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["00000.png", "00001.png", "00002.png"]  # no stale images
    folder, mine = tmp_path / "folder", tmp_path / "mine.png"
    folder.mkdir()
    mine.write_bytes(b"\x89PNG\r\n\x1a\n not ours")
    before = snapshot(tmp_path)
    refused(generate_cli.main, [run, "--n", "3", "--out", out, "--grid", folder], capsys, "is a folder, not a file")
    refused(generate_cli.main, [run, "--n", "3", "--out", out, "--grid", mine], capsys, "was not written by keras_gens")
    refused(generate_cli.main, [run, "--n", "3", "--out", out, "--grid", out / "g.png"], capsys,
            "lies inside a generated set")
    refused(generate_cli.main, [run, "--n", "1000000000", "--out", tmp_path / "huge"], capsys,
            "--n 1000000000 would write about", "GiB of PNG files, more than the")
    refused(generate_cli.main, [run, "--n", "3", "--out", run], capsys, "holds a training run")
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------- Ctrl-C says what is true


def test_ctrl_c_in_the_first_epoch_says_there_is_no_checkpoint_yet(tmp_path):
    args = [sys.executable, "-m", "keras_gens.train", "vae", "--smoke", *SMALL_VAE, "train.verbose=2",
            "train.steps_per_epoch=100000", "checkpoint.every_minutes=0", "--out", str(tmp_path / "r")]
    proc = subprocess.Popen(args, cwd=REPO, env=python_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        for line in proc.stdout:
            if line.startswith("Epoch 1/"):
                break
        time.sleep(3)
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:  # say whether it went on training or hung on the way out
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("still running 120 s after Ctrl-C; its output:\n" + proc.communicate()[0][-3000:])
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out[-2000:]
    assert "interrupted before the first checkpoint was written" in out and "is intact" not in out


def test_a_ctrl_c_that_python_swallows_still_stops_training(tmp_path):
    # Python drops a KeyboardInterrupt raised inside a __del__ or a weakref callback ("Exception ignored in"),
    # and TensorFlow runs such callbacks during every step: before the runner's guard, a Ctrl-C landing there
    # was lost and training went on (the test above then waited out its 120 s). Here a callback swallows one.
    class SwallowedCtrlC(tf.keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.after = None

        def on_train_batch_begin(self, batch, logs=None):
            if batch == 2 and self.after is None:
                try:
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(1)  # the handler runs here, in the main thread
                except KeyboardInterrupt:
                    self.after = batch
            elif self.after is not None:
                self.after = batch  # training went on

    swallow = SwallowedCtrlC()
    with pytest.raises(KeyboardInterrupt, match="before the first checkpoint"):
        runner.train("vae", smoke=True, overrides=[*SMALL_VAE, "train.epochs=1", "train.steps_per_epoch=20",
                                                   "train.verbose=0"],
                     out=tmp_path / "r", callbacks=[swallow], log=lambda m: None)
    assert swallow.after == 2, f"trained on to batch {swallow.after} after the Ctrl-C"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the guard is gone after training
