"""How far a benchmark figure could move on another draw of the same kind of images.

A test set of 360 eye crops puts one error at 0.28 points of accuracy; a difference between two models
smaller than the spread of resampled scores is not evidence. The percentile bootstrap resamples the
images with replacement, re-scores each resample with the task's own metric code, and reports the
central 95% of the scores. Resampling is per image: where several images come from one photo the
interval is somewhat too narrow.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

Score = Callable[[np.ndarray, np.ndarray], dict[str, float]]


def bootstrap_intervals(score: Score, outputs: np.ndarray, targets: np.ndarray, n: int = 200, level: float = 0.95,
                        seed: int = 0) -> dict[str, tuple[float, float]]:
    """{metric: (low, high)}: the percentile interval of each metric `score` returns, over `n` resamples.
    Metrics that a resample cannot compute (NaN, e.g. a class absent) are left out of that resample."""
    outputs, targets = np.asarray(outputs), np.asarray(targets)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(n):
        idx = rng.integers(0, len(targets), len(targets))
        for k, v in score(outputs[idx], targets[idx]).items():
            if isinstance(v, (int, float)) and np.isfinite(v):
                draws.setdefault(k, []).append(float(v))
    tail = (1 - level) / 2 * 100
    return {k: (float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail)))
            for k, v in draws.items() if len(v) >= n // 2}
