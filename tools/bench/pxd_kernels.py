"""The kernels behind PE-GAN's generation time on one core, and the alternatives tried for each.

    python tools/bench/pxd_kernels.py [--hitmaps 8] [--repeats 3]

Pinned to one core (one intra-op thread), at the paper's sizes, median of ``--repeats`` calls after one:
  - the non-local block's attention at 64×192 with 128 channels (queries and keys 16, values 64):
    as the layer computes it, with its queries split into blocks of 64 to 3072 rows, with the softmax
    left unnormalised and the division after the matmul, and compiled by XLA;
  - the output convolution, 32 channels to 1 at 256×768: conv2d against ``shifted_taps_conv``, forward,
    and forward with both gradients;
  - nearest-neighbour ×2 of 128×384×32 maps: two ``tf.repeat``s, a broadcast with TensorFlow's gradient,
    and ``NearestUpSampling2D`` (the broadcast with a pooled gradient), forward, and with the input's gradient.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def timed(fn, *args, repeats=3) -> float:
    fn(*args).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args).numpy()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1e3, 1)


def attention_variants(tf, n: int, repeats: int) -> dict:
    height, width, channels = 64, 192, 128
    x = tf.random.normal([n, height, width, channels])
    weights = [tf.random.normal([channels, c]) * 0.1 for c in (channels // 8, channels // 8, channels // 2)]

    def parts(x):
        theta, phi, g = (tf.einsum("nhwc,cd->nhwd", x, w) for w in weights)
        pool = lambda t: tf.nn.max_pool2d(t, 2, 2, "VALID")  # noqa: E731
        keys = height * width // 4
        return (tf.reshape(theta, [n, height * width, -1]), tf.reshape(pool(phi), [n, keys, -1]),
                tf.reshape(pool(g), [n, keys, -1]))

    def full(x):
        theta, phi, g = parts(x)
        return tf.reduce_sum(tf.matmul(tf.nn.softmax(tf.matmul(theta, phi, transpose_b=True)), g))

    def blocked(rows):
        def attend(x):
            theta, phi, g = parts(x)
            outs = [tf.matmul(tf.nn.softmax(tf.matmul(theta[:, s:s + rows], phi, transpose_b=True)), g)
                    for s in range(0, height * width, rows)]
            return tf.reduce_sum(tf.concat(outs, 1))
        return attend

    def unnormalised(x):
        theta, phi, g = parts(x)
        logits = tf.matmul(theta, phi, transpose_b=True)
        e = tf.exp(logits - tf.reduce_max(logits, -1, keepdims=True))
        return tf.reduce_sum(tf.matmul(e, g) / tf.reduce_sum(e, -1, keepdims=True))

    result = {"attention as the layer computes it": timed(tf.function(full), x, repeats=repeats)}
    for rows in (64, 256, 1024, 3072):
        result[f"attention, queries in blocks of {rows}"] = timed(tf.function(blocked(rows)), x, repeats=repeats)
    result["attention, softmax divided after the matmul"] = timed(tf.function(unnormalised), x, repeats=repeats)
    result["attention, XLA"] = timed(tf.function(full, jit_compile=True), x, repeats=repeats)
    return result


def gradient_of(tf, fn, *variables):
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(fn(x)))
        return tf.add_n([tf.reduce_sum(g) for g in tape.gradient(loss, [x, *variables])])
    return tf.function(run)


def narrow_and_upsampling(tf, n: int, repeats: int) -> dict:
    from keras_gens.layers.octave import NearestUpSampling2D
    from keras_gens.layers.spectral import shifted_taps_conv

    x = tf.random.normal([n, 256, 768, 32])
    kernel = tf.Variable(tf.random.normal([3, 3, 32, 1]))
    result = {}
    for name, conv in (("conv2d", lambda a: tf.nn.conv2d(a, kernel, 1, "SAME")),
                       ("shifted taps", lambda a: shifted_taps_conv(a, kernel))):
        result[f"to_image 32->1, {name}, forward"] = timed(tf.function(lambda a: tf.reduce_sum(conv(a))), x,
                                                          repeats=repeats)
        result[f"to_image 32->1, {name}, forward + gradients"] = timed(gradient_of(tf, conv, kernel), x,
                                                                      repeats=repeats)
    small = tf.random.normal([n, 128, 384, 32])
    layer = NearestUpSampling2D()
    def broadcast(a):  # the layer's forward with TensorFlow's own gradient of BroadcastTo
        n, h, w, c = a.shape
        return tf.reshape(tf.broadcast_to(a[:, :, None, :, None, :], [n, h, 2, w, 2, c]), [n, 2 * h, 2 * w, c])

    for name, up in (("two tf.repeat", lambda a: tf.repeat(tf.repeat(a, 2, axis=1), 2, axis=2)),
                     ("broadcast, BroadcastTo's gradient", broadcast), ("NearestUpSampling2D", layer)):
        result[f"nearest x2, {name}, forward"] = timed(tf.function(lambda a: tf.reduce_sum(up(a)[:, :1])), small,
                                                       repeats=repeats)
        result[f"nearest x2, {name}, forward + gradient"] = timed(gradient_of(tf, up), small, repeats=repeats)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hitmaps", type=int, default=8, help="batch (the event signature's chunk is 8)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:1]))
    import keras_gens  # noqa: F401  (quiet TF import)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from machine import describe

    results = {**attention_variants(tf, args.hitmaps, args.repeats),
               **narrow_and_upsampling(tf, args.hitmaps, args.repeats)}
    print(f"{describe()}, one core, {args.hitmaps} hitmaps, TensorFlow {tf.__version__}, "
          f"{time.strftime('%Y-%m-%d')}; ms, median of {args.repeats}")
    for what, ms in results.items():
        print(f"  {what:62s} {ms:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
