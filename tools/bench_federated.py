"""Federated round benchmark: seconds per round, local training vs TFF overhead, memory over rounds.

    python tools/bench_federated.py [--rounds 300] [--clients 10] [--examples 600] [--algorithms fedavg bi_fedavg]

Each algorithm runs in a fresh process: MNIST-sized random data (28×28, ``--examples`` per client, as
MNIST's 60,000 over 100 clients), the paper's MLP, batch 32, one local epoch, every client in every
round, client datasets rebuilt each round exactly as ``federated.simulate`` does.  It prints:
    seconds per round       median over the timed rounds (after one warm-up round)
    TFF overhead            a round of the same process whose clients hold no examples: broadcast,
                            aggregation, serialisation and dataset set-up without any training
    local training          round − overhead (TFF runs the clients concurrently)
    plain TF                the same clients' local SGD one after another as a tf.function, for scale
    RSS                     resident memory after rounds 10, 100 and the last, and its growth per 100 rounds
                            from round 100 on (the first tens of rounds fill allocator pools and caches)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def worker(args) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(REPO))
    import numpy as np
    import psutil
    import tensorflow as tf

    from federated.algorithms import FederatedAlgorithm, keras_model_fn
    from federated.classifier import build_mlp
    from federated.simulate import client_dataset

    shape, classes = (28, 28, 1), 10
    rng = np.random.default_rng(0)
    clients = [(rng.random((args.examples, *shape), dtype=np.float32),
                rng.integers(0, classes, args.examples).astype(np.int32)) for _ in range(args.clients)]
    spec = (tf.TensorSpec([None, *shape], tf.float32), tf.TensorSpec([None], tf.int32))
    algorithm = FederatedAlgorithm(args.algorithm, keras_model_fn(lambda: build_mlp(shape, classes), spec),
                                   client_learning_rate=0.05)
    algorithm.set_global_weights(build_mlp(shape, classes).get_weights())
    ids = list(range(args.clients))
    process = psutil.Process()

    def one_round(r):
        datasets = [client_dataset(x, y, batch_size=32, local_epochs=1, seed=r * 1009 + k)
                    for k, (x, y) in enumerate(clients)]
        began = time.perf_counter()
        algorithm.round(ids, datasets)
        return time.perf_counter() - began

    one_round(0)  # warm-up: traces and compiles
    seconds, rss = [], {}
    for r in range(1, args.rounds + 1):
        seconds.append(one_round(r))
        if r == 10 or r % 50 == 0 or r == args.rounds:
            rss[r] = process.memory_info().rss / 2**20

    # The same local work without TFF: SGD over each client's batches in a tf.function.
    model = build_mlp(shape, classes)
    optimizer = tf.keras.optimizers.SGD(0.05)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()

    @tf.function
    def local_training(dataset):
        for x, y in dataset:
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))

    def local_round(r):
        began = time.perf_counter()
        for k, (x, y) in enumerate(clients):
            local_training(client_dataset(x, y, batch_size=32, local_epochs=1, seed=r * 1009 + k))
        return time.perf_counter() - began

    local_round(0)
    local = [local_round(r) for r in range(1, 6)]

    # Pure TFF overhead: the same round with empty client data sets (a separate process state: the
    # average over zero examples is not a number).
    idle = FederatedAlgorithm(args.algorithm, keras_model_fn(lambda: build_mlp(shape, classes), spec),
                              client_learning_rate=0.05)

    def idle_round(r):
        datasets = [tf.data.Dataset.from_tensor_slices((x[:0], y[:0])).batch(32) for x, y in clients]
        began = time.perf_counter()
        idle.round(ids, datasets)
        return time.perf_counter() - began

    idle_round(0)
    overhead = [idle_round(r) for r in range(1, 11)]
    # Growth in the steady state: the allocator and TFF's caches fill during the first tens of rounds.
    first, last = (100 if max(rss) > 100 else min(rss)), max(rss)
    return {"algorithm": args.algorithm, "rounds": args.rounds, "clients": args.clients,
            "seconds_per_round": float(np.median(seconds)), "plain_tf_seconds": float(np.median(local)),
            "overhead_seconds": float(np.median(overhead)),
            "rss_mib": {str(k): round(v, 1) for k, v in rss.items()},
            "rss_growth_mib_per_100_rounds": round((rss[last] - rss[first]) / max(last - first, 1) * 100, 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--examples", type=int, default=600, help="examples per client")
    parser.add_argument("--algorithms", nargs="+", default=["fedavg", "bi_fedavg"])
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.algorithm = args.worker
        print("RESULT " + json.dumps(worker(args)), flush=True)
        from federated.tff_runtime import stop_child_processes

        stop_child_processes()
        return 0

    import platform

    import tensorflow as tf

    print(f"# federated rounds: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"TF {tf.__version__}; {args.clients} clients × {args.examples} examples (28×28), MLP 2×200, batch 32, "
          f"1 local epoch, {args.rounds} rounds")
    print("| algorithm | s/round | TFF overhead s | local training s | local share | plain TF local s | RSS @10 MiB | "
          f"RSS @100 MiB | RSS @{args.rounds} MiB | growth MiB/100 rounds after round 100 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    samples = []
    for algorithm in args.algorithms:
        cmd = [sys.executable, __file__, "--worker", algorithm, "--rounds", str(args.rounds), "--clients",
               str(args.clients), "--examples", str(args.examples)]
        proc = subprocess.run(cmd, capture_output=True, text=True, start_new_session=True,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode or not lines:
            print(f"{algorithm} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}", file=sys.stderr)
            return 1
        r = json.loads(lines[-1][7:])
        local = r["seconds_per_round"] - r["overhead_seconds"]
        rss = r["rss_mib"]
        print(f"| {algorithm} | {r['seconds_per_round']:.3f} | {r['overhead_seconds']:.3f} | {local:.3f} | "
              f"{local / r['seconds_per_round']:.0%} | {r['plain_tf_seconds']:.3f} | "
              f"{rss.get('10', float('nan')):.0f} | {rss.get('100', float('nan')):.0f} | "
              f"{rss[str(args.rounds)]:.0f} | {r['rss_growth_mib_per_100_rounds']:+.1f} |", flush=True)
        samples.append(f"{algorithm}: " + ", ".join(f"{k}: {v:.0f}" for k, v in rss.items()))
    print("\nRSS (MiB) after round: " + "; ".join(samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
