"""The fault matrix: every long command, killed (SIGKILL) at named points, then re-run as typed, must end with
the uninterrupted run's result: nothing lost, nothing half-written, no temporary file left behind.

The points are keras_gens.utils.faults's (``KERAS_GENS_FAULT=<point>@<n>[:<action>]``): the data check, a
training step (mid-epoch), a checkpoint write (killed from a timer while it writes), an atomic file write
(its data written, not yet renamed), an export (during the SavedModel write) and a federated round.  Which
arrival is hit is drawn from MATRIX_SEED, so every case is repeatable and its id names it.

The default suite runs REPRESENTATIVE (one case per kind of point); ``make test-slow`` runs the whole matrix.
"""
from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from keras_gens.utils import faults
from tests.helpers import REPO, SMALL_VAE, python_env, random_images, write_image

MATRIX_SEED = 20261207
TIMEOUT = 420


def run(args, timeout=TIMEOUT, **env) -> subprocess.CompletedProcess:
    """``python -m ARGS``; afterwards its whole process group is killed, so that a child the command
    started (TFF's worker) cannot outlive a killed parent and hold the output open."""
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, env=python_env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    output = proc.stdout.read()
    proc.stdout.close()
    proc.wait()
    return subprocess.CompletedProcess(args, proc.returncode, output, None)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def csv_without(path: Path, *columns) -> list[dict]:
    from keras_gens.utils import metrics_csv

    return [{k: v for k, v in row.items() if k not in columns} for row in metrics_csv.read_rows(path)]


def checkpoint_values(prefix: Path) -> dict:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(prefix))
    return {name: digest_array(reader.get_tensor(name)) for name, _ in tf.train.list_variables(str(prefix))
            if not name.startswith("_CHECKPOINTABLE")}


def digest_array(array) -> str:
    array = np.asarray(array)
    return hashlib.sha256(array.tobytes() + str(array.dtype).encode()).hexdigest()[:16]


