"""FedAvg and Bi-FedAvg in TFF: against each other, against a hand-computed average, state and resume."""
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import REPO, python_env, run_module

SHAPE, CLASSES, HIDDEN, LR = (8, 8, 1), 10, (16,), 0.1
SPEC = (tf.TensorSpec([None, *SHAPE], tf.float32), tf.TensorSpec([None], tf.int32))


def _keras_model(seed=0):
    from federated.classifier import build_mlp

    return build_mlp(SHAPE, CLASSES, HIDDEN, seed)


def _client_arrays(n_clients=3, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n_clients):
        n = 20 + 7 * k  # unequal sizes: the average must be weighted
        out.append((rng.random((n, *SHAPE)).astype(np.float32), rng.integers(0, CLASSES, n).astype(np.int32)))
    return out


def _datasets(arrays, batch=8):
    return [tf.data.Dataset.from_tensor_slices(a).batch(batch) for a in arrays]


def _algorithm(name, mixing=0.5, first_start="global"):
    from federated.algorithms import FederatedAlgorithm, keras_model_fn

    algorithm = FederatedAlgorithm(name, keras_model_fn(_keras_model, SPEC), client_learning_rate=LR, mixing=mixing,
                                   first_start=first_start)
    algorithm.set_global_weights(_keras_model().get_weights())
    return algorithm


def _local_sgd(start_weights, x, y, batch=8):
    """Plain Keras SGD over the client's batches in order: what a client's local training must do."""
    model = _keras_model()
    model.set_weights(start_weights)
    model.compile(optimizer=tf.keras.optimizers.SGD(LR), loss=tf.keras.losses.SparseCategoricalCrossentropy())
    model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    return model.get_weights()


def _trainable(algorithm):
    return [np.asarray(w) for w in algorithm.global_weights().trainable]


def test_bi_fedavg_with_mixing_zero_equals_fedavg_exactly():
    arrays = _client_arrays()
    fedavg, bi = _algorithm("fedavg"), _algorithm("bi_fedavg", mixing=0.0)
    for _ in range(3):
        fedavg.round([0, 1, 2], _datasets(arrays))
        bi.round([0, 1, 2], _datasets(arrays))
    for a, b in zip(_trainable(fedavg), _trainable(bi)):
        np.testing.assert_array_equal(a, b)
    # and the model did move
    assert not np.allclose(_trainable(fedavg)[0], _keras_model().get_weights()[0])


def test_fedavg_round_is_the_example_weighted_average_of_local_training():
    arrays = _client_arrays()
    algorithm = _algorithm("fedavg")
    start = _keras_model().get_weights()
    algorithm.round([0, 1, 2], _datasets(arrays))
    local = [_local_sgd(start, x, y) for x, y in arrays]
    counts = np.array([len(y) for _, y in arrays], np.float64)
    expected = [sum(c * w[i] for c, w in zip(counts, local)) / counts.sum() for i in range(len(start))]
    for got, want in zip(_trainable(algorithm), expected):
        np.testing.assert_allclose(got, want, atol=2e-6)
    # An unweighted mean is measurably different: the test would notice a wrong weighting.
    unweighted = [sum(w[i] for w in local) / 3 for i in range(len(start))]
    assert max(np.abs(a - b).max() for a, b in zip(expected, unweighted)) > 1e-4


def test_bi_fedavg_client_starts_from_the_mix_of_global_and_its_previous_weights():
    arrays = _client_arrays(2)
    (x, y) = arrays[0]
    algorithm = _algorithm("bi_fedavg", mixing=0.5)
    g0 = _keras_model().get_weights()
    algorithm.round([0, 1], _datasets(arrays))
    p1 = _local_sgd(g0, x, y)
    state = algorithm.client_states[0]
    assert bool(state["seen"])
    for got, want in zip(state["weights"].trainable, p1):
        np.testing.assert_allclose(got, want, atol=2e-6)
    g1 = _trainable(algorithm)  # the average of both clients: not client 0's own weights
    algorithm.round([0, 1], _datasets(arrays))
    p2 = _local_sgd([0.5 * g + 0.5 * p for g, p in zip(g1, p1)], x, y)
    for got, want in zip(algorithm.client_states[0]["weights"].trainable, p2):
        np.testing.assert_allclose(got, want, atol=5e-6)
    # FedAvg would have started from g1 alone, which ends elsewhere.
    assert max(np.abs(a - b).max() for a, b in zip(_local_sgd(g1, x, y), p2)) > 1e-4


