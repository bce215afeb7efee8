"""Metrics against cases worked out by hand, plus a cross-check with scikit-learn on random data."""
import numpy as np
import pytest

from glancekit.metrics import (accuracy, classification_report, confusion_matrix, eer, per_class_prf, roc_auc,
                               roc_curve, top_k_accuracy)

# 3 classes, 8 samples:
#   true: 0 0 0 1 1 2 2 2
#   pred: 0 1 0 1 1 2 0 2
Y_TRUE = [0, 0, 0, 1, 1, 2, 2, 2]
Y_PRED = [0, 1, 0, 1, 1, 2, 0, 2]


def test_confusion_matrix_by_hand():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 2, 0], [1, 0, 2]]


def test_accuracy_by_hand():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(6 / 8)


def test_per_class_prf_by_hand():
    prf = per_class_prf(Y_TRUE, Y_PRED, 3)
    # class 0: tp 2, predicted 3, support 3 → P 2/3, R 2/3, F1 2/3
    # class 1: tp 2, predicted 3, support 2 → P 2/3, R 1,   F1 0.8
    # class 2: tp 2, predicted 2, support 3 → P 1,   R 2/3, F1 0.8
    assert prf["precision"] == pytest.approx([2 / 3, 2 / 3, 1.0])
    assert prf["recall"] == pytest.approx([2 / 3, 1.0, 2 / 3])
    assert prf["f1"] == pytest.approx([2 / 3, 0.8, 0.8])
    assert prf["support"].tolist() == [3, 2, 3]


def test_macro_and_weighted_by_hand():
    r = classification_report(Y_TRUE, Y_PRED, 3)
    assert r["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0.8) / 3)
    assert r["weighted_f1"] == pytest.approx((3 * 2 / 3 + 2 * 0.8 + 3 * 0.8) / 8)
    assert r["weighted_recall"] == pytest.approx(6 / 8)  # weighted recall is accuracy


def test_absent_class_counts_zero():
    prf = per_class_prf([0, 0], [0, 0], 3)
    assert prf["precision"].tolist() == [1.0, 0.0, 0.0]
    assert prf["f1"].tolist() == [1.0, 0.0, 0.0]


def test_top_k_by_hand():
    scores = np.array([[0.1, 0.5, 0.3, 0.1],   # true 2: 2nd → top1 no, top2 yes
                       [0.7, 0.1, 0.1, 0.1],   # true 0: 1st
                       [0.1, 0.2, 0.3, 0.4],   # true 0: 4th → not in top 3
                       [0.2, 0.1, 0.3, 0.4]])  # true 1: 4th
    y = [2, 0, 0, 1]
    assert top_k_accuracy(y, scores, 1) == pytest.approx(1 / 4)
    assert top_k_accuracy(y, scores, 2) == pytest.approx(2 / 4)
    assert top_k_accuracy(y, scores, 3) == pytest.approx(2 / 4)
    assert top_k_accuracy(y, scores, 4) == 1.0


def test_roc_and_auc_with_ties_by_hand():
    # scores 0.9(1) 0.8(0) 0.8(1) 0.3(0): positive pairs beating negatives:
    # (0.9 vs 0.8)=1, (0.9 vs 0.3)=1, (0.8 vs 0.8)=0.5, (0.8 vs 0.3)=1 → AUC = 3.5/4
    y, s = [1, 0, 1, 0], [0.9, 0.8, 0.8, 0.3]
    fpr, tpr, thr = roc_curve(y, s)
    assert thr[0] == np.inf and thr[1:].tolist() == [0.9, 0.8, 0.3]
    assert fpr.tolist() == [0, 0, 0.5, 1]
    assert tpr.tolist() == [0, 0.5, 1, 1]
    assert roc_auc(y, s) == pytest.approx(0.875)


def test_eer_by_hand():
    # pos scores 0.9 0.6 0.4, neg scores 0.7 0.2 0.1. At threshold 0.6: FNR 1/3 (0.4 missed), FPR 1/3 (0.7)
    y = [1, 1, 1, 0, 0, 0]
    s = [0.9, 0.6, 0.4, 0.7, 0.2, 0.1]
    rate, thr = eer(y, s)
    assert rate == pytest.approx(1 / 3)
    assert thr == pytest.approx(0.6)


def test_eer_perfect_separation():
    rate, thr = eer([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert rate == 0.0
    assert 0.2 < thr <= 0.8


def test_single_class_and_length_errors():
    with pytest.raises(ValueError):
        eer([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError):
        accuracy([0, 1], [0])


def test_against_sklearn_random():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    ours = classification_report(t, p, 5)
    pr, rc, f1, _ = sk.precision_recall_fscore_support(t, p, labels=range(5), average="weighted", zero_division=0)
    assert ours["weighted_f1"] == pytest.approx(f1)
    assert ours["macro_f1"] == pytest.approx(sk.f1_score(t, p, average="macro"))
    yb, sc = rng.integers(0, 2, 200), np.round(rng.random(200), 2)
    assert roc_auc(yb, sc) == pytest.approx(sk.roc_auc_score(yb, sc))
