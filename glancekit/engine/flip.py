"""`glance flip TASK --weights W --out OUT`: give trained weights test-time mirror averaging, or take it away.

The same net then answers with the mean of its outputs for an image and for its mirror image
(models/flip.py), with no retraining: one weights file, one ONNX graph. Only tasks whose `build_model`
takes `flip_average` have it: those whose answer does not change under a horizontal flip (hand_keypoints,
whose heatmaps are flipped back; gestures; eyes) and clock, whose mirror shows a known other time that is
mapped back before averaging. A digit in a mirror is no digit, so digits has none.

The second view doubles the work per image: measure latency with `glance bench` before shipping it.
Calibrated values (no_gesture threshold, eyes' EER threshold, clock's temperature) were fitted without the
averaging and are copied as they are; refit them with `glance val TASK --data VAL --weights OUT
--calibrate OUT2.pt` (for gestures, `glance fuse gestures --flip` refits in one go).
"""
from __future__ import annotations

import inspect
from pathlib import Path

from ..errors import GlanceError
from ..models import flip_averaged, without_flip_average
from ..tasks import Task
from .checkpoint import build_from_checkpoint, file_sha256, load_checkpoint, save_checkpoint


def has_mirror_averaging(task: Task) -> bool:
    return "flip_average" in inspect.signature(task.build_model).parameters


def flip(task: Task, weights: str | Path, out: str | Path, remove: bool = False) -> str:
    """Write `out`: the weights at `weights` answering over each image and its mirror image (or, with
    `remove`, their bare net reading each image once). Returns what the new weights do, in words."""
    weights, out = Path(weights), Path(out)
    ckpt = load_checkpoint(weights, task)
    if out.resolve() == weights.resolve():
        raise GlanceError(f"--out {out} is the --weights file itself; write the new weights to another file")
    averaged = bool(ckpt["model_kwargs"].get("flip_average"))
    if remove:
        if not averaged:
            raise GlanceError(f"{weights} does not average over mirror images: nothing to remove")
        new = without_flip_average(ckpt)
        meta = {k: v for k, v in ckpt["meta"].items() if k != "flip_average_added"}
        what = "reading each image once, without its mirror image"
    else:
        if not has_mirror_averaging(task):
            raise GlanceError(f"{task.name} has no mirror averaging: its mirror image has no answer to map back")
        if averaged:
            raise GlanceError(f"{weights} already averages over mirror images")
        new = flip_averaged(ckpt)
        meta = {**ckpt["meta"], "flip_average_added": {"how": "glance flip, after training", "from": str(weights),
                                                        "sha256": file_sha256(weights)}}
        what = "answering with the mean over each image and its mirror image"
    _, model = build_from_checkpoint(new)
    save_checkpoint(out, task, model, new["model_kwargs"], meta)
    return what
