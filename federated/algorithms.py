"""FedAvg and Bi-FedAvg as TensorFlow Federated processes, and one driver for both.

FedAvg is TFF's own ``build_weighted_fed_avg``.  Bi-FedAvg (B²-FedGAN) is the
same composition — broadcast, local SGD (TFF's model-delta client work),
weighted mean, server optimizer — plus a state per client: after the server
publishes new global weights g, a client starts its local training from

    start = (1 − m)·g + m·p        p: the client's weights after its previous local training

(``m`` = ``mixing``, 0.5 in the paper).  Its update is measured against g, so the
server still averages the clients' new local weights.  With m = 0 every step is
FedAvg's, bit for bit.

A client's first round (``first_start``): ``global`` (ours) starts it from g, since
it has no local training to mix in; ``initial`` is the paper's reading ("an initial
global model's weight ... would serve as the initial weights for all local
models"): its local model holds the initial global weights w₀ until it first
trains, so it starts from (1 − m)·g + m·w₀.

Client states live with the driver (``{client_id: state}``), which passes the
sampled clients' states in and takes the new ones out, as in TFF's
``examples/stateful_clients``: ``next(server_state@SERVER, data@CLIENTS,
client_states@CLIENTS) -> (server_state, metrics, client_states@CLIENTS)``.
Only weights, example counts and metric sums cross to the server.
"""
from __future__ import annotations

import collections
from typing import Callable

import numpy as np
import tensorflow as tf

from federated import tff_runtime

ALGORITHMS = ("fedavg", "bi_fedavg")
FIRST_STARTS = ("global", "initial")


def keras_model_fn(build_keras_model: Callable[[], tf.keras.Model], element_spec) -> Callable:
    """A TFF model function around a Keras classifier (sparse categorical cross-entropy, accuracy)."""
    tff = tff_runtime.tff()

    def model_fn():
        return tff.learning.models.from_keras_model(
            build_keras_model(), loss=tf.keras.losses.SparseCategoricalCrossentropy(), input_spec=element_spec,
            metrics=[tf.keras.metrics.SparseCategoricalAccuracy()])

    return model_fn


def build_fed_avg(model_fn, client_learning_rate: float, server_learning_rate: float = 1.0):
    tff = tff_runtime.tff()
    return tff.learning.algorithms.build_weighted_fed_avg(
        model_fn, client_optimizer_fn=tff.learning.optimizers.build_sgdm(client_learning_rate),
        server_optimizer_fn=tff.learning.optimizers.build_sgdm(server_learning_rate))


