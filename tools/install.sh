#!/usr/bin/env bash
# Creates or updates the project's virtual environment (.venv by default).
# Safe to re-run: pip skips what is already satisfied. `make` calls this only
# when a requirements file or setup.cfg is newer than the venv's stamp.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3.11}

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
pip=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

# 1. every pinned requirement, with jax 0.4.14 and jaxlib 0.4.13 (0.4.14 is not on the index)
"${pip[@]}" install -r requirements/base.txt -r requirements/test.txt -c requirements/lock.txt
# 2. TFF without its dependencies: its jaxlib==0.4.14 pin cannot be met, and 0.4.13 works.
"${pip[@]}" install --no-deps tensorflow-federated==0.87.0
# 3. this project, editable, so configs/ and tools/ stay next to the package
"${pip[@]}" install --no-deps --no-build-isolation -e .

# `pip check` must report only the known jaxlib line.
unexpected=$("$VENV/bin/python" -m pip check 2>/dev/null | grep -v "jaxlib==0.4.14, but you have jaxlib 0.4.13" || true)
if [ -n "$unexpected" ] && [ "$unexpected" != "No broken requirements found." ]; then
  echo "warning: pip check reports:" >&2
  echo "$unexpected" >&2
fi
touch "$VENV/.installed"
echo "environment ready: $VENV"
