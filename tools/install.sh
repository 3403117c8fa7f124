#!/usr/bin/env bash
# Creates or updates the project's virtual environment (.venv by default).
# Safe to re-run: pip skips what is already satisfied. `make` calls this only
# when a requirements file or setup.cfg is newer than the venv's stamp.
#
#   GPU=1      also install TensorFlow's CUDA 11.8 / cuDNN 8.7 wheels (tensorflow[and-cuda], NVIDIA
#              GPUs on Linux x86-64; needs an NVIDIA driver >= 520): `make install GPU=1`
#   --dry-run  print the pip commands instead of running them (the tests check them this way)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3.11}
GPU=${GPU:-0}
DRY_RUN=0
[ "${1:-}" = "--dry-run" ] && DRY_RUN=1

case "$GPU" in
  0|1) ;;
  *) echo "error: GPU must be 0 or 1, got '$GPU'" >&2; exit 1 ;;
esac
# The CUDA extra of exactly the TensorFlow that requirements/base.txt pins.
tf_pin=$(grep -E '^tensorflow==' requirements/base.txt | head -n 1)
gpu_requirements=()
[ "$GPU" = 1 ] && gpu_requirements=("${tf_pin/tensorflow==/tensorflow[and-cuda]==}")

if [ "$DRY_RUN" = 0 ]; then
  if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "error: $PYTHON not found. keras_gens needs Python 3.11 (TensorFlow Federated 0.87 supports <3.12)." >&2
    echo "       Install Python 3.11, or point PYTHON at it: make PYTHON=/path/to/python3.11 test" >&2
    exit 1
  fi
  version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  if [ "$version" != "3.11" ]; then
    echo "error: $PYTHON is Python $version; keras_gens needs 3.11 (TFF 0.87 requires <3.12, TF 2.14 >=3.9)." >&2
    exit 1
  fi
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
fi

pip_install() {
  if [ "$DRY_RUN" = 1 ]; then
    echo "pip install $*"
  else
    "$VENV/bin/python" -m pip --disable-pip-version-check -q install "$@"
  fi
}

# 1. every pinned requirement, with jax 0.4.14 and jaxlib 0.4.13 (0.4.14 is not on the index)
pip_install -r requirements/base.txt -r requirements/test.txt -c requirements/lock.txt \
  ${gpu_requirements[@]+"${gpu_requirements[@]}"}
# 2. TFF without its dependencies: its jaxlib==0.4.14 pin cannot be met, and 0.4.13 works.
pip_install --no-deps tensorflow-federated==0.87.0
# 3. this project, editable, so configs/ and tools/ stay next to the package
pip_install --no-deps --no-build-isolation -e .
[ "$DRY_RUN" = 1 ] && exit 0

# `pip check` must report only the known jaxlib line.
unexpected=$("$VENV/bin/python" -m pip check 2>/dev/null | grep -v "jaxlib==0.4.14, but you have jaxlib 0.4.13" || true)
if [ -n "$unexpected" ] && [ "$unexpected" != "No broken requirements found." ]; then
  echo "warning: pip check reports:" >&2
  echo "$unexpected" >&2
fi
touch "$VENV/.installed"
if [ "$GPU" = 1 ]; then
  touch "$VENV/.installed-gpu"
  echo "GPUs that TensorFlow sees (an empty list: check the driver with nvidia-smi):"
  "$VENV/bin/python" -c 'import tensorflow as tf; print(" ", tf.config.list_physical_devices("GPU"))' 2>/dev/null || true
fi
echo "environment ready: $VENV"
