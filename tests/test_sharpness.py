"""Sharpness metrics on synthetic images with known answers."""
import numpy as np
import pytest

from keras_gens.metrics import gradient_sharpness, laplacian_variance


def checkerboard(size=16, cell=2):
    y, x = np.indices((size, size))
    return (((y // cell + x // cell) % 2).astype(np.float64))[None, ..., None]


def box_blur(images, k=3):
    pad = k // 2
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    out = np.zeros_like(images)
    for dy in range(k):
        for dx in range(k):
            out += padded[:, dy:dy + images.shape[1], dx:dx + images.shape[2]]
    return out / (k * k)


def test_a_flat_image_scores_zero():
    flat = np.full((2, 10, 12, 3), 0.4)
    assert gradient_sharpness(flat) == 0.0
    assert laplacian_variance(flat) == 0.0


def test_a_ramp_has_the_known_gradient_and_no_laplacian():
    width = 18
    ramp = np.tile(np.linspace(0.0, 1.0, width), (10, 1))[None, ..., None]
    # 0..1 over 17 steps on the 0-255 scale: 15 grey levels per pixel, everywhere (borders included)
    assert gradient_sharpness(ramp) == pytest.approx(255.0 / (width - 1), rel=1e-9)
    assert laplacian_variance(ramp) == pytest.approx(0.0, abs=1e-20)


def test_a_sharp_image_beats_its_blurred_copy():
    sharp = checkerboard()
    blurred = box_blur(sharp)
    assert gradient_sharpness(sharp) > 1.5 * gradient_sharpness(blurred)
    assert laplacian_variance(sharp) > 1.5 * laplacian_variance(blurred)


def test_laplacian_variance_known_value():
    # A one-pixel checkerboard of ±1 (in [-1, 1]): the Laplacian is ∓8 everywhere, variance 64.
    board = checkerboard(8, 1)
    assert laplacian_variance(board) == pytest.approx(64.0)


def test_value_range_colour_and_per_image():
    gray = checkerboard(12, 3)
    rgb = np.repeat(gray, 3, axis=-1)
    assert gradient_sharpness(rgb) == pytest.approx(gradient_sharpness(gray))
    assert gradient_sharpness(gray * 2 - 1, value_range=(-1, 1)) == pytest.approx(gradient_sharpness(gray))
    both = np.concatenate([gray, np.zeros_like(gray)])
    values = gradient_sharpness(both, per_image=True)
    assert values.shape == (2,) and values[1] == 0 and values[0] == pytest.approx(gradient_sharpness(gray))
    with pytest.raises(ValueError, match="1 or 3 channels"):
        gradient_sharpness(np.zeros((1, 4, 4, 2)))