def test_bi_fedavg_first_start_initial_mixes_a_new_client_with_the_initial_weights():
    """federated.first_start=initial: a client first sampled in round 2 starts from (g1 + w0) / 2."""
    arrays = _client_arrays(2)
    (x, y) = arrays[1]
    w0 = _keras_model().get_weights()
    for first_start, start in (("initial", lambda g1: [0.5 * g + 0.5 * w for g, w in zip(g1, w0)]),
                               ("global", lambda g1: g1)):
        algorithm = _algorithm("bi_fedavg", mixing=0.5, first_start=first_start)
        algorithm.round([0], _datasets(arrays[:1]))
        g1 = _trainable(algorithm)
        algorithm.round([1], _datasets(arrays[1:]))
        for got, want in zip(algorithm.client_states[1]["weights"].trainable, _local_sgd(start(g1), x, y)):
            np.testing.assert_allclose(got, want, atol=5e-6)
    with pytest.raises(ValueError, match="first_start"):
        _algorithm("bi_fedavg", first_start="zero")


def test_only_weights_counts_and_metrics_reach_the_server():
    """The server-placed parts of Bi-FedAvg's round are model-shaped weights and scalars, never data."""
    from federated import tff_runtime

    tff = tff_runtime.tff()
    algorithm = _algorithm("bi_fedavg")
    signature = algorithm.process.next.type_signature
    weight_shapes = {tuple(w.shape) for w in _keras_model().get_weights()}

    def leaves(t, placement=None):
        if isinstance(t, tff.FederatedType):
            yield from leaves(t.member, t.placement)
        elif isinstance(t, tff.StructType):
            for _, member in tff.structure.iter_elements(t):
                yield from leaves(member, placement)
        else:
            yield placement, t

    server = [t for p, t in leaves(signature.result) if p is tff.SERVER]
    assert server
    for t in server:
        assert isinstance(t, tff.TensorType), t  # no sequences (data sets) at the server
        assert tuple(t.shape) in weight_shapes | {(), (2,)}, t
    # The client data and the client states enter placed at the clients only.
    data_type, states_type = signature.parameter[1], signature.parameter[2]
    assert data_type.placement is tff.CLIENTS and states_type.placement is tff.CLIENTS
    assert isinstance(data_type.member, tff.SequenceType)


def test_client_states_survive_a_checkpoint():
    arrays = _client_arrays()
    algorithm = _algorithm("bi_fedavg")
    algorithm.round([0, 2], _datasets([arrays[0], arrays[2]]))
    restored = _algorithm("bi_fedavg")
    restored.load_state_arrays(algorithm.state_arrays())
    assert set(restored.client_states) == {0, 2}
    for a, b in zip(tf.nest.flatten(algorithm.client_states[2]), tf.nest.flatten(restored.client_states[2])):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(_trainable(algorithm), _trainable(restored)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="another algorithm"):
        _algorithm("fedavg").load_state_arrays(algorithm.state_arrays())


def _small_experiment(tmp_path, name, *extra):
    from federated.simulate import simulate

    overrides = ["partition.num_clients=6", "partition.min_per_class=1", "federated.clients_per_round=3",
                 "federated.hidden_units=[16]", "run.verbose=0", "run.checkpoint_every=1", *extra]
    return simulate(None, ["data.source=digits", *overrides], out=tmp_path / name, log=lambda *a: None)


