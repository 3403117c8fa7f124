"""The machine's sustained float32 throughput through TensorFlow: a large matmul and a 3×3 convolution.

    python tools/bench/ceiling.py            ->   CEILING {"matmul_gflops": ..., "conv_gflops": ...}
    python tools/bench/ceiling.py --layouts  ->   LAYOUTS {"NHWC": ..., "NCHW": ...}

Each is timed over repeated runs inside one tf.function (no Python per op), median of 5.  ``--layouts``
times a training step (forward and both backward convolutions) of a 3×3 convolution stack with
channels last and channels first.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def sustained(fn, flops: float, repeats: int = 5) -> float:
    fn()  # trace and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn().numpy()
        times.append(time.perf_counter() - start)
    return flops / statistics.median(times) / 1e9


def layouts(batch: int = 32, side: int = 32, channels: int = 128, depth: int = 4) -> dict:
    """GFLOP/s of a conv stack's training step in each data format (the same arithmetic)."""
    import tensorflow as tf

    result = {}
    for data_format in ("NHWC", "NCHW"):
        shape = [batch, side, side, channels] if data_format == "NHWC" else [batch, channels, side, side]
        images = tf.random.normal(shape)
        kernel = tf.Variable(tf.random.normal([3, 3, channels, channels]) * 0.01)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                x = images
                for _ in range(depth):
                    x = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME", data_format=data_format))
                loss = tf.reduce_sum(x)
            return tf.reduce_sum(tape.gradient(loss, kernel))

        # forward, gradient w.r.t. the input and w.r.t. the kernel: three convolutions' work per layer
        result[data_format] = sustained(step, 3 * 2 * batch * side * side * 9 * channels * channels * depth)
    return result


def main() -> int:
    import keras_gens  # noqa: F401
    import tensorflow as tf

    if "--layouts" in sys.argv:
        print("LAYOUTS " + json.dumps(layouts()), flush=True)
        return 0

    n, inner = 2048, 8
    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])

    @tf.function
    def matmuls():
        x = a
        for _ in range(inner):
            x = tf.matmul(x, b) * 1e-3
        return tf.reduce_sum(x)

    images = tf.random.normal([32, 32, 32, 256])
    kernel = tf.random.normal([3, 3, 256, 256]) * 0.01

    @tf.function
    def convs():
        x = images
        for _ in range(inner):
            x = tf.nn.conv2d(x, kernel, 1, "SAME")
        return tf.reduce_sum(x)

    result = {"matmul_gflops": sustained(matmuls, 2 * n ** 3 * inner),
              "conv_gflops": sustained(convs, 2 * 32 * 32 * 32 * 9 * 256 * 256 * inner)}
    print("CEILING " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
