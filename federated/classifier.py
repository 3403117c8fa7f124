"""The classifier of the federated experiments: B²-FedGAN's MLP (McMahan et al.'s "2NN").

flatten → Dense(200, ReLU) → Dense(200, ReLU) → Dense(classes, softmax); 199,210 parameters on
28×28 MNIST.  The cross-entropy is taken on the softmax probabilities.  (The paper's reported
losses — 1.496 at 96.97% accuracy on MNIST — sit just above log(1 + 9/e) ≈ 1.461, the least value of
a cross-entropy applied *as if to logits* to softmax outputs: their loss went through a second
softmax.  Our losses are the plain cross-entropy, so they are far lower at equal accuracy.)
"""
from __future__ import annotations

import tensorflow as tf


def build_mlp(image_shape, num_classes: int, hidden_units=(200, 200), seed: int = 0,
              name: str = "mlp") -> tf.keras.Model:
    layers = [tf.keras.layers.Flatten(name="flatten")]
    for i, units in enumerate(hidden_units, 1):
        layers.append(tf.keras.layers.Dense(
            units, activation="relu", name=f"hidden{i}",
            kernel_initializer=tf.keras.initializers.GlorotUniform(seed=seed * 101 + i)))
    layers.append(tf.keras.layers.Dense(
        num_classes, activation="softmax", name="softmax",
        kernel_initializer=tf.keras.initializers.GlorotUniform(seed=seed * 101 + len(hidden_units) + 1)))
    model = tf.keras.Sequential(layers, name=name)
    model.build((None, *image_shape))
    return model


def compile_for_evaluation(model: tf.keras.Model) -> tf.keras.Model:
    model.compile(loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return model
