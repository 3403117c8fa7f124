"""How a labelled data set is split over federated clients (pure numpy, seeded).

Every partition assigns every example to exactly one client and returns a
``Partition``: the example indices of each client and its class histogram.

    iid              a random equal split
    iid_imbalanced   B²-FedGAN's IID setting: equal client sizes, every client holds every class, in
                     imbalanced amounts (Dirichlet(``concentration``) preferences), at least
                     ``min_per_class`` of each, or with ``min_per_class_fraction`` at least that share
                     of the client's data of each (the paper's "proportion of minimum data points")
    non_iid          B²-FedGAN's Non-IID setting: equal client sizes, each client holds a random number
                     of classes (``min_classes``..``max_classes``), each held class at least
                     ``min_class_fraction`` of the client's data
    k_classes        McMahan et al.'s pathological split: single-class shards, ``classes_per_client``
                     shards per client
    dirichlet        Hsu et al.'s label split: each class spread over clients by Dirichlet(``alpha``)

The two B²-FedGAN settings need an allocation matrix A (clients × classes) with
given row sums (client sizes), column sums (class counts) and lower bounds.  The
paper gives no algorithm; we draw random target proportions and take the
feasible integer allocation closest to them in L1 (a transportation linear
program, whose optimal vertices are integral), so every example is used exactly
once and an impossible request is reported rather than silently bent.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from keras_gens.errors import ConfigError

PARTITIONS = ("iid", "iid_imbalanced", "non_iid", "k_classes", "dirichlet")


class PartitionError(ConfigError, ValueError):
    """A partition that cannot be made with these settings; the message says what to change."""


@dataclass
class Partition:
    name: str
    client_indices: list[np.ndarray]
    labels: np.ndarray
    num_classes: int
    settings: dict = field(default_factory=dict)

    @property
    def num_clients(self) -> int:
        return len(self.client_indices)

    def histogram(self) -> np.ndarray:
        """Examples of each class held by each client: int [num_clients, num_classes]."""
        return np.stack([np.bincount(self.labels[idx], minlength=self.num_classes) for idx in self.client_indices])

    def table_rows(self) -> list[dict]:
        hist = self.histogram()
        return [{"client": k, "examples": int(row.sum()), "classes": int((row > 0).sum()),
                 **{f"class_{c}": int(v) for c, v in enumerate(row)}} for k, row in enumerate(hist)]

    def table_columns(self) -> list[str]:
        return ["client", "examples", "classes"] + [f"class_{c}" for c in range(self.num_classes)]

    def write(self, folder, class_names=None):
        """``partition.csv``, ``partition.md`` and ``partition.png`` (heat-map) in ``folder``."""
        from keras_gens.utils.io import atomic_write_text
        from keras_gens.utils.tables import markdown_table, write_csv

        folder = Path(folder)
        rows, columns = self.table_rows(), self.table_columns()
        write_csv(folder / "partition.csv", rows, columns)
        atomic_write_text(folder / "partition.md",
                          f"# {self.name} partition {self.settings}\n\n{markdown_table(rows, columns)}\n")
        save_heatmap(folder / "partition.png", self.histogram(), class_names=class_names,
                     title=f"{self.name}: examples per client and class")


def _check_counts(labels, num_clients):
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise PartitionError(f"labels must be a non-empty 1-D array; got shape {labels.shape}")
    if num_clients < 1:
        raise PartitionError(f"num_clients must be at least 1; got {num_clients}")
    if num_clients > len(labels):
        raise PartitionError(f"{num_clients} clients but only {len(labels)} examples: "
                             f"lower num_clients to at most {len(labels)}")
    return labels.astype(np.int64)


def equal_sizes(total: int, parts: int) -> np.ndarray:
    sizes = np.full(parts, total // parts, np.int64)
    sizes[: total % parts] += 1
    return sizes


def _indices_from_allocation(labels, allocation, rng) -> list[np.ndarray]:
    """Deal each class's shuffled examples to clients in the amounts ``allocation[:, c]``."""
    clients = [[] for _ in range(allocation.shape[0])]
    for c in range(allocation.shape[1]):
        pool = rng.permutation(np.flatnonzero(labels == c))
        bounds = np.concatenate([[0], np.cumsum(allocation[:, c])])
        for k in range(allocation.shape[0]):
            clients[k].append(pool[bounds[k]:bounds[k + 1]])
    return [rng.permutation(np.concatenate(parts)).astype(np.int64) for parts in clients]


