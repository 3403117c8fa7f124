"""A digit classifier that judges what generative models draw: which digit each sample shows.

The quality bars of the results (RESULTS.md, "Does each model work?") ask two things of every model
trained on digits, and FID answers neither:

* **mode coverage**: of 1,000 random samples, every digit gets between 2% and 25%.  A generator or an
  auto-encoder whose codes miss the prior draws a few digits only, and fails.
* **reconstructions keep their digit**: the judge gives at least 90% of held-out reconstructions
  their input's label.

The judge is a small CNN trained on the real mnist5k training split (4,000 digits) and scored on
its held-out split (1,000).  It sees [0, 1] greyscale images at 32×32: generated images are mapped
from their model's value range, resized and averaged to one channel first.  Its held-out accuracy is
reported beside every share it gives, so a reader can tell a judge's error from a model's.  No
confidence threshold: about half of the samples of a DCGAN at FID 65 get a label with confidence
≥ 0.9, so a threshold would fail models that work.

The trained weights are cached under ``<KERAS_GENS_HOME>/judges``, keyed by the training images, the
seed and the recipe, so every section and seed shares one judge.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keras_gens.utils.io import atomic_write_text

JUDGE_SIZE = 32
JUDGE_RECIPE = {"version": 1, "epochs": 12, "batch_size": 64, "learning_rate": 1e-3}
# The share each digit must get of a model's samples: a uniform model gives each 10%.
COVERAGE_BOUNDS = (0.02, 0.25)
RECONSTRUCTION_BAR = 0.90


def build_judge(num_classes: int = 10):
    import tensorflow as tf

    layers = tf.keras.layers
    return tf.keras.Sequential([
        layers.Input((JUDGE_SIZE, JUDGE_SIZE, 1)),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dropout(0.3),
        layers.Dense(128, activation="relu"), layers.Dense(num_classes),
    ], name="digit_judge")


def judge_input(images, value_range=(0.0, 1.0)) -> np.ndarray:
    """Images [N, H, W, C] in ``value_range`` -> [N, 32, 32, 1] float32 in [0, 1], as the judge reads them."""
    import tensorflow as tf

    images = np.asarray(images, np.float32)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"the digit judge needs images [N, H, W, C]; got shape {images.shape}")
    lo, hi = float(value_range[0]), float(value_range[1])
    images = np.clip((images - lo) / (hi - lo), 0.0, 1.0).mean(axis=-1, keepdims=True)
    if images.shape[1:3] != (JUDGE_SIZE, JUDGE_SIZE):
        images = tf.image.resize(images, (JUDGE_SIZE, JUDGE_SIZE), method="bilinear").numpy()
    return images


def real_digits(split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """mnist5k's ``split`` at the judge's size: [0, 1] images [N, 32, 32, 1] and their labels."""
    from keras_gens import data
    from keras_gens.evaluation import data_config

    source = data.load(data_config("mnist5k", (JUDGE_SIZE, JUDGE_SIZE), channels=1, split=split, limit=limit))
    batch = source.take(source.num_examples)
    return batch["image"], batch["label"].astype(np.int64)


@dataclass
class DigitJudge:
    model: object
    heldout_accuracy: float
    seed: int = 0

    def classify(self, images, value_range=(0.0, 1.0), batch_size: int = 500) -> np.ndarray:
        images = judge_input(images, value_range)
        logits = np.concatenate([self.model(images[i:i + batch_size], training=False).numpy()
                                 for i in range(0, len(images), batch_size)]) if len(images) else np.zeros((0, 10))
        return logits.argmax(axis=1)

    def class_shares(self, images, value_range=(0.0, 1.0)) -> np.ndarray:
        """The share of ``images`` the judge gives each digit (sums to 1)."""
        labels = self.classify(images, value_range)
        if not len(labels):
            raise ValueError("no images to judge")
        return np.bincount(labels, minlength=10) / len(labels)

    def agreement(self, images, labels, value_range=(0.0, 1.0)) -> float:
        """The share of ``images`` the judge gives ``labels`` (reconstructions and their inputs' labels)."""
        return float(np.mean(self.classify(images, value_range) == np.asarray(labels)))


def mode_coverage(shares, bounds=COVERAGE_BOUNDS) -> tuple[bool, str]:
    """Whether every digit's share lies within ``bounds``, and a line that says which do not."""
    shares = np.asarray(shares, np.float64)
    low, high = bounds
    outside = [f"{digit}: {share:.1%}" for digit, share in enumerate(shares) if not low <= share <= high]
    if not outside:
        return True, f"every digit {shares.min():.1%}–{shares.max():.1%} of the samples"
    return False, f"digits outside {low:.0%}–{high:.0%} of the samples: {', '.join(outside)}"


def _cache_path(images: np.ndarray, labels: np.ndarray, seed: int, recipe: dict, cache_dir: Path) -> Path:
    digest = hashlib.sha256(np.ascontiguousarray(images).tobytes() + labels.tobytes()
                            + json.dumps({**recipe, "seed": seed}, sort_keys=True).encode()).hexdigest()[:20]
    return cache_dir / f"mnist5k-{digest}.weights.h5"


def train_digit_judge(seed: int = 0, *, recipe: dict | None = None, limit: int | None = None, cache_dir=None,
                      log=print) -> DigitJudge:
    """The judge trained on mnist5k's training split (or loaded from the cache), with its held-out accuracy."""
    import tensorflow as tf

    from keras_gens.metrics.inception import home

    recipe = {**JUDGE_RECIPE, **(recipe or {})}
    train_images, train_labels = real_digits("train", limit)
    test_images, test_labels = real_digits("test")
    cache_dir = Path(cache_dir) if cache_dir else home() / "judges"
    path = _cache_path(train_images, train_labels, seed, recipe, cache_dir)
    tf.keras.utils.set_random_seed(seed)
    model = build_judge()
    model.compile(optimizer=tf.keras.optimizers.Adam(recipe["learning_rate"]),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    trained_before = path.is_file()
    if trained_before:
        model.load_weights(str(path))
    else:
        log(f"training the digit judge on {len(train_images)} mnist5k digits ({recipe['epochs']} epochs)")
        model.fit(train_images, train_labels, epochs=recipe["epochs"], batch_size=recipe["batch_size"], verbose=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".tmp-{path.name}")  # the same suffix: Keras picks the format by it
        model.save_weights(str(temporary))
        temporary.replace(path)
    judge = DigitJudge(model, 0.0, seed)
    judge.heldout_accuracy = judge.agreement(test_images, test_labels)
    if not trained_before:  # what the cached weights score, written once beside them
        atomic_write_text(path.with_suffix(".json"), json.dumps({"heldout_accuracy": judge.heldout_accuracy,
                                                                 "recipe": recipe, "seed": seed}) + "\n")
    return judge
