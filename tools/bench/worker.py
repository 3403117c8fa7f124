"""One framework's side of a side-by-side case: build, warm up, then time steps on request.

    python tools/bench/worker.py --framework tf|torch --case dcgan64

Protocol (one line each, on stdout): ``READY {"params": ..., "warm_s": ..., ...}`` after the
warm-up; then for every ``run N`` read from stdin, ``TIMES [s, s, ...]`` (one per step);
``quit`` ends.  Run with keras_gens's .venv for tf, with the benchmark venv (PyTorch) for torch.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))

from cases import CASES, KERAS_OPTIONS, KERAS_PRECISION, TORCH_OPTIONS  # noqa: E402


def tf_step(case: str):
    import keras_gens  # noqa: F401  (quiet TF import)
    import numpy as np
    import tensorflow as tf

    kind, side, batch, channels = CASES[case]
    rng = np.random.default_rng(0)
    if kind == "mlp":
        from federated.classifier import build_mlp

        model = build_mlp((side, side, channels), 10)
        model.compile(optimizer=tf.keras.optimizers.SGD(0.1), loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                      **KERAS_OPTIONS.get(case, {}))
        data = (tf.constant(rng.random((batch, side, side, channels)), tf.float32),
                tf.constant(rng.integers(0, 10, batch), tf.int32))
        networks = [model]
    else:
        from keras_gens import registry
        from keras_gens.models.base import DataInfo
        from keras_gens.run_dirs import precision

        overrides = ["data.source=digits", f"data.image_size={side}", "data.crop=null", f"train.batch_size={batch}"]
        if case == "wae_smoke":
            overrides.append("model.width=0.125")
        value_range = (-1.0, 1.0) if kind == "dcgan" else (0.0, 1.0)
        with precision(KERAS_PRECISION.get(case, "float32")):
            model = registry.get(kind).build(registry.get(kind).config(overrides=overrides),
                                             DataInfo((side, side, channels), 0, value_range))
        lo, hi = value_range
        data = {"image": tf.constant(rng.random((batch, side, side, channels)) * (hi - lo) + lo, tf.float32),
                "label": tf.zeros([batch], tf.int32)}
        networks = [model.generator, model.discriminator] if kind == "dcgan" else [
            model.encoder, model.decoder, model.discriminator]
    iterator = iter(tf.data.Dataset.from_tensors(data).repeat())
    train = model.make_train_function()

    def step():
        logs = train(iterator)
        return float(next(iter(logs.values())))

    step()
    params = int(sum(np.prod(v.shape) for n in networks for v in n.trainable_variables))
    per_call = int(KERAS_OPTIONS.get(case, {}).get("steps_per_execution", 1))
    if per_call > 1:  # the profiler does not look inside the loop of several steps: count one step's graph
        single = tf.keras.models.clone_model(model)
        single.compile(optimizer=tf.keras.optimizers.SGD(0.1), loss=tf.keras.losses.SparseCategoricalCrossentropy())
        flops = train_flops(single.make_train_function(), iterator)
    else:
        flops = train_flops(train, iterator)
    info = {"params": params, "flops_per_step": flops, "steps_per_call": per_call,
            "threads": f"intra {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}, "
                       f"inter {tf.config.threading.get_inter_op_parallelism_threads() or 'default'}",
            "version": f"TensorFlow {tf.__version__}"}
    return step, info


def train_flops(train_function, iterator) -> int:
    """Floating-point operations of one traced training step, as TensorFlow's profiler counts them."""
    from tensorflow.python.profiler import model_analyzer, option_builder

    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    graph = train_function.get_concrete_function(iterator).graph
    return int(model_analyzer.profile(graph, options=options).total_float_ops)


def torch_step(case: str):
    import torch

    from torch_models import make_step

    torch.set_num_threads(os.cpu_count())
    kind, side, batch, channels = CASES[case]
    options = TORCH_OPTIONS.get(case, {})
    step, params = make_step(kind, side, batch, channels, width=0.125 if case == "wae_smoke" else 1.0,
                             channels_last=options.get("channels_last", False))
    if options.get("autocast"):
        plain_step, dtype = step, getattr(torch, options["autocast"])

        def step():
            with torch.autocast("cpu", dtype=dtype):
                return plain_step()
    step()
    return step, {"params": params, "threads": f"torch.get_num_threads() = {torch.get_num_threads()}",
                  "version": f"PyTorch {torch.__version__}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--framework", choices=("tf", "torch"), required=True)
    parser.add_argument("--case", choices=sorted(CASES), required=True)
    args = parser.parse_args()
    step, info = (tf_step if args.framework == "tf" else torch_step)(args.case)
    start = time.perf_counter()
    step()
    info["warm_s"] = time.perf_counter() - start
    print("READY " + json.dumps(info), flush=True)
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "quit":
            break
        times = []
        for _ in range(int(command[1])):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        print("TIMES " + json.dumps(times), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
