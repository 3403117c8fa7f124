"""Choosing a ``tf.distribute`` strategy from ``train.distribute``.

``auto``: MultiWorkerMirroredStrategy when TF_CONFIG names more than one task,
MirroredStrategy when this machine has more than one GPU, otherwise none.
The global batch is ``train.batch_size`` whatever the strategy; each replica
gets its share, and models average their losses over the *global* batch
(``tf.nn.compute_average_loss``) so gradients do not depend on the replica count.
"""
from __future__ import annotations

import json
import os

import tensorflow as tf

from keras_gens.errors import ConfigError


def cluster_spec() -> dict:
    try:
        return json.loads(os.environ.get("TF_CONFIG", "") or "{}")
    except json.JSONDecodeError as exc:
        raise ConfigError(f"TF_CONFIG is not valid JSON: {exc}") from None


def num_cluster_tasks() -> int:
    cluster = cluster_spec().get("cluster", {})
    return sum(len(cluster.get(role, [])) for role in ("chief", "worker"))


def make_strategy(mode: str = "auto", devices=None) -> tf.distribute.Strategy:
    if mode == "auto":
        if num_cluster_tasks() > 1:
            mode = "multiworker"
        elif devices and len(devices) > 1 or len(tf.config.list_logical_devices("GPU")) > 1:
            mode = "mirrored"
        else:
            mode = "none"
    if mode == "none":
        return tf.distribute.get_strategy()
    if mode == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices or None)
    if mode == "multiworker":
        if not cluster_spec():
            raise ConfigError(
                "train.distribute=multiworker needs TF_CONFIG on every worker, e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}')
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"train.distribute must be auto, mirrored, multiworker or none; got {mode!r}")


def describe_devices(strategy: tf.distribute.Strategy) -> str:
    """What a run computes on, for its start-up line: "CPU (no GPU visible)", "GPU:0 (NVIDIA H100 ...)", ..."""
    try:
        devices = list(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy: TensorFlow places ops on the first GPU, if any
        gpus = tf.config.list_logical_devices("GPU")
        devices = [gpus[0].name] if gpus else []
    names = []
    physical_gpus = tf.config.list_physical_devices("GPU")
    for device in devices:
        spec = tf.DeviceSpec.from_string(device)
        label = f"{spec.device_type}:{spec.device_index}"
        if spec.device_type == "GPU" and spec.device_index is not None and spec.device_index < len(physical_gpus):
            model = tf.config.experimental.get_device_details(physical_gpus[spec.device_index]).get("device_name")
            label += f" ({model})" if model else ""
        names.append(label)
    if not names or all(n.startswith("CPU") for n in names):
        cpu = ", ".join(names) if len(names) > 1 else "CPU"
        return f"{cpu} (no GPU visible to TensorFlow)" if not physical_gpus else cpu
    workers = num_cluster_tasks()
    return ", ".join(names) + (f" on each of {workers} workers" if workers > 1 else "")


def is_chief() -> bool:
    """Whether this process writes the run directory (worker 0, or the chief task, in a cluster)."""
    task = cluster_spec().get("task", {})
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    has_chief = bool(cluster_spec().get("cluster", {}).get("chief"))
    return task.get("type") == "worker" and task.get("index", 0) == 0 and not has_chief


def task_label() -> str:
    task = cluster_spec().get("task", {})
    return f"{task.get('type', 'worker')}-{task.get('index', 0)}"
