"""SavedModel export: loadable by TensorFlow alone, described by saved_model_cli, written atomically;
and the generate command on runs and exports."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import tensorflow as tf

from keras_gens import run_dirs, runner, serving
from keras_gens.errors import RunDirError
from tests.helpers import SMALL_VAE, python_env, run_module


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "run"
    runner.train("vae", data="digits", out=out, overrides=SMALL_VAE + ["train.epochs=1", "train.steps_per_epoch=5"],
                 log=lambda *_: None)
    return out


@pytest.fixture(scope="module")
def exported(trained_run):
    return serving.export_run(trained_run)


TF_ONLY_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
serve = model.signatures["serving_default"]
z = tf.constant(np.random.default_rng(0).standard_normal((3, 8)), tf.float32)
images = serve(z=z)["images"]
as_float = model.signatures["generate_float"](z=z)["images"]
sampled = model.signatures["sample"](n=tf.constant(5), seed=tf.constant(7, tf.int64))
print(json.dumps({
    "dtype": images.dtype.name, "shape": images.shape.as_list(),
    "float_max_error": float(np.abs(as_float.numpy() * 255 - images.numpy()).max()),
    "sample_shape": sampled["images"].shape.as_list(), "z_shape": sampled["z"].shape.as_list(),
    "project_modules": sorted(m for m in sys.modules if m.split(".")[0] in ("keras_gens", "keras")),
    "signatures": sorted(model.signatures.keys()),
    "float_images": as_float.numpy().tolist(),
}))
"""


def test_export_loads_in_a_process_that_imports_only_tensorflow(trained_run, exported, tmp_path):
    assert exported == trained_run / "export" / "1"
    env = python_env()
    env.pop("PYTHONPATH")
    proc = subprocess.run([sys.executable, "-c", TF_ONLY_SCRIPT, str(exported)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["dtype"] == "uint8" and result["shape"] == [3, 32, 32, 3]
    assert result["float_max_error"] <= 0.5 + 1e-3  # uint8 is the rounded float output
    assert result["sample_shape"] == [5, 32, 32, 3] and result["z_shape"] == [5, 8]
    assert result["signatures"] == ["generate_float", "sample", "serving_default"]
    assert not [m for m in result["project_modules"] if m.startswith("keras_gens")]

    # The export computes what the trained model computes.
    _, _, model, _ = run_dirs.build_from_run(trained_run)
    z = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(result["float_images"]), model.generate(z).numpy(), atol=1e-5)


def test_saved_model_cli_describes_the_signature(exported):
    cli = Path(sys.executable).parent / "saved_model_cli"
    proc = subprocess.run([str(cli), "show", "--dir", str(exported), "--tag_set", "serve",
                           "--signature_def", "serving_default"], capture_output=True, text=True, timeout=120,
                          env=python_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "inputs['z'] tensor_info" in proc.stdout and "shape: (-1, 8)" in proc.stdout
    assert "outputs['images'] tensor_info" in proc.stdout and "DT_UINT8" in proc.stdout
    assert "shape: (-1, 32, 32, 3)" in proc.stdout


def test_export_is_atomic_and_versioned(trained_run, exported, monkeypatch):
    target = trained_run / "export" / "1"
    before = (target / "saved_model.pb").read_bytes()

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        serving.export_run(trained_run, target)
    assert (target / "saved_model.pb").read_bytes() == before  # the old export is untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["1"]  # no temporary folder left behind
    monkeypatch.undo()

    assert serving.export_run(trained_run) == trained_run / "export" / "2"  # the next version


def test_export_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(RunDirError, match="not a run directory"):
        serving.export_run(tmp_path)


def test_generate_from_an_export_and_from_a_run(trained_run, exported, tmp_path):
    done = run_module("keras_gens.generate", str(trained_run / "export"), "--n", "70", "--out", str(tmp_path / "a"),
                      "--grid", str(tmp_path / "grid.png"), timeout=180)
    assert done.returncode == 0, done.stdout
    files = sorted((tmp_path / "a").glob("*.png"))
    assert len(files) == 70 and files[0].name == "00000.png"
    assert cv2.imread(str(files[0])).shape == (32, 32, 3)
    assert cv2.imread(str(tmp_path / "grid.png")).shape == (8 * 34 + 2, 8 * 34 + 2, 3)

    from keras_gens.sampling import write_samples

    written = write_samples(trained_run, 3, tmp_path / "b")
    assert [p.name for p in written] == ["00000.png", "00001.png", "00002.png"]


def test_export_command_line(trained_run, tmp_path):
    done = run_module("keras_gens.export", str(trained_run), "--out", str(tmp_path / "served" / "1"), timeout=180)
    assert done.returncode == 0, done.stdout
    assert "signatures: serving_default, generate_float, sample" in done.stdout
    assert (tmp_path / "served" / "1" / "saved_model.pb").is_file()
    assert (tmp_path / "served" / "1" / "assets.extra" / "keras_gens.yaml").is_file()


def test_a_run_and_its_export_are_readable_by_others_under_umask_022(tmp_path):
    """A colleague, or TF Serving running as another user, can read every file: 0644 files, 0755 folders."""
    import os
    import stat

    previous = os.umask(0o022)
    try:
        out = tmp_path / "run"
        runner.train("vae", data="digits", out=out, overrides=SMALL_VAE + ["train.epochs=1", "train.steps_per_epoch=3"],
                     log=lambda *_: None)
        serving.export_run(out)
    finally:
        os.umask(previous)
    paths = [out, *out.rglob("*")]
    assert {p.name for p in paths} >= {"config.yaml", "run.yaml", "metrics.csv", "epoch_0001.png", "saved_model.pb",
                                      "1", "export"}
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), f"{path.relative_to(tmp_path)}: {oct(mode)}"
