"""Keypoint metrics (numpy): PCK, end-point error, AUC of the PCK curve, heatmap MSE, per finger.

Conventions: predictions (N, 21, 2) and targets (N, 21, 3) = x, y, visibility, in the same pixels.
Only visible target points count. The normaliser is the hand's box: the larger side of the box
around the visible target points of that sample (samples with no visible point are left out).
"""
from __future__ import annotations

import numpy as np

FINGERS = {"wrist": [0], "thumb": [1, 2, 3, 4], "index": [5, 6, 7, 8], "middle": [9, 10, 11, 12],
           "ring": [13, 14, 15, 16], "little": [17, 18, 19, 20]}


def _check(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.ndim != 3 or gt.ndim != 3 or pred.shape[:2] != gt.shape[:2] or pred.shape[2] < 2 or gt.shape[2] < 3:
        raise ValueError(f"expected pred (N, K, 2) and gt (N, K, 3), got {pred.shape} and {gt.shape}")
    return pred[..., :2], gt


def box_size(gt: np.ndarray) -> np.ndarray:
    """(N,) larger side of the box around each sample's visible points (0 when none is visible)."""
    gt = np.asarray(gt, np.float64)
    vis = gt[..., 2] > 0.5
    lo = np.where(vis[..., None], gt[..., :2], np.inf).min(1)
    hi = np.where(vis[..., None], gt[..., :2], -np.inf).max(1)
    side = (hi - lo).max(1)
    return np.where(vis.any(1), side, 0.0)


def _errors(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-point error (px), per-point normalised error, and the mask of points that count."""
    pred, gt = _check(pred, gt)
    err = np.linalg.norm(pred - gt[..., :2], axis=-1)
    box = box_size(gt)
    mask = (gt[..., 2] > 0.5) & (box[:, None] > 0)
    norm = err / np.where(box > 0, box, 1.0)[:, None]
    return err, norm, mask


def pck(pred: np.ndarray, gt: np.ndarray, thr: float = 0.2) -> float:
    _, norm, mask = _errors(pred, gt)
    return float((norm[mask] <= thr).mean()) if mask.any() else float("nan")


def epe(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """Mean end-point error in pixels and as a share of the box."""
    err, norm, mask = _errors(pred, gt)
    if not mask.any():
        return float("nan"), float("nan")
    return float(err[mask].mean()), float(norm[mask].mean())


def pck_curve(pred: np.ndarray, gt: np.ndarray, max_thr: float = 0.5, steps: int = 51
              ) -> tuple[np.ndarray, np.ndarray]:
    _, norm, mask = _errors(pred, gt)
    thr = np.linspace(0, max_thr, steps)
    vals = np.array([(norm[mask] <= t).mean() if mask.any() else np.nan for t in thr])
    return thr, vals


def pck_auc(pred: np.ndarray, gt: np.ndarray, max_thr: float = 0.5, steps: int = 51) -> float:
    """Area under the PCK curve over thresholds 0..max_thr, divided by max_thr (so in [0, 1])."""
    thr, vals = pck_curve(pred, gt, max_thr, steps)
    return float(np.trapezoid(vals, thr) / max_thr) if np.isfinite(vals).all() else float("nan")


def heatmap_mse(pred_heatmaps: np.ndarray, target_heatmaps: np.ndarray) -> float:
    a, b = np.asarray(pred_heatmaps, np.float64), np.asarray(target_heatmaps, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"heatmap shapes differ: {a.shape} vs {b.shape}")
    return float(np.mean((a - b) ** 2))


def per_finger(pred: np.ndarray, gt: np.ndarray, thr: float = 0.2) -> dict[str, dict[str, float]]:
    err, norm, mask = _errors(pred, gt)
    out = {}
    for name, idx in FINGERS.items():
        m = mask[:, idx]
        out[name] = {"pck": float((norm[:, idx][m] <= thr).mean()) if m.any() else float("nan"),
                     "epe": float(err[:, idx][m].mean()) if m.any() else float("nan")}
    return out


def keypoint_report(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    pred, gt = _check(pred, gt)
    if len(pred) == 0:
        return {}
    e_px, e_norm = epe(pred, gt)
    out = {"pck@0.2": pck(pred, gt, 0.2), "pck@0.1": pck(pred, gt, 0.1), "epe_px": e_px, "epe_norm": e_norm,
           "auc_0_0.5": pck_auc(pred, gt)}
    for name, v in per_finger(pred, gt).items():
        out[f"pck@0.2_{name}"] = v["pck"]
    return out
