"""glancekit: compact, fast vision models for people-facing apps.

    import glancekit
    digits = glancekit.load("digits")
    digits.predict("seven.png")   # ClassPrediction(label='7', confidence=0.99, ...)
    gestures = glancekit.load("gestures")
    gestures.predict("room.jpg").hands   # [FoundObject(box=[...], score=0.93, label='like', keypoints=[...]), ...]
    glancekit.openEyeCheck("/full/path/eye.jpg")   # 1 open, 0 closed
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import GlanceError

if TYPE_CHECKING:
    from .engine.pipeline import Pipeline
    from .engine.predict import Predictor

__version__ = "0.1.0"


def load(task: str, weights: str | Path | None = None, backend: str = "auto", crop: bool = False
         ) -> "Predictor | Pipeline":
    """A predictor for `task` with the shipped weights (or `weights`); runs on onnxruntime when an
    up-to-date ONNX export sits next to the weights, else on torch.

    Tasks that read one object (gestures and hand_keypoints a hand, clock a clock) take whole photos: each
    object is found first and `.predict(photo)` returns a FramePrediction listing them (`.hands`, `.clocks`),
    empty when there is none. `crop=True` skips the finding, for inputs that are already one object's crop
    (one prediction per image)."""
    from .engine.predict import Predictor
    from .tasks import get
    if get(task).detector and not crop:
        from .engine.pipeline import Pipeline
        return Pipeline(task, weights, backend=backend)
    return Predictor(task, weights, backend=backend)


_EYES: "Predictor | None" = None


def openEyeCheck(path: str | Path) -> int:  # noqa: N802 - the name users of the original API know
    """1 if the eye in the crop at `path` is open, 0 if closed (shipped eyes model, EER threshold).

    Any size or colour of eye crop works; it is converted to grayscale and resized to 24x24.
    """
    global _EYES
    if _EYES is None:
        _EYES = load("eyes")
    return int(_EYES.predict(path).is_open)  # type: ignore[union-attr]


__all__ = ["load", "openEyeCheck", "GlanceError", "__version__"]