class BiFedAvgProcess:
    """Bi-FedAvg: ``initialize() -> state``, ``next(state, data, client_states)``, weights get/set."""

    def __init__(self, model_fn, client_learning_rate: float, server_learning_rate: float = 1.0,
                 mixing: float = 0.5):
        tff = tff_runtime.tff()
        if not 0.0 <= mixing <= 1.0:
            raise ValueError(f"federated.mixing must lie in [0, 1]; got {mixing}")
        self.mixing = float(mixing)
        ModelWeights = tff.learning.models.ModelWeights

        @tff.tensorflow.computation
        def initial_weights():
            return ModelWeights.from_model(model_fn())

        weights_type = initial_weights.type_signature.result
        update_type = weights_type.trainable
        distributor = tff.learning.templates.build_broadcast_process(weights_type)
        client_work = tff.learning.templates.build_model_delta_client_work(
            model_fn, tff.learning.optimizers.build_sgdm(client_learning_rate),
            tff.learning.ClientWeighting.NUM_EXAMPLES)
        aggregator = tff.aggregators.MeanFactory().create(update_type, tff.TensorType(np.float32))
        finalizer = tff.learning.templates.build_apply_optimizer_finalizer(
            tff.learning.optimizers.build_sgdm(server_learning_rate), weights_type)
        client_state_type = tff.types.StructWithPythonType(
            [("weights", weights_type), ("seen", tff.TensorType(np.bool_))], collections.OrderedDict)
        data_type = client_work.next.type_signature.parameter[2]
        mixing = self.mixing

        @tff.tensorflow.computation(weights_type, client_state_type)
        def starting_point(global_weights, client_state):
            m = tf.where(client_state["seen"], tf.constant(mixing, tf.float32), tf.constant(0.0, tf.float32))

            def mix(g, p):
                return (1.0 - tf.cast(m, g.dtype)) * g + tf.cast(m, g.dtype) * p

            previous = client_state["weights"]
            return ModelWeights(tf.nest.map_structure(mix, global_weights.trainable, previous.trainable),
                                tf.nest.map_structure(mix, global_weights.non_trainable, previous.non_trainable))

        # TFF's client update is (start − local); against the global weights it is (g − start) + (start − local).
        @tff.tensorflow.computation(weights_type, weights_type, update_type)
        def update_from_global(global_weights, start, delta):
            return tf.nest.map_structure(lambda g, s, d: (g - s) + d, global_weights.trainable, start.trainable,
                                         delta)

        @tff.tensorflow.computation(weights_type, update_type)
        def trained_state(start, delta):
            trained = ModelWeights(tf.nest.map_structure(tf.subtract, start.trainable, delta), start.non_trainable)
            return collections.OrderedDict(weights=trained, seen=tf.constant(True))

        @tff.federated_computation
        def initialize():
            return tff.federated_zip(tff.learning.templates.LearningAlgorithmState(
                tff.federated_eval(initial_weights, tff.SERVER), distributor.initialize(),
                client_work.initialize(), aggregator.initialize(), finalizer.initialize()))

        state_type = initialize.type_signature.result

        @tff.federated_computation(state_type, data_type, tff.FederatedType(client_state_type, tff.CLIENTS))
        def next_fn(state, client_data, client_states):
            sent = distributor.next(state.distributor, state.global_model_weights)
            start = tff.federated_map(starting_point, tff.federated_zip((sent.result, client_states)))
            work = client_work.next(state.client_work, start, client_data)
            updates = tff.federated_map(update_from_global,
                                        tff.federated_zip((sent.result, start, work.result.update)))
            averaged = aggregator.next(state.aggregator, updates, work.result.update_weight)
            finalized = finalizer.next(state.finalizer, state.global_model_weights, averaged.result)
            new_state = tff.federated_zip(tff.learning.templates.LearningAlgorithmState(
                finalized.result, sent.state, work.state, averaged.state, finalized.state))
            metrics = tff.federated_zip(collections.OrderedDict(
                distributor=sent.measurements, client_work=work.measurements, aggregator=averaged.measurements,
                finalizer=finalized.measurements))
            new_client_states = tff.federated_map(trained_state, tff.federated_zip((start, work.result.update)))
            return new_state, metrics, new_client_states

        @tff.tensorflow.computation(state_type.member)
        def get_model_weights(state):
            return state.global_model_weights

        self.initialize, self.next = initialize, next_fn
        self.get_model_weights = get_model_weights
        self.weights_type, self.client_state_type = weights_type, client_state_type

    def set_model_weights(self, state, weights):
        return state._replace(global_model_weights=weights)

    def new_client_state(self, weights) -> collections.OrderedDict:
        """The state of a client not seen yet: ``seen`` False, so it starts from the global weights."""
        return collections.OrderedDict(weights=tf.nest.map_structure(np.zeros_like, weights), seen=np.bool_(False))


