"""Metrics against cases worked out by hand, plus cross-checks with scikit-learn on random data."""
import numpy as np
import pytest

from glancekit.metrics import (accuracy, classification_report, confusion_matrix, det_curve, eer,
                               per_class_prf, roc_auc, roc_curve, top_k_accuracy,
                               expected_calibration_error, reliability)

# ---- classification ---------------------------------------------------------------------------
# 3 classes, 8 samples:
#   true: 0 0 0 1 1 2 2 2
#   pred: 0 1 0 1 1 2 0 2
# rows = true, cols = pred:
#   true 0 -> pred 0,1,0     -> [2, 1, 0]
#   true 1 -> pred 1,1       -> [0, 2, 0]
#   true 2 -> pred 2,0,2     -> [1, 0, 2]
Y_TRUE = [0, 0, 0, 1, 1, 2, 2, 2]
Y_PRED = [0, 1, 0, 1, 1, 2, 0, 2]


def test_confusion_matrix_by_hand():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    assert cm.dtype == np.int64
    assert cm.tolist() == [[2, 1, 0], [0, 2, 0], [1, 0, 2]]
    # a class that never occurs still gets its (zero) row and column
    assert confusion_matrix([0, 1], [1, 1], 3).tolist() == [[0, 1, 0], [0, 1, 0], [0, 0, 0]]


def test_accuracy_by_hand():
    # 6 of 8 on the diagonal (2 + 2 + 2)
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(6 / 8)


def test_per_class_prf_by_hand():
    prf = per_class_prf(Y_TRUE, Y_PRED, 3)
    # column sums (predicted) = [3, 3, 2], row sums (support) = [3, 2, 3], tp = [2, 2, 2]
    # class 0: P 2/3, R 2/3, F1 2/3
    # class 1: P 2/3, R 2/2 = 1, F1 = 2*(2/3)*1 / (5/3) = 0.8
    # class 2: P 2/2 = 1, R 2/3, F1 0.8
    assert prf["precision"] == pytest.approx([2 / 3, 2 / 3, 1.0])
    assert prf["recall"] == pytest.approx([2 / 3, 1.0, 2 / 3])
    assert prf["f1"] == pytest.approx([2 / 3, 0.8, 0.8])
    assert prf["support"].tolist() == [3, 2, 3]


def test_macro_and_weighted_by_hand():
    r = classification_report(Y_TRUE, Y_PRED, 3)
    # macro P = (2/3 + 2/3 + 1) / 3 = 7/9;  macro R = (2/3 + 1 + 2/3) / 3 = 7/9
    # macro F1 = (2/3 + 0.8 + 0.8) / 3 = 34/45
    # weighted P = (3*2/3 + 2*2/3 + 3*1) / 8 = (19/3) / 8 = 19/24
    # weighted R = (3*2/3 + 2*1 + 3*2/3) / 8 = 6/8 (weighted recall is always accuracy)
    # weighted F1 = (3*2/3 + 2*0.8 + 3*0.8) / 8 = 6/8
    expected = {"accuracy": 0.75, "macro_precision": 7 / 9, "macro_recall": 7 / 9, "macro_f1": 34 / 45,
                "weighted_precision": 19 / 24, "weighted_recall": 0.75, "weighted_f1": 0.75}
    assert set(r) == set(expected)
    for k, v in expected.items():
        assert isinstance(r[k], float)
        assert r[k] == pytest.approx(v), k


def test_zero_support_and_never_predicted_classes_by_hand():
    # 4 classes; class 3 never occurs in y_true, class 2 is never predicted.
    #   true: 0 0 1 2     pred: 0 3 1 1
    # tp = [1, 1, 0, 0], predicted = [1, 2, 0, 1], support = [2, 1, 1, 0]
    # P  = [1, 1/2, 0/0 -> 0, 0/1 = 0]
    # R  = [1/2, 1, 0/1 = 0, 0/0 -> 0]
    # F1 = 2tp / (predicted + support) = [2/3, 2/3, 0, 0]
    t, p = [0, 0, 1, 2], [0, 3, 1, 1]
    prf = per_class_prf(t, p, 4)
    assert prf["precision"] == pytest.approx([1.0, 0.5, 0.0, 0.0])
    assert prf["recall"] == pytest.approx([0.5, 1.0, 0.0, 0.0])
    assert prf["f1"] == pytest.approx([2 / 3, 2 / 3, 0.0, 0.0])
    assert prf["support"].tolist() == [2, 1, 1, 0]
    r = classification_report(t, p, 4)
    # macro over all 4 classes: P = 1.5/4, R = 1.5/4, F1 = (4/3)/4 = 1/3
    # weighted by support [2,1,1,0] / 4: P = (2*1 + 1/2)/4 = 5/8, R = (2*1/2 + 1)/4 = 1/2,
    # F1 = (2*2/3 + 2/3)/4 = 1/2;  accuracy = 2/4
    assert r["macro_precision"] == pytest.approx(3 / 8)
    assert r["macro_recall"] == pytest.approx(3 / 8)
    assert r["macro_f1"] == pytest.approx(1 / 3)
    assert r["weighted_precision"] == pytest.approx(5 / 8)
    assert r["weighted_recall"] == pytest.approx(1 / 2)
    assert r["weighted_f1"] == pytest.approx(1 / 2)
    assert r["accuracy"] == pytest.approx(1 / 2)


