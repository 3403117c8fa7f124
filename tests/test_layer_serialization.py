"""Every custom layer of keras_gens.layers saves and reloads through Keras serialization (the .keras
format, no custom_objects): same config, same weights, same outputs.  A new public layer class that
is not registered, or has no case here, fails the coverage test."""
import importlib
import inspect
import pkgutil

import numpy as np
import pytest
import tensorflow as tf

import keras_gens.layers
from keras_gens.layers.activations import LeakyReLU
from keras_gens.layers.attention import SelfAttention2D
from keras_gens.layers.biggan import DiscriminatorBlock, GeneratorBlock
from keras_gens.layers.normalization import ConditionalBatchNorm
from keras_gens.layers.octave import (FrequencyWeights, NearestUpSampling2D, OctaveBatchNorm, OctaveConv2D,
                                      OctaveConv2DTranspose, OctaveUpSampling2D)
from keras_gens.layers.resnet import ConvolutionalBlock, IdentityBlock
from keras_gens.layers.spectral import SNConv2D, SNDense


def _octave_chain(x):
    pair = OctaveConv2D(8, 3, alpha_in=0.0, alpha_out=0.5, name="oct_first")(x)
    pair = OctaveBatchNorm(name="oct_bn")(pair)
    pair = FrequencyWeights(name="beta")(pair)
    pair = OctaveUpSampling2D(name="oct_up")(pair)
    pair = OctaveConv2DTranspose(8, 3, alpha_in=0.5, alpha_out=0.5, strides=2, name="oct_transpose")(pair)
    return OctaveConv2D(4, 3, alpha_in=0.5, alpha_out=0.0, strides=2, name="oct_last")(pair)


# layer classes -> (input shapes, function of the inputs giving the output)
CASES = {
    "leaky_relu": ((LeakyReLU,), [(8, 8, 3)], lambda x: LeakyReLU(alpha=0.2)(x)),
    "self_attention": ((SelfAttention2D, SNConv2D), [(8, 8, 16)], lambda x: SelfAttention2D()(x)),
    "generator_block": ((GeneratorBlock, ConditionalBatchNorm, SNDense), [(4, 4, 16), (6,)],
                        lambda x, c: GeneratorBlock(8, upsample=True)([x, c])),
    "discriminator_block": ((DiscriminatorBlock,), [(8, 8, 8)], lambda x: DiscriminatorBlock(16, downsample=True)(x)),
    "conditional_bn": ((ConditionalBatchNorm,), [(4, 4, 8), (6,)],
                       lambda x, c: ConditionalBatchNorm(spectral=False)([x, c])),
    "sn_layers": ((SNConv2D, SNDense), [(8, 8, 3)],
                  lambda x: SNDense(5)(tf.keras.layers.Flatten()(SNConv2D(4, 3, power_iterations=2)(x)))),
    "octave": ((OctaveConv2D, OctaveBatchNorm, FrequencyWeights, OctaveUpSampling2D, OctaveConv2DTranspose),
               [(8, 8, 3)], _octave_chain),
    "nearest_up": ((NearestUpSampling2D,), [(4, 4, 3)], lambda x: NearestUpSampling2D()(x)),
    "resnet_blocks": ((IdentityBlock, ConvolutionalBlock), [(8, 8, 8)],
                      lambda x: IdentityBlock([4, 4, 16])(ConvolutionalBlock([4, 4, 16], strides=2)(x))),
}


def custom_layer_classes():
    """Every public Layer subclass defined in a module of keras_gens.layers."""
    found = set()
    for info in pkgutil.iter_modules(keras_gens.layers.__path__):
        module = importlib.import_module(f"keras_gens.layers.{info.name}")
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, tf.keras.layers.Layer) and obj.__module__ == module.__name__
                    and not name.startswith("_")):
                found.add(obj)
    return found


def test_every_custom_layer_is_registered_and_covered():
    classes = custom_layer_classes()
    assert len(classes) >= 15
    unregistered = [c.__name__ for c in classes
                    if tf.keras.utils.get_registered_name(c) != f"keras_gens>{c.__name__}"]
    assert not unregistered, f"not registered as Keras-serializable: {unregistered}"
    covered = {c for classes_, _, _ in CASES.values() for c in classes_}
    assert classes <= covered, f"no serialization case for {sorted(c.__name__ for c in classes - covered)}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_save_and_reload(case, tmp_path):
    classes, shapes, build = CASES[case]
    inputs = [tf.keras.Input(shape) for shape in shapes]
    model = tf.keras.Model(inputs, build(*inputs))
    used = {type(layer) for layer in model.submodules}
    assert set(classes) <= used, f"the case does not build {set(classes) - used}"
    rng = np.random.default_rng(0)
    batch = [rng.standard_normal((2, *shape)).astype("float32") for shape in shapes]
    model(batch, training=True)  # moves batch-norm statistics and spectral-norm vectors off their initial values
    for layer in model.submodules:
        if isinstance(layer, FrequencyWeights):
            layer.beta_high.assign(0.7)
            layer.beta_low.assign(0.3)

    path = tmp_path / f"{case}.keras"
    model.save(path)
    loaded = tf.keras.models.load_model(path)  # no custom_objects: registration alone must suffice

    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    for old, new in zip(model.layers, loaded.layers):
        assert old.get_config() == new.get_config(), old.name
    old_weights, new_weights = model.get_weights(), loaded.get_weights()
    assert len(old_weights) == len(new_weights)
    for a, b in zip(old_weights, new_weights):
        np.testing.assert_array_equal(a, b)
    expected = tf.nest.flatten(model(batch, training=False))
    got = tf.nest.flatten(loaded(batch, training=False))
    for a, b in zip(expected, got):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-6, atol=1e-6)
