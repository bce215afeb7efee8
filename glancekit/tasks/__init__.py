"""The one registry of tasks. A task is one module; adding one needs no change elsewhere."""
from __future__ import annotations

import importlib

from ..errors import GlanceError
from .base import ClassificationTask, ClassPrediction, Prediction, Task

# name → module that defines it (imported lazily so `glance --help` stays fast)
_MODULES: dict[str, str] = {
    "digits": "glancekit.tasks.digits",
    "eyes": "glancekit.tasks.eyes",
    "clock": "glancekit.tasks.clock",
    "clocks": "glancekit.tasks.clocks",
    "hand_keypoints": "glancekit.tasks.hand_keypoints",
    "gestures": "glancekit.tasks.gestures",
    "gestures_kp": "glancekit.tasks.gestures_kp",
    "hands": "glancekit.tasks.hands",
}
_INSTANCES: dict[str, Task] = {}


def names() -> list[str]:
    return sorted(_MODULES)


def get(name: str) -> Task:
    """The task called `name`, or a GlanceError listing the known ones."""
    if name not in _MODULES:
        raise GlanceError(f"unknown task '{name}'; known tasks: {', '.join(names())}")
    if name not in _INSTANCES:
        module = importlib.import_module(_MODULES[name])
        _INSTANCES[name] = module.TASK
    return _INSTANCES[name]


__all__ = ["Task", "ClassificationTask", "Prediction", "ClassPrediction", "get", "names"]
