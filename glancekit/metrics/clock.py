"""Clock-reading metrics on 12-hour times, counted in minutes around a 720-minute dial.

Errors are circular: 11:59 and 12:00 are one minute apart, not 719. The partial-credit score is the one
of the task's origin: 1 for a fully right time, 0.5 when only one hand is right, 0 otherwise, where
"right" means the hour for the hour hand and the minute at 5-minute resolution for the minute hand.
"""
from __future__ import annotations

import numpy as np

DIAL = 720


def circular_error(pred_minutes: np.ndarray, true_minutes: np.ndarray, period: int = DIAL) -> np.ndarray:
    """|pred - true| the short way round a dial of `period` minutes."""
    d = np.abs(np.asarray(pred_minutes) - np.asarray(true_minutes)) % period
    return np.minimum(d, period - d)


def time_error(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Minutes between two (N, 2) arrays of (hour, minute) times, the short way round the dial."""
    pred, true = np.asarray(pred, dtype=np.int64), np.asarray(true, dtype=np.int64)
    return circular_error((pred[:, 0] % 12) * 60 + pred[:, 1], (true[:, 0] % 12) * 60 + true[:, 1])


def clock_report(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """`pred`, `true`: (N, 2) arrays of (hour 0–11, minute 0–59)."""
    pred, true = np.asarray(pred, dtype=np.int64), np.asarray(true, dtype=np.int64)
    if pred.shape != true.shape or pred.ndim != 2 or pred.shape[1] != 2:
        raise ValueError(f"expected two (N, 2) arrays of (hour, minute), got {pred.shape} and {true.shape}")
    if len(pred) == 0:
        return {}
    ph, pm = pred[:, 0] % 12, pred[:, 1]
    th, tm = true[:, 0] % 12, true[:, 1]
    err = time_error(pred, true)
    hour_ok = ph == th
    minute_ok = pm == tm
    minute5_ok = (np.round(pm / 5).astype(int) % 12) == (np.round(tm / 5).astype(int) % 12)
    credit = np.where(hour_ok & minute5_ok, 1.0, np.where(hour_ok | minute5_ok, 0.5, 0.0))
    return {
        "exact": float(np.mean(err == 0)),
        "within1": float(np.mean(err <= 1)),
        "within5": float(np.mean(err <= 5)),
        "within15": float(np.mean(err <= 15)),
        "mae_minutes": float(np.mean(err)),
        "hour_accuracy": float(np.mean(hour_ok)),
        "minute_accuracy": float(np.mean(minute_ok)),
        "minute_error_mae": float(np.mean(circular_error(pm, tm, 60))),
        "partial_credit": float(np.mean(credit) * 100),
    }