def closest_allocation(target, row_sums, col_sums, lower, allowed) -> np.ndarray:
    """The integer matrix A nearest ``target`` in L1 with the given sums, A ≥ ``lower`` and A = 0 off ``allowed``.

    Returns None when no such matrix exists.
    """
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix, hstack, identity, vstack

    k, c = target.shape
    n = k * c
    # Variables: A (n), u (n), v (n) with A − u + v = target, u, v ≥ 0; minimise Σ u + v.
    rows_a = coo_matrix((np.ones(n), (np.repeat(np.arange(k), c), np.arange(n))), shape=(k, n))
    cols_a = coo_matrix((np.ones(n), (np.tile(np.arange(c), k), np.arange(n))), shape=(c, n))
    zeros = coo_matrix((k + c, 2 * n))
    eye = identity(n, format="coo")
    a_eq = vstack([hstack([vstack([rows_a, cols_a]), zeros]), hstack([eye, -eye, eye])]).tocsr()
    b_eq = np.concatenate([row_sums, col_sums, target.reshape(-1)]).astype(float)
    allowed_flat = allowed.reshape(-1)
    bounds_a = [(float(lo), None) if ok else (0.0, 0.0) for lo, ok in zip(lower.reshape(-1), allowed_flat)]
    cost = np.concatenate([np.zeros(n), np.ones(2 * n)])
    result = linprog(cost, A_eq=a_eq, b_eq=b_eq, bounds=bounds_a + [(0.0, None)] * (2 * n), method="highs-ds")
    if result.status != 0:
        return None
    allocation = np.round(result.x[:n]).astype(np.int64).reshape(k, c)
    if (allocation.sum(1) != row_sums).any() or (allocation.sum(0) != col_sums).any():
        return None  # not expected: transportation vertices are integral
    return allocation


def _targets(sizes, allowed, concentration, rng) -> np.ndarray:
    """Random preferred amounts per client, spread over its allowed classes by Dirichlet weights."""
    target = np.zeros(allowed.shape, np.float64)
    for k, row in enumerate(allowed):
        held = np.flatnonzero(row)
        target[k, held] = rng.dirichlet(np.full(len(held), concentration)) * sizes[k]
    return np.round(target)


def iid(labels, num_clients: int, *, seed: int = 0, num_classes: int | None = None) -> Partition:
    labels = _check_counts(labels, num_clients)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    bounds = np.concatenate([[0], np.cumsum(equal_sizes(len(labels), num_clients))])
    parts = [order[bounds[k]:bounds[k + 1]] for k in range(num_clients)]
    return Partition("iid", parts, labels, num_classes or int(labels.max()) + 1, {"seed": seed})


def iid_imbalanced(labels, num_clients: int, *, min_per_class: int = 2, concentration: float = 1.0,
                   min_per_class_fraction: float | None = None, seed: int = 0,
                   num_classes: int | None = None) -> Partition:
    labels = _check_counts(labels, num_clients)
    num_classes = num_classes or int(labels.max()) + 1
    counts = np.bincount(labels, minlength=num_classes)
    sizes = equal_sizes(len(labels), num_clients)
    if min_per_class_fraction is not None:
        fraction = float(min_per_class_fraction)
        if not 0.0 < fraction <= 1.0 / num_classes:
            raise PartitionError(f"iid_imbalanced: min_per_class_fraction must lie in (0, 1/{num_classes}] for "
                                 f"{num_classes} classes; got {fraction}")
        # Client sizes differ by at most one: the largest's bound holds every client to the share.
        min_per_class = int(math.ceil(fraction * sizes.max()))
    scarce = int(counts.argmin())
    if counts[scarce] < num_clients * min_per_class:
        raise PartitionError(
            f"iid_imbalanced: class {scarce} has {counts[scarce]} examples, too few for {num_clients} clients "
            f"× min_per_class {min_per_class}; lower min_per_class to {counts[scarce] // num_clients} "
            f"or num_clients to {counts[scarce] // max(min_per_class, 1)}")
    if sizes.min() < num_classes * min_per_class:
        raise PartitionError(f"iid_imbalanced: clients of {sizes.min()} examples cannot hold {num_classes} classes "
                             f"× min_per_class {min_per_class}; use fewer clients or a lower min_per_class")
    rng = np.random.default_rng(seed)
    allowed = np.ones((num_clients, num_classes), bool)
    lower = np.full(allowed.shape, min_per_class)
    allocation = closest_allocation(_targets(sizes, allowed, concentration, rng), sizes, counts, lower, allowed)
    if allocation is None:
        raise PartitionError("iid_imbalanced: no allocation meets these minimums; lower min_per_class")
    settings = {"min_per_class": min_per_class, "concentration": concentration, "seed": seed}
    if min_per_class_fraction is not None:
        settings["min_per_class_fraction"] = float(min_per_class_fraction)
    return Partition("iid_imbalanced", _indices_from_allocation(labels, allocation, rng), labels, num_classes,
                     settings)


