"""Binary verification metrics in plain numpy: ROC, AUC, DET and the equal error rate (EER).

Convention: higher score = more likely class 1; a sample is called positive iff score >= threshold.
Tied scores are collapsed into one ROC point, because no threshold can separate them.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def _check(y_true: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """0/1 int64 labels and finite float64 scores, both 1-D, with both classes present."""
    t = np.asarray(y_true)
    s = np.asarray(scores)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    if t.ndim != 1 or s.ndim != 1:
        raise ValueError(f"y_true and scores must be 1-D, got shapes {t.shape} and {s.shape}")
    if len(t) != len(s):
        raise ValueError(f"y_true and scores differ in length: {len(t)} vs {len(s)}")
    if len(t) == 0:
        raise ValueError("no samples: y_true and scores are empty")
    try:
        s = s.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"scores must be numeric, got dtype {s.dtype}") from None
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite (no NaN or inf)")
    if not np.all((t == 0) | (t == 1)):
        raise ValueError("y_true must hold only 0 and 1")
    t = t.astype(np.int64)
    if not ((t == 0).any() and (t == 1).any()):
        raise ValueError(f"both classes (0 and 1) must be present; y_true holds only {int(t[0])}")
    return t, s


def roc_curve(y_true: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) with thresholds descending.

    The first point is (0, 0) at threshold +inf (nothing called positive); each later point is one
    distinct score used as the threshold, so the last is (1, 1). Unlike sklearn no collinear points
    are dropped: every distinct score is a point, so callers can look up any threshold.
    """
    t, s = _check(y_true, scores)
    order = np.argsort(-s, kind="stable")
    s, t = s[order], t[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]  # last index of each distinct score
    tps = np.cumsum(t)[last]
    fps = (last + 1) - tps
    n_pos = int(t.sum())
    n_neg = len(t) - n_pos
    tpr = np.r_[0.0, tps / n_pos]
    fpr = np.r_[0.0, fps / n_neg]
    thresholds = np.r_[np.inf, s[last]]
    return fpr, tpr, thresholds


def roc_auc(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve (trapezoid rule).

    Because ties form one diagonal segment, this equals the Mann-Whitney probability that a random
    positive outscores a random negative, with ties counted 0.5.
    """
    fpr, tpr, _ = roc_curve(y_true, scores)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def det_curve(y_true: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, fnr, thresholds): the two error rates traded against each other, at the ROC points
    (same order and thresholds as `roc_curve`, fnr = 1 - tpr)."""
    fpr, tpr, thr = roc_curve(y_true, scores)
    return fpr, 1.0 - tpr, thr


def eer(y_true: ArrayLike, scores: ArrayLike) -> tuple[float, float]:
    """(equal error rate, threshold): the operating point where false-positive rate equals
    false-negative rate, a single number that does not depend on a chosen threshold.

    fpr - fnr rises strictly from -1 (threshold +inf) to +1 (lowest score); between the two ROC points
    where it changes sign, fpr and fnr are interpolated linearly to where they meet, and the rate is
    the mean of the two there. The threshold is that of the nearer ROC point, never +inf, so it can
    be used directly (score >= threshold -> positive). Perfect separation gives 0.0 and the lowest
    positive score, which separates the classes.
    """
    fpr, fnr, thr = det_curve(y_true, scores)
    d = fpr - fnr
    i = int(np.argmax(d >= 0))  # first point at or past the crossing; i >= 1 since d[0] == -1
    if d[i] == 0:
        rate, j = (fpr[i] + fnr[i]) / 2, i
    else:
        a = d[i - 1] / (d[i - 1] - d[i])  # fraction of the way from point i-1 to point i, in (0, 1)
        f = fpr[i - 1] + a * (fpr[i] - fpr[i - 1])
        n = fnr[i - 1] + a * (fnr[i] - fnr[i - 1])
        rate, j = (f + n) / 2, (i if a >= 0.5 else i - 1)
    if not np.isfinite(thr[j]):
        j = 1  # point 0 is the +inf sentinel; the highest real score is the nearest usable threshold
    return float(rate), float(thr[j])
