"""``python -m federated.grid --config configs/fed_mnist.yaml``: the paper's experiment grid on one data set.

    augmentation grid   {FedAvg, FedAvg+CGAN, FedAvg+BAGAN-GP} × {IID-imbalanced, Non-IID}  (Tables 2 and 3)
    algorithm grid      {FedAvg, Bi-FedAvg} × {IID-imbalanced, Non-IID}                     (Figures 3 and 5)

Every cell is an ordinary ``federated.simulate`` experiment in ``OUT/<partition>-<algorithm>-<augment>``
(resumable; a finished cell is not re-run), with the same seed, partition and rounds.  The same MLP
trained centrally on the union of the client data gives the reference row.  Writes
``OUT/table2_iid.{csv,md}``, ``OUT/table3_non_iid.{csv,md}``, ``OUT/algorithms.{csv,md}`` with the
paper's own numbers beside ours, and ``OUT/<table>_accuracy.png`` comparing the test-accuracy curves.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from federated import config as fed_config
from federated.simulate import looks_federated
from keras_gens.outputs import Kind, check_folder, holds_only, mark, register_kind

PARTITIONS = {"iid_imbalanced": "IID", "non_iid": "Non-IID"}
METHODS = {"none": "FedAvg", "cgan": "FedAvg+CGAN", "bagan_gp": "FedAvg+BAGAN-GP"}
# B²-FedGAN Tables 2 (IID) and 3 (Non-IID): test accuracy (%) and loss per data set.
PAPER = {
    ("iid_imbalanced", "none"): {"mnist": (96.97, 1.496), "cifar10": (41.15, 2.062), "covid": (80.42, 0.936)},
    ("iid_imbalanced", "cgan"): {"mnist": (96.83, 1.498), "cifar10": (40.15, 2.070), "covid": (81.17, 0.931)},
    ("iid_imbalanced", "bagan_gp"): {"mnist": (96.97, 1.496), "cifar10": (42.41, 2.052), "covid": (80.79, 0.937)},
    ("non_iid", "none"): {"mnist": (96.17, 1.508), "cifar10": (29.04, 2.156), "covid": (73.30, 1.028)},
    ("non_iid", "cgan"): {"mnist": (95.64, 1.513), "cifar10": (29.05, 2.158), "covid": (65.53, 1.090)},
    ("non_iid", "bagan_gp"): {"mnist": (96.23, 1.508), "cifar10": (32.29, 2.131), "covid": (67.47, 1.063)},
}
GRIDS = ("augmentation", "algorithms")
# The grid's own tables and plots; each cell is an experiment folder beside them.
GRID_FILES = ("table2_iid.*", "table3_non_iid.*", "algorithms.*", "*_accuracy.png")
GRID = register_kind(Kind("federated-grid", "a federated grid", "python -m federated.grid", own=GRID_FILES,
                          recognizes=holds_only(GRID_FILES, looks_federated)))


def cells(grids=GRIDS, methods=tuple(METHODS)) -> list[tuple[str, str, str]]:
    """(partition, algorithm, augmentation) of every experiment the grids need, each once."""
    out = []
    for partition in PARTITIONS:
        if "augmentation" in grids:
            out += [(partition, "fedavg", m) for m in methods]
        if "algorithms" in grids:
            out += [(partition, a, "none") for a in ("fedavg", "bi_fedavg")]
    return list(dict.fromkeys(out))


def central_baseline(data, cfg, clients_x, clients_y, epochs: int) -> dict:
    """The same MLP, same optimizer and batch, trained on the union of the clients' (real) data."""
    import tensorflow as tf

    from federated.classifier import build_mlp

    f = cfg.federated
    model = build_mlp(data.image_shape, data.num_classes, tuple(f.hidden_units), int(cfg.run.seed))
    model.compile(optimizer=tf.keras.optimizers.SGD(f.client_learning_rate),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                  # A step of this MLP is about a millisecond, as long as a call's overhead: 16 per call ran at
                  # PyTorch's speed, 1 per call at 0.6x (BENCHMARKS.md, mlp and mlp_spe16).
                  steps_per_execution=16)
    x, y = np.concatenate(clients_x), np.concatenate(clients_y)
    model.fit(x, y, batch_size=f.batch_size, epochs=epochs, shuffle=True, verbose=0)
    loss, accuracy = model.evaluate(data.x_test, data.y_test, batch_size=512, verbose=0)
    return {"test_accuracy": float(accuracy), "test_loss": float(loss), "epochs": epochs}


