"""The weights file: state dict + how to rebuild the model + calibrated values (thresholds, temperature).

One format for runs (`weights/best.pt`) and shipped models (`glancekit/weights/TASK.pt`), loaded with
`weights_only=True` so a weights file can never run code.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import GlanceError
from ..runs.store import atomic_write_bytes
from ..tasks import Task, get

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
# The values a task's `calibrate` fits on validation and the weights carry in their meta (and card).
CALIBRATION_KEYS = ("threshold", "threshold_rule", "trust_score", "temperature", "temperature_rule")


def shipped_weights(task: str) -> Path:
    return WEIGHTS_DIR / f"{task}.pt"


def save_checkpoint(path: Path, task: Task, model: nn.Module, model_kwargs: dict[str, Any],
                    meta: dict[str, Any]) -> None:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    buf = io.BytesIO()
    torch.save({"format": "glancekit/1", "task": task.name, "labels": list(task.labels),
                "input_size": list(task.input_size), "channels": task.channels,
                "model_kwargs": _plain(model_kwargs), "meta": _plain(meta), "state_dict": state}, buf)
    atomic_write_bytes(Path(path), buf.getvalue())


def write_checkpoint(path: Path, ckpt: dict[str, Any]) -> None:
    """Write a loaded checkpoint back as it is (e.g. with its meta rewritten), without rebuilding the model."""
    buf = io.BytesIO()
    torch.save({**ckpt, "model_kwargs": _plain(ckpt["model_kwargs"]), "meta": _plain(ckpt["meta"])}, buf)
    atomic_write_bytes(Path(path), buf.getvalue())


def load_checkpoint(path: str | Path, task: Task | None = None) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise GlanceError(f"no such weights file: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure to unpickle is a bad file from the user's view
        raise GlanceError(f"cannot load weights {path}: not a glancekit weights file ({e.__class__.__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != "glancekit/1":
        raise GlanceError(f"{path} is not a glancekit weights file")
    if task is not None and ckpt["task"] != task.name:
        raise GlanceError(f"{path} holds weights for task '{ckpt['task']}', not '{task.name}'")
    return ckpt


def build_from_checkpoint(ckpt: dict[str, Any]) -> tuple[Task, nn.Module]:
    task = get(ckpt["task"])
    model = task.build_model(**ckpt["model_kwargs"])
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise GlanceError(f"weights do not fit the {task.name} model: {str(e).splitlines()[0]}") from None
    model.eval()
    return task, model


def resolve_weights(task: Task, weights: str | Path | None) -> Path:
    """The user's weights, or the shipped ones, or a clear error."""
    if weights is not None:
        return Path(weights)
    path = shipped_weights(task.name)
    if not path.is_file():
        raise GlanceError(f"no shipped weights for task '{task.name}' yet; train some with "
                          f"`glance train {task.name} --data PATH` and pass --weights")
    return path


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _plain(obj: Any) -> Any:
    """Lists/dicts/str/float/int/bool only, so `weights_only=True` can load it."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    return obj
