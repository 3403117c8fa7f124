"""Losses, each a small module tested on its own."""
from keras_gens.losses.adversarial import (ADVERSARIAL_LOSSES, discriminator_loss, generator_loss, gradient_penalty,
                                           wrong_label_critic_loss)
from keras_gens.losses.autoencoder import gaussian_kl, squared_error
from keras_gens.losses.wae import gan_discriminator_loss, gan_encoder_penalty, mmd_penalty

__all__ = ["ADVERSARIAL_LOSSES", "discriminator_loss", "generator_loss", "gradient_penalty", "wrong_label_critic_loss",
           "gaussian_kl", "squared_error",
           "gan_discriminator_loss", "gan_encoder_penalty", "mmd_penalty"]