def non_iid(labels, num_clients: int, *, min_classes: int = 2, max_classes: int | None = None,
            min_class_fraction: float = 0.05, concentration: float = 1.0, seed: int = 0,
            num_classes: int | None = None, attempts: int = 20) -> Partition:
    labels = _check_counts(labels, num_clients)
    num_classes = num_classes or int(labels.max()) + 1
    max_classes = min(max_classes or num_classes, num_classes)
    if not 1 <= min_classes <= max_classes:
        raise PartitionError(f"non_iid: need 1 ≤ min_classes ≤ max_classes ≤ {num_classes}; "
                             f"got {min_classes}..{max_classes}")
    if min_classes * min_class_fraction > 1:
        raise PartitionError(f"non_iid: {min_classes} classes × min_class_fraction {min_class_fraction} exceed a "
                             f"whole client; lower min_class_fraction to at most {1 / min_classes:.3f}")
    counts = np.bincount(labels, minlength=num_classes)
    sizes = equal_sizes(len(labels), num_clients)
    rng = np.random.default_rng(seed)
    for _ in range(attempts):
        allowed = np.zeros((num_clients, num_classes), bool)
        for k in range(num_clients):
            held = rng.choice(num_classes, rng.integers(min_classes, max_classes + 1), replace=False)
            allowed[k, held] = True
        # Every class needs a holder, or its examples would be left out.
        for c in np.flatnonzero(~allowed.any(0)):
            room = np.flatnonzero(allowed.sum(1) < max_classes)
            allowed[rng.choice(room if len(room) else np.arange(num_clients)), c] = True
        minimum = np.ceil(min_class_fraction * sizes).astype(np.int64)
        lower = np.where(allowed, minimum[:, None], 0)
        if (lower.sum(0) > counts).any() or (lower.sum(1) > sizes).any():
            continue
        allocation = closest_allocation(_targets(sizes, allowed, concentration, rng), sizes, counts, lower,
                                        allowed)
        if allocation is not None:
            settings = {"min_classes": min_classes, "max_classes": max_classes,
                        "min_class_fraction": min_class_fraction, "concentration": concentration, "seed": seed}
            return Partition("non_iid", _indices_from_allocation(labels, allocation, rng), labels, num_classes,
                             settings)
    raise PartitionError(
        f"non_iid: no allocation of {len(labels)} examples over {num_clients} clients with "
        f"{min_classes}..{max_classes} classes each and ≥ {min_class_fraction:.0%} per held class after "
        f"{attempts} draws; lower min_class_fraction, raise min_classes, or use fewer clients")


