"""Does a confidence mean what it says? Of the answers given with confidence about 0.9, about 90% should be
right. Expected calibration error (ECE) is the gap between the two, averaged over equal-width confidence
bins weighted by how many answers fall in each."""
from __future__ import annotations

import numpy as np


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = 10
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per confidence bin [k/bins, (k+1)/bins): mean confidence, share correct, count (empty bins: nan, nan, 0).
    A confidence of exactly 1 falls in the last bin."""
    c, ok = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=bool)
    idx = np.clip((c * bins).astype(int), 0, bins - 1)
    count = np.bincount(idx, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=c, minlength=bins) / count
        share = np.bincount(idx, weights=ok.astype(float), minlength=bins) / count
    return mean_conf, share, count


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    mean_conf, share, count = reliability(confidence, correct, bins)
    if count.sum() == 0:
        return 0.0
    used = count > 0
    return float(np.sum(np.abs(mean_conf[used] - share[used]) * count[used]) / count.sum())
