"""Person re-identification with generated attention masks (seed 002).

Networks:
    extractor F       normalised image (``normalize_input``) → ResNet-50 without its classifier → global average
                      pooling (2048×1×1) → 1×1 conv 512 → BN → ReLU → 512-d template
    mask generator M  the U-Net of ``keras_gens.layers.unet``: image → mask in [0, 1]

Training, in three stages (``model.stage_epochs``, the paper's 50 / 25 / 100 epochs) of one run:
    1 extractor   F with the batch-hard triplet loss                               (Adam 2e-4)
    2 mask        M with L_mask = λ2·L_identity + (1 − λ2)(L_sparsity + L_contiguity); F frozen (Adam 1e-3)
    3 joint       F with L_extractor = λ1·L_triplet(a) + (1 − λ1)·L_triplet(a with its top 30% of M(a)
                  hidden), and M with L_mask, both updated every step
Each stage is its own traced ``train_step`` (a callback switches at the stage's first epoch), so a
stage's graph holds only the work that stage does.  F runs in inference mode wherever it only
measures a mask (L_identity): its batch-norm statistics see real images only.

Input normalisation: with ImageNet weights, exactly what those weights were trained on (Keras's
caffe mode: BGR, 0–255, mean subtracted); from scratch, RGB standardised with ImageNet's mean and
std (``input_mode_for``).  Masks act on the normalised image, as in the paper's pipeline (normalise,
then model): a hidden pixel becomes 0, the ImageNet mean colour, in either mode.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_gens.config import BLOCKS, NON_NEGATIVE, NON_NEGATIVE_COUNT, OPEN_SHARE, POSITIVE, SHARE
from keras_gens.errors import ConfigError, UserError
from keras_gens.layers.normalization import batch_norm
from keras_gens.layers.resnet import RESNET50_STAGES, build_resnet50, load_resnet50_weights
from keras_gens.layers.unet import build_unet
from keras_gens.losses.reid import (batch_hard_triplet_loss, contiguity_loss, extractor_loss, hide_top_fraction,
                                    identity_loss, mask_loss, sparsity_loss)
from keras_gens.models.base import DataInfo, GenerativeModel, compile_settings
from keras_gens.optim import descend, make_optimizer
from keras_gens.registry import register

layers = tf.keras.layers
STAGES = ("extractor", "mask", "joint")
STAGE_TITLES = {"extractor": "feature extractor alone (triplet loss)",
                "mask": "mask generator, extractor frozen (mask loss)",
                "joint": "both together (extractor loss with masked images, mask loss)"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# What Keras's ResNet-50 weights (resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5) were trained on:
# caffe-style input, BGR in 0–255 less these per-channel means, not divided by a std.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
INPUT_MODES = ("caffe", "standardize")


def input_mode_for(backbone_weights: str) -> str:
    """``caffe`` for pretrained weights (``imagenet`` or a path to that Keras file): their own preprocessing,
    ``keras.applications.resnet50.preprocess_input``.  From scratch (``none``) the choice is free; we
    standardise RGB with ImageNet's mean and std (torchvision's convention), which keeps inputs near
    unit scale for a randomly initialised network."""
    return "standardize" if str(backbone_weights).lower() == "none" else "caffe"


def normalize_input(images, mode: str = "caffe"):
    """[0, 1] RGB images -> the network's input (see ``input_mode_for``).

    In both modes the data's mean colour maps to (about) 0, so a pixel a mask hides (set to 0) is the
    ImageNet mean colour."""
    images = tf.cast(images, tf.float32)
    if mode == "caffe":
        return images[..., ::-1] * 255.0 - CAFFE_BGR_MEAN
    if mode == "standardize":
        return (images - IMAGENET_MEAN) / IMAGENET_STD
    raise ConfigError(f"re-ID input mode must be one of {', '.join(INPUT_MODES)}; got {mode!r}")


def build_extractor(image_shape, *, embedding_dim: int = 512, width: float = 1.0, stages=RESNET50_STAGES,
                    name: str = "extractor") -> tf.keras.Model:
    """Normalised image -> ``embedding_dim`` features: ResNet-50 body, pooling, 1×1 conv, BN, ReLU."""
    backbone = build_resnet50(image_shape, width=width, stages=stages, name="resnet50")
    x = inputs = tf.keras.Input(image_shape, name="image")
    x = backbone(x)
    x = layers.GlobalAveragePooling2D(keepdims=True, name="pool")(x)
    x = layers.Conv2D(embedding_dim, 1, name="embedding_conv")(x)
    x = batch_norm(name="embedding_bn")(x)
    x = layers.Activation("relu", name="embedding_relu")(x)
    x = layers.Flatten(name="features", dtype="float32")(x)
    return tf.keras.Model(inputs, x, name=name)


def stage_bounds(stage_epochs) -> dict:
    """``{stage: (first epoch, end epoch)}`` (0-based, end exclusive) of the three stages in one run."""
    bounds, start = {}, 0
    for stage, epochs in zip(STAGES, stage_epochs):
        bounds[stage] = (start, start + int(epochs))
        start += int(epochs)
    return bounds


class ReIDModel(GenerativeModel):
    """Feature extractor and mask generator trained together; ``current_stage`` picks the step."""

    draws_samples = False  # no latent space: the runner's sample grids do not apply
    epochs_setting = "model.stage (or model.stage_epochs)"

    def __init__(self, extractor, mask_generator, *, stage_epochs=(50, 25, 100), stage="all", margin=0.3,
                 soft_margin=False, lambda_extractor=0.90, lambda_mask=0.95, drop_fraction=0.3, seed=0,
                 input_mode="standardize", **kwargs):
        super().__init__(latent_dim=0, seed=seed, **kwargs)
        self.extractor, self.mask_generator = extractor, mask_generator
        if input_mode not in INPUT_MODES:
            raise ConfigError(f"re-ID input mode must be one of {', '.join(INPUT_MODES)}; got {input_mode!r}")
        self.input_mode = input_mode
        if len(stage_epochs) != 3 or any(int(e) < 0 for e in stage_epochs):
            raise ConfigError(f"model.stage_epochs must be three epoch counts >= 0 (extractor, mask, joint); "
                              f"got {list(stage_epochs)}")
        if stage not in (*STAGES, "all"):
            raise ConfigError(f"model.stage must be one of {', '.join(STAGES)}, all; got {stage!r}")
        self.stage_epochs = tuple(int(e) for e in stage_epochs)
        self.bounds = stage_bounds(self.stage_epochs)
        self.final_stage = STAGES[-1] if stage == "all" else stage
        self.margin, self.soft_margin = float(margin), bool(soft_margin)
        self.lambda_extractor, self.lambda_mask = float(lambda_extractor), float(lambda_mask)
        if not 0.0 < drop_fraction < 1.0:
            raise ConfigError(f"model.drop_fraction must lie in (0, 1); got {drop_fraction}")
        self.drop_fraction = float(drop_fraction)
        self.current_stage = next((s for s in STAGES if self.bounds[s][1] > self.bounds[s][0]), STAGES[0])
        names = ("triplet", "triplet_masked", "extractor_loss", "mask_loss", "identity", "sparsity", "contiguity")
        self.trackers = {n: tf.keras.metrics.Mean(name=n) for n in names}

    def compile(self, extractor_optimizer, mask_optimizer, **kwargs):
        super().compile(**kwargs)
        self.optimizer, self.mask_optimizer = extractor_optimizer, mask_optimizer
        # Both optimizers' slots exist from the start, so any stage's checkpoint restores into any stage.
        self.optimizer.build(self.extractor.trainable_variables)
        self.mask_optimizer.build(self.mask_generator.trainable_variables)

    @property
    def metrics(self):
        return list(self.trackers.values())

    # -- stages
    def planned_epochs(self, configured) -> int:
        if configured is not None:
            raise ConfigError("reid trains in stages: set model.stage_epochs (and model.stage to stop after one), "
                              "not train.epochs")
        return self.bounds[self.final_stage][1]

    def stage_at(self, epoch: int) -> str:
        for stage in STAGES:
            start, end = self.bounds[stage]
            if start <= epoch < end:
                return stage
        return STAGES[-1]

    @staticmethod
    def stage_number(stage: str) -> int:
        return STAGES.index(stage) + 1

    @staticmethod
    def stage_title(stage: str) -> str:
        return STAGE_TITLES[stage]

    def training_callbacks(self, run_dir, write=True, examples=None) -> list:
        callbacks = [StageSchedule()]
        if examples is not None:
            callbacks.append(MaskFigures(run_dir / "samples", examples[:8], log_dir=run_dir / "logs", write=write))
        return callbacks

    # -- the networks
    def features(self, images, training=False):
        """[0, 1] images -> 512-d templates (what matching compares)."""
        return self.extractor(self.normalize(images), training=training)

    def masks(self, images, training=False):
        return self.mask_generator(self.normalize(images), training=training)

    def normalize(self, images):
        """[0, 1] RGB -> the networks' input, as the backbone's weights expect (``input_mode_for``)."""
        return normalize_input(images, self.input_mode)

    def call(self, images, training=False):
        return self.features(images, training=training)

    def generate(self, z, labels=None):
        raise UserError("reid generates no images: its outputs are templates and masks "
                        "(python -m keras_gens.evaluate reid, python -m keras_gens.export)")

    # -- training
    def _apply(self, optimizer, loss, tape, variables):
        # Replicas' gradients are summed: each contributes its share of the mean over the global batch.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        descend(optimizer, tape, loss, variables, scale=1.0 / replicas if replicas > 1 else None)

    def _mask_terms(self, normalized, masks, targets=None):
        """L_mask and its parts; F measures, frozen and in inference mode."""
        if targets is None:
            targets = self.extractor(normalized, training=False)
        masked = self.extractor(masks * normalized, training=False)
        terms = {"identity": identity_loss(tf.stop_gradient(targets), masked), "sparsity": sparsity_loss(masks),
                 "contiguity": contiguity_loss(masks)}
        terms["mask_loss"] = mask_loss(terms["identity"], terms["sparsity"], terms["contiguity"], self.lambda_mask)
        return terms

    def _triplet(self, labels, features):
        # Mining spans the global batch: on N replicas each anchor still meets all P×K others,
        # so a step equals the one-device step (all_gather's gradient sums over replicas).
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            features, labels = context.all_gather(features, axis=0), context.all_gather(labels, axis=0)
        return batch_hard_triplet_loss(labels, features, self.margin, soft=self.soft_margin)

    def train_step(self, batch):
        normalized = self.normalize(batch["image"])
        labels = tf.cast(batch["label"], tf.int32)
        stage = self.current_stage
        results = {}
        if stage == "extractor":
            with tf.GradientTape() as tape:
                results["triplet"] = self._triplet(labels, self.extractor(normalized, training=True))
            self._apply(self.optimizer, results["triplet"], tape, self.extractor.trainable_variables)
        elif stage == "mask":
            with tf.GradientTape() as tape:
                results.update(self._mask_terms(normalized, self.mask_generator(normalized, training=True)))
            self._apply(self.mask_optimizer, results["mask_loss"], tape, self.mask_generator.trainable_variables)
        else:
            with tf.GradientTape() as tape:
                masks = self.mask_generator(normalized, training=True)
                results.update(self._mask_terms(normalized, masks))
            hidden = hide_top_fraction(normalized, masks, self.drop_fraction)
            with tf.GradientTape() as extractor_tape:
                results["triplet"] = self._triplet(labels, self.extractor(normalized, training=True))
                results["triplet_masked"] = self._triplet(labels, self.extractor(hidden, training=True))
                results["extractor_loss"] = extractor_loss(results["triplet"], results["triplet_masked"],
                                                           self.lambda_extractor)
            # Both gradients are taken before either update: each network answers the other's state of this step.
            self._apply(self.mask_optimizer, results["mask_loss"], tape, self.mask_generator.trainable_variables)
            self._apply(self.optimizer, results["extractor_loss"], extractor_tape,
                        self.extractor.trainable_variables)
        for name, value in results.items():
            self.trackers[name].update_state(value)
        self.finish_step()
        return {name: self.trackers[name].result() for name in results}

    # -- export
    def serving_signatures(self):
        """(module, signatures) for ``keras_gens.serving``: templates and masks for uint8 or [0, 1] images."""
        return _serving_module(self)


def _serving_module(model: ReIDModel):
    height, width = model.extractor.input_shape[1:3]
    extractor, mask_generator, drop = model.extractor, model.mask_generator, model.drop_fraction
    normalize = model.normalize

    class ReIDExport(tf.Module):
        def __init__(self):
            super().__init__(name="reid_export")
            self.extractor_weights = list(extractor.weights)
            self.mask_weights = list(mask_generator.weights)

        @staticmethod
        def unit(images):
            images = tf.cast(images, tf.float32) / 255.0 if images.dtype == tf.uint8 else images
            return tf.image.resize(images, (height, width), antialias=True)

    module = ReIDExport()
    image_spec = tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")

    @tf.function(input_signature=[image_spec])
    def serve(images):
        return {"features": extractor(normalize(module.unit(images)), training=False)}

    @tf.function(input_signature=[image_spec])
    def masks(images):
        unit = module.unit(images)
        mask = mask_generator(normalize(unit), training=False)
        hidden = hide_top_fraction(unit, mask, drop)
        return {"masks": mask, "hidden": tf.cast(tf.round(hidden * 255.0), tf.uint8)}

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="images")])
    def serve_float(images):
        return {"features": extractor(normalize(module.unit(images)), training=False)}

    module.serve, module.serve_float, module.masks = serve, serve_float, masks
    return module, {"serving_default": serve, "features_float": serve_float, "masks": masks}


def _check_sizes(image_shape, factor=16):
    if image_shape[0] % factor or image_shape[1] % factor:
        raise ConfigError(f"reid needs data.image_size sides divisible by {factor} (the U-Net's four poolings); "
                          f"got {image_shape[0]}×{image_shape[1]}. The paper uses [224, 112].")


@register("reid", summary="Person re-ID: ResNet-50 extractor + U-Net attention masks, triplet loss in 3 stages",
          choices={"data.split": ["train"], "data.sampler": ["pk"], "model.stage": [*STAGES, "all"]},
          # a stage of 0 epochs is skipped; λ1, λ2 weigh two terms against each other (Eqs. 2 and 6)
          ranges={"model.stage_epochs": NON_NEGATIVE_COUNT, "model.backbone_width": POSITIVE,
                  "model.backbone_blocks": BLOCKS,
                  "model.unet_width": POSITIVE, "model.margin": NON_NEGATIVE, "model.lambda_extractor": SHARE,
                  "model.lambda_mask": SHARE, "model.drop_fraction": OPEN_SHARE},
          resumable=("model.stage",))  # a later session may train another stage of the same run
def build_reid(cfg, data: DataInfo) -> ReIDModel:
    m = cfg.model
    image_shape = tuple(data.image_shape)
    if image_shape[-1] != 3:
        raise ConfigError(f"reid works on RGB images (data.channels=3); got {image_shape[-1]} channel(s)")
    _check_sizes(image_shape)
    stages = tuple((f1, int(blocks), stride) for (f1, _, stride), blocks in zip(RESNET50_STAGES, m.backbone_blocks))
    extractor = build_extractor(image_shape, embedding_dim=int(m.embedding_dim),
                                width=m.backbone_width, stages=stages)
    weights = str(m.backbone_weights)
    if weights.lower() != "none":
        if m.backbone_width != 1.0 or tuple(m.backbone_blocks) != (3, 4, 6, 3):
            raise ConfigError("ImageNet weights fit only the full ResNet-50 (model.backbone_width=1, "
                              "model.backbone_blocks=[3, 4, 6, 3]); set model.backbone_weights=none for smaller ones")
        load_resnet50_weights(extractor.get_layer("resnet50"), weights)
    mask_generator = build_unet(image_shape, filters=tuple(m.unet_filters), width=m.unet_width)
    model = ReIDModel(extractor, mask_generator, stage_epochs=tuple(m.stage_epochs), stage=m.stage,
                      margin=m.margin, soft_margin=m.soft_margin, lambda_extractor=m.lambda_extractor,
                      lambda_mask=m.lambda_mask, drop_fraction=m.drop_fraction, seed=cfg.train.seed,
                      input_mode=input_mode_for(weights), name="reid")
    model.compile(extractor_optimizer=make_optimizer(cfg.optimizers.extractor, "optimizers.extractor"),
                  mask_optimizer=make_optimizer(cfg.optimizers.mask, "optimizers.mask"),
                  **compile_settings(cfg.train))
    return model


def mask_figure(model: ReIDModel, images: np.ndarray) -> np.ndarray:
    """The paper's Figure 1 as one uint8 picture: originals above the same images with their top
    ``drop_fraction`` of mask pixels blacked out, and the masks themselves below."""
    images = np.asarray(images, np.float32)
    masks = model.masks(images)
    return mask_grid(images, hide_top_fraction(images, masks, model.drop_fraction), masks)


def mask_grid(images, hidden, masks) -> np.ndarray:
    """Rows of originals, hidden images and masks (all in [0, 1]) as one uint8 picture."""
    from keras_gens.utils.images import make_grid, to_uint8

    rows = np.concatenate([np.asarray(images, np.float32), np.asarray(hidden, np.float32),
                           np.repeat(np.asarray(masks, np.float32), 3, axis=-1)])
    return make_grid(to_uint8(rows), ncols=len(images))


# -- the model's own callbacks


class StageSchedule(tf.keras.callbacks.Callback):
    """For models trained in stages (``reid``): at each stage's first epoch, switch the model's stage
    and trace its train step anew; each epoch's logs record the stage (1, 2, 3)."""

    def __init__(self, log=print):
        super().__init__()
        self.log = log

    def on_train_begin(self, logs=None):
        self._announced = None

    def on_epoch_begin(self, epoch, logs=None):
        model = self.model
        stage = model.stage_at(epoch)
        if stage != self._announced:
            self._announced = stage
            first, end = model.bounds[stage]
            self.log(f"stage {model.stage_number(stage)}/3, {stage}: {model.stage_title(stage)}, "
                     f"epochs {first + 1}-{end}")
        if stage != model.current_stage:
            model.current_stage = stage
            model.make_train_function(force=True)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["stage"] = self.model.stage_number(self.model.current_stage)


class MaskFigures(tf.keras.callbacks.Callback):
    """After each epoch of a stage that trains masks: ``samples/masks_NNNN.png`` (the paper's Figure 1 for
    fixed training images: originals, the same with their top 30% hidden, the masks), also to TensorBoard."""

    def __init__(self, out_dir, images, *, log_dir=None, every=1, write=True):
        super().__init__()
        self.out_dir, self.images, self.log_dir = Path(out_dir), np.asarray(images), log_dir
        self.every, self.write = int(every), write
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        if self.model.current_stage == "extractor" or not self.every or (epoch + 1) % self.every:
            return
        grid = mask_figure(self.model, self.images)
        if not self.write:
            return
        from keras_gens.utils.images import save_png

        save_png(self.out_dir / f"masks_{epoch + 1:04d}.png", grid)
        if self.log_dir is not None:
            if self._writer is None:
                self._writer = tf.summary.create_file_writer(str(Path(self.log_dir) / "samples"))
            with self._writer.as_default():
                tf.summary.image("masks", grid[None], step=epoch + 1)
            self._writer.flush()
