"""B²-FedGAN: the federated grid (Tables 2 and 3) on mnist5k at 28×28 and on digits, the central
MLP beside it, and whether each client's GAN images show the class they are labelled with.

Every cell is an ordinary ``federated.simulate`` experiment (``federated.grid`` runs them; a
finished cell is not re-run).  FedAvg and Bi-FedAvg run with every seed; the GAN-augmented cells,
which train one GAN per client, with the first seed only at the quick budget.  The class check
trains one classifier (the same MLP) centrally on the real training split and reports its
accuracy on every client's generated images, per class.
"""
from __future__ import annotations

import numpy as np

from keras_gens.results.common import Claim, Section, mean_std, pm

KEY, TITLE = "fedgan", "B²-FedGAN: FedAvg, Bi-FedAvg and per-client GAN augmentation"
DATASETS = {"mnist5k": "mnist5k (real MNIST digits, 28×28)", "digits": "digits (scikit-learn, 8×8)"}
# Each client's CGAN trains for the paper's 2,000 iterations (configs/cgan.yaml: 20 epochs of 100 steps) at its
# --smoke widths and batch. The --smoke run's 200 iterations drew the labelled class for 13% of the images (chance
# is 10%); 2,000 iterations, 16 s per client here, gave 82% on a client of 384 mnist5k digits.
PAPER_CGAN_ITERATIONS = ["train.epochs=20", "train.steps_per_epoch=100"]
SETTINGS = {
    "tiny": {"rounds": 2, "clients": 2, "per_round": 2, "gan_seeds": 1, "datasets": ("digits",),
             "gan_datasets": ("digits",), "gan_methods": ("cgan",),
             "gan": {"cgan": ["train.epochs=1", "train.steps_per_epoch=2"],
                     "bagan_gp": ["train.epochs=1", "train.steps_per_epoch=2", "model.ae_epochs=1"]}},
    "quick": {"rounds": 40, "clients": 6, "per_round": 3, "gan_seeds": 1, "datasets": tuple(DATASETS),
              "gan_datasets": ("mnist5k",), "gan_methods": ("cgan",),
              "gan": {"cgan": PAPER_CGAN_ITERATIONS, "bagan_gp": []}},
    "full": {"rounds": 300, "clients": 20, "per_round": 10, "gan_seeds": 3, "datasets": tuple(DATASETS),
             "gan_datasets": tuple(DATASETS),
             "gan": {"cgan": PAPER_CGAN_ITERATIONS, "bagan_gp": []}},
}
CELLS = [("iid_imbalanced", "fedavg", "none"), ("iid_imbalanced", "bi_fedavg", "none"),
         ("iid_imbalanced", "fedavg", "cgan"), ("iid_imbalanced", "fedavg", "bagan_gp"),
         ("non_iid", "fedavg", "none"), ("non_iid", "bi_fedavg", "none"),
         ("non_iid", "fedavg", "cgan"), ("non_iid", "fedavg", "bagan_gp")]


def gan_methods(s) -> tuple:
    """The augmentations a budget trains per client."""
    return tuple(s.get("gan_methods", ("cgan", "bagan_gp")))


def planned_runs(ctx) -> int:
    s = SETTINGS[ctx.budget]
    gan_cells = 2 * len(gan_methods(s)) * min(s["gan_seeds"], len(ctx.seeds)) * len(s["gan_datasets"])
    return len(s["datasets"]) * 4 * len(ctx.seeds) + gan_cells


def overrides_for(ctx, dataset, seed) -> list:
    s = SETTINGS[ctx.budget]
    return [f"data.source={dataset}", f"run.seed={seed}", f"federated.rounds={s['rounds']}",
            f"partition.num_clients={s['clients']}", f"federated.clients_per_round={s['per_round']}",
            "partition.min_per_class=2", "federated.client_learning_rate=0.1", "augment.smoke=true",
            "run.verbose=0", f"augment.overrides.cgan={s['gan']['cgan']}",
            f"augment.overrides.bagan_gp={s['gan']['bagan_gp']}"]


