"""Artefacts cross the two stacks (README "Install"): a SavedModel exported on one serves on the other, a
checkpoint written on one resumes on the other, both ways, and FID of the same images agrees between them.  Needs both environments: .venv (the federated
stack, `make install`) and .venv-current (the current stack, `make install-current`); skipped without the other.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import REPO, SMALL_VAE, run_module, write_random_fid_weights

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


FID_OF_TWO_SETS = """
import sys, numpy as np
from keras_gens import evaluation
from keras_gens.metrics.inception import FeatureExtractor
arrays = np.load(sys.argv[1])
def images(name):
    x = arrays[name]
    return evaluation.Images(name, len(x), x.shape[1:3], lambda: (x[i:i + 16] for i in range(0, len(x), 16)))
extractor = FeatureExtractor(weights=sys.argv[2], batch_size=16)
print("FID", repr(evaluation.evaluate(["fid"], images("fake"), images("real"), extractor, use_cache=False,
                                      log=lambda m: None)["fid"]))
"""


@pytest.mark.skipif(HERE is None, reason="runs from one of the two environments of this checkout")
def test_fid_of_the_same_images_agrees_between_the_stacks(tmp_path):
    other = next(python for name, python in ENVIRONMENTS.items() if name != HERE)
    if not other.is_file():
        pytest.skip(f"the other stack is not installed ({other}): make install / make install-current")
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (48, 32, 32, 3), dtype=np.uint8)
    fake = np.clip(real.astype(np.int32) + rng.integers(-60, 61, real.shape), 0, 255).astype(np.uint8)
    np.savez(tmp_path / "images.npz", real=real, fake=fake)
    weights = write_random_fid_weights(tmp_path / "fid_weights.npz")
    values = []
    for python in (sys.executable, other):
        out = _ok(_run_python(python, FID_OF_TWO_SETS, tmp_path / "images.npz", weights), "FID")
        values.append(float(out.split("FID ")[1].split()[0]))
    assert values[0] > 0 and values[1] == pytest.approx(values[0], rel=1e-4), values


def _run_python(python, code, *args):
    import subprocess

    from tests.helpers import python_env

    done = subprocess.run([str(python), "-c", code, *map(str, args)], cwd=REPO, env=python_env(),
                          capture_output=True, text=True, timeout=600)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout + done.stderr, None)
