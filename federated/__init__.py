"""Federated experiments (B²-FedGAN: FedAvg and Bi-FedAvg in TensorFlow Federated).

Builds on ``keras_gens`` models and data through the registry; it never copies them.
"""