def run(ctx) -> Section:
    from federated.config import defaults_path
    from federated.grid import central_baseline, run_grid

    s = SETTINGS[ctx.budget]
    config_file = defaults_path()
    results, central, class_checks = {}, {}, {}
    for dataset in s["datasets"]:
        for seed in ctx.seeds:
            out = ctx.out / KEY / f"{dataset}-s{seed}"
            gans = seed < s["gan_seeds"] and dataset in s["gan_datasets"]
            methods = ["none", *gan_methods(s)] if gans else ["none"]
            cells = 2 * (len(methods) + 1)
            label = f"{KEY}/{dataset}-s{seed} ({cells} cells)"
            ctx.progress.start_run(label)
            before = _cell_stamps(out)
            grid = run_grid(config_file, overrides_for(ctx, dataset, seed), out, methods=tuple(methods),
                            log=lambda m: ctx.log(f"  {dataset} seed {seed}: cell {m[3:]}") if m.startswith("==")
                            else None)
            ctx.progress.finish_run(label, runs=cells)
            ctx.worked |= _cell_stamps(out) != before
            for cell, result in grid["results"].items():
                results.setdefault((dataset, *cell), []).append(result.summary)
            measured = ctx.measured(out, "central-and-classes", lambda: _central_and_classes(
                config_file, overrides_for(ctx, dataset, seed), out, central_baseline, seed))
            central.setdefault(dataset, []).append(measured["central_accuracy"])
            if measured.get("classes"):
                class_checks[dataset] = measured["classes"]

    body, claims = [], []
    for dataset in s["datasets"]:
        body.append(_tables(ctx, dataset, results, central))
        claims += _claims(dataset, results, central, len(ctx.seeds))
        if dataset in class_checks:
            body.append(_class_table(dataset, class_checks[dataset]))
            claims.append(_class_claim(dataset, class_checks[dataset]))
    _figure(ctx, s["datasets"])
    intro = (f"{s['clients']} clients, {s['per_round']} per round, {s['rounds']} rounds, batch 32, one local epoch "
             f"of SGD at 0.1; the paper's MLP (2×200); 70/30 train/test split. GAN cells: each client trains its "
             f"own {' and '.join(gan_methods(s))} (`--smoke` widths and batch, for the paper's 2,000 "
             f"iterations; at the quick budget CGAN only: a BAGAN-GP per client, with its auto-encoder "
             f"pre-training, costs minutes) and fills its minority classes up to its majority class; they run "
             f"on {', '.join(s['gan_datasets'])} with "
             f"{min(s['gan_seeds'], len(ctx.seeds))} seed(s) (one GAN per client makes them the costly cells), "
             f"FedAvg and Bi-FedAvg with {len(ctx.seeds)}. The central row trains the same MLP on the "
             "union of the clients' real data for as many passes as the federated clients made together. "
             "Accuracy % as mean ± std over seeds. The paper's numbers (its Tables 2/3: MNIST 60,000 images, 300 "
             "rounds) stand beside the MNIST rows for orientation; ours use 5,000 digits and fewer rounds.\n\n"
             "![test accuracy per round](docs/results/fedgan_accuracy.png)\n")
    return Section(KEY, TITLE, intro + "\n" + "\n\n".join(body) + "\n", claims)