# 4 samples, 4 classes. Rank of the true class (1 = highest score):
SCORES4 = np.array([[0.1, 0.5, 0.3, 0.1],   # true 2: 0.3 is 2nd        -> top1 no, top2 yes
                    [0.7, 0.1, 0.1, 0.1],   # true 0: 0.7 is 1st        -> top1 yes
                    [0.1, 0.2, 0.3, 0.4],   # true 0: 0.1 is 4th        -> only top4
                    [0.2, 0.1, 0.3, 0.4]])  # true 1: 0.1 is 4th        -> only top4
Y4 = [2, 0, 0, 1]


def test_top_k_by_hand():
    # top1: sample 1 only = 1/4; top2: samples 0, 1 = 2/4; top3: still 2/4; top4 (k >= C): 1.0
    assert top_k_accuracy(Y4, SCORES4, 1) == pytest.approx(1 / 4)
    assert top_k_accuracy(Y4, SCORES4, 2) == pytest.approx(2 / 4)
    assert top_k_accuracy(Y4, SCORES4, 3) == pytest.approx(2 / 4)
    assert top_k_accuracy(Y4, SCORES4, 4) == 1.0
    assert top_k_accuracy(Y4, SCORES4, 10) == 1.0


def test_top_k_ties_follow_stable_argsort():
    # classes 0 and 1 tie at 0.5: stable descending argsort ranks class 0 first
    s = np.array([[0.5, 0.5, 0.0]])
    assert top_k_accuracy([0], s, 1) == 1.0
    assert top_k_accuracy([1], s, 1) == 0.0
    assert top_k_accuracy([1], s, 2) == 1.0


def test_report_top3_only_with_scores_and_more_than_two_classes():
    # C = 4: top3 as in test_top_k_by_hand (2/4); argmax preds = [1, 0, 3, 3]
    r = classification_report(Y4, SCORES4.argmax(1), 4, scores=SCORES4)
    assert r["top3_accuracy"] == pytest.approx(0.5)
    # C = 3: k = min(3, C) = 3 covers every class -> 1.0
    s3 = np.eye(3)[[0, 1, 2, 0]]
    assert classification_report([0, 1, 2, 1], [0, 1, 2, 0], 3, scores=s3)["top3_accuracy"] == 1.0
    # C = 2 or no scores: no top3 key
    assert "top3_accuracy" not in classification_report([0, 1], [0, 1], 2, scores=np.eye(2))
    assert "top3_accuracy" not in classification_report(Y4, Y4, 4)


def test_classification_errors():
    with pytest.raises(ValueError, match="length"):
        accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="empty"):
        accuracy([], [])
    with pytest.raises(ValueError, match="0..2"):
        confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="integer"):
        per_class_prf([0.5, 1], [0, 1], 2)
    with pytest.raises(ValueError, match="length"):
        top_k_accuracy([0, 1, 2], SCORES4, 1)
    with pytest.raises(ValueError, match="k must"):
        top_k_accuracy(Y4, SCORES4, 0)


# ---- verification ------------------------------------------------------------------------------
def test_roc_and_auc_with_ties_by_hand():
    # pos scores 0.9 0.7 0.5, neg scores 0.7 0.3 0.5 (3 pos, 3 neg); distinct thresholds 0.9 0.7 0.5 0.3
    #   thr inf: tp 0 fp 0 -> (0, 0)
    #   thr 0.9: tp 1 fp 0 -> (0, 1/3)
    #   thr 0.7: tp 2 fp 1 -> (1/3, 2/3)    (tied pos+neg move together: a diagonal step)
    #   thr 0.5: tp 3 fp 2 -> (2/3, 1)
    #   thr 0.3: tp 3 fp 3 -> (1, 1)
    # trapezoids: 1/3*(1/3+2/3)/2 + 1/3*(2/3+1)/2 + 1/3*1 = 3/18 + 5/18 + 6/18 = 7/9
    # Mann-Whitney: 0.9 beats 3 -> 3; 0.7: tie 0.5 + 0.3 + 0.5 -> 2.5; 0.5: 0.3 + tie 0.5 -> 1.5; 7/9
    y = [1, 1, 0, 1, 0, 0]
    s = [0.9, 0.7, 0.7, 0.5, 0.3, 0.5]
    fpr, tpr, thr = roc_curve(y, s)
    assert thr[0] == np.inf and thr[1:].tolist() == [0.9, 0.7, 0.5, 0.3]
    assert fpr == pytest.approx([0, 0, 1 / 3, 2 / 3, 1])
    assert tpr == pytest.approx([0, 1 / 3, 2 / 3, 1, 1])
    assert roc_auc(y, s) == pytest.approx(7 / 9)
    dfpr, fnr, dthr = det_curve(y, s)
    assert dfpr == pytest.approx(fpr) and fnr == pytest.approx([1, 2 / 3, 1 / 3, 0, 0])
    assert dthr.tolist() == thr.tolist()
    # EER: fpr - fnr = [-1, -2/3, 0, 2/3, 1] hits 0 exactly at thr 0.7 where fpr = fnr = 1/3
    assert eer(y, s) == pytest.approx((1 / 3, 0.7))


