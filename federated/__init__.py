"""Federated experiments (B²-FedGAN: FedAvg and Bi-FedAvg in TensorFlow Federated).

Builds on ``keras_gens`` models and data through the registry; it never copies them.  It runs on the
federated stack only (Python 3.11, TensorFlow 2.14, TFF 0.87): TFF has no release for today's TensorFlow.
"""
from importlib import util as _util

if _util.find_spec("tensorflow_federated") is None:
    raise ImportError("federated/ needs the federated stack (Python 3.11, TensorFlow 2.14.1, TensorFlow Federated "
                      "0.87), which this environment lacks: `make install` sets it up in .venv "
                      "(README: Install)")
