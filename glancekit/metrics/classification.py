"""Classification metrics in plain numpy: confusion matrix, accuracy, top-k, per-class and averaged
precision / recall / F1.

Plain numpy so evaluation runs anywhere (no torch, no sklearn at inference time); the averages match
sklearn's ``precision_recall_fscore_support(labels=range(C), zero_division=0)`` exactly, so numbers
reported here can be compared with numbers from elsewhere. Labels are integer class indices 0..C-1.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike


def _labels(y: ArrayLike, name: str) -> np.ndarray:
    """1-D int64 labels; a column vector [N, 1] is accepted because torch code often yields one."""
    a = np.asarray(y)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.dtype.kind in "iub":
        return a.astype(np.int64)
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise ValueError(f"{name} must hold integer class indices")
        return a.astype(np.int64)
    try:
        out = a.astype(np.int64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold integer class indices, got dtype {a.dtype}") from None
    if not np.array_equal(out, a):
        raise ValueError(f"{name} must hold integer class indices")
    return out


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if len(t) != len(p):
        raise ValueError(f"y_true and y_pred differ in length: {len(t)} vs {len(p)}")
    if len(t) == 0:
        raise ValueError("no samples: y_true and y_pred are empty")
    return t, p


def _check_range(a: np.ndarray, num_classes: int, name: str) -> None:
    if a.min() < 0 or a.max() >= num_classes:
        raise ValueError(f"{name} must lie in 0..{num_classes - 1}, got values in {a.min()}..{a.max()}")


def _check_num_classes(num_classes: Any) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    return int(num_classes)


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, num_classes: int) -> np.ndarray:
    """[C, C] int64 counts, rows = true class, columns = predicted class.

    `num_classes` is explicit so the matrix has the same shape whether or not every class occurs.
    """
    c = _check_num_classes(num_classes)
    t, p = _pair(y_true, y_pred)
    _check_range(t, c, "y_true")
    _check_range(p, c, "y_pred")
    return np.bincount(t * c + p, minlength=c * c).reshape(c, c).astype(np.int64)


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Share of samples predicted correctly."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(t == p))


def top_k_accuracy(y_true: ArrayLike, scores: ArrayLike, k: int) -> float:
    """Share of samples whose true class is among the k highest-scoring classes.

    Ties are broken by a stable descending argsort, so among equal scores the lower class index
    ranks first; k >= C gives 1.0 (every class is in the top k).
    """
    t = _labels(y_true, "y_true")
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"scores must be 2-D [N, C], got shape {s.shape}")
    if len(s) != len(t):
        raise ValueError(f"y_true and scores differ in length: {len(t)} vs {len(s)}")
    if len(t) == 0:
        raise ValueError("no samples: y_true and scores are empty")
    if s.shape[1] == 0:
        raise ValueError("scores has no classes (C == 0)")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    _check_range(t, s.shape[1], "y_true")
    if k >= s.shape[1]:
        return 1.0
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return float(np.mean((top == t[:, None]).any(axis=1)))


def per_class_prf(y_true: ArrayLike, y_pred: ArrayLike, num_classes: int) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 (float64) and support (int64), each of length C.

    0/0 counts as 0.0 (sklearn's zero_division=0), so a class never predicted or never present
    scores 0 rather than NaN and still drags the macro average down.
    """
    cm = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    zeros = np.zeros_like(tp)
    precision = np.divide(tp, predicted, out=zeros.copy(), where=predicted > 0)
    recall = np.divide(tp, support, out=zeros.copy(), where=support > 0)
    # 2tp / (2tp + fp + fn) == 2PR / (P + R) wherever both are defined, and is what sklearn computes.
    denom = predicted + support
    f1 = np.divide(2 * tp, denom, out=zeros.copy(), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64)}


def classification_report(y_true: ArrayLike, y_pred: ArrayLike, num_classes: int,
                          scores: ArrayLike | None = None) -> dict[str, float]:
    """Flat {name: float} summary, ready to log or write to JSON.

    Keys: accuracy, macro_/weighted_ precision, recall, f1 (macro over all classes 0..C-1, weighted by
    support), plus top3_accuracy (k = min(3, C)) when `scores` [N, C] is given and C > 2.
    """
    prf = per_class_prf(y_true, y_pred, num_classes)
    support = prf["support"].astype(np.float64)
    w = support / support.sum()
    out: dict[str, float] = {"accuracy": accuracy(y_true, y_pred)}
    for key in ("precision", "recall", "f1"):
        out[f"macro_{key}"] = float(np.mean(prf[key]))
    for key in ("precision", "recall", "f1"):
        out[f"weighted_{key}"] = float(np.sum(prf[key] * w))
    if scores is not None:
        s = np.asarray(scores)
        if s.ndim != 2 or s.shape[1] != num_classes:
            raise ValueError(f"scores must be [N, {num_classes}], got shape {s.shape}")
        if num_classes > 2:
            out["top3_accuracy"] = top_k_accuracy(y_true, s, min(3, num_classes))
    return out