def test_interrupted_bi_fedavg_resumes_to_the_same_weights_and_client_states(tmp_path):
    whole = _small_experiment(tmp_path, "whole", "federated.algorithm=bi_fedavg", "federated.rounds=4")
    _small_experiment(tmp_path, "split", "federated.algorithm=bi_fedavg", "federated.rounds=2")
    resumed = _small_experiment(tmp_path, "split", "federated.algorithm=bi_fedavg", "federated.rounds=4")
    for a, b in zip(_trainable(whole.algorithm), _trainable(resumed.algorithm)):
        np.testing.assert_array_equal(a, b)
    assert set(whole.algorithm.client_states) == set(resumed.algorithm.client_states)
    for k in whole.algorithm.client_states:
        for a, b in zip(tf.nest.flatten(whole.algorithm.client_states[k]),
                        tf.nest.flatten(resumed.algorithm.client_states[k])):
            np.testing.assert_array_equal(a, b)
    assert [int(r["round"]) for r in resumed.history] == [1, 2, 3, 4]
    out = tmp_path / "split"
    for name in ("metrics.csv", "partition.png", "figures/accuracy.png", "figures/loss.png", "summary.yaml"):
        assert (out / name).is_file(), name
    assert len((out / "metrics.csv").read_text().splitlines()) == 5
    # Re-running the finished experiment trains no round and reports the same summary (a notebook re-run).
    again = _small_experiment(tmp_path, "split", "federated.algorithm=bi_fedavg", "federated.rounds=4")
    assert [int(r["round"]) for r in again.history] == [1, 2, 3, 4]
    assert again.summary["seconds_per_round"] > 0
    assert again.summary["test_accuracy"] == resumed.summary["test_accuracy"]


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_a_damaged_newest_checkpoint_resumes_from_the_one_before(tmp_path, damage):
    import shutil

    from keras_gens.errors import RunDirError

    whole = _small_experiment(tmp_path, "whole", "federated.rounds=3")
    _small_experiment(tmp_path, "split", "federated.rounds=2")  # checkpoints after rounds 1 and 2
    newest, previous = tmp_path / "split" / "checkpoint.npz", tmp_path / "split" / "checkpoint.previous.npz"
    assert previous.is_file()
    data = newest.read_bytes()
    newest.write_bytes({"truncated": data[:len(data) // 2], "empty": b"", "garbage": b"not a checkpoint" * 50}[damage])
    shutil.copytree(tmp_path / "split", tmp_path / "both")
    messages = []
    from federated.simulate import simulate

    resumed = simulate(None, ["data.source=digits", "partition.num_clients=6", "partition.min_per_class=1",
                              "federated.clients_per_round=3", "federated.hidden_units=[16]", "run.verbose=0",
                              "run.checkpoint_every=1", "federated.rounds=3"],
                       out=tmp_path / "split", log=messages.append)
    assert any(str(newest) in m and "cannot be read" in m for m in messages)
    assert any(f"resuming from {previous} (round 1)" in m for m in messages)
    # rounds 2 and 3 trained again from round 1's state: the same weights as the run never interrupted
    for a, b in zip(_trainable(whole.algorithm), _trainable(resumed.algorithm)):
        np.testing.assert_array_equal(a, b)
    assert [int(r["round"]) for r in resumed.history] == [1, 2, 3]
    # with the previous one damaged too, the run stops and names both files (it never starts over)
    both = tmp_path / "both"
    (both / "checkpoint.previous.npz").write_bytes(b"")
    with pytest.raises(RunDirError, match="no readable checkpoint") as caught:
        _small_experiment(tmp_path, "both", "federated.rounds=3")
    assert "checkpoint.npz" in str(caught.value) and "checkpoint.previous.npz" in str(caught.value)
    assert (both / "checkpoint.previous.npz").read_bytes() == b""  # nothing overwritten


def test_early_stopping_on_the_test_loss():
    from federated.simulate import stopping_round

    rows = [{"round": r, "test_loss": loss} for r, loss in enumerate([2.0, 1.5, 1.6, 1.45, 1.7, 1.8, 1.9], 1)]
    rows.insert(2, {"round": 2.5, "test_loss": ""})  # rounds without an evaluation are skipped
    assert stopping_round(rows, 0) is None
    assert stopping_round(rows, 2) == 6            # 1.45 at round 4, then 1.7 and 1.8
    assert stopping_round(rows, 2, min_delta=0.1) == 4  # 1.6 and 1.45 are not 0.1 below 1.5
    assert stopping_round(rows, 5) is None


def test_an_experiment_stops_early_and_a_rerun_trains_nothing(tmp_path):
    # A client learning rate of 1e-12 (0 is refused: a rate is > 0): the test loss falls by far less than
    # min_delta, so the second evaluation stops it.
    settings = ("federated.rounds=5", "federated.client_learning_rate=1e-12", "run.early_stopping.min_delta=0.001",
                "run.early_stopping.patience=1")
    result = _small_experiment(tmp_path, "stop", *settings)
    assert [int(r["round"]) for r in result.history] == [1, 2] and result.summary["stopped_early_at"] == 2
    again = _small_experiment(tmp_path, "stop", *settings)
    assert [int(r["round"]) for r in again.history] == [1, 2] and again.summary["stopped_early_at"] == 2


def test_the_papers_data_split_takes_the_training_set_alone():
    from federated import config as fed_config
    from federated.data import keras_gens_data_section
    from keras_gens.errors import ConfigError

    cfg = fed_config.resolve(None, ["data.source=digits"])
    assert keras_gens_data_section(cfg.data)["split"] == "all"
    assert keras_gens_data_section(fed_config.resolve(None, ["data.split=train"]).data)["split"] == "train"
    with pytest.raises(ConfigError, match="covid has no official training split"):
        keras_gens_data_section(fed_config.resolve(None, ["data.source=covid:x", "data.split=train",
                                                          "data.image_size=64"]).data)
    with pytest.raises(ConfigError, match="data.split"):
        fed_config.resolve(None, ["data.split=test"])


def test_fedavg_learns_the_digits(tmp_path):
    result = _small_experiment(tmp_path, "learn", "federated.rounds=15", "federated.local_epochs=2")
    accuracies = [float(r["test_accuracy"]) for r in result.history]
    assert accuracies[-1] > 0.6 > accuracies[0]


def test_a_changed_config_does_not_resume_silently(tmp_path):
    from keras_gens.errors import RunDirError

    _small_experiment(tmp_path, "x", "federated.rounds=1")
    with pytest.raises(RunDirError, match="federated.batch_size"):
        _small_experiment(tmp_path, "x", "federated.rounds=2", "federated.batch_size=16")


def test_simulate_cli_exits_without_leaving_the_tff_worker_behind(tmp_path):
    """A leftover worker holds stdout open: reading the output to its end would then time out."""
    result = run_module("federated.simulate", "--config", "configs/fed_digits.yaml", "--out", str(tmp_path / "cli"),
                        "federated.rounds=2", "partition.num_clients=5", "federated.clients_per_round=5",
                        "federated.hidden_units=[8]", "run.verbose=2", timeout=240)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "round 2/2" in result.stdout and "test accuracy" in result.stdout


def test_simulate_cli_reports_bad_settings_in_one_line(tmp_path):
    result = run_module("federated.simulate", "--out", str(tmp_path / "bad"), "partition.name=noniid", timeout=120)
    assert result.returncode == 2
    assert "partition.name" in result.stdout and "non_iid" in result.stdout and "Traceback" not in result.stdout
    result = run_module("federated.simulate", "--out", str(tmp_path / "bad"), "partition.num_clients=5000",
                        timeout=120)
    assert result.returncode == 2 and "lower num_clients" in result.stdout, result.stdout[-2000:]
    # Neither an impossible partition nor missing data leaves an experiment folder behind.
    result = run_module("federated.simulate", "--out", str(tmp_path / "missing"), "data.source=covid:nowhere",
                        "data.image_size=64", timeout=120)
    assert result.returncode == 2 and "COVID-19" in result.stdout, result.stdout[-2000:]
    assert not (tmp_path / "bad").exists() and not (tmp_path / "missing").exists()


# TFF's executor manager, collected after the context is replaced, signals the worker this test stopped.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_stop_child_processes_ends_the_worker():
    import psutil

    from federated import tff_runtime

    def workers():
        return [p for p in psutil.Process().children(recursive=True) if "worker_binary" in " ".join(p.cmdline())]

    tff = tff_runtime.tff()
    try:
        assert tff.tensorflow.computation(lambda x: x + 1, tf.int32)(1) == 2  # the worker starts with a computation
        assert workers()
        tff_runtime.stop_child_processes()
        assert not workers()
    finally:
        # The context still points at the stopped worker: later tests that run TFF in this process
        # (the results pipeline) need a fresh one, as importing TFF sets up.
        tff.backends.native.set_sync_local_cpp_execution_context()


def test_a_sigterm_still_ends_the_worker(tmp_path):
    """``kill PID`` (or a CI timeout) ends Python without exit handlers unless tff() turned it into SystemExit."""
    import psutil

    script = ("import os, sys, time, psutil\n"
              "from federated import tff_runtime\n"
              "import tensorflow as tf\n"
              "tff = tff_runtime.tff()\n"
              "assert tff.tensorflow.computation(lambda x: x + 1, tf.int32)(1) == 2\n"  # the worker starts here
              "workers = [p.pid for p in psutil.Process().children(recursive=True)"
              " if 'worker_binary' in ' '.join(p.cmdline())]\n"
              "print(' '.join(map(str, workers)), flush=True)\n"
              "time.sleep(300)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=python_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    workers = []
    try:
        workers = [int(pid) for pid in proc.stdout.readline().split()]
        assert workers, "a TFF computation started no worker_binary: this test no longer tests anything"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
        _, alive = psutil.wait_procs([psutil.Process(p) for p in workers if psutil.pid_exists(p)], timeout=10)
        assert not alive, f"worker(s) {[p.pid for p in alive]} outlived their parent"
    finally:
        for pid in workers:
            if psutil.pid_exists(pid):
                psutil.Process(pid).kill()
        if proc.poll() is None:
            proc.kill()


def test_partition_is_passed_its_own_settings_only():
    from federated import config as fed_config

    cfg = fed_config.resolve(None, ["partition.name=k_classes", "partition.classes_per_client=3"])
    assert cfg.partition.classes_per_client == 3
    with pytest.raises(Exception, match="did you mean|Did you mean"):
        fed_config.resolve(None, ["partition.min_per_clas=3"])

