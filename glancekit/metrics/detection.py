"""Detection metrics: IoU, average precision (all-point interpolated, as VOC 2010+ and COCO use), recall at
a score threshold, false detections per image, and recall per object-size bucket.

Boxes are (x0, y0, x1, y1) in pixels. A prediction is a true positive when it overlaps a not yet matched true
box of its class by IoU ≥ t, taken in order of descending score over the whole set (VOC's greedy matching).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

# Buckets of object size: the square root of the box area as a share of the image's longer side.
SIZE_BUCKETS = (("small", 0.0, 0.1), ("medium", 0.1, 0.3), ("large", 0.3, 10.0))


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) × (M, 4) boxes → (N, M) intersection over union."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda r: np.clip(r[:, 2] - r[:, 0], 0, None) * np.clip(r[:, 3] - r[:, 1], 0, None)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.5) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, highest score first."""
    order = np.argsort(-np.asarray(scores))
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        if order.size == 1:
            break
        overlap = iou_matrix(boxes[i:i + 1], boxes[order[1:]])[0]
        order = order[1:][overlap < iou]
    return np.asarray(keep, np.int64)


def pair_ious(preds: Sequence[np.ndarray], truths: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per image, the IoU of each prediction with each true box of the same class (0 across classes)."""
    return [iou_matrix(p[:, :4], t[:, :4]) * (p[:, None, 5] == t[None, :, 4]) if len(p) and len(t)
            else np.zeros((len(p), len(t))) for p, t in zip(preds, truths)]


def match(preds: Sequence[np.ndarray], truths: Sequence[np.ndarray], iou: float,
          ious: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, int, list[np.ndarray]]:
    """Greedy matching over a set. preds[i]: (K, 6) x0, y0, x1, y1, score, class; truths[i]: (M, 5) boxes and
    class. Returns scores and true-positive flags of all predictions (sorted by descending score), the number of
    true boxes, and per image which true boxes were found. `ious`: `pair_ious` of the same, when already made."""
    entries = [(float(p[4]), i, k) for i, ps in enumerate(preds) for k, p in enumerate(ps)]
    entries.sort(key=lambda e: -e[0])
    found = [np.zeros(len(t), bool) for t in truths]
    ious = pair_ious(preds, truths) if ious is None else ious
    tp = np.zeros(len(entries), bool)
    for n, (_, i, k) in enumerate(entries):
        t = truths[i]
        if not len(t):
            continue
        cand = ious[i][k] * ~found[i]
        j = int(np.argmax(cand))
        if cand[j] >= iou:
            found[i][j] = True
            tp[n] = True
    scores = np.asarray([e[0] for e in entries])
    return scores, tp, int(sum(len(t) for t in truths)), found


def average_precision(tp: np.ndarray, n_true: int) -> tuple[float, np.ndarray, np.ndarray]:
    """All-point interpolated AP of score-sorted true-positive flags; also the precision and recall curves."""
    if n_true == 0:
        return float("nan"), np.zeros(0), np.zeros(0)
    ctp = np.cumsum(tp)
    recall = ctp / n_true
    precision = ctp / np.arange(1, len(tp) + 1)
    r = np.concatenate([[0.0], recall, [recall[-1] if len(recall) else 0.0]])
    p = np.concatenate([[1.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    ap = float(np.sum((r[1:] - r[:-1]) * p[1:]))
    return ap, precision, recall


def size_bucket(box: np.ndarray, image_side: float) -> str:
    side = float(np.sqrt(max(0.0, (box[2] - box[0]) * (box[3] - box[1])))) / max(image_side, 1e-9)
    return next(name for name, lo, hi in SIZE_BUCKETS if lo <= side < hi)


def detection_report(preds: Sequence[np.ndarray], truths: Sequence[np.ndarray], threshold: float,
                     image_side: float) -> dict[str, float]:
    """ap50, ap (mean over IoU 0.50:0.05:0.95), and at `threshold` (a score): recall (share of true objects
    found at IoU 0.5), precision, false detections per image, and recall per size bucket (where the set has
    objects of that size)."""
    ious = pair_ious(preds, truths)
    _, tp50, n_true, _ = match(preds, truths, 0.5, ious)
    out = {"ap50": average_precision(tp50, n_true)[0]}
    out["ap"] = float(np.mean([average_precision(match(preds, truths, t, ious)[1], n_true)[0]
                               for t in np.arange(0.5, 0.96, 0.05)])) if n_true else float("nan")
    kept = [p[p[:, 4] >= threshold] for p in preds]
    _, tp, _, found = match(kept, truths, 0.5)
    out["recall"] = float(tp.sum() / n_true) if n_true else float("nan")
    out["precision"] = float(tp.mean()) if len(tp) else 1.0
    out["false_per_image"] = float((~tp).sum() / max(1, len(preds)))
    for name, _, _ in SIZE_BUCKETS:
        hits = [bool(f[j]) for t, f in zip(truths, found) for j in range(len(t))
                if size_bucket(t[j], image_side) == name]
        if hits:
            out[f"recall_{name}"] = float(np.mean(hits))
    return out


def best_f1_threshold(preds: Sequence[np.ndarray], truths: Sequence[np.ndarray]) -> float:
    """The score threshold with the highest F1 at IoU 0.5 (ties: the lower one, which finds more)."""
    scores, tp, n_true, _ = match(preds, truths, 0.5)
    if not len(scores) or n_true == 0:
        return 0.5
    ctp = np.cumsum(tp)
    f1 = 2 * ctp / (np.arange(1, len(tp) + 1) + n_true)
    return float(scores[int(np.argmax(f1))])
