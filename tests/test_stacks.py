"""Artefacts cross the two stacks (README "Install"): a SavedModel exported on one serves on the other, and a
checkpoint written on one resumes on the other, both ways.  Needs both environments: .venv (the federated
stack, `make install`) and .venv-current (the current stack, `make install-current`); skipped without the other.
"""
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, SMALL_VAE, run_module

ENVIRONMENTS = {"federated": REPO / ".venv" / "bin" / "python", "current": REPO / ".venv-current" / "bin" / "python"}
HERE = next((name for name, python in ENVIRONMENTS.items() if Path(sys.prefix) == python.parent.parent), None)


def _ok(done, what):
    assert done.returncode == 0, f"{what}:\n{done.stdout[-3000:]}"
    return done.stdout


@pytest.mark.skipif(HERE is None, reason="runs from one of the two environments of this checkout")
@pytest.mark.parametrize("direction", ["to the other stack", "from the other stack"])
def test_a_saved_model_and_a_checkpoint_cross_the_stacks(direction, tmp_path):
    other = next(python for name, python in ENVIRONMENTS.items() if name != HERE)
    if not other.is_file():
        pytest.skip(f"the other stack is not installed ({other}): make install / make install-current")
    writer, reader = (sys.executable, other) if direction == "to the other stack" else (other, sys.executable)
    run = tmp_path / "run"
    tiny = ["vae", "--smoke", *SMALL_VAE, "train.steps_per_epoch=3", "--out", str(run)]
    _ok(run_module("keras_gens.train", *tiny, "train.epochs=1", python=writer), "train")
    _ok(run_module("keras_gens.export", str(run), python=writer), "export")
    _ok(run_module("keras_gens.generate", str(run / "export"), "--n", "3", "--out", str(tmp_path / "samples"),
                   python=reader), "generate from the other stack's SavedModel")
    assert len(list((tmp_path / "samples").glob("*.png"))) == 3
    resumed = _ok(run_module("keras_gens.train", *tiny, "train.epochs=2", python=reader),
                  "resume the other stack's checkpoint")
    assert "trained epochs 2-2" in resumed