def test_auc_small_by_hand():
    # 0.9(1) 0.8(0) 0.8(1) 0.3(0): pairs 0.9>0.8, 0.9>0.3, 0.8=0.8 (0.5), 0.8>0.3 -> 3.5/4
    assert roc_auc([1, 0, 1, 0], [0.9, 0.8, 0.8, 0.3]) == pytest.approx(0.875)
    # all negatives above all positives -> 0
    assert roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 0.0


def test_eer_interpolated_nearer_point_after_crossing():
    # pos 0.9 0.5; neg 0.5 0.2 0.1 (2 pos, 3 neg)
    #   thr 0.9: fpr 0,   fnr 1/2 -> d = -1/2
    #   thr 0.5: fpr 1/3, fnr 0   -> d = +1/3   (tied pos+neg at 0.5)
    # crossing at a = (1/2) / (1/2 + 1/3) = 3/5 of the way:
    #   fpr = 3/5 * 1/3 = 1/5, fnr = 1/2 - 3/5 * 1/2 = 1/5 -> EER 0.2
    # a = 0.6 >= 0.5: nearer point is thr 0.5
    rate, thr = eer([1, 1, 0, 0, 0], [0.9, 0.5, 0.5, 0.2, 0.1])
    assert rate == pytest.approx(0.2)
    assert thr == 0.5


def test_eer_interpolated_nearer_point_before_crossing():
    # pos 0.9 0.8 0.5; neg 0.5 0.2 (3 pos, 2 neg)
    #   thr 0.9: fpr 0,   fnr 2/3 -> d = -2/3
    #   thr 0.8: fpr 0,   fnr 1/3 -> d = -1/3
    #   thr 0.5: fpr 1/2, fnr 0   -> d = +1/2
    # crossing at a = (1/3) / (1/3 + 1/2) = 2/5 from thr 0.8 to thr 0.5:
    #   fpr = 2/5 * 1/2 = 1/5, fnr = 1/3 - 2/5 * 1/3 = 1/5 -> EER 0.2
    # a = 0.4 < 0.5: nearer point is thr 0.8
    rate, thr = eer([1, 1, 1, 0, 0], [0.9, 0.8, 0.5, 0.5, 0.2])
    assert rate == pytest.approx(0.2)
    assert thr == 0.8


def test_eer_all_tied_threshold_is_finite():
    # one distinct score: (0, 0) at inf, then (1, 1) at 0.5; fpr - fnr goes -1 -> +1, meets at the
    # midpoint where fpr = fnr = 1/2; the threshold must be the real score, not inf
    rate, thr = eer([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])
    assert rate == pytest.approx(0.5)
    assert thr == 0.5


def test_eer_perfect_separation():
    # neg 0.1 0.2, pos 0.8 0.9: at thr 0.8 fpr = fnr = 0 -> EER 0, threshold 0.8 separates
    y, s = np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])
    rate, thr = eer(y, s)
    assert rate == 0.0
    assert thr == 0.8
    assert ((s >= thr).astype(int) == y).all()
    assert roc_auc(y, s) == 1.0


