"""TensorBoard opens a run's logs, as `make demo` tells a user to: started as printed, read back over HTTP."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import portpicker

from keras_gens import runner
from keras_gens.utils import metrics_csv
from tests.helpers import REPO, SMALL_VAE, python_env


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read().decode())


def test_tensorboard_serves_a_runs_scalars(tmp_path):
    out = tmp_path / "run"
    runner.train("vae", data="digits", out=out, overrides=SMALL_VAE + ["train.epochs=2", "train.steps_per_epoch=5"],
                 log=lambda *_: None)
    port = portpicker.pick_unused_port()
    # The command `make demo` prints, bound to this machine only.
    proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(out / "logs"),
                             "--host", "127.0.0.1", "--port", str(port)],
                            cwd=REPO, env=python_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, points, error = time.time() + 120, None, None
        while time.time() < deadline and not points:
            if proc.poll() is not None:
                raise AssertionError(f"TensorBoard exited ({proc.returncode}):\n{proc.stdout.read()[-3000:]}")
            try:
                if "train" in _get(f"{base}/data/runs"):
                    points = _get(f"{base}/data/plugin/scalars/scalars?run=train&tag=epoch_loss")
            except (OSError, ValueError) as exc:  # not listening yet, or the run not loaded yet
                error = exc
            time.sleep(1)
        assert points, f"no epoch_loss from TensorBoard within 120 s (last error: {error})"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # [wall_time, step, value] per epoch: the values metrics.csv holds.
    rows = metrics_csv.read_rows(out / "metrics.csv")
    assert [step for _, step, _ in points] == [0, 1]
    for (_, _, value), row in zip(points, rows):
        assert abs(value - float(row["loss"])) <= 1e-4 * abs(value)
