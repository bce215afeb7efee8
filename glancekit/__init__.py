"""glancekit: compact, fast vision models for people-facing apps.

    import glancekit
    digits = glancekit.load("digits")
    digits.predict("seven.png")   # ClassPrediction(label='7', confidence=0.99, ...)
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import GlanceError

if TYPE_CHECKING:
    from .engine.predict import Predictor

__version__ = "0.1.0"


def load(task: str, weights: str | Path | None = None, backend: str = "auto") -> "Predictor":
    """A predictor for `task` with the shipped weights (or `weights`); runs on onnxruntime when an
    up-to-date ONNX export sits next to the weights, else on torch."""
    from .engine.predict import Predictor
    return Predictor(task, weights, backend=backend)


__all__ = ["load", "GlanceError", "__version__"]