def test_verification_errors():
    with pytest.raises(ValueError, match="both classes"):
        eer([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([0, 0, 0], [0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="length"):
        roc_curve([0, 1], [0.2])
    with pytest.raises(ValueError, match="empty"):
        roc_curve([], [])
    with pytest.raises(ValueError, match="only 0 and 1"):
        roc_curve([0, 2], [0.2, 0.3])
    with pytest.raises(ValueError, match="finite"):
        roc_curve([0, 1], [0.2, np.nan])


# ---- cross-checks on random data ----------------------------------------------------------------
def test_prf_against_sklearn_random():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    # 6 classes: class 5 never occurs in t, class 0 is never predicted
    t, p = rng.integers(0, 5, 300), rng.integers(1, 6, 300)
    labels = list(range(6))
    prf = per_class_prf(t, p, 6)
    P, R, F, S = sk.precision_recall_fscore_support(t, p, labels=labels, zero_division=0)
    np.testing.assert_allclose(prf["precision"], P)
    np.testing.assert_allclose(prf["recall"], R)
    np.testing.assert_allclose(prf["f1"], F)
    np.testing.assert_array_equal(prf["support"], S)
    np.testing.assert_array_equal(confusion_matrix(t, p, 6), sk.confusion_matrix(t, p, labels=labels))
    r = classification_report(t, p, 6)
    for avg in ("macro", "weighted"):
        P, R, F, _ = sk.precision_recall_fscore_support(t, p, labels=labels, average=avg, zero_division=0)
        assert r[f"{avg}_precision"] == pytest.approx(P, abs=1e-12)
        assert r[f"{avg}_recall"] == pytest.approx(R, abs=1e-12)
        assert r[f"{avg}_f1"] == pytest.approx(F, abs=1e-12)
    assert r["accuracy"] == pytest.approx(sk.accuracy_score(t, p))
    scores = rng.random((300, 6))  # continuous: no ties, so tie-breaking conventions cannot differ
    for k in (1, 2, 3):
        assert top_k_accuracy(t, scores, k) == pytest.approx(
            sk.top_k_accuracy_score(t, scores, k=k, labels=labels))


def test_auc_against_sklearn_and_mann_whitney_random():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.random(200) + 0.3 * y, 2)  # rounding forces many ties
    assert roc_auc(y, s) == pytest.approx(sk.roc_auc_score(y, s), abs=1e-12)
    pos, neg = s[y == 1], s[y == 0]
    mw = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))
    assert roc_auc(y, s) == pytest.approx(mw, abs=1e-12)
    fpr, tpr, thr = roc_curve(y, s)
    sfpr, stpr, sthr = sk.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sfpr)
    np.testing.assert_allclose(tpr, stpr)
    np.testing.assert_array_equal(thr[1:], sthr[1:])
    rate, t_eer = eer(y, s)
    # the EER lies between the two error rates at the returned threshold's ROC point
    i = int(np.flatnonzero(thr == t_eer)[0])
    lo, hi = sorted((fpr[i], 1 - tpr[i]))
    assert np.isfinite(t_eer) and 0.0 <= rate <= 1.0
    assert lo - 1 / min(len(pos), len(neg)) <= rate <= hi + 1 / min(len(pos), len(neg))


def test_bootstrap_interval_matches_the_binomial_spread():
    """1000 images, 900 right: the 95% interval of accuracy is about 0.9 ± 1.96·sqrt(0.9·0.1/1000) = ±0.019."""
    from glancekit.metrics import accuracy, bootstrap_intervals
    targets = np.zeros(1000, int)
    outputs = np.where(np.arange(1000) < 900, 0, 1)
    ci = bootstrap_intervals(lambda o, t: {"accuracy": accuracy(t, o), "broken": float("nan")}, outputs, targets,
                             n=400)
    lo, hi = ci["accuracy"]
    assert lo < 0.9 < hi
    assert 0.012 < 0.9 - lo < 0.026 and 0.012 < hi - 0.9 < 0.026
    assert "broken" not in ci  # a metric no resample could compute gets no interval
    # the same seed gives the same interval
    assert bootstrap_intervals(lambda o, t: {"accuracy": accuracy(t, o)}, outputs, targets, n=400)["accuracy"] == ci["accuracy"]


def test_calibration_error_by_hand():
    # bin [0.9, 1): confidences 0.9, 0.95, 1.0 (1.0 joins the last bin), 2 of 3 right → |0.95 - 2/3|
    # bin [0.5, 0.6): confidences 0.5, 0.5, 1 of 2 right → 0
    conf = np.array([0.9, 0.95, 1.0, 0.5, 0.5])
    ok = np.array([1, 1, 0, 1, 0], dtype=bool)
    mean_conf, share, count = reliability(conf, ok)
    assert count.tolist() == [0, 0, 0, 0, 0, 2, 0, 0, 0, 3]
    assert mean_conf[9] == pytest.approx(0.95) and share[9] == pytest.approx(2 / 3)
    assert np.isnan(mean_conf[0]) and share[5] == 0.5
    assert expected_calibration_error(conf, ok) == pytest.approx(3 / 5 * abs(0.95 - 2 / 3))
    assert expected_calibration_error(np.array([0.75] * 4), np.array([1, 1, 1, 0], dtype=bool)) == 0.0
    assert expected_calibration_error(np.zeros(0), np.zeros(0, dtype=bool)) == 0.0
