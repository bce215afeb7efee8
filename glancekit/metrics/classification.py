"""Classification metrics in plain numpy: confusion matrix, accuracy, top-k, per-class and averaged
precision / recall / F1 (0/0 counts as 0, as sklearn's zero_division=0)."""
from __future__ import annotations

import numpy as np


def _check(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true).astype(np.int64).ravel(), np.asarray(y_pred).astype(np.int64).ravel()
    if len(t) != len(p):
        raise ValueError(f"y_true and y_pred differ in length: {len(t)} vs {len(p)}")
    if len(t) == 0:
        raise ValueError("no samples")
    return t, p


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted ones."""
    t, p = _check(y_true, y_pred)
    if t.min() < 0 or p.min() < 0 or t.max() >= num_classes or p.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def accuracy(y_true, y_pred) -> float:
    t, p = _check(y_true, y_pred)
    return float((t == p).mean())


def top_k_accuracy(y_true, scores: np.ndarray, k: int) -> float:
    """Share of samples whose true class is among the k highest scores."""
    s = np.asarray(scores)
    t = np.asarray(y_true).astype(np.int64).ravel()
    if s.ndim != 2 or len(s) != len(t):
        raise ValueError("scores must be [N, C] with one row per label")
    if len(t) == 0:
        raise ValueError("no samples")
    if k >= s.shape[1]:
        return 1.0
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return float((top == t[:, None]).any(1).mean())


def per_class_prf(y_true, y_pred, num_classes: int) -> dict[str, np.ndarray]:
    cm = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(0).astype(np.float64), cm.sum(1).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64)}


def classification_report(y_true, y_pred, num_classes: int, scores: np.ndarray | None = None) -> dict[str, float]:
    """Flat dict: accuracy, macro_/weighted_ precision, recall, f1 (and top3_accuracy with scores, C > 3)."""
    prf = per_class_prf(y_true, y_pred, num_classes)
    w = prf["support"] / prf["support"].sum()
    out = {"accuracy": accuracy(y_true, y_pred)}
    for key in ("precision", "recall", "f1"):
        out[f"macro_{key}"] = float(prf[key].mean())
        out[f"weighted_{key}"] = float((prf[key] * w).sum())
    if scores is not None and num_classes > 3:
        out["top3_accuracy"] = top_k_accuracy(y_true, scores, 3)
    return out
