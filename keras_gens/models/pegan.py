"""PE-GAN (seed 004): a class-conditional BigGAN-deep with contrastive conditioning and a prior embedding.

Networks (the paper's Table 1 at 256×768×1, ch = 32; ``model.g_channels`` / ``d_channels`` are the
multipliers of ch per stage, so smaller sizes drop stages):
    generator      z ∈ R¹²⁸, shared Embed(y) ∈ R¹²⁸, c = [Embed(y) ‖ z] conditions every BN
                   (``model.generator_prior``: c = [Embed(y) ‖ Linear₁₂₈(s_y) ‖ z], see below);
                   Linear(c) → 4×12×16ch; six stages of (ResBlock, ResBlock up) with widths
                   16→16→8→8→4→2→1 ×ch, the non-local block after the fourth (at 64×192, 4ch);
                   BN → ReLU → 3×3 conv → tanh
    discriminator  3×3 conv 1→ch; ResBlock down to 2ch; then five stages of (ResBlock down, ResBlock)
                   with widths 4, 8, 8, 16, 16 ×ch; ReLU, global sum pooling → h₀ (16ch = 512);
                   score = Linear(h₀) → 1; embedding h = Linear(h₀) → 1024 (normalised in the loss)
    prior          40 tokens T = Linear₁₀₂₄([Linear₂₅₆(s) ‖ Embed₂₅₆(y)]) from each sensor's mean
                   occupancy s; anchors A = softmax(T Tᵀ/√d) T (+ T, see ``RelationalEmbedding``)
All blocks are BigGAN-deep's (``keras_gens.layers.biggan``); every conv and linear layer is
spectrally normalized and orthogonally initialized; the paper removed the projection
discriminator, so D sees labels only through the 2C loss.

Where the prior goes.  The text adds "an embedding of the prior information along with the class
labels to both the discriminator and generator"; Table 1 gives the generator Embed(y) alone.  The
default follows Table 1, the only place the generator's input is specified;
``model.generator_prior: true`` follows the text: a linear projection of the sensor's standardized
mean occupancy s_y (a constant of the exported generator) joins the conditioning vector.

Losses: D: hinge + λ_2C·2C(h(x), a_y) + λ_cr·consistency(x, flip+shift(x)) (on D's score and its
L2-normalised embedding h);
G: −D(G(z, y)) + λ_2C·2C(h(G(z, y)), a_y).  ``model.d_steps`` discriminator updates (each on its
own real batch) per generator update; fakes take the real batch's sensor ids, so the sensor mix
follows the data's.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_gens.config import BELOW_ONE, BLOCKS, NON_NEGATIVE, NON_NEGATIVE_COUNT, POSITIVE, UNROLLED_STEPS, Range
from keras_gens.errors import ConfigError
from keras_gens.layers.attention import SelfAttention2D
from keras_gens.layers.biggan import DiscriminatorBlock, GeneratorBlock
from keras_gens.layers.normalization import batch_norm
from keras_gens.layers.spectral import ORTHOGONAL, conv, dense
from keras_gens.losses.adversarial import discriminator_loss, generator_loss
from keras_gens.losses.consistency import consistency_loss, flip_and_shift
from keras_gens.losses.contrastive import conditional_contrastive_loss
from keras_gens.models.base import DataInfo
from keras_gens.models.hitmaps import HitmapModel, standardized_prior
from keras_gens.registry import register

layers = tf.keras.layers


def _stages_fit(image_shape, stages: int, what: str):
    height, width = image_shape[:2]
    if height % 2 ** stages or width % 2 ** stages:
        raise ConfigError(f"{what}: {stages} ×2 stages need image sides divisible by {2 ** stages}; "
                          f"got {height}×{width} (set data.image_size or the channel table)")
    return height >> stages, width >> stages


def build_pegan_generator(image_shape, num_classes, *, latent_dim=128, embed_dim=128, ch=32,
                          channels=(16, 16, 8, 8, 4, 2, 1), blocks_per_stage=2, attention_stage=4,
                          spectral=True, value_range=(-1.0, 1.0), prior=None, name="generator"):
    """``prior``: the per-class standardized mean occupancies; given, their projection joins the
    conditioning vector (``model.generator_prior``)."""
    stages = len(channels) - 1
    bottom_h, bottom_w = _stages_fit(image_shape, stages, "the PE-GAN generator")
    z = tf.keras.Input((latent_dim,), name="z")
    labels = tf.keras.Input((), dtype=tf.int32, name="labels")
    shared = layers.Embedding(num_classes, embed_dim, embeddings_initializer=ORTHOGONAL, name="shared")(labels)
    parts = [shared]
    if prior is not None:
        table = np.asarray(prior, np.float32).reshape(num_classes, 1)
        occupancy = layers.Embedding(num_classes, 1, embeddings_initializer=tf.keras.initializers.Constant(table),
                                     trainable=False, name="prior")(labels)
        parts.append(dense(embed_dim, spectral=spectral, name="prior_projection")(occupancy))
    condition = layers.Concatenate(name="condition")([*parts, z])
    x = dense(bottom_h * bottom_w * channels[0] * ch, spectral=spectral, name="linear")(condition)
    x = layers.Reshape((bottom_h, bottom_w, channels[0] * ch), name="reshape")(x)
    for stage in range(1, stages + 1):
        for block in range(blocks_per_stage):
            last = block == blocks_per_stage - 1
            filters = channels[stage] * ch if last else channels[stage - 1] * ch
            x = GeneratorBlock(filters, upsample=last, spectral=spectral, name=f"block{stage}_{block + 1}")(
                [x, condition])
        if stage == attention_stage:
            x = SelfAttention2D(spectral=spectral, name=f"attention{stage}")(x)
    x = batch_norm(name="bn_out", epsilon=1e-4, momentum=0.9)(x)
    x = layers.ReLU(name="relu_out")(x)
    x = conv(image_shape[-1], 3, spectral=spectral, name="to_image")(x)
    activation = "tanh" if tuple(value_range) == (-1.0, 1.0) else "sigmoid"
    x = layers.Activation(activation, dtype="float32", name=activation)(x)
    return tf.keras.Model([z, labels], x, name=name)


def build_pegan_discriminator(image_shape, *, ch=32, channels=(1, 2, 4, 8, 8, 16, 16),
                              blocks_per_stage=(1, 2, 2, 2, 2, 2), embed_dim=1024, attention_stage=0,
                              spectral=True, name="discriminator"):
    """Images → (score [N, 1], embedding [N, embed_dim])."""
    stages = len(channels) - 1
    if len(blocks_per_stage) != stages:
        raise ConfigError(f"model.d_blocks_per_stage has {len(blocks_per_stage)} entries for {stages} stages")
    _stages_fit(image_shape, stages, "the PE-GAN discriminator")
    images = tf.keras.Input(tuple(image_shape), name="images")
    x = conv(channels[0] * ch, 3, spectral=spectral, name="from_image")(images)
    for stage in range(1, stages + 1):
        for block in range(blocks_per_stage[stage - 1]):
            x = DiscriminatorBlock(channels[stage] * ch, downsample=block == 0, spectral=spectral,
                                   name=f"block{stage}_{block + 1}")(x)
        if stage == attention_stage:
            x = SelfAttention2D(spectral=spectral, name=f"attention{stage}")(x)
    x = layers.ReLU(name="relu_out")(x)
    features = layers.Lambda(lambda t: tf.reduce_sum(t, axis=[1, 2]), name="sum_pool")(x)
    score = dense(1, spectral=spectral, name="score", dtype="float32")(features)
    embedding = dense(embed_dim, spectral=spectral, name="embedding", dtype="float32")(features)
    return tf.keras.Model(images, [score, embedding], name=name)


class RelationalEmbedding(layers.Layer):
    """PE-GAN's per-class anchors from the prior information (each sensor's mean occupancy s).

        T = l⁽ᵈ⁾([l⁽ᵈᐟ⁴⁾(s) ‖ e(y)])  for the 40 classes y       (tokens, [40, d])
        A = softmax(T Tᵀ/√d) T                                    (dot-product self-attention)
        anchors = A + T  (``residual``, our default) or A (the paper's equation)

    At initialization the tokens' dot products are small next to √d, so the attention is nearly
    uniform and the paper's A gives every class almost the same anchor; the residual keeps each
    class its own token from the first step, and the attention adds what the other sensors'
    priors say.  ``s`` is stored standardized (``standardized_prior``) as a non-trainable weight.
    """

    def __init__(self, num_classes, prior, *, dim=1024, residual=True, spectral=True, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.dim, self.residual = int(num_classes), int(dim), bool(residual)
        initial = np.asarray(prior, np.float32).reshape(self.num_classes, 1)
        self.prior = self.add_weight(name="prior", shape=(self.num_classes, 1), trainable=False,
                                     initializer=tf.constant_initializer(initial))
        self.prior_projection = dense(self.dim // 4, spectral=spectral, name="prior_projection")
        self.label_embedding = layers.Embedding(self.num_classes, self.dim // 4, embeddings_initializer=ORTHOGONAL,
                                                name="label_embedding")
        self.token_projection = dense(self.dim, spectral=spectral, name="token_projection")

    def anchors(self, training=False) -> tf.Tensor:
        """The [classes, dim] anchors (a layer without inputs: called through this method)."""
        tokens = tf.concat([self.prior_projection(tf.convert_to_tensor(self.prior), training=training),
                            self.label_embedding(tf.range(self.num_classes))], axis=-1)
        tokens = tf.cast(self.token_projection(tokens, training=training), tf.float32)
        weights = tf.nn.softmax(tf.matmul(tokens, tokens, transpose_b=True) / np.sqrt(self.dim), axis=-1)
        attended = tf.matmul(weights, tokens)
        return attended + tokens if self.residual else attended


class PEGAN(HitmapModel):
    tracked = ("d_loss", "g_loss", "d_real", "d_fake", "contrastive", "consistency")

    def __init__(self, generator, discriminator, relational, *, contrastive_weight=1.0, temperature=1.0,
                 consistency_weight=10.0, max_shift=0.125, d_steps=2, **kwargs):
        super().__init__(generator, discriminator, **kwargs)
        if self.num_classes < 2:
            raise ConfigError("pe_gan is conditional: it needs labelled data (sensor ids)")
        self.relational = relational
        self.contrastive_weight, self.temperature = float(contrastive_weight), float(temperature)
        self.consistency_weight, self.max_shift = float(consistency_weight), float(max_shift)
        self.d_steps = int(d_steps)
        self.batches_per_step = self.d_steps

    def discriminator_variables(self) -> list:
        return self.discriminator.trainable_variables + self.relational.trainable_variables

    def anchors_for(self, labels, training=True):
        return tf.gather(self.relational.anchors(training=training), labels)

    def discriminator_step(self, real, labels, fake, stream):
        draws = self.uniform_noise(tf.shape(real)[0], (3,), stream=2 + stream)
        augmented = flip_and_shift(real, draws, self.max_shift)
        with tf.GradientTape() as tape:
            # One discriminator call on [real | fake | augmented]: a third of the graph, larger matmuls.
            scores, embeddings = self.discriminator(tf.concat([real, tf.cast(fake, real.dtype), augmented], 0),
                                                    training=True)
            real_score, fake_score, aug_score = tf.split(scores, 3)
            real_embedding, _, aug_embedding = tf.split(embeddings, 3)
            adversarial = discriminator_loss("hinge", real_score, fake_score)
            contrastive = conditional_contrastive_loss(real_embedding, self.anchors_for(labels), labels,
                                                       self.temperature)
            # on the L2-normalised embedding, which is what 2C compares (StudioGAN's normalize_d_embed)
            consistency = consistency_loss(real_score, aug_score, real_embedding, aug_embedding,
                                           normalize_embeddings=True)
            d_loss = adversarial + self.contrastive_weight * contrastive + self.consistency_weight * consistency
            scaled = tf.nn.compute_average_loss(d_loss)
        self.descend_discriminator(tape, scaled)
        self.track(d_loss=d_loss, d_real=real_score, d_fake=fake_score, contrastive=contrastive,
                   consistency=consistency)

    def train_step(self, batch):
        images, all_labels = batch["image"], tf.cast(batch["label"], tf.int32)
        # The fakes of all discriminator steps in one generator call (a smaller graph, larger matmuls).
        z = self.normal_noise(tf.shape(all_labels)[0], (self.latent_dim,), stream=0)
        fakes = tf.split(self.generator([z, all_labels], training=True), self.d_steps)
        label_chunks = tf.split(all_labels, self.d_steps)
        for i, (real, labels) in enumerate(zip(tf.split(images, self.d_steps), label_chunks)):
            self.discriminator_step(real, labels, fakes[i], stream=i)
        labels = label_chunks[-1]
        z = self.normal_noise(tf.shape(labels)[0], (self.latent_dim,), stream=1)
        with tf.GradientTape() as tape:
            score, embedding = self.discriminator(self.generator([z, labels], training=True), training=True)
            contrastive = conditional_contrastive_loss(embedding, self.anchors_for(labels), labels, self.temperature)
            g_loss = generator_loss("hinge", score) + self.contrastive_weight * contrastive
            scaled = tf.nn.compute_average_loss(g_loss)
        return self.finish_generator_update(tape, scaled, g_loss)


@register("pe_gan", summary="PE-GAN: conditional BigGAN-deep with contrastive conditioning and prior embedding "
                            "(PXD hitmaps)",
          # stage 0: no attention block; a shift is a share of the side, below it (reflect padding).
          ranges={"model.contrastive_weight": NON_NEGATIVE, "model.temperature": POSITIVE,
                  "model.consistency_weight": NON_NEGATIVE, "model.max_shift": BELOW_ONE,
                  "model.g_attention_stage": NON_NEGATIVE_COUNT, "model.d_attention_stage": NON_NEGATIVE_COUNT,
                  "model.g_blocks_per_stage": BLOCKS, "model.d_blocks_per_stage": BLOCKS,
                  "model.d_steps": UNROLLED_STEPS,
                  "model.singular_values.every": NON_NEGATIVE_COUNT,
                  "model.singular_values.collapse_ratio": Range(1.0, low_open=True)})
def build_pe_gan(cfg, data: DataInfo) -> PEGAN:
    m = cfg.model
    classes = max(data.num_classes, 1)
    generator = build_pegan_generator(data.image_shape, classes, latent_dim=m.latent_dim, embed_dim=m.embed_dim,
                                      ch=m.ch, channels=tuple(m.g_channels), blocks_per_stage=m.g_blocks_per_stage,
                                      attention_stage=m.g_attention_stage, spectral=m.spectral_norm,
                                      value_range=data.value_range,
                                      prior=(standardized_prior(data.class_prior, classes)
                                             if m.generator_prior else None))
    discriminator = build_pegan_discriminator(data.image_shape, ch=m.ch, channels=tuple(m.d_channels),
                                              blocks_per_stage=tuple(m.d_blocks_per_stage),
                                              embed_dim=m.contrastive_dim, attention_stage=m.d_attention_stage,
                                              spectral=m.spectral_norm)
    relational = RelationalEmbedding(classes, standardized_prior(data.class_prior, classes), dim=m.contrastive_dim,
                                     residual=m.prior_residual, spectral=m.spectral_norm, name="relational")
    relational.anchors()  # creates its weights now, so checkpoints restore into them
    model = PEGAN(generator, discriminator, relational, contrastive_weight=m.contrastive_weight,
                  temperature=m.temperature, consistency_weight=m.consistency_weight, max_shift=m.max_shift,
                  d_steps=m.d_steps, latent_dim=m.latent_dim, value_range=data.value_range,
                  num_classes=data.num_classes, seed=cfg.train.seed, name="pe_gan")
    return model.configured(cfg)