def k_classes(labels, num_clients: int, *, classes_per_client: int = 2, seed: int = 0,
              num_classes: int | None = None) -> Partition:
    labels = _check_counts(labels, num_clients)
    shards = num_clients * classes_per_client
    if shards > len(labels):
        raise PartitionError(f"k_classes: {num_clients} clients × {classes_per_client} shards need at least "
                             f"{shards} examples; there are {len(labels)}")
    num_classes = num_classes or int(labels.max()) + 1
    rng = np.random.default_rng(seed)
    # Shards lie inside one class (so a client holds at most k classes): each class gets shards in
    # proportion to its size, at least one; shards are dealt at random.
    counts = np.bincount(labels, minlength=num_classes)
    present = np.flatnonzero(counts)
    if shards < len(present):
        raise PartitionError(f"k_classes: {shards} shards cannot cover {len(present)} classes; "
                             "raise classes_per_client or num_clients")
    share = counts[present] / counts.sum() * (shards - len(present))
    per_class = 1 + np.floor(share).astype(np.int64)
    per_class[np.argsort(share - np.floor(share))[::-1][: shards - per_class.sum()]] += 1
    pieces = []
    for c, m in zip(present, per_class):
        pool = rng.permutation(np.flatnonzero(labels == c))
        bounds = np.concatenate([[0], np.cumsum(equal_sizes(len(pool), m))])
        pieces += [pool[bounds[i]:bounds[i + 1]] for i in range(m)]
    dealt = rng.permutation(shards).reshape(num_clients, classes_per_client)
    parts = [rng.permutation(np.concatenate([pieces[s] for s in row])) for row in dealt]
    return Partition("k_classes", parts, labels, num_classes,
                     {"classes_per_client": classes_per_client, "seed": seed})


def dirichlet(labels, num_clients: int, *, alpha: float = 0.5, min_size: int = 10, seed: int = 0,
              num_classes: int | None = None, attempts: int = 100) -> Partition:
    labels = _check_counts(labels, num_clients)
    num_classes = num_classes or int(labels.max()) + 1
    if num_clients * min_size > len(labels):
        raise PartitionError(f"dirichlet: {num_clients} clients × min_size {min_size} exceed the "
                             f"{len(labels)} examples; lower min_size or num_clients")
    rng = np.random.default_rng(seed)
    for _ in range(attempts):
        parts = [[] for _ in range(num_clients)]
        for c in range(num_classes):
            pool = rng.permutation(np.flatnonzero(labels == c))
            cuts = (np.cumsum(rng.dirichlet(np.full(num_clients, alpha))) * len(pool)).astype(np.int64)[:-1]
            for k, piece in enumerate(np.split(pool, cuts)):
                parts[k].append(piece)
        parts = [np.concatenate(p) for p in parts]
        if min(len(p) for p in parts) >= min_size:
            return Partition("dirichlet", [rng.permutation(p) for p in parts], labels, num_classes,
                             {"alpha": alpha, "min_size": min_size, "seed": seed})
    raise PartitionError(f"dirichlet: no draw in {attempts} gave every client {min_size} examples with "
                         f"alpha={alpha}; raise alpha or lower min_size")


_BUILDERS = {"iid": iid, "iid_imbalanced": iid_imbalanced, "non_iid": non_iid, "k_classes": k_classes,
             "dirichlet": dirichlet}


def make_partition(name: str, labels, num_clients: int, *, seed: int = 0, num_classes: int | None = None,
                   **settings) -> Partition:
    """The partition ``name`` with its own settings (see the module docstring)."""
    if name not in _BUILDERS:
        raise PartitionError(f"unknown partition {name!r}; choose from {', '.join(PARTITIONS)}")
    import inspect

    accepted = set(inspect.signature(_BUILDERS[name]).parameters)
    return _BUILDERS[name](labels, num_clients, seed=seed, num_classes=num_classes,
                           **{k: v for k, v in settings.items() if k in accepted})


def save_heatmap(path, matrix: np.ndarray, *, class_names=None, title: str = ""):
    from keras_gens.utils.plots import new_figure, save_figure

    clients, classes = matrix.shape
    fig, ax = new_figure(figsize=(max(4.0, 0.5 * classes + 2), max(3.0, min(0.25 * clients + 1.5, 20))))
    image = ax.imshow(matrix, aspect="auto", cmap="viridis", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="examples")
    ax.set_xlabel("class")
    ax.set_ylabel("client")
    ax.set_xticks(range(classes))
    ax.set_xticklabels(class_names or range(classes), rotation=45 if class_names else 0)
    ax.set_yticks(range(0, clients, max(1, math.ceil(clients / 25))))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    save_figure(fig, path)
