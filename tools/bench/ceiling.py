"""The machine's sustained float32 throughput through TensorFlow: a large matmul and a 3×3 convolution.

    python tools/bench/ceiling.py   ->   CEILING {"matmul_gflops": ..., "conv_gflops": ...}

Each is timed over repeated runs inside one tf.function (no Python per op), median of 5.
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


def main() -> int:
    import keras_gens  # noqa: F401
    import tensorflow as tf

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
