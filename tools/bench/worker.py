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

from cases import CASES  # noqa: E402


def tf_step(name: str):
    import keras_gens  # noqa: F401  (quiet TF import)
    import numpy as np
    import tensorflow as tf

    from keras_gens.run_dirs import precision

    case = CASES[name]
    with precision(case.get("precision", "float32")):
        model, networks, train, data = build_keras(case)
    iterator = iter(tf.data.Dataset.from_tensors(data).repeat())

    def step():
        logs = train(iterator)
        return float(tf.nest.flatten(logs)[0])

    step()
    variables = {id(v): v for n in networks for v in n.trainable_variables}
    params = int(sum(np.prod(v.shape) for v in variables.values()))
    per_call = int(case.get("keras", {}).get("steps_per_execution", 1))
    if per_call > 1:  # the profiler does not look inside the loop of several steps: count one step's graph
        single = tf.keras.models.clone_model(model)
        single.compile(optimizer=tf.keras.optimizers.SGD(0.1), loss=tf.keras.losses.SparseCategoricalCrossentropy())
        flops = train_flops(single.make_train_function(), iterator)
    else:
        flops = train_flops(train, iterator)
    info = {"params": params, "flops_per_step": flops, "steps_per_call": per_call,
            "images_per_step": int(tf.nest.flatten(data)[0].shape[0]),
            "threads": f"intra {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}, "
                       f"inter {tf.config.threading.get_inter_op_parallelism_threads() or 'default'}",
            "version": f"TensorFlow {tf.__version__}"}
    return step, info


def build_keras(case: dict):
    """(model, the networks whose weights the step trains, its train function, one step's data)."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    kind, (height, width, channels), batch = case["model"], case["image"], case["batch"]
    if kind == "mlp":
        from federated.classifier import build_mlp

        model = build_mlp((height, width, channels), 10)
        model.compile(optimizer=tf.keras.optimizers.SGD(0.1), loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                      **case.get("keras", {}))
        data = (tf.constant(rng.random((batch, height, width, channels)), tf.float32),
                tf.constant(rng.integers(0, 10, batch), tf.int32))
        return model, [model], model.make_train_function(), data
    if kind.endswith("_encoder"):
        return encoder_step(kind[:-len("_encoder")], case, rng)

    from keras_gens import registry
    from keras_gens.models.base import DataInfo

    spec = registry.get(kind)
    overrides = [f"data.image_size=[{height},{width}]", f"data.channels={channels}", "data.crop=null",
                 f"train.batch_size={batch}", f"train.precision={case.get('precision', 'float32')}",
                 *case.get("overrides", [])]
    if kind == "reid":
        overrides.append("model.backbone_weights=none")
    cfg = spec.config(overrides=overrides)
    value_range = tuple(float(v) for v in cfg.data.value_range)
    model = spec.build(cfg, DataInfo((height, width, channels), case.get("classes", 0), value_range))
    images = batch * getattr(model, "batches_per_step", 1)
    lo, hi = value_range
    pixels = tf.constant(rng.random((images, height, width, channels)) * (hi - lo) + lo, tf.float32)
    classes = max(case.get("classes", 0), 1)
    labels = (np.repeat(np.arange(classes), images // classes) if kind == "reid"  # P identities x K images
              else rng.integers(0, classes, images))
    data = {"image": pixels, "label": tf.constant(labels, tf.int32)}
    if kind == "reid":
        model.current_stage = case["stage"]
        trained = [model.extractor] + ([model.mask_generator] if case["stage"] == "joint" else [])
        return model, trained, model.make_train_function(), data
    if kind == "bagan_gp" and case["stage"] == "autoencoder":
        autoencoder = model.autoencoder
        return autoencoder, [autoencoder], autoencoder.make_train_function(), ((pixels, data["label"]), pixels)
    trained = [model.generator, model.discriminator] + ([model.relational] if hasattr(model, "relational") else [])
    if kind == "wae":
        trained = [model.encoder, model.decoder, model.discriminator]
    return model, trained, model.make_train_function(), data


def encoder_step(kind: str, case: dict, rng):
    """vae_resnet's / wae_resnet's ResNet encoder alone: one Adam step on the mean squared code."""
    import tensorflow as tf

    from keras_gens import registry
    from keras_gens.layers import build_resnet_encoder
    from keras_gens.models.vae import resnet_stages

    m = registry.get(kind).config().model
    encoder = build_resnet_encoder(case["image"], m.latent_dim, gaussian=kind == "vae_resnet", width=m.width,
                                   stem_filters=m.resnet_stem_filters, stages=resnet_stages(m))
    optimizer = tf.keras.optimizers.Adam(1e-3, beta_1=0.5, beta_2=0.999)
    optimizer.build(encoder.trainable_variables)
    images = tf.constant(rng.random((case["batch"], *case["image"])), tf.float32)

    @tf.function
    def train(iterator):
        batch = next(iterator)
        with tf.GradientTape() as tape:
            loss = tf.add_n([tf.reduce_mean(tf.square(tf.cast(code, tf.float32)))
                             for code in tf.nest.flatten(encoder(batch, training=True))])
        optimizer.apply_gradients(zip(tape.gradient(loss, encoder.trainable_variables),
                                      encoder.trainable_variables))
        return {"loss": loss}

    return encoder, [encoder], train, images


def train_flops(train_function, iterator) -> int:
    """Floating-point operations of one traced training step, as TensorFlow's profiler counts them."""
    from tensorflow.python.profiler import model_analyzer, option_builder

    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    graph = train_function.get_concrete_function(iterator).graph
    return int(model_analyzer.profile(graph, options=options).total_float_ops)


