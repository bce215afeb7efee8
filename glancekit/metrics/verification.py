"""Binary verification metrics: ROC, AUC, DET and the equal error rate (EER).

Convention: higher score = more likely class 1; a sample is called positive iff score >= threshold.
"""
from __future__ import annotations

import numpy as np


def _check(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    t, s = np.asarray(y_true).astype(np.int64).ravel(), np.asarray(scores, dtype=np.float64).ravel()
    if len(t) != len(s):
        raise ValueError(f"y_true and scores differ in length: {len(t)} vs {len(s)}")
    if len(t) == 0:
        raise ValueError("no samples")
    if not ((t == 0).any() and (t == 1).any()):
        raise ValueError("both classes (0 and 1) must be present")
    return t, s


def roc_curve(y_true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds), thresholds descending, starting at (0, 0) with +inf; ties collapsed."""
    t, s = _check(y_true, scores)
    order = np.argsort(-s, kind="stable")
    s, t = s[order], t[order]
    last = np.r_[np.where(np.diff(s) != 0)[0], len(s) - 1]  # last index of each distinct score
    tps = np.cumsum(t)[last]
    fps = (last + 1) - tps
    tpr = np.r_[0.0, tps / t.sum()]
    fpr = np.r_[0.0, fps / (len(t) - t.sum())]
    return fpr, tpr, np.r_[np.inf, s[last]]


def roc_auc(y_true, scores) -> float:
    fpr, tpr, _ = roc_curve(y_true, scores)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def det_curve(y_true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, fnr, thresholds) — the two errors traded against each other."""
    fpr, tpr, thr = roc_curve(y_true, scores)
    return fpr, 1 - tpr, thr


def eer(y_true, scores) -> tuple[float, float]:
    """(equal error rate, threshold): where false-positive rate meets false-negative rate, linearly
    interpolated between the ROC points around the crossing; the threshold is the nearest point's."""
    fpr, fnr, thr = det_curve(y_true, scores)
    d = fpr - fnr  # rises from -1 at +inf to +1 at the lowest threshold
    i = int(np.argmax(d >= 0))
    if d[i] == 0 or i == 0:
        rate, j = (fpr[i] + fnr[i]) / 2, i
    else:
        a = d[i - 1] / (d[i - 1] - d[i])  # fraction of the way from point i-1 to point i
        f = fpr[i - 1] + a * (fpr[i] - fpr[i - 1])
        n = fnr[i - 1] + a * (fnr[i] - fnr[i - 1])
        rate, j = (f + n) / 2, (i if a >= 0.5 else i - 1)
    if not np.isfinite(thr[j]):
        j = 1
    return float(rate), float(thr[j])
