"""The training runner: run directory, resume (exact, after a kill or Ctrl-C), refusals, divergence, bad data."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import tensorflow as tf

from keras_gens import run_dirs, runner
from keras_gens.errors import ConfigError, DataError, DataMissing, RunDirError, TrainingDiverged
from keras_gens.utils import metrics_csv
from tests.helpers import REPO, SMALL_VAE, python_env, random_images, run_module, write_image


def train_small(out, *extra, **kwargs):
    return runner.train("vae", data="digits", out=out, overrides=SMALL_VAE + list(extra), log=lambda *_: None,
                        **kwargs)


def test_run_directory_contents_and_the_loss_drops(tmp_path):
    out = tmp_path / "run"
    result = train_small(out, "train.epochs=3")
    assert {p.name for p in out.iterdir()} >= {"config.yaml", "run.yaml", "checkpoints", "logs", "samples",
                                               "metrics.csv"}
    rows = metrics_csv.read_rows(out / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    losses = [float(r["loss"]) for r in rows]
    assert losses[2] < losses[0]
    assert int(rows[-1]["step"]) == 3 * (1438 // 16)
    for epoch in (1, 2, 3):
        grid = cv2.imread(str(out / "samples" / f"epoch_{epoch:04d}.png"))
        assert grid.shape == (4 * 34 + 2, 4 * 34 + 2, 3)  # 16 images of 32×32 with 2-pixel gaps
        assert (out / "samples" / f"recon_{epoch:04d}.png").is_file()
    assert tf.train.latest_checkpoint(str(out / "checkpoints")).endswith("ckpt-3")
    assert list((out / "logs" / "train").glob("events.out.tfevents.*"))
    assert list((out / "logs" / "samples").glob("events.out.tfevents.*"))
    assert (out / "config.yaml").read_text().count("latent_dim: 8") == 1
    assert result.history["loss"] == pytest.approx(losses, rel=1e-4)


def weights_of(run_dir):
    _, _, model, _ = run_dirs.build_from_run(run_dir)
    return model.get_weights()


def test_resume_continues_exactly_where_an_uninterrupted_run_would_be(tmp_path):
    # 50 steps per epoch: not a whole pass (89 batches), so the resumed stream starts mid-permutation.
    train_small(tmp_path / "straight", "train.epochs=2", "train.steps_per_epoch=50")
    train_small(tmp_path / "resumed", "train.epochs=1", "train.steps_per_epoch=50")
    result = train_small(tmp_path / "resumed", "train.epochs=2", "train.steps_per_epoch=50")
    assert result.initial_epoch == 1
    for a, b in zip(weights_of(tmp_path / "straight"), weights_of(tmp_path / "resumed")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    straight = metrics_csv.read_rows(tmp_path / "straight" / "metrics.csv")
    resumed = metrics_csv.read_rows(tmp_path / "resumed" / "metrics.csv")
    assert [r["loss"] for r in straight] == [r["loss"] for r in resumed]


def test_resume_refuses_a_different_config_and_honours_the_modes(tmp_path):
    out = tmp_path / "run"
    train_small(out, "train.epochs=1")
    with pytest.raises(RunDirError, match=r"different config \(model.latent_dim: 8 -> 4\)"):
        train_small(out, "train.epochs=2", "model.latent_dim=4")
    with pytest.raises(RunDirError, match="already holds a run"):
        train_small(out, "train.epochs=2", resume="never")
    with pytest.raises(RunDirError, match="holds no checkpoint"):
        train_small(tmp_path / "fresh", resume="require")
    done = train_small(out, "train.epochs=1")  # nothing left to do
    assert done.initial_epoch == 1 and done.history == {}


def test_a_run_that_fails_before_training_leaves_no_run_directory(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(DataMissing, match="CelebA"):
        runner.train("wae_resnet", data=f"celeba:{tmp_path / 'no-celeba'}", out=out, log=lambda *_: None)
    assert not out.exists()
    with pytest.raises(ConfigError, match="value_range"):  # the model refuses the config when it is built
        train_small(out, "data.value_range=[-1, 1]")
    assert not out.exists()
    with pytest.raises(ConfigError, match="train.batch_size"):
        train_small(out, "train.batch_size=0")
    assert not out.exists()
    out.mkdir()  # a folder the user made is kept as it was
    with pytest.raises(DataMissing):
        runner.train("wae_resnet", data=f"celeba:{tmp_path / 'no-celeba'}", out=out, log=lambda *_: None)
    assert out.is_dir() and not any(out.iterdir())


def test_divergence_keeps_the_last_finite_checkpoint(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="diverged in epoch 1"):
        train_small(out, "train.epochs=2", "optimizer.learning_rate=1e6", "model.kl_weight=1e6")
    assert tf.train.latest_checkpoint(str(out / "checkpoints")) is None


def test_skipped_images_are_reported_once_per_run(tmp_path, capsys):
    folder = tmp_path / "images"
    for i, img in enumerate(random_images(12, 32, 32)):
        write_image(folder / f"{i:02d}.png", img)
    (folder / "bad.png").write_bytes(b"garbage")
    runner.train("vae", data=f"folder:{folder}", out=tmp_path / "run", log=lambda *_: None,
                 overrides=SMALL_VAE + ["train.batch_size=4", "train.epochs=1", "data.on_error=skip"])
    out = capsys.readouterr().out
    assert out.count("skipped 1 unreadable images") == 1, out  # not again for the held-out figures
    assert "bad.png" in out


def test_an_image_that_fails_to_decode_mid_training_is_named(tmp_path):
    folder = tmp_path / "images"
    for i, img in enumerate(random_images(20, 32, 32)):
        write_image(folder / f"{i:02d}.jpg", img)
    raw = bytearray((folder / "07.jpg").read_bytes())
    raw[3:200] = b"\x00" * 197  # both JPEG markers intact: only decoding finds it
    (folder / "07.jpg").write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"cannot be decoded:\n  .*07.jpg"):
        runner.train("vae", data=f"folder:{folder}", out=tmp_path / "run", log=lambda *_: None,
                     overrides=SMALL_VAE + ["train.batch_size=4", "train.epochs=1"])


def _start_training(out):
    args = [sys.executable, "-m", "keras_gens.train", "vae", "--data", "digits", "--out", str(out), *SMALL_VAE,
            "train.epochs=4", "train.steps_per_epoch=150", "train.verbose=2"]
    return subprocess.Popen(args, cwd=REPO, env=python_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def _wait_for(path, proc, timeout=180):
    deadline = time.time() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"training ended early:\n{proc.stdout.read()[-3000:]}")
        if time.time() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"{path} did not appear in {timeout}s")
        time.sleep(0.2)


def test_kill_and_ctrl_c_leave_a_checkpoint_to_resume_from(tmp_path):
    out = tmp_path / "run"
    checkpoints = out / "checkpoints"

    proc = _start_training(out)
    _wait_for(checkpoints / "ckpt-1.index", proc)
    os.killpg(proc.pid, signal.SIGKILL)  # mid-epoch 2, no chance to clean up
    proc.communicate(timeout=30)

    proc = _start_training(out)
    _wait_for(checkpoints / "ckpt-2.index", proc)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "resuming" in output and "from epoch 1" in output
    assert "re-run the same command to resume" in output

    done = run_module("keras_gens.train", "vae", "--data", "digits", "--out", str(out), *SMALL_VAE,
                      "train.epochs=4", "train.steps_per_epoch=150", "train.verbose=2")
    assert done.returncode == 0, done.stdout
    assert "resuming" in done.stdout
    rows = metrics_csv.read_rows(out / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert int(rows[-1]["step"]) == 600
    assert tf.train.latest_checkpoint(str(checkpoints)).endswith("ckpt-4")
    assert "remapper failed" not in done.stdout  # Grappler fuses the encoder's conv+bias+LeakyReLU cleanly

    # Re-running the finished run trains nothing and says so, without TensorFlow's restore warnings.
    again = run_module("keras_gens.train", "vae", "--data", "digits", "--out", str(out), *SMALL_VAE,
                       "train.epochs=4", "train.steps_per_epoch=150", "train.verbose=2")
    assert again.returncode == 0, again.stdout
    assert "has already trained 4 of 4 epochs" in again.stdout
    assert "could not be found in the restored object" not in again.stdout, again.stdout


def _lock_for(process, run_dir):
    """A lock file as process ``process`` would have written it."""
    import socket

    import psutil
    import yaml

    run_dir.mkdir(parents=True, exist_ok=True)
    holder = {"pid": process.pid, "started": psutil.Process(process.pid).create_time(), "host": socket.gethostname(),
              "command": "python -m keras_gens.train vae", "since": "2026-12-01 12:00:00"}
    (run_dir / run_dirs.LOCK_FILE).write_text(yaml.safe_dump(holder))


@pytest.fixture
def other_process():
    """A live process of another PID, to hold locks; killed at the end if the test has not."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    process.kill()
    process.wait()