def leftovers(folder: Path) -> list[str]:
    """What an interrupted write may leave: atomic-write temporaries, swapped-out folders, TF temp shards."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if ".tmp" in p.name or ".old" in p.name or ".tempstate" in p.name or p.name.endswith("_temp"))


# -- the commands, at test size ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    name: str
    argv: object      # (out, inputs) -> the command line after ``python -m``
    result: object    # (out) -> what must equal the uninterrupted run's
    inputs: tuple = ()  # what the command reads, made once (see ``inputs``)


TRAIN_ARGS = [*SMALL_VAE, "train.epochs=2", "train.steps_per_epoch=12", "checkpoint.every_steps=5",
              "data.validate=full", "samples.every=1"]


def train_result(out: Path) -> dict:
    return {"metrics": csv_without(out / "metrics.csv", "seconds"),
            "weights": checkpoint_values(out / "checkpoints" / "ckpt-2"),
            "samples": digest(out / "samples" / "epoch_0002.png")}


def compare_result(out: Path) -> dict:
    table = csv_without(out / "comparison.csv", "seconds", "train_seconds", "eval_seconds")
    return {"table": table, **{f"{m}_metrics": csv_without(out / m / "metrics.csv", "seconds") for m in ("vae", "wae")}}


def ocgan_result(out: Path) -> dict:
    return {"table": csv_without(out / "comparison.csv", "seconds", "train_seconds"),
            **{f"{m}_metrics": csv_without(out / m / "metrics.csv", "seconds") for m in ("dcgan", "dcgan_oct")}}


def simulate_result(out: Path) -> dict:
    import yaml

    summary = yaml.safe_load((out / "summary.yaml").read_text())
    kept = {k: v for k, v in summary.items() if "second" not in k}
    return {"metrics": csv_without(out / "metrics.csv", "seconds"), "summary": kept}


def grid_result(out: Path) -> dict:
    return {p.parent.name: csv_without(p, "seconds") for p in sorted(out.glob("*/metrics.csv"))}


def export_result(out: Path) -> dict:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(out))
    z = tf.constant(np.random.default_rng(0).normal(size=(4, int(loaded.latent_dim.numpy()))).astype(np.float32))
    images = loaded.signatures["serving_default"](z=z)
    return {name: digest_array(t.numpy()) for name, t in images.items()}


def events_result(out: Path) -> dict:
    with np.load(out / "events.npz") as archive:
        return {name: digest_array(archive[name]) for name in archive.files}


FED = ["partition.num_clients=5", "federated.clients_per_round=5", "federated.hidden_units=[8]",
       "run.checkpoint_every=1", "run.verbose=2"]
COMMANDS = {
    "train": Command("train", lambda out, i: ["keras_gens.train", "vae", "--data", f"folder:{i['images']}",
                                              "--out", str(out), *TRAIN_ARGS], train_result, ("images",)),
    "compare": Command("compare", lambda out, i: [
        "keras_gens.compare", "vae", "wae", "--smoke", "--out", str(out), "--samples", "40", "--pairs", "2",
        "--fid", "off", "train.epochs=2", "train.steps_per_epoch=6", "checkpoint.every_steps=4"], compare_result),
    "ocgan": Command("ocgan", lambda out, i: [
        "keras_gens.ocgan", "--smoke", "--set", "pair", "--base", "dcgan", "--metric", "sharpness", "--samples", "40",
        "--out", str(out), "train.epochs=2", "train.steps_per_epoch=6", "checkpoint.every_steps=4"], ocgan_result),
    "federated.simulate": Command("federated.simulate", lambda out, i: [
        "federated.simulate", "--config", "configs/fed_digits.yaml", "--out", str(out), *FED, "federated.rounds=4"],
        simulate_result),
    "federated.grid": Command("federated.grid", lambda out, i: [
        "federated.grid", "--config", "configs/fed_digits.yaml", "--grids", "algorithms", "--out", str(out), *FED,
        "federated.rounds=2"], grid_result),
    "export": Command("export", lambda out, i: ["keras_gens.export", str(i["vae_run"]), "--out", str(out)],
                      export_result, ("vae_run",)),
    "pxd_events": Command("pxd_events", lambda out, i: [
        "keras_gens.pxd_events", str(out / "pe_gan_run"), "--events", "1", "--out", str(out / "events.npz")],
        events_result, ("pe_gan_run",)),
}


# -- the matrix: (command, point, action, the range its arrival is drawn from) --------------------------------

@dataclass(frozen=True)
class Case:
    command: str
    fault: str

    @property
    def id(self) -> str:
        return f"{self.command}-{self.fault}"


def _draw(rng, first, last) -> int:
    return rng.randint(first, last)


def _matrix() -> list[Case]:
    rng = random.Random(MATRIX_SEED)
    rows = [
        # train: 48 images (checked once), 2 epochs of 12 steps, within-epoch checkpoints every 5 steps.
        ("train", "data_check", "kill", (1, 48)),
        ("train", "train_step", "kill", (2, 23)),
        ("train", "checkpoint_write", "kill-during", (1, 6)),
        ("train", "file_write", "kill", (1, 8)),
        ("compare", "train_step", "kill", (2, 23)),        # into the second model's run
        ("compare", "checkpoint_write", "kill-during", (1, 8)),
        ("compare", "file_write", "kill", (8, 20)),       # evaluation tables and figures
        ("ocgan", "train_step", "kill", (2, 23)),
        ("ocgan", "checkpoint_write", "kill-during", (1, 8)),
        ("ocgan", "file_write", "kill", (6, 16)),
        ("federated.simulate", "federated_round", "kill", (2, 4)),
        ("federated.simulate", "file_write", "kill", (2, 10)),
        ("federated.grid", "federated_round", "kill", (2, 8)),
        ("federated.grid", "file_write", "kill", (4, 20)),
        ("export", "export", "kill-during", (1, 1)),
        ("export", "export", "kill", (1, 1)),
        ("pxd_events", "export", "kill-during", (1, 1)),
        ("pxd_events", "file_write", "kill", (1, 1)),
    ]
    return [Case(command, f"{point}@{_draw(rng, *bounds)}:{action}") for command, point, action, bounds in rows]


MATRIX = _matrix()
# One case per kind of point, the cheapest commands: the default suite's share of the matrix.
REPRESENTATIVE = {"train-train_step", "train-checkpoint_write", "federated.simulate-federated_round",
                  "export-export"}


def _params():
    for case in MATRIX:
        kind = case.id.split("@")[0]
        first_of_kind = kind in REPRESENTATIVE and case is next(c for c in MATRIX if c.id.split("@")[0] == kind)
        marks = [] if first_of_kind else [pytest.mark.slow]
        if case.command.startswith("federated."):
            marks.append(pytest.mark.federated)
        yield pytest.param(case, id=case.id, marks=marks)


# -- inputs and uninterrupted results, made once per session -------------------------------------------------

@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    made = {}
    root = tmp_path_factory.mktemp("matrix-inputs")

    def get(name):
        if name in made:
            return made[name]
        if name == "images":
            folder = root / "images"
            for k, image in enumerate(random_images(48, 32, 32, seed=3)):
                write_image(folder / f"{k:03d}.png", image)
            made[name] = folder
        elif name == "vae_run":
            made[name] = root / "vae_run"
            done = run(COMMANDS["train"].argv(made[name], {"images": get("images")}))
            assert done.returncode == 0, done.stdout[-3000:]
        elif name == "pe_gan_run":
            made[name] = root / "pe_gan_run"
            done = run(["keras_gens.train", "pe_gan", "--smoke", "--out", str(made[name]), "train.epochs=1",
                        "train.steps_per_epoch=2", "model.g_blocks_per_stage=1", "model.d_blocks_per_stage=[1, 1, 1]",
                        "model.d_steps=1", "model.singular_values.every=2", "train.verbose=0"])
            assert done.returncode == 0, done.stdout[-3000:]
        return made[name]

    return get


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, inputs):
    results = {}

    def get(command: Command):
        if command.name not in results:
            out = tmp_path_factory.mktemp(f"uninterrupted-{command.name}") / "out"
            prepare(command, out, inputs)
            done = run(command.argv(out, {n: inputs(n) for n in command.inputs}))
            assert done.returncode == 0, done.stdout[-3000:]
            results[command.name] = command.result(out)
        return results[command.name]

    return get


def prepare(command: Command, out: Path, inputs):
    if command.name == "pxd_events":  # it exports into the run: each case gets its own copy
        shutil.copytree(inputs("pe_gan_run"), out / "pe_gan_run")


@pytest.mark.parametrize("case", list(_params()))
def test_a_killed_command_reruns_to_the_uninterrupted_result(case, inputs, uninterrupted, tmp_path):
    command = COMMANDS[case.command]
    expected = uninterrupted(command)
    out = tmp_path / "out"
    prepare(command, out, inputs)
    argv = command.argv(out, {n: inputs(n) for n in command.inputs})

    killed = run(argv, **{faults.ENV: case.fault, faults.SEED_ENV: MATRIX_SEED})
    assert killed.returncode == -signal.SIGKILL, f"the fault point was not reached:\n{killed.stdout[-3000:]}"

    rerun = run(argv)
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert command.result(out) == expected
    assert leftovers(out) == [], f"left behind by the killed run: {leftovers(out)}"


def test_the_matrix_covers_every_long_command_and_every_point():
    assert {c.command for c in MATRIX} == set(COMMANDS)
    points = {c.fault.split("@")[0] for c in MATRIX}
    assert points == {"data_check", "train_step", "checkpoint_write", "file_write", "export", "federated_round"}
    assert len({c.id for c in MATRIX}) == len(MATRIX)
