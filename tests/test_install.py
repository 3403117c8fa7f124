"""The install logic (tools/install.sh, make install): what it would run, checked without running pip.

This machine has no GPU, so the GPU path is checked only up to the pip command it issues and the
existence of the extra it names; whether the CUDA wheels then find a GPU is untested here."""
import os
import subprocess
from importlib import metadata

from tests.helpers import REPO


def dry_run(**env):
    done = subprocess.run(["bash", "tools/install.sh", "--dry-run"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60)
    return done.returncode, done.stdout, done.stderr


def pinned_tensorflow() -> str:
    return next(line.split("==")[1].strip() for line in (REPO / "requirements/base.txt").read_text().splitlines()
                if line.startswith("tensorflow=="))


def test_the_cpu_install_never_asks_for_cuda():
    rc, out, _ = dry_run(GPU="0")
    assert rc == 0
    first = out.splitlines()[0]
    assert first.startswith("pip install -r requirements/base.txt -r requirements/test.txt -c requirements/lock.txt")
    assert "and-cuda" not in out
    assert "pip install --no-deps tensorflow-federated==0.87.0" in out


def test_gpu_1_adds_the_cuda_extra_of_the_pinned_tensorflow():
    rc, out, _ = dry_run(GPU="1")
    assert rc == 0
    version = pinned_tensorflow()
    assert out.splitlines()[0].endswith(f" tensorflow[and-cuda]=={version}")
    # The extra exists for exactly that version: the installed TensorFlow declares it.
    assert metadata.version("tensorflow") == version
    assert "and-cuda" in metadata.metadata("tensorflow").get_all("Provides-Extra")
    cuda = [r for r in metadata.requires("tensorflow") if "extra == \"and-cuda\"" in r or "extra == 'and-cuda'" in r]
    assert any(r.startswith("nvidia-cudnn-cu11") for r in cuda)


def test_a_bad_gpu_value_is_refused():
    rc, _, err = dry_run(GPU="yes")
    assert rc == 1 and "GPU must be 0 or 1, got 'yes'" in err


def test_make_passes_gpu_through_and_keeps_a_stamp_of_its_own():
    def planned(*args):
        done = subprocess.run(["make", "-n", "-B", "install", *args], cwd=REPO, capture_output=True, text=True,
                              timeout=60, env={k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "GPU")})
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "GPU=1 bash tools/install.sh" in planned("GPU=1")
    assert "GPU=0 bash tools/install.sh" in planned()
    stamps = subprocess.run(["make", "-p", "-n", "GPU=1", "install"], cwd=REPO, capture_output=True, text=True,
                            timeout=60).stdout
    assert "STAMP := .venv/.installed-gpu" in stamps  # a CPU-only venv is brought up to the GPU install