def torch_step(name: str):
    import torch

    from torch_families import (bagan_step, cgan_step, encoder_step, octave_gan_step, pe_gan_step, reid_step,
                                wgan_gp_cond_step)
    from torch_models import make_step

    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    case = CASES[name]
    kind, (height, width, channels), batch = case["model"], case["image"], case["batch"]
    last = case.get("layout") == "channels_last"
    options = dict(case.get("torch", {}))
    if kind in ("dcgan", "wae", "mlp"):
        step, params = make_step(kind, height, batch, channels, width=options.get("width", 1.0), channels_last=last)
    elif kind in ("dcgan_oct", "wgan_oct"):
        wgan = kind == "wgan_oct"
        step, params = octave_gan_step(height, batch, channels, loss="wgan" if wgan else "gan",
                                       critic_steps=5 if wgan else 1, channels_last=last)
    elif kind == "wgan_gp_cond":
        step, params = wgan_gp_cond_step(height, width, batch, channels, classes=case["classes"], channels_last=last)
    elif kind == "pe_gan":
        step, params = pe_gan_step(height, width, batch, channels, classes=case["classes"], channels_last=last,
                                   **options)
    elif kind == "reid":
        step, params = reid_step(height, width, batch, channels, stage=case["stage"], identities=case["classes"],
                                 channels_last=last)
    elif kind == "bagan_gp":
        step, params = bagan_step(height, batch, channels, stage=case["stage"], classes=case["classes"],
                                  channels_last=last)
    elif kind == "cgan":
        step, params = cgan_step(height, batch, channels, classes=case["classes"])
    elif kind.endswith("_encoder"):
        vae = kind.startswith("vae")
        step, params = encoder_step(height, batch, channels, latent=512 if vae else 64, gaussian=vae,
                                    channels_last=last)
    else:
        raise ValueError(kind)
    if case.get("autocast"):
        plain_step, dtype = step, getattr(torch, case["autocast"])

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
        if command[0] == "profile":  # where our step's time goes, op type by op type (TensorFlow only)
            from op_profile import profile

            print("PROFILE " + json.dumps(profile(step, group=command[1] if len(command) > 1 else "type")),
                  flush=True)
            continue
        times = []
        for _ in range(int(command[1])):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        print("TIMES " + json.dumps(times), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
