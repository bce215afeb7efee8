"""The digits task: MNIST-style preprocessing, augmentation, not-a-digit decoding."""
import numpy as np
import pytest
import torch

from glancekit.tasks import get
from glancekit.tasks.digits import NOT_A_DIGIT, make_non_digits, mnist_preprocess

from .conftest import render_digit


def test_preprocess_is_polarity_invariant_and_mnist_shaped():
    img = render_digit(7, np.random.default_rng(1), size=90)
    dark_on_light = mnist_preprocess(img)
    light_on_dark = mnist_preprocess(255 - img)
    assert dark_on_light.shape == (1, 28, 28) and dark_on_light.dtype == np.float32
    assert np.abs(dark_on_light - light_on_dark).max() < 0.05
    x = dark_on_light[0]
    ys, xs = np.nonzero(x > 0.05)
    assert max(ys.max() - ys.min(), xs.max() - xs.min()) <= 21  # fits the 20x20 box (+ anti-aliasing)
    yy, xx = np.mgrid[0:28, 0:28]
    cy, cx = (x * yy).sum() / x.sum(), (x * xx).sum() / x.sum()
    assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1  # centred by centre of mass
    assert x[0].max() == 0 and x[:, 0].max() == 0  # black border as in MNIST


def test_preprocess_keeps_colour_photo_and_drops_specks():
    img = render_digit(3, np.random.default_rng(2), size=120)
    img[5, 5] = 0  # a speck of dust far away from the digit
    rgb = np.repeat(img[:, :, None], 3, axis=2)
    assert np.abs(mnist_preprocess(rgb) - mnist_preprocess(img)).max() < 1e-6
    clean = render_digit(3, np.random.default_rng(2), size=120)
    assert np.abs(mnist_preprocess(img) - mnist_preprocess(clean)).max() < 0.05


def test_blank_input_is_all_zero():
    assert mnist_preprocess(np.full((50, 40), 200, np.uint8)).max() == 0


def test_augment_keeps_shapes_and_marks_outliers():
    task = get("digits")
    x = torch.rand(64, 1, 28, 28)
    y = torch.randint(0, 10, (64,))
    xa, ya = task.augment(x, y)
    assert xa.shape == x.shape and 0 <= xa.min() and xa.max() <= 1
    assert (ya == -1).sum() == round(64 * task.outlier_frac)
    loss = task.loss(torch.randn(64, 10, requires_grad=True), ya)
    loss.backward()
    assert torch.isfinite(loss)


def test_decode_applies_threshold():
    task = get("digits")
    confident = np.zeros((1, 10))
    confident[0, 4] = 10
    unsure = np.zeros((1, 10))
    p1, p2 = task.decode(np.concatenate([confident, unsure]), {"threshold": 0.5})
    assert p1.label == "4" and p1.index == 4 and p1.confidence > 0.99
    assert p2.label == NOT_A_DIGIT and p2.index == -1
    assert p1.to_dict()["top"][0][0] == "4"


def test_calibrate_takes_percentile_of_correct_confidence():
    """20 right answers with confidences 0.500, 0.525, ..., 0.975 and two confident wrong ones: the
    threshold is the 5th percentile of the right ones only, 0.5 + 0.025 * 0.95 (linear interpolation)."""
    task = get("digits")
    conf = [0.5 + 0.025 * i for i in range(20)] + [0.99, 0.2]
    targets = np.array([i % 10 for i in range(20)] + [3, 4])
    answers = np.array([i % 10 for i in range(20)] + [5, 6])
    probs = np.array([[c if k == a else (1 - c) / 9 for k in range(10)] for c, a in zip(conf, answers)])
    cal = task.calibrate(np.log(probs), targets)
    assert cal["threshold"] == pytest.approx(0.52375, abs=1e-9)


def test_non_digits_are_seeded():
    a, ka = make_non_digits(8, seed=1)
    b, _ = make_non_digits(8, seed=1)
    assert all(np.array_equal(i, j) for i, j in zip(a, b))
    assert set(ka) == {"blank", "noise", "scribble", "letter"}
