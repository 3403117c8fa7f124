"""Reusable Keras layers (each builds, calls, and saves on its own)."""
from keras_gens.layers.normalization import batch_norm
from keras_gens.layers.octave import (FrequencyWeights, OctaveBatchNorm, OctaveConv2D, OctaveConv2DTranspose,
                                      OctaveUpSampling2D, set_frequency_weights)
from keras_gens.layers.resnet import ConvolutionalBlock, IdentityBlock, build_resnet_encoder, scale_width

__all__ = ["FrequencyWeights", "OctaveBatchNorm", "OctaveConv2D", "OctaveConv2DTranspose", "OctaveUpSampling2D",
           "set_frequency_weights",
           "batch_norm", "ConvolutionalBlock", "IdentityBlock", "build_resnet_encoder", "scale_width"]
