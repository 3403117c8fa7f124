"""The package as a user installs it: a wheel (``python -m build``), installed non-editable into a clean
environment away from the source tree, trains, exports and samples with the ``keras-gens`` command.

The clean environment is a venv of its own with the wheel in its site-packages; it reaches this
environment's dependencies (TensorFlow and the rest) through one .pth line, which adds their folder but
does not run the .pth hooks in it, so this checkout's editable keras_gens stays out of sight.
"""
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.slow


def run(*args, cwd, timeout=600):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_GENS_CONFIGS")}
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_the_wheel_installs_and_runs_outside_the_source_tree(tmp_path):
    # the tracked files only, as a fresh clone has them (a build/ left in the checkout could ship stale modules)
    source = tmp_path / "source"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / name).exists() or (REPO / name).is_symlink():  # tracked, and not deleted in this checkout
            shutil.copy2(REPO / name, target, follow_symlinks=False)
    dist = tmp_path / "dist"
    # --no-isolation: the build uses this environment's setuptools instead of downloading one
    run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, source, cwd=tmp_path)
    (wheel,) = dist.glob("keras_gens-*.whl")
    env = tmp_path / "env"
    run(sys.executable, "-m", "venv", env, cwd=tmp_path)
    python, bin_dir = env / "bin" / "python", env / "bin"
    run(python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel, cwd=tmp_path)
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    where = run(python, "-c", "import keras_gens, keras_gens.config as c; print(keras_gens.__file__); "
                              "print(c.find_config_dir())", cwd=tmp_path).split()
    assert all(Path(p).is_relative_to(site) for p in where), where  # the installed copy, configs included

    work = tmp_path / "elsewhere"
    work.mkdir()
    keras_gens = bin_dir / "keras-gens"
    run(keras_gens, "train", "vae", "--smoke", "train.epochs=1", "train.steps_per_epoch=5", "--out", "run", cwd=work)
    run(keras_gens, "export", "run", cwd=work)
    run(keras_gens, "generate", "run/export", "--n", "4", "--out", "samples", cwd=work)
    assert len(list((work / "samples").glob("*.png"))) == 4
    assert "keras-gens 0.1.0" in run(keras_gens, "--version", cwd=work)
