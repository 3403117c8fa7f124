"""Checkpoints within an epoch (checkpoint.every_steps / every_minutes), the fallback to the one before a
damaged one, and a checkpoint write that fails (a full disk): the previous one stays, the run says which."""
import errno

import numpy as np
import pytest
import tensorflow as tf

from keras_gens import callbacks as callbacks_lib
from keras_gens import run_dirs, runner
from keras_gens.errors import CheckpointWriteError, ConfigError
from keras_gens.utils import faults, metrics_csv
from tests.helpers import SMALL_VAE, run_module

STEPS = 40  # per epoch, of the 89 the digits give at batch 16: short epochs, several within-epoch saves
RUN = [*SMALL_VAE, "train.epochs=3", f"train.steps_per_epoch={STEPS}", "samples.every=0",
       "checkpoint.every_steps=15"]


class Interrupted(Exception):
    pass


class StopAt(tf.keras.callbacks.Callback):
    """Stops the run with an error after ``step`` training steps in all (after the checkpoints of that step)."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.step.numpy()) == self.step:
            raise Interrupted(f"stopped at step {self.step}")


def train(out, *extra, callbacks=(), log=lambda *_: None):
    return runner.train("vae", data="digits", out=out, overrides=RUN + list(extra), log=log, callbacks=callbacks)


def metrics_without_time(run_dir):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in metrics_csv.read_rows(run_dir / "metrics.csv")]


def assert_same_weights(a, b):
    ra, rb = tf.train.load_checkpoint(a), tf.train.load_checkpoint(b)
    names = [n for n, _ in tf.train.list_variables(a) if not n.startswith("_CHECKPOINTABLE")]
    assert len(names) > 100
    for name in names:
        np.testing.assert_array_equal(ra.get_tensor(name), rb.get_tensor(name), err_msg=name)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    train(out)
    return out


def test_a_run_stopped_within_an_epoch_resumes_there_and_ends_bit_identical(uninterrupted, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(Interrupted):
        train(out, callbacks=[StopAt(STEPS + 32)])  # 32 steps into epoch 2: saved at 15 and 30
    within = run_dirs.within_epoch_paths(out)
    assert [p.rsplit("/", 1)[1] for p in within] == ["epoch2-step30", "epoch2-step15"]
    assert run_dirs.resume_points(out)[:3] == [*within, str(out / "checkpoints" / "ckpt-1")]

    lines = []
    train(out, log=lines.append)
    assert any("from epoch 1, 30 steps into epoch 2 (step 70)" in line for line in lines), lines
    # The epoch's metric sums were restored: its mean is over all 40 steps, as uninterrupted.
    assert metrics_without_time(out) == metrics_without_time(uninterrupted)
    assert_same_weights(out / "checkpoints" / "ckpt-3", uninterrupted / "checkpoints" / "ckpt-3")
    assert run_dirs.within_epoch_paths(out) == []  # a finished epoch supersedes them


def test_a_damaged_newest_within_epoch_checkpoint_falls_back_to_the_one_before(uninterrupted, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(Interrupted):
        train(out, callbacks=[StopAt(2 * STEPS + 31)])
    newest = run_dirs.within_epoch_paths(out)[0]
    assert newest.endswith("epoch3-step30")
    data = next(run_dirs.within_epoch_dir(out).glob("epoch3-step30.data-*"))
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])  # truncated, as a kill mid-write leaves it

    lines = []
    train(out, log=lines.append)
    assert any("epoch3-step30 cannot be read" in line for line in lines), lines
    assert any("from epoch 2, 15 steps into epoch 3" in line for line in lines), lines
    assert metrics_without_time(out) == metrics_without_time(uninterrupted)
    assert_same_weights(out / "checkpoints" / "ckpt-3", uninterrupted / "checkpoints" / "ckpt-3")


def test_a_full_disk_stops_the_run_naming_the_intact_checkpoint_and_a_rerun_finishes(uninterrupted, tmp_path,
                                                                                      monkeypatch):
    out = tmp_path / "run"
    # The writes: epoch1-step15, epoch1-step30, ckpt-1, epoch2-step15, epoch2-step30, ckpt-2 <- the disk is full.
    monkeypatch.setenv(faults.ENV, "checkpoint_write@6:enospc")
    monkeypatch.setattr(faults, "_arrivals", {})
    with pytest.raises(CheckpointWriteError) as caught:
        train(out)
    message = str(caught.value)
    assert f"could not write checkpoint {out / 'checkpoints' / 'ckpt-2'}" in message
    assert "No space left on device" in message
    assert f"the previous checkpoint, {out / 'checkpoints' / 'within_epoch' / 'epoch2-step30'}, is intact" in message
    assert not list((out / "checkpoints").glob("ckpt-2*"))  # nothing half-written is left to be mistaken for it
    assert metrics_csv.read_rows(out / "metrics.csv")[-1]["epoch"] == "2"  # the table had the epoch before the save

    monkeypatch.delenv(faults.ENV)
    train(out)
    assert metrics_without_time(out) == metrics_without_time(uninterrupted)
    assert_same_weights(out / "checkpoints" / "ckpt-3", uninterrupted / "checkpoints" / "ckpt-3")


def test_the_time_rule_saves_when_the_minutes_have_passed(tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(callbacks_lib.time, "monotonic", lambda: clock[0])
    variable = tf.Variable(1.0)
    epoch, step = tf.Variable(0, dtype=tf.int64), tf.Variable(0, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(v=variable, epoch=epoch, epoch_step=step)
    manager = tf.train.CheckpointManager(checkpoint, str(tmp_path / "checkpoints"), max_to_keep=3)
    saving = callbacks_lib.Checkpoints(checkpoint, manager, tmp_path, epoch_variable=epoch, step_variable=step,
                                       every_minutes=2.0)
    saving.set_params({"steps": 100, "epochs": 1})
    saving.on_train_begin()
    saving.on_epoch_begin(0)
    for batch, minutes in [(0, 1.0), (1, 1.9), (2, 2.1), (3, 3.0), (4, 4.2)]:
        clock[0] = 1000.0 + 60 * minutes
        saving.on_train_batch_end(batch, {"loss": tf.constant(1.0)})
    # Saved at 2.1 min (after step 3) and at 4.2 (2.1 after that one, after step 5); the newest two kept.
    assert [p.rsplit("/", 1)[1] for p in run_dirs.within_epoch_paths(tmp_path)] == ["epoch1-step5", "epoch1-step3"]
    reader = tf.train.load_checkpoint(run_dirs.within_epoch_paths(tmp_path)[0])
    assert reader.get_tensor("epoch_step/.ATTRIBUTES/VARIABLE_VALUE") == 5
    # A step whose losses are not finite is never saved.
    clock[0] += 600
    saving.on_train_batch_end(5, {"loss": tf.constant(float("nan"))})
    assert len(run_dirs.within_epoch_paths(tmp_path)) == 2 and "step6" not in run_dirs.within_epoch_paths(tmp_path)[0]


@pytest.mark.parametrize("setting", ["checkpoint.every_minutes=-1", "checkpoint.every_steps=-5",
                                     "checkpoint.every_minutes=soon"])
def test_bad_within_epoch_settings_are_refused_before_anything_is_written(tmp_path, setting):
    with pytest.raises(ConfigError, match=setting.split("=")[0].replace(".", r"\.")):
        train(tmp_path / "run", setting)
    assert not (tmp_path / "run").exists()


def test_a_fault_spec_that_cannot_be_read_says_what_it_expects(monkeypatch):
    monkeypatch.setenv(faults.ENV, "train_step@0")
    with pytest.raises(ValueError, match=r"<point>@<n>"):
        faults.point("train_step")
    monkeypatch.setenv(faults.ENV, "train_step@2:explode")
    with pytest.raises(ValueError, match="kill-during"):
        faults.point("train_step")


def test_enospc_is_raised_at_the_named_arrival_only(monkeypatch):
    monkeypatch.setenv(faults.ENV, "export@2:enospc")
    monkeypatch.setattr(faults, "_arrivals", {})
    faults.point("export")
    faults.point("train_step")
    with pytest.raises(OSError) as caught:
        faults.point("export")
    assert caught.value.errno == errno.ENOSPC
    faults.point("export")  # the third arrival passes


def test_a_full_disk_under_the_command_is_one_message_and_exit_2(tmp_path):
    out = tmp_path / "run"
    done = run_module("keras_gens.train", "vae", "--data", "digits", "--out", str(out), *RUN,
                      **{faults.ENV: "checkpoint_write@1:enospc"})
    assert done.returncode == 2, done.stdout[-2000:]
    assert "Traceback" not in done.stdout
    assert (f"error: could not write checkpoint {out / 'checkpoints' / 'within_epoch' / 'epoch1-step15'}: "
            "No space left on device") in done.stdout
    assert "no earlier checkpoint exists" in done.stdout and "re-run the same command to resume" in done.stdout
    assert not list((out / "checkpoints").rglob("*.index"))


def test_an_atomic_write_to_a_full_disk_leaves_the_old_file_and_names_the_new_one(tmp_path, monkeypatch, capsys):
    from keras_gens.cli import run_cli
    from keras_gens.utils.io import atomic_write_text

    table = tmp_path / "metrics.csv"
    atomic_write_text(table, "epoch\n1\n")
    monkeypatch.setenv(faults.ENV, "file_write@1:enospc")
    monkeypatch.setattr(faults, "_arrivals", {})

    def work():
        atomic_write_text(table, "epoch\n1\n2\n")
        return 0

    assert run_cli(work) == 2
    assert f"error: could not write {table}: No space left on device" in capsys.readouterr().err
    assert table.read_text() == "epoch\n1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]  # no temporary file left


def test_temporary_files_of_killed_writers_are_swept_and_a_running_writers_kept(tmp_path):
    import os

    from keras_gens.utils.io import atomic_write_text

    dead = subprocess_pid_that_exited()
    stale = tmp_path / f".events.npz.tmp{dead}-abc.tmp"
    live = tmp_path / f".events.npz.tmp{os.getpid()}-def.tmp"
    stale.write_bytes(b"half")
    live.write_bytes(b"in progress")
    atomic_write_text(tmp_path / "events.npz", "x")
    assert not stale.exists() and live.exists()


def subprocess_pid_that_exited() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_what_a_cut_short_checkpoint_write_leaves_is_removed_and_complete_checkpoints_are_kept(tmp_path):
    folder = tmp_path / "checkpoints"
    (folder / "ckpt-3_temp").mkdir(parents=True)
    (folder / "ckpt-3_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"half")
    (folder / "checkpoint.tmp0123abcd").write_text("model_checkpoint_path: ")  # TF's state file, mid-write
    (folder / "ckpt-2.data-00000-of-00001").write_bytes(b"no index was written")
    (folder / "ckpt-2.index.tempstate8150309120519519212").write_bytes(b"the index, mid-write")
    for name in ("ckpt-1.index", "ckpt-1.data-00000-of-00001", "checkpoint"):
        (folder / name).write_bytes(b"complete")
    within = run_dirs.within_epoch_dir(tmp_path)
    within.mkdir()
    (within / "epoch2-step15_temp").mkdir()

    removed = run_dirs.remove_incomplete_checkpoints(tmp_path)
    assert sorted(p.name for p in removed) == ["checkpoint.tmp0123abcd", "ckpt-2.data-00000-of-00001",
                                                "ckpt-2.index.tempstate8150309120519519212", "ckpt-3_temp",
                                                "epoch2-step15_temp"]
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint", "ckpt-1.data-00000-of-00001", "ckpt-1.index",
                                                         "within_epoch"]
    assert list(within.iterdir()) == []


@pytest.mark.parametrize("per_call,every,expected", [(8, 10, 2), (8, 16, 8), (8, 0, 8), (4, 15, 1), (1, 7, 1)])
def test_steps_per_call_divide_the_within_epoch_checkpoint_interval(per_call, every, expected):
    """Callbacks see a run between calls: with checkpoint.every_steps set, each call ends on every such step."""
    from keras_gens.runner import _align_steps_per_execution, resolve_config

    _, cfg = resolve_config("vae", overrides=[f"train.steps_per_execution={per_call}",
                                              f"checkpoint.every_steps={every}"])
    notes = []
    _align_steps_per_execution(cfg, notes.append)
    assert cfg.train.steps_per_execution == expected
    assert bool(notes) == (expected != per_call)
    if notes:
        assert f"train.steps_per_execution {per_call} -> {expected}" in notes[0]


def test_with_several_steps_per_call_checkpoints_land_on_their_steps_and_faults_count_steps(tmp_path, monkeypatch):
    # 40 steps an epoch; saves every 12 steps and 8 steps per call: calls of gcd(8, 12) = 4 steps.
    monkeypatch.setenv(faults.ENV, "train_step@6:enospc")
    monkeypatch.setattr(faults, "_arrivals", {})
    stops = []

    class Step(tf.keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            stops.append(int(self.model.step.numpy()))

    with pytest.raises(OSError):  # the 6th step's arrival, reported when the call of steps 5-8 returns
        train(tmp_path / "run", "train.steps_per_execution=8", "checkpoint.every_steps=12", callbacks=[Step()])
    # The fault stops the run in the checkpoint callback, before the later callbacks of that call.
    assert stops == [4]
    assert not list((tmp_path / "run" / "checkpoints").glob("within_epoch/*"))
    monkeypatch.delenv(faults.ENV)
    stops.clear()
    run = train(tmp_path / "again", "train.steps_per_execution=8", "checkpoint.every_steps=12",
                "train.epochs=1", callbacks=[Step()])
    assert stops == [4, 8, 12, 16, 20, 24, 28, 32, 36, 40]  # calls of 4 steps: gcd(8, 12)
    assert int(run.model.step.numpy()) == STEPS
