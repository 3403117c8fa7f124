"""A seeded stand-in for a re-ID data set, written in Market-1501's layout.

Real re-ID data sets must be downloaded by hand; this one lets the model, the
sampler and the evaluation run anywhere (``--data synthetic_reid``, the smoke
runs, the tests and the benchmark).  Each identity is a figure with its own head,
shirt and trouser colours, shirt stripes and build; each camera has its own
background, lighting and viewpoint offset; each picture adds its own pose (a lean,
a height, jitter) and noise.  So identities are separable, but only through the
person, not the camera.

    python -m keras_gens.data.synthetic_reid OUT_DIR [--train-ids 48] [--test-ids 48]

writes OUT_DIR/{bounding_box_train,query,bounding_box_test}/0001_c1s1_000001_00.jpg ...,
with Market's junk (-1) and distractor (0000) pictures in the gallery.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

CAMERAS = 6
VERSION = 2  # bump when the pictures change, so cached copies are rewritten


def _person(rng, identity_traits, camera_traits, height, width) -> np.ndarray:
    head, shirt, trousers, stripe_period, build = identity_traits
    background, gain, shift = camera_traits
    image = np.empty((height, width, 3), np.float32)
    image[:] = background
    rows, cols = np.mgrid[0:height, 0:width]
    # Pose: each picture leans the figure (a shear about its middle) and scales its height a little.
    lean = rng.normal(0, 0.08)
    centre = width / 2 + shift + rng.normal(0, width * 0.04) + lean * (rows - height / 2)
    half = width * build * (0.9 + 0.2 * rng.random())
    stretch = 0.9 + 0.1 * rng.random()
    top = height * (0.05 + 0.04 * rng.random())
    head_bottom, shirt_bottom = top + height * 0.17 * stretch, top + height * 0.55 * stretch
    head_mask = (((rows - (top + head_bottom) / 2) / (height * 0.085 * stretch)) ** 2
                 + ((cols - centre) / (half * 0.55)) ** 2 < 1)
    body = np.abs(cols - centre) < half
    shirt_mask = body & (rows >= head_bottom) & (rows < shirt_bottom)
    legs = (np.abs(np.abs(cols - centre) - half * 0.45) < half * 0.4) & (rows >= shirt_bottom) & (rows < height * 0.97)
    image[head_mask] = head
    image[shirt_mask] = shirt
    if stripe_period:
        stripes = shirt_mask & (((rows - head_bottom) // stripe_period) % 2 == 1)
        image[stripes] = shirt * 0.45
    image[legs] = trousers
    image = image * gain + rng.normal(0, 0.04, image.shape)
    return np.clip(image * 255, 0, 255).astype(np.uint8)


def write_market_layout(root, *, train_ids: int = 48, test_ids: int = 48, images_per_camera: int = 2,
                        cameras_per_id: int = 3, height: int = 128, width: int = 64, distractors: int = 6,
                        junk: int = 4, seed: int = 0, ext: str = ".jpg") -> Path:
    """Write the data set; returns ``root``.  Identities 1..train_ids train, the next test_ids test.

    Every test identity gets one query per camera it appears in (as Market-1501), its
    other pictures go to the gallery.
    """
    import cv2

    rng = np.random.default_rng(seed)
    root = Path(root)
    cameras = [(rng.uniform(0.2, 0.8, 3), rng.uniform(0.75, 1.2), rng.uniform(-0.08, 0.08) * width)
               for _ in range(CAMERAS)]

    def traits():
        return (rng.uniform(0.3, 0.9, 3), rng.uniform(0, 1, 3), rng.uniform(0, 1, 3),
                int(rng.choice([0, 4, 7, 10])), rng.uniform(0.2, 0.32))

    frame = 0

    def save(folder, pid, camera, image):
        nonlocal frame
        frame += 1
        path = root / folder / f"{pid:04d}_c{camera + 1}s1_{frame:06d}_00{ext}" if pid >= 0 else \
            root / folder / f"-1_c{camera + 1}s1_{frame:06d}_00{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), image[..., ::-1]):
            raise OSError(f"cannot write {path}")

    for pid in range(1, train_ids + test_ids + 1):
        person = traits()
        seen = rng.choice(CAMERAS, size=min(cameras_per_id, CAMERAS), replace=False)
        for i, camera in enumerate(seen):
            for j in range(images_per_camera):
                image = _person(rng, person, cameras[camera], height, width)
                if pid <= train_ids:
                    save("bounding_box_train", pid, camera, image)
                else:
                    save("query" if j == 0 else "bounding_box_test", pid, camera, image)
            if pid > train_ids:  # the gallery also holds a picture from each camera whose query it answers
                save("bounding_box_test", pid, camera, _person(rng, person, cameras[camera], height, width))
    for _ in range(distractors):  # Market's 0000: people of no test identity
        save("bounding_box_test", 0, int(rng.integers(CAMERAS)), _person(rng, traits(), cameras[0], height, width))
    for _ in range(junk):  # Market's -1: boxes of no use, which evaluation must ignore
        save("bounding_box_test", -1, int(rng.integers(CAMERAS)),
             rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    return root


def cached_copy() -> Path:
    """The default copy under ``$KERAS_GENS_HOME`` (``~/.cache/keras_gens``), written once."""
    from keras_gens.metrics.inception import home
    from keras_gens.utils.io import replace_dir, temp_dir_beside

    final = home() / f"synthetic_reid-v{VERSION}"
    if not (final / "bounding_box_train").is_dir():
        tmp = temp_dir_beside(final)
        write_market_layout(tmp)
        replace_dir(tmp, final)
    return final


def load_synthetic_reid(path, data_cfg, preprocess):
    """``synthetic_reid[:DIR]``: the stand-in above (written on first use), read as Market-1501."""
    from keras_gens.data.reid import loader

    root = Path(path).expanduser() if path else cached_copy()
    if path and not (root / "bounding_box_train").is_dir():
        write_market_layout(root)
    source = loader("market1501")(str(root), data_cfg, preprocess)
    source.name = source.name.replace("market1501:", "synthetic_reid:", 1)
    source.title = "synthetic re-ID"
    return source


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keras_gens.data.synthetic_reid", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="folder to write (Market-1501 layout)")
    parser.add_argument("--train-ids", type=int, default=48)
    parser.add_argument("--test-ids", type=int, default=48)
    parser.add_argument("--images-per-camera", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    root = write_market_layout(args.out, train_ids=args.train_ids, test_ids=args.test_ids,
                               images_per_camera=args.images_per_camera, seed=args.seed)
    counts = {d.name: len(list(d.iterdir())) for d in sorted(root.iterdir()) if d.is_dir()}
    print(f"wrote {root}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
