"""The digit judge of the quality bars: trained on real mnist5k, cached, and its mode-coverage verdict."""
import numpy as np
import pytest

from keras_gens.evaluation.digit_judge import (JUDGE_SIZE, judge_input, mode_coverage, real_digits,
                                               train_digit_judge)


def test_judge_input_maps_any_range_size_and_channels_to_its_own():
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (3, 64, 64, 3)).astype(np.float32)
    images[0] = -1.0
    images[1] = 1.0
    seen = judge_input(images, (-1, 1))
    assert seen.shape == (3, JUDGE_SIZE, JUDGE_SIZE, 1) and seen.dtype == np.float32
    assert np.all(seen[0] == 0.0) and np.allclose(seen[1], 1.0)
    assert 0.0 <= seen.min() and seen.max() <= 1.0
    assert judge_input(np.full((2, 32, 32), 255.0), (0, 255)) == pytest.approx(np.ones((2, 32, 32, 1)))


def test_mode_coverage_bounds():
    assert mode_coverage(np.full(10, 0.1)) == (True, "every digit 10.0%–10.0% of the samples")
    collapsed = np.array([0.0, 0.0, 0.0, 0.7, 0.0, 0.0, 0.0, 0.0, 0.3, 0.0])
    met, detail = mode_coverage(collapsed)
    assert not met and "3: 70.0%" in detail and "8: 30.0%" in detail and "0: 0.0%" in detail
    met, detail = mode_coverage([0.02, 0.25] + [0.73 / 8] * 8)  # both ends count as inside
    assert met, detail
    assert not mode_coverage([0.019, 0.25] + [0.731 / 8] * 8)[0]


def test_the_judge_learns_real_digits_and_is_cached(tmp_path):
    logs = []
    judge = train_digit_judge(seed=0, recipe={"epochs": 2}, cache_dir=tmp_path, log=logs.append)
    assert len(logs) == 1 and "training the digit judge on 4000 mnist5k digits" in logs[0]
    assert judge.heldout_accuracy > 0.85  # chance is 0.1; the default recipe's 12 epochs give more
    cached = list(tmp_path.glob("*.weights.h5"))
    assert len(cached) == 1 and cached[0].with_suffix(".json").is_file()

    again = train_digit_judge(seed=0, recipe={"epochs": 2}, cache_dir=tmp_path, log=logs.append)
    assert len(logs) == 1 and again.heldout_accuracy == judge.heldout_accuracy  # loaded, not trained

    test_images, test_labels = real_digits("test")
    shares = judge.class_shares(test_images)
    assert shares.sum() == pytest.approx(1.0) and mode_coverage(shares)[0]  # real digits: 10% each
    threes = test_images[test_labels == 3]
    assert judge.class_shares(threes)[3] > 0.8 and not mode_coverage(judge.class_shares(threes))[0]
    # Reconstructions that kept their digit agree with their inputs' labels; shuffled labels do not.
    assert judge.agreement(test_images * 2 - 1, test_labels, (-1, 1)) == pytest.approx(judge.heldout_accuracy, abs=2e-3)
    assert judge.agreement(test_images, np.roll(test_labels, 1)) < 0.3