def _cell_stamps(out) -> dict:
    return {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.csv")}


def _central_and_classes(config_file, overrides, out, central_baseline, seed) -> dict:
    """The central MLP's accuracy, and (where the grid ran GAN cells) its accuracy on every client's
    generated images, per class."""
    from federated import config as fed_config
    from federated import data as fed_data
    from federated.partition import make_partition

    cfg = fed_config.resolve(config_file, overrides)
    data = fed_data.load(cfg.data, seed=seed)
    f, p = cfg.federated, cfg.partition
    epochs = max(1, round(f.rounds * f.clients_per_round / p.num_clients * f.local_epochs))
    measured = {"central_epochs": epochs, "classes": {}}
    central_scores = []
    for partition in ("iid_imbalanced", "non_iid"):
        split = make_partition(partition, data.y_train, p.num_clients, seed=seed, num_classes=data.num_classes,
                               **{k: v for k, v in p.items() if k not in ("name", "num_clients")})
        central_scores.append(central_baseline(data, cfg, [data.x_train[i] for i in split.client_indices],
                                               [data.y_train[i] for i in split.client_indices], epochs))
    measured["central_accuracy"] = float(np.mean([c["test_accuracy"] for c in central_scores]))
    judge = _classifier(data, cfg, seed)
    measured["judge_test_accuracy"] = float(judge.evaluate(data.x_test, data.y_test, verbose=0)[1])
    for cell in sorted(out.glob("*-fedavg-*")):
        method = cell.name.rsplit("-", 1)[1]
        if method == "none":
            continue
        per_class = np.zeros((data.num_classes, 2))  # correct, total
        for generated in sorted(cell.glob("clients/client_*/generated.npz")):
            with np.load(generated) as archive:
                images, labels = archive["images"], archive["labels"]
            if len(labels):
                predicted = judge.predict(images, batch_size=512, verbose=0).argmax(axis=1)
                np.add.at(per_class, (labels, 0), predicted == labels)
                np.add.at(per_class, (labels, 1), 1)
        measured["classes"][cell.name] = per_class.tolist()
    return measured


def _classifier(data, cfg, seed):
    """The class judge: the experiments' MLP trained centrally on all the real training images."""
    import tensorflow as tf

    from federated.classifier import build_mlp

    model = build_mlp(data.image_shape, data.num_classes, tuple(cfg.federated.hidden_units), seed + 7)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(data.x_train, data.y_train, batch_size=64, epochs=30, verbose=0, shuffle=True)
    return model


def _tables(ctx, dataset, results, central) -> str:
    from federated.grid import METHODS, PAPER, PARTITIONS
    from keras_gens.utils.tables import markdown_table

    rows = [{"partition": "both", "method": "central MLP (real data)", "test accuracy %": pm(central[dataset], 2, 100)}]
    for partition, algorithm, method in CELLS:
        summaries = results.get((dataset, partition, algorithm, method))
        if not summaries:
            continue
        paper = PAPER.get((partition, method), {}).get("mnist") if algorithm == "fedavg" else None
        rows.append({"partition": PARTITIONS[partition],
                     "method": METHODS[method] if algorithm == "fedavg" else "Bi-FedAvg",
                     "test accuracy %": pm([r["test_accuracy"] for r in summaries], 2, 100),
                     "best accuracy %": pm([r["best_test_accuracy"] for r in summaries], 2, 100),
                     "seeds": len(summaries),
                     "paper (MNIST) %": f"{paper[0]:.2f}" if paper and dataset == "mnist5k" else ""})
    columns = ["partition", "method", "test accuracy %", "best accuracy %", "seeds", "paper (MNIST) %"]
    return f"### {DATASETS[dataset]}\n\n{markdown_table(rows, columns)}"


def _mean(results, key) -> tuple:
    return mean_std([r["test_accuracy"] for r in results.get(key, [])])


def _claims(dataset, results, central, seeds) -> list:
    iid = _mean(results, (dataset, "iid_imbalanced", "fedavg", "none"))
    central_mean = float(np.mean(central[dataset]))
    fed, bi = (_mean(results, (dataset, "non_iid", a, "none")) for a in ("fedavg", "bi_fedavg"))
    return [
        Claim("B²-FedGAN", f"{dataset}: FedAvg on IID-imbalanced data lands within 2 points of central training",
              bool(abs(iid[0] - central_mean) <= 0.02),
              f"FedAvg {100 * iid[0]:.2f}% vs central {100 * central_mean:.2f}%"),
        Claim("B²-FedGAN", f"{dataset}: Bi-FedAvg does not beat FedAvg on non-IID data",
              bool(bi[0] - fed[0] <= max(bi[1], fed[1])) if seeds > 1 else None,
              f"Bi-FedAvg {100 * bi[0]:.2f} ± {100 * bi[1]:.2f}% vs FedAvg {100 * fed[0]:.2f} ± {100 * fed[1]:.2f}% "
              "(does not beat = not higher by more than the seeds' spread)"),
    ]


def _class_table(dataset, classes) -> str:
    from keras_gens.utils.tables import markdown_table

    rows = []
    for cell, per_class in classes.items():
        per_class = np.asarray(per_class)
        row = {"cell": cell, "images": int(per_class[:, 1].sum()),
               "all classes %": f"{100 * per_class[:, 0].sum() / max(per_class[:, 1].sum(), 1):.1f}"}
        for c, (right, total) in enumerate(per_class):
            row[str(c)] = f"{100 * right / total:.0f}" if total else "–"
        rows.append(row)
    columns = ["cell", "images", "all classes %", *[str(c) for c in range(len(next(iter(classes.values()))))]]
    return (f"Do the clients' GAN images show their labelled class? A classifier trained on the real {dataset} "
            f"training split labels every client's generated images; accuracy % per class (– : no image of that "
            f"class was needed):\n\n{markdown_table(rows, columns)}")


def _class_claim(dataset, classes) -> Claim:
    shares = {cell: np.asarray(c)[:, 0].sum() / max(np.asarray(c)[:, 1].sum(), 1) for cell, c in classes.items()}
    return Claim("B²-FedGAN", f"{dataset}: the clients' GAN images show the right class (a real-data classifier "
                              "agrees with > 80% of their labels)", bool(all(v > 0.8 for v in shares.values())),
                 "; ".join(f"{cell} {100 * v:.1f}%" for cell, v in shares.items()))


def _figure(ctx, datasets):
    from keras_gens.results.figures import band_plot
    from keras_gens.utils import metrics_csv

    curves = {}
    for dataset in datasets:
        for partition, algorithm, method in CELLS:
            per_seed = []
            for seed in ctx.seeds:
                path = ctx.out / KEY / f"{dataset}-s{seed}" / f"{partition}-{algorithm}-{method}" / "metrics.csv"
                if path.is_file():
                    per_seed.append({int(r["round"]): 100 * float(r["test_accuracy"])
                                     for r in metrics_csv.read_rows(path) if r.get("test_accuracy")})
            if per_seed:
                curves[f"{dataset} {partition} {algorithm}+{method}"] = per_seed
    band_plot(ctx.figure("fedgan_accuracy.png"), curves, xlabel="communication round", ylabel="test accuracy (%)",
              title="Global model's test accuracy (mean ± std over seeds)")
