"""Our LeakyReLU: the stock results, bit for bit (values, gradients, double backprop), with a gradient that
reads the output, so that Grappler's Conv2D+BiasAdd+LeakyRelu fusion does not fail."""
import numpy as np
import pytest
import tensorflow as tf

from keras_gens.layers.activations import LeakyReLU


def _critic(layer_class, alpha):
    """conv → bias → leaky ReLU twice, then a dense score: the pattern the remapper fuses."""
    tf.keras.utils.set_random_seed(3)
    x = inputs = tf.keras.Input((8, 8, 2))
    for i in range(2):
        x = tf.keras.layers.Conv2D(4, 3, strides=2, padding="same", name=f"conv{i}")(x)
        x = layer_class(alpha, name=f"lrelu{i}")(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(1)(tf.keras.layers.Flatten()(x)))


def _penalised_step(critic, images):
    """A WGAN-GP critic loss: the outer tape differentiates the inner tape's input gradient."""
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            inner.watch(images)
            scores = critic(images, training=True)
        slopes = inner.gradient(scores, images)
        loss = tf.reduce_mean(scores) + 10.0 * tf.reduce_mean((tf.norm(tf.reshape(slopes, [4, -1]), axis=1) - 1) ** 2)
    return loss, slopes, outer.gradient(loss, critic.trainable_variables)


@pytest.mark.parametrize("alpha", [0.0, 0.02, 0.2])
def test_values_gradients_and_double_backprop_equal_the_stock_layers_bit_for_bit(alpha):
    images = tf.random.stateless_normal([4, 8, 8, 2], seed=[4, 5])
    images = tf.tensor_scatter_nd_update(images, [[0, 0, 0, 0]], [0.0])  # an exact zero: the kink
    ours, stock = _critic(LeakyReLU, alpha), _critic(tf.keras.layers.LeakyReLU, alpha)
    stock.set_weights(ours.get_weights())
    for run in (tf.function(_penalised_step), _penalised_step):  # graph and eager
        loss, slopes, grads = run(ours, images)
        loss_ref, slopes_ref, grads_ref = run(stock, images)
        np.testing.assert_array_equal(loss, loss_ref)
        np.testing.assert_array_equal(slopes, slopes_ref)
        for g, g_ref in zip(grads, grads_ref):
            np.testing.assert_array_equal(g, g_ref)
    assert float(tf.reduce_sum(tf.abs(grads[0]))) > 0  # the penalty reached the first convolution


def _features_read_by_leaky_relu_grads(layer_class):
    critic = _critic(layer_class, 0.2)
    images = tf.random.stateless_normal([4, 8, 8, 2], seed=[6, 7])
    graph = tf.function(_penalised_step).get_concrete_function(critic, images).graph
    return {op.inputs[1].op.type for op in graph.get_operations() if op.type == "LeakyReluGrad"}


def test_no_gradient_reads_the_bias_add_that_the_fusion_removes():
    # The stock gradient reads BiasAdd: Grappler's remapper then fails on the whole train step
    # ("remapper failed: ... fanout '.../LeakyReluGrad' exist for missing node '.../BiasAdd'").
    assert "BiasAdd" in _features_read_by_leaky_relu_grads(tf.keras.layers.LeakyReLU)
    assert _features_read_by_leaky_relu_grads(LeakyReLU) == {"LeakyRelu"}


def test_a_negative_slope_keeps_the_stock_gradient():
    x = tf.constant([-2.0, 0.0, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = LeakyReLU(-0.5)(x)
    np.testing.assert_array_equal(y, [1.0, 0.0, 3.0])
    np.testing.assert_array_equal(tape.gradient(y, x), [-0.5, -0.5, 1.0])
