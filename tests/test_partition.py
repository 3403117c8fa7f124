"""Federated partitions: every example once, minimums honoured, histograms right, seeded, clear refusals."""
import numpy as np
import pytest

from federated.partition import PARTITIONS, PartitionError, make_partition


@pytest.fixture(scope="module")
def labels():
    from sklearn.datasets import load_digits

    return load_digits().target


def _assert_exact_cover(partition, n):
    every = np.concatenate(partition.client_indices)
    assert len(every) == n and len(np.unique(every)) == n


@pytest.mark.parametrize("name", PARTITIONS)
def test_every_example_is_assigned_exactly_once(name, labels):
    partition = make_partition(name, labels, 15, seed=3)
    _assert_exact_cover(partition, len(labels))
    assert partition.num_clients == 15


@pytest.mark.parametrize("name", PARTITIONS)
def test_seeded_partitions_repeat_and_seeds_differ(name, labels):
    a, b = make_partition(name, labels, 10, seed=1), make_partition(name, labels, 10, seed=1)
    c = make_partition(name, labels, 10, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a.client_indices, b.client_indices))
    assert not all(np.array_equal(x, y) for x, y in zip(a.client_indices, c.client_indices))


def test_histogram_counts_the_labels_of_each_client(labels):
    partition = make_partition("dirichlet", labels, 8, seed=0, alpha=0.3)
    hist = partition.histogram()
    for k, idx in enumerate(partition.client_indices):
        for c in range(10):
            assert hist[k, c] == int((labels[idx] == c).sum())
    assert hist.sum() == len(labels)
    assert np.array_equal(hist.sum(0), np.bincount(labels, minlength=10))


def test_iid_imbalanced_gives_every_client_every_class_above_the_minimum(labels):
    partition = make_partition("iid_imbalanced", labels, 20, seed=0, min_per_class=3)
    hist = partition.histogram()
    assert hist.min() >= 3
    sizes = hist.sum(1)
    assert sizes.max() - sizes.min() <= 1  # equal client sizes, as in the paper
    # Imbalanced: a typical client's largest class is several times its smallest.
    assert np.median(hist.max(1) / hist.min(1)) > 3


def test_iid_imbalanced_with_a_least_share_per_class(labels):
    """min_per_class_fraction: the paper's 'proportion of minimum data points in each class'."""
    partition = make_partition("iid_imbalanced", labels, 20, seed=0, min_per_class=1, min_per_class_fraction=0.04)
    hist = partition.histogram()
    assert (hist / hist.sum(1, keepdims=True)).min() >= 0.04
    assert (hist / hist.sum(1, keepdims=True)).min() < 0.06  # the bound binds: still imbalanced
    assert partition.settings["min_per_class_fraction"] == 0.04
    with pytest.raises(PartitionError, match="min_per_class_fraction must lie in"):
        make_partition("iid_imbalanced", labels, 20, min_per_class_fraction=0.2)  # 10 classes x 0.2 > 1


def test_non_iid_clients_hold_some_classes_each_above_the_minimum_fraction(labels):
    partition = make_partition("non_iid", labels, 20, seed=0, min_classes=2, max_classes=5, min_class_fraction=0.1)
    hist = partition.histogram()
    held = (hist > 0).sum(1)
    assert held.min() >= 2 and held.max() <= 5
    assert len(set(held.tolist())) > 1  # a random number of classes per client
    sizes = hist.sum(1)
    for k in range(20):
        assert hist[k][hist[k] > 0].min() >= np.ceil(0.1 * sizes[k])


def test_k_classes_gives_each_client_at_most_k_classes(labels):
    hist = make_partition("k_classes", labels, 20, seed=0, classes_per_client=2).histogram()
    assert ((hist > 0).sum(1) <= 2).all()


@pytest.mark.parametrize("name,settings,words", [
    ("iid", {}, "lower num_clients"),
    ("iid_imbalanced", {"min_per_class": 50}, "lower min_per_class"),
    ("non_iid", {"min_classes": 5, "min_class_fraction": 0.3}, "lower min_class_fraction"),
    ("dirichlet", {"min_size": 500}, "lower min_size"),
])
def test_impossible_requests_say_what_to_change(name, settings, words, labels):
    clients = 5000 if name == "iid" else 10
    with pytest.raises(PartitionError, match=words):
        make_partition(name, labels, clients, **settings)


def test_unknown_partition_names_the_choices(labels):
    with pytest.raises(PartitionError, match="iid_imbalanced"):
        make_partition("noniid", labels, 4)


def test_partition_tables_and_heatmap_are_written(tmp_path, labels):
    partition = make_partition("non_iid", labels, 6, seed=0)
    partition.write(tmp_path)
    csv_lines = (tmp_path / "partition.csv").read_text().splitlines()
    assert csv_lines[0].startswith("client,examples,classes,class_0")
    assert len(csv_lines) == 7
    assert (tmp_path / "partition.png").stat().st_size > 1000
    assert "| client |" in (tmp_path / "partition.md").read_text()