def test_a_run_directory_in_use_is_refused_and_a_stale_lock_is_taken_over(tmp_path, other_process):
    out, other = tmp_path / "run", other_process
    _lock_for(other, out)
    with pytest.raises(RunDirError, match=f"in use by process {other.pid}.*keras_gens.train vae"):
        train_small(out, "train.epochs=1")
    assert {p.name for p in out.iterdir()} == {run_dirs.LOCK_FILE}  # refused before writing anything
    other.kill()
    other.wait()
    logged = []
    runner.train("vae", data="digits", out=out, overrides=SMALL_VAE + ["train.epochs=1"], log=logged.append)
    assert any(f"taking over the lock of process {other.pid}" in str(line) for line in logged)
    assert not (out / run_dirs.LOCK_FILE).exists()  # released when the run ended
    assert metrics_csv.read_rows(out / "metrics.csv")[-1]["epoch"] == "1"
    # While a run holds its folder, the lock names this process, which may take it again.
    with run_dirs.hold(out) as lock:
        assert f"pid: {os.getpid()}" in lock.read_text()
        train_small(out, "train.epochs=2")  # the same process may hold it again (a notebook)
    assert not (out / run_dirs.LOCK_FILE).exists()


@pytest.mark.federated
def test_a_federated_experiment_in_use_is_refused(tmp_path, other_process):
    from federated.simulate import simulate

    out = tmp_path / "fed"
    _lock_for(other_process, out)
    with pytest.raises(RunDirError, match=f"in use by process {other_process.pid}"):
        simulate(None, ["data.source=digits", "partition.num_clients=6", "partition.min_per_class=1",
                        "federated.clients_per_round=3", "federated.rounds=1", "run.verbose=0"], out=out,
                 log=lambda *a: None)
    assert {p.name for p in out.iterdir()} == {run_dirs.LOCK_FILE}