class FederatedAlgorithm:
    """One driver for FedAvg and Bi-FedAvg: rounds over sampled clients, client states kept here."""

    def __init__(self, algorithm: str, model_fn, *, client_learning_rate: float, server_learning_rate: float = 1.0,
                 mixing: float = 0.5, first_start: str = "global"):
        if algorithm not in ALGORITHMS:
            raise ValueError(f"federated.algorithm must be one of {', '.join(ALGORITHMS)}; got {algorithm!r}")
        if first_start not in FIRST_STARTS:
            raise ValueError(f"federated.first_start must be one of {', '.join(FIRST_STARTS)}; got {first_start!r}")
        self.algorithm, self.first_start = algorithm, first_start
        if algorithm == "fedavg":
            self.process = build_fed_avg(model_fn, client_learning_rate, server_learning_rate)
        else:
            self.process = BiFedAvgProcess(model_fn, client_learning_rate, server_learning_rate, mixing)
        self.state = self.process.initialize()
        self.initial_weights = self.global_weights()  # w₀, for first_start=initial
        self.client_states: dict[int, collections.OrderedDict] = {}

    @property
    def stateful_clients(self) -> bool:
        return self.algorithm == "bi_fedavg"

    def global_weights(self):
        return self.process.get_model_weights(self.state)

    def set_global_weights(self, trainable, non_trainable=()):
        """Start from these weights (e.g. a seeded Keras model's) instead of TFF's own initial draw."""
        tff = tff_runtime.tff()
        weights = tff.learning.models.ModelWeights(tuple(np.asarray(w) for w in trainable),
                                                   tuple(np.asarray(w) for w in non_trainable))
        self.state = self.process.set_model_weights(self.state, weights)
        self.initial_weights = self.global_weights()

    def unseen_client_state(self, template):
        """The state of a client before its first round (see ``first_start``)."""
        if self.first_start == "initial":
            return collections.OrderedDict(weights=tf.nest.map_structure(np.asarray, self.initial_weights),
                                           seen=np.bool_(True))
        return self.process.new_client_state(template)

    def round(self, client_ids, datasets) -> dict:
        """One round on ``datasets`` (one ``tf.data.Dataset`` per client of ``client_ids``); its train metrics."""
        if self.stateful_clients:
            template = self.global_weights()
            states = [self.client_states.get(int(c)) or self.unseen_client_state(template) for c in client_ids]
            self.state, metrics, new_states = self.process.next(self.state, list(datasets), states)
            for client, state in zip(client_ids, new_states):
                self.client_states[int(client)] = state
        else:
            output = self.process.next(self.state, list(datasets))
            self.state, metrics = output.state, output.metrics
        return dict(metrics["client_work"]["train"])

    # -- checkpoints: server state and client states as flat arrays
    def state_arrays(self) -> dict:
        arrays = {"algorithm": np.array(self.algorithm)}
        arrays.update({f"server/{i:04d}": np.asarray(v) for i, v in enumerate(tf.nest.flatten(self.state))})
        for client, state in self.client_states.items():
            for i, v in enumerate(tf.nest.flatten(state)):
                arrays[f"client/{client}/{i:04d}"] = np.asarray(v)
        return arrays

    def load_state_arrays(self, arrays):
        written_by = str(arrays["algorithm"]) if "algorithm" in arrays else "?"
        if written_by != self.algorithm:
            raise ValueError(f"checkpoint written by {written_by}, not {self.algorithm}: was it written by another "
                             "algorithm?")
        server = [arrays[k] for k in sorted(k for k in arrays if k.startswith("server/"))]
        template = tf.nest.flatten(self.state)
        if len(server) != len(template):
            raise ValueError(f"checkpoint holds {len(server)} server arrays, this algorithm needs {len(template)}: "
                             "was it written by another algorithm or model?")
        self.state = tf.nest.pack_sequence_as(self.state, server)
        self.client_states = {}
        if self.stateful_clients:
            client_template = self.process.new_client_state(self.global_weights())
            clients = sorted({int(k.split("/")[1]) for k in arrays if k.startswith("client/")})
            for client in clients:
                leaves = [arrays[k] for k in sorted(k for k in arrays if k.startswith(f"client/{client}/"))]
                self.client_states[client] = tf.nest.pack_sequence_as(client_template, leaves)
