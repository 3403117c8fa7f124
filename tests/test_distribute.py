"""Distribution: one replica and two take the same step; a two-worker cluster trains to completion."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_gens import data, registry
from keras_gens.distribute import describe_devices, is_chief, make_strategy
from keras_gens.models.base import DataInfo
from tests.helpers import REPO, SMALL_VAE, python_env

# Plain SGD: the weight change is proportional to the gradient, so the comparison
# measures the gradients themselves (Adam's first step is ±lr whatever their size).
SGD = ["data.source=digits", "optimizer.name=sgd", "optimizer.beta_1=null", "optimizer.beta_2=null", "optimizer.learning_rate=0.01"]


def network_weights(model):
    """The encoder's and decoder's weights (model.get_weights() would include the metric totals)."""
    return [v.numpy() for v in model.encoder.weights + model.decoder.weights]


def one_step(strategy, initial_weights, batch):
    spec = registry.get("vae")
    cfg = spec.config(overrides=SMALL_VAE + SGD)
    with strategy.scope():
        model = spec.build(cfg, DataInfo((32, 32, 3)))
    for variable, value in zip(model.encoder.weights + model.decoder.weights, initial_weights):
        variable.assign(value)
    logs = model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, steps_per_epoch=1, verbose=0).history
    return network_weights(model), {k: v[0] for k, v in logs.items()}


def test_one_and_two_replicas_take_the_same_step(two_replicas, monkeypatch):
    # Two replicas use synchronized BatchNorm, whose variance is E[x²] - E[x]² over the replicas;
    # one replica's fused kernel computes it another way, and in float32 the two differ by up to
    # ~3e-3 of the step, depending on the initial weights.  The one-replica step here uses the
    # synchronized layer too, so what is compared is how the replicas combine their gradients.
    import keras_gens.models.vae as vae_module
    monkeypatch.setattr(vae_module, "batch_norm", lambda name=None, **kwargs: tf.keras.layers.BatchNormalization(
        synchronized=True, name=name, **kwargs))
    tf.keras.utils.set_random_seed(0)
    spec = registry.get("vae")
    cfg = spec.config(overrides=SMALL_VAE + SGD)
    initial = network_weights(spec.build(cfg, DataInfo((32, 32, 3))))
    source = data.load(cfg.data)
    batch = next(iter(source.dataset(16, seed=0)))

    w1, logs1 = one_step(tf.distribute.get_strategy(), initial, batch)
    w2, logs2 = one_step(two_replicas, initial, batch)
    # Compare the updates, not the weights, and relative to the size of the step: float32
    # sums taken in another order differ in their last bits, and some gradients (biases
    # followed by BatchNorm) are sums that cancel to almost nothing.  A gradient off by the
    # replica count (0.5x or 2x) or different noise per example would be off by tens of percent.
    steps1 = [a - w for a, w in zip(w1, initial)]
    steps2 = [b - w for b, w in zip(w2, initial)]
    largest = max(np.abs(s).max() for s in steps1)
    assert sum(np.abs(s).max() > 0 for s in steps1) > 20  # the step really moved the weights
    for s1, s2 in zip(steps1, steps2):
        assert np.abs(s1 - s2).max() <= 1e-4 * largest
    flat1, flat2 = (np.concatenate([s.ravel() for s in steps]) for steps in (steps1, steps2))
    assert np.linalg.norm(flat1 - flat2) <= 1e-4 * np.linalg.norm(flat1)
    for key in logs1:
        assert logs1[key] == pytest.approx(logs2[key], rel=1e-4)


def test_auto_picks_no_distribution_on_one_device_and_multiworker_with_a_cluster(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert make_strategy("auto").num_replicas_in_sync == 1
    assert is_chief()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2"]},
                                                "task": {"type": "worker", "index": 1}}))
    assert not is_chief()


def test_the_start_up_line_names_the_devices(two_replicas):
    # This machine has no GPU: the line says so (the GPU names are untested here).
    assert describe_devices(make_strategy("none")) == "CPU (no GPU visible to TensorFlow)"
    assert describe_devices(two_replicas) == "CPU:0, CPU:1 (no GPU visible to TensorFlow)"


@pytest.mark.slow  # (make test-slow) over a minute on 2 cores
@pytest.mark.multiworker
def test_two_workers_train_to_completion(tmp_path):
    import portpicker

    ports = [portpicker.pick_unused_port() for _ in range(2)]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    out = tmp_path / "run"
    procs = []
    for index in range(2):
        env = python_env(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        args = [sys.executable, "-m", "keras_gens.train", "vae", "--data", "digits", "--out", str(out), *SMALL_VAE,
                "train.distribute=multiworker", "train.epochs=2", "train.steps_per_epoch=4", "train.verbose=2"]
        procs.append(subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, start_new_session=True))
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=240)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    for proc, output in zip(procs, outputs):
        assert proc.returncode == 0, output[-3000:]
    assert "2 replica(s)" in outputs[0]
    assert tf.train.latest_checkpoint(str(out / "checkpoints")).endswith("ckpt-2")
    assert (out / "samples" / "epoch_0002.png").is_file()
    assert not (out / ".worker-1").exists()  # the non-chief's scratch checkpoints are removed


@pytest.mark.slow  # (make test-slow) over a minute on 2 cores
def test_a_wgan_step_with_critic_batches_is_the_same_on_one_and_two_replicas(two_replicas):
    """Each train_step takes several batches (2 here, 5 in the paper); the runner regroups them so every
    replica gets its share of each (without the regrouping this test fails)."""
    from keras_gens.runner import group_for_replicas

    spec = registry.get("wgan_oct")
    sgd = ["optimizers.generator={name: sgd, learning_rate: 0.01}",
           "optimizers.discriminator={name: sgd, learning_rate: 0.01}"]
    cfg = spec.config(overrides=["model.base_filters=4", "model.clip_value=1.0", "model.critic_steps=2"] + sgd)
    info = DataInfo((32, 32, 1), 0, (-1.0, 1.0))
    reference = spec.build(cfg, info)
    initial = [v.numpy() for v in reference.generator.weights + reference.discriminator.weights]
    images = tf.random.stateless_uniform((2 * 8, 32, 32, 1), seed=[1, 2], minval=-1, maxval=1)
    batch = {"image": images, "label": tf.zeros(16, tf.int32)}

    def step(strategy):
        with strategy.scope():
            model = spec.build(cfg, info)
        nets = model.generator.weights + model.discriminator.weights
        for variable, value in zip(nets, initial):
            variable.assign(value)
        ds = group_for_replicas(tf.data.Dataset.from_tensors(batch), 2, strategy.num_replicas_in_sync)
        model.fit(ds, epochs=1, steps_per_epoch=1, verbose=0)
        return [v.numpy() - w for v, w in zip(nets, initial)]

    steps1 = step(tf.distribute.get_strategy())
    steps2 = step(two_replicas)
    largest = max(np.abs(s).max() for s in steps1)
    assert largest > 0
    flat1, flat2 = (np.concatenate([s.ravel() for s in steps]) for steps in (steps1, steps2))
    assert np.linalg.norm(flat1 - flat2) <= 1e-3 * np.linalg.norm(flat1)