def test_compare_and_ocgan_into_a_folder_in_use_are_refused(tmp_path, other_process):
    from keras_gens.experiments import ocgan, thesis

    for name, run in (("compare", lambda out: thesis.compare(["vae"], out=out, smoke=True, log=lambda *a: None)),
                      ("ocgan", lambda out: ocgan.experiment(out=out, smoke=True, log=lambda *a: None))):
        _lock_for(other_process, tmp_path / name)
        with pytest.raises(RunDirError, match=f"in use by process {other_process.pid}"):
            run(tmp_path / name)
        assert {p.name for p in (tmp_path / name).iterdir()} == {run_dirs.LOCK_FILE}, name
    # A failure inside a folder the lock created leaves no folder behind.
    with pytest.raises(Exception, match="unknown base"):
        ocgan.experiment(bases=("vae",), out=tmp_path / "new", smoke=True, log=lambda *a: None)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("damage", ["truncated data", "empty index", "corrupt data", "state file"])
def test_a_damaged_newest_checkpoint_resumes_from_the_one_before(tmp_path, damage):
    """Truncated, emptied or corrupted files of the newest checkpoint: named, skipped, and the run resumed from
    the previous one ends as an uninterrupted run does; a garbled state file does not make the run start over."""
    import shutil

    steps = "train.steps_per_epoch=20"
    base = tmp_path.parent / "damage-base"
    if not (base / "straight").is_dir():  # shared by the parametrized cases
        train_small(base / "straight", "train.epochs=3", steps)
        train_small(base / "two", "train.epochs=2", steps)
    out = tmp_path / "run"
    shutil.copytree(base / "two", out)
    prefix = out / "checkpoints" / "ckpt-2"
    data, index = Path(f"{prefix}.data-00000-of-00001"), Path(f"{prefix}.index")
    if damage == "truncated data":
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    elif damage == "empty index":
        index.write_bytes(b"")
    elif damage == "corrupt data":
        raw = bytearray(data.read_bytes())
        raw[len(raw) // 2: len(raw) // 2 + 64] = b"\xff" * 64
        data.write_bytes(bytes(raw))
    else:
        (out / "checkpoints" / "checkpoint").write_text("garbage {{{")
    logged = []
    result = runner.train("vae", data="digits", out=out, overrides=SMALL_VAE + ["train.epochs=3", steps],
                          log=logged.append)
    expected_start = 2 if damage == "state file" else 1
    assert result.initial_epoch == expected_start
    if damage != "state file":
        assert any("ckpt-2 cannot be read" in str(line) for line in logged), logged
    straight = metrics_csv.read_rows(base / "straight" / "metrics.csv")
    resumed = metrics_csv.read_rows(out / "metrics.csv")
    assert [r["loss"] for r in straight] == [r["loss"] for r in resumed]
    for a, b in zip(weights_of(base / "straight"), weights_of(out)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_no_readable_checkpoint_stops_with_a_message(tmp_path):
    out = tmp_path / "run"
    train_small(out, "train.epochs=1", "train.steps_per_epoch=5")
    (out / "checkpoints" / "ckpt-1.index").write_bytes(b"")
    with pytest.raises(RunDirError, match=r"no checkpoint in .* can be read: ckpt-1 \(.*sstable"):
        train_small(out, "train.epochs=2", "train.steps_per_epoch=5")
