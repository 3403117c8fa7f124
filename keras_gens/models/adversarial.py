"""What every GAN of the suite shares: a generator against a discriminator (a critic), one optimizer
each, built from the config, and mean trackers of the losses and scores that the logs show.

A GAN subclasses ``AdversarialModel``, names its trackers in ``tracked`` and writes ``train_step``:
discriminator updates through ``descend_discriminator``, then the generator's loss under one tape,
handed to ``finish_generator_update`` (which applies it, records ``g_loss`` and ends the step), or
``update_generator`` for the plain adversarial generator loss.
"""
from __future__ import annotations

import tensorflow as tf

from keras_gens.losses.adversarial import generator_loss
from keras_gens.models.base import GenerativeModel, compile_settings
from keras_gens.optim import descend, make_optimizer


class AdversarialModel(GenerativeModel):
    #: The means the logs show, in their order; each is ``self.trackers[name]``.
    tracked: tuple = ("d_loss", "g_loss")
    #: {tracker: attribute} for trackers that earlier versions kept as attributes: checkpoints name
    #: them so, and runs written then must still resume.
    checkpointed_trackers: dict = {}

    def __init__(self, generator=None, discriminator=None, **kwargs):
        super().__init__(**kwargs)
        self.generator, self.discriminator = generator, discriminator
        self.trackers = {name: tf.keras.metrics.Mean(name=name) for name in self.tracked}
        for name, attribute in self.checkpointed_trackers.items():
            setattr(self, attribute, self.trackers[name])

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        super().compile(**kwargs)
        self.optimizer, self.d_optimizer = g_optimizer, d_optimizer
        # Slots now, not in the first step: a first call that creates variables is traced twice.
        g_optimizer.build(self.generator.trainable_variables)
        d_optimizer.build(self.discriminator_variables())

    def discriminator_variables(self) -> list:
        """What the discriminator's optimizer updates (PE-GAN adds its relational embedding)."""
        return self.discriminator.trainable_variables

    def compile_from_config(self, cfg, **further_optimizers):
        """Compile with the config's ``optimizers.generator`` and ``optimizers.discriminator``
        (and ``further_optimizers``, already built) under its ``train`` settings; returns the model."""
        self.compile(g_optimizer=make_optimizer(cfg.optimizers.generator, "optimizers.generator"),
                     d_optimizer=make_optimizer(cfg.optimizers.discriminator, "optimizers.discriminator"),
                     **further_optimizers, **compile_settings(cfg.train))
        return self

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def track(self, **values):
        """Record each value (a loss, or a batch of scores) in the tracker of its name."""
        for name, value in values.items():
            self.trackers[name].update_state(tf.reshape(value, [-1]))

    def descend_discriminator(self, tape, scaled_loss):
        """Apply the gradients to ``discriminator_variables()``; returns them."""
        variables = self.discriminator_variables()
        descend(self.d_optimizer, tape, scaled_loss, variables)
        return variables

    def update_generator(self, loss_kind: str, z, labels=None):
        """The usual generator update: ``generator_loss(loss_kind)`` of the discriminator's scores of
        G(z) (conditioned on ``labels`` when given), under one tape; ends the training step."""
        self.descend_generator(loss_kind, z, labels)
        self.finish_step()
        return self.tracked_results()

    def descend_generator(self, loss_kind: str, z, labels=None):
        """``update_generator`` without ending the step (for a step that may skip it)."""
        with tf.GradientTape() as tape:
            fake = self.generator(z if labels is None else [z, labels], training=True)
            scores = self.discriminator(fake if labels is None else [fake, labels], training=True)
            g_loss = generator_loss(loss_kind, scores)
            scaled = tf.nn.compute_average_loss(g_loss)
        descend(self.optimizer, tape, scaled, self.generator.trainable_variables)
        self.track(g_loss=g_loss)

    def finish_generator_update(self, tape, scaled_loss, g_loss):
        """Apply the generator's gradients, record its loss, end the training step."""
        descend(self.optimizer, tape, scaled_loss, self.generator.trainable_variables)
        self.track(g_loss=g_loss)
        self.finish_step()
        return self.tracked_results()
