"""The thesis's ResNet blocks on their own: shapes, the identity mapping, the projection shortcut, saving."""
import numpy as np
import pytest
import tensorflow as tf

from keras_gens.layers import ConvolutionalBlock, IdentityBlock


def silence_residual(block):
    """Zero the last BN's scale and offset: the residual path F(x) then contributes nothing."""
    block.bn3.gamma.assign(tf.zeros_like(block.bn3.gamma))
    block.bn3.beta.assign(tf.zeros_like(block.bn3.beta))


def test_identity_block_keeps_the_shape_and_is_relu_of_x_when_the_residual_is_zero():
    x = tf.random.normal([2, 7, 7, 12], seed=1)
    block = IdentityBlock((4, 4, 12), 3)
    y = block(x, training=False)
    assert y.shape == x.shape
    assert [block.conv1.kernel_size, block.conv2.kernel_size, block.conv3.kernel_size] == [(1, 1), (3, 3), (1, 1)]
    assert [block.conv1.filters, block.conv2.filters, block.conv3.filters] == [4, 4, 12]
    silence_residual(block)
    np.testing.assert_allclose(block(x, training=False).numpy(), tf.nn.relu(x).numpy(), atol=1e-6)


def test_identity_block_refuses_a_width_change():
    with pytest.raises(ValueError, match="needs 12 input channels"):
        IdentityBlock((4, 4, 12))(tf.zeros([1, 5, 5, 8]))


def test_convolutional_block_strides_and_projects_the_shortcut():
    x = tf.random.normal([2, 7, 7, 5], seed=2)
    block = ConvolutionalBlock((4, 4, 16), 3, strides=2)
    y = block(x, training=False)
    assert y.shape == (2, 4, 4, 16)  # 1×1 stride-2 'valid': ceil(7 / 2)
    assert block.conv1.strides == (2, 2) and block.shortcut_conv.strides == (2, 2)
    assert block.shortcut_conv.kernel_size == (1, 1)
    silence_residual(block)
    shortcut = block.shortcut_bn(block.shortcut_conv(x), training=False)
    np.testing.assert_allclose(block(x, training=False).numpy(), tf.nn.relu(shortcut).numpy(), atol=1e-6)


def test_blocks_save_and_reload(tmp_path):
    inputs = tf.keras.Input((8, 8, 3))
    x = ConvolutionalBlock((2, 2, 6), 3, strides=1, name="conv_block")(inputs)
    x = IdentityBlock((2, 2, 6), 3, name="identity")(x)
    model = tf.keras.Model(inputs, x)
    data = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype(np.float32)
    path = tmp_path / "blocks.keras"
    model.save(path)
    again = tf.keras.models.load_model(path)
    assert again.get_layer("identity").get_config()["filters"] == [2, 2, 6]
    np.testing.assert_allclose(again(data).numpy(), model(data).numpy(), atol=1e-6)
