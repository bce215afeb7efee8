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
    xa, ya = task.augment(x, y, outliers=0.25)
    assert xa.shape == x.shape and 0 <= xa.min() and xa.max() <= 1
    assert (ya == -1).sum() == 16
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
    # the answer says which threshold decided it (the Draw page shows why it said not_a_digit)
    assert p1.to_dict()["threshold"] == 0.5 and p2.threshold == 0.5 and p2.confidence < 0.5


def test_calibrate_takes_percentile_of_correct_confidence():
    """20 right answers with confidences 0.500, 0.525, ..., 0.975 and two confident wrong ones: the
    threshold is the 5th percentile of the right ones only, 0.5 + 0.025 * 0.95 (linear interpolation).
    (gestures keeps this rule; digits states a reject rate instead, below.)"""
    task = get("gestures")
    conf = [0.5 + 0.025 * i for i in range(20)] + [0.99, 0.2]
    targets = np.array([i % 9 for i in range(20)] + [3, 4])
    answers = np.array([i % 9 for i in range(20)] + [5, 6])
    probs = np.array([[c if k == a else (1 - c) / 8 for k in range(9)] for c, a in zip(conf, answers)])
    cal = task.calibrate(np.log(probs), targets)
    assert cal["threshold"] == pytest.approx(0.52375, abs=1e-9)


def test_digits_threshold_rejects_the_stated_share_of_real_digits():
    """201 validation digits, right or wrong, with certainties spread from low to high: the threshold is the
    0.5% quantile of their certainty, so 1 of 201 falls below it; an outlier row (target -1) is ignored."""
    task = get("digits")
    conf = [0.3 + 0.0035 * i for i in range(201)] + [0.1]
    answers = [i % 10 for i in range(202)]
    targets = np.array([(a + (i % 7 == 0)) % 10 for i, a in enumerate(answers[:201])] + [-1])
    probs = np.array([[c if k == a else (1 - c) / 9 for k in range(10)] for c, a in zip(conf, answers)])
    cal = task.calibrate(np.log(probs), targets)
    certainty = task.trust(np.log(probs))
    assert cal["threshold"] == pytest.approx(float(np.quantile(certainty[:201], 0.005)), abs=1e-9)
    assert (certainty[:201] < cal["threshold"]).sum() == 1 and cal["trust_score"] == "certainty"
    assert cal["threshold_rule"] == ("rejects 0.5% of the validation digits by certainty (1 - entropy / log "
                                     "classes), right and wrong answers alike")


def test_not_a_digit_is_decided_by_certainty_not_the_top_probability():
    """A digit torn between two (0.5 / 0.5) keeps an answer; a flat answer over all ten with a higher top
    probability (0.55) is not_a_digit. Weights whose threshold was fitted before scores were recorded keep
    comparing it with the top probability, the answers they were measured with."""
    task = get("digits")
    torn = np.log(np.array([0.5, 0.5] + [1e-6] * 8))
    flat = np.log(np.array([0.55] + [0.05] * 9))
    outputs = np.stack([torn, flat])
    certainty = task.trust(outputs)
    assert certainty[0] > 0.6 > 0.3 > certainty[1]
    new = task.decode(outputs, {"threshold": 0.45, "trust_score": "certainty"})
    assert [p.label for p in new] == ["0", "not_a_digit"] and new[1].trust == pytest.approx(certainty[1])
    assert new[1].top[0] == ("0", pytest.approx(0.55))  # the best guess is still shown
    old = task.decode(outputs, {"threshold": 0.52})  # no trust_score: a top-probability threshold
    assert [p.label for p in old] == ["not_a_digit", "0"]


def test_fill_box_stretches_a_digit_to_its_cell():
    from glancekit.tasks.digits import fill_box
    x = torch.zeros(2, 1, 28, 28)
    x[0, 0, 6:22, 13:15] = 1.0  # a thin upright bar, 16 x 2
    out = fill_box(x)
    ink = (out[0, 0] > 0.5).nonzero()
    assert ink[:, 0].min() == 4 and ink[:, 0].max() == 23 and ink[:, 1].min() == 4 and ink[:, 1].max() == 23
    assert torch.equal(out[1], x[1])  # a blank image stays blank


def test_training_letters_leave_out_what_people_write_like_digits():
    from glancekit.tasks.digits import TRAIN_LETTERS, _font_files, make_font_letters
    assert not set(TRAIN_LETTERS) & set("0123456789OoIlSsZzBbGgqTJUDQA")
    letters = make_font_letters(6, seed=0)
    if not _font_files():
        assert letters == []
        return
    assert len(letters) == 6 and all(a.shape == (112, 112) and a.dtype == np.uint8 for a in letters)
    x = np.stack([get("digits").preprocess(a) for a in letters])
    assert (x.reshape(6, -1).max(1) > 0.5).all()  # every one has ink the model sees


def test_non_digits_are_seeded():
    a, ka = make_non_digits(8, seed=1)
    b, _ = make_non_digits(8, seed=1)
    assert all(np.array_equal(i, j) for i, j in zip(a, b))
    assert set(ka) == {"blank", "noise", "scribble", "letter"}


def test_continental_styles_draw_only_on_their_digits():
    from glancekit.tasks.digits import continental_styles
    rng = np.random.default_rng(0)
    labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    x = torch.from_numpy(np.stack([mnist_preprocess(render_digit(d, rng, size=112)) for d in labels]))
    out = continental_styles(x, torch.tensor(labels), 1.0, np.random.default_rng(1))
    changed = [(out[i] - x[i]).abs().max().item() > 0.1 for i in range(10)]
    assert [d for d, c in zip(labels, changed) if c] and all(d in (1, 2, 4, 7, 9) for d, c in zip(labels, changed) if c)
    seven = labels.index(7)  # a crossbar adds ink; a 4's stem above its bar takes some away
    assert out[seven].sum() > x[seven].sum()
    assert 0 <= out.min() and out.max() <= 1