def run_grid(config_file=None, overrides=(), out=None, grids=GRIDS, methods=tuple(METHODS), central_epochs=None,
             log=print) -> dict:
    from federated import data as fed_data
    from federated.simulate import simulate
    from keras_gens import data as data_lib
    from keras_gens.utils.io import atomic_write_text
    from keras_gens.utils.plots import save_line_plot
    from keras_gens.utils.tables import markdown_table, write_csv

    base = fed_config.resolve(config_file, overrides)
    kind, _ = data_lib.parse_spec(base.data.source)
    out = check_folder(out if out is not None else f"runs/fed-grid-{kind}", GRID)
    for partition, algorithm, method in cells(grids, methods):  # every cell's settings, before any is trained
        fed_config.resolve(config_file, [*overrides, f"partition.name={partition}",
                                         f"federated.algorithm={algorithm}", f"augment.method={method}"])
    mark(out, GRID)
    results = {}
    for partition, algorithm, method in cells(grids, methods):
        name = f"{partition}-{algorithm}-{method}"
        log(f"== {name}")
        cell = [*overrides, f"partition.name={partition}", f"federated.algorithm={algorithm}",
                f"augment.method={method}"]
        results[(partition, algorithm, method)] = simulate(config_file, cell, out=out / name, log=log)

    data = fed_data.load(base.data, seed=int(base.run.seed))
    rows_by_table = {}
    for partition, label in PARTITIONS.items():
        rows = []
        if central_epochs:
            from federated.partition import make_partition

            p = base.partition
            split = make_partition(partition, data.y_train, p.num_clients, seed=base.run.seed,
                                   num_classes=data.num_classes,
                                   **{k: v for k, v in p.items() if k not in ("name", "num_clients")})
            central = central_baseline(data, base, [data.x_train[i] for i in split.client_indices],
                                       [data.y_train[i] for i in split.client_indices], central_epochs)
            rows.append({"method": f"central MLP ({central_epochs} epochs)",
                         "test_accuracy_%": round(100 * central["test_accuracy"], 2),
                         "test_loss": round(central["test_loss"], 4)})
        for (part, algorithm, method), result in results.items():
            if part != partition:
                continue
            paper = PAPER.get((partition, method), {}).get(kind) if algorithm == "fedavg" else None
            title = METHODS[method] if algorithm == "fedavg" else "Bi-FedAvg"
            rows.append({"method": title, "test_accuracy_%": round(100 * result.summary["test_accuracy"], 2),
                         "test_loss": round(result.summary["test_loss"], 4),
                         "best_accuracy_%": round(100 * result.summary["best_test_accuracy"], 2),
                         "rounds": result.summary["rounds"],
                         "paper_accuracy_%": paper[0] if paper else "", "paper_loss": paper[1] if paper else ""})
        rows_by_table[partition] = rows
        stem = {"iid_imbalanced": "table2_iid", "non_iid": "table3_non_iid"}[partition]
        columns = ["method", "test_accuracy_%", "test_loss", "best_accuracy_%", "rounds", "paper_accuracy_%",
                   "paper_loss"]
        write_csv(out / f"{stem}.csv", rows, columns)
        note = ("The paper's losses sit above log(1 + (C−1)/e), the floor of a cross-entropy taken on softmax "
                "outputs as if they were logits; ours are the plain cross-entropy (see federated/classifier.py).")
        atomic_write_text(out / f"{stem}.md", f"# {label}: {data.name}, {base.partition.num_clients} clients, "
                                              f"{base.federated.rounds} rounds\n\n{markdown_table(rows, columns)}\n\n"
                                              f"{note}\n")
        series = {}
        for (part, algorithm, method), result in results.items():
            if part == partition:
                tested = [r for r in result.history if r.get("test_accuracy") not in (None, "")]
                series[f"{algorithm}+{method}"] = ([int(r["round"]) for r in tested],
                                                   [float(r["test_accuracy"]) for r in tested])
        save_line_plot(out / f"{stem}_accuracy.png", series, xlabel="communication round",
                       ylabel="test accuracy", title=f"{data.name}, {label}")
        log(f"\n{label} ({out / f'{stem}.md'}):\n{markdown_table(rows, columns)}")
    return {"out": out, "results": results, "tables": rows_by_table}


def main(argv=None) -> int:
    from keras_gens.cli import run_cli

    parser = argparse.ArgumentParser(prog="python -m federated.grid", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=None, help="experiment YAML (default: configs/fed_digits.yaml)")
    parser.add_argument("--out", default=None, help="grid folder (default: runs/fed-grid-<data>)")
    parser.add_argument("--grids", nargs="+", choices=GRIDS, default=list(GRIDS))
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS),
                        help="augmentations of the augmentation grid")
    parser.add_argument("--central-epochs", type=int, default=None,
                        help="also train the MLP centrally for this many epochs (reference row)")
    parser.add_argument("overrides", nargs="*", help="key=value settings for every cell")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    def work():
        config_file = args.config or fed_config.defaults_path().with_name("fed_digits.yaml")
        run_grid(config_file, args.overrides, args.out, args.grids, args.methods, args.central_epochs)
        return 0

    return run_cli(work, {"--config": args.config, "--out": args.out})


if __name__ == "__main__":
    sys.exit(main())
