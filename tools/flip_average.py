"""Give trained weights test-time mirror averaging: the same net answers with the mean of its outputs for
an image and for its mirror image (models/flip.py), with no retraining. One weights file, one ONNX graph.

Only for tasks whose `build_model` takes `flip_average`: those whose answer does not change under a
horizontal flip, hand_keypoints (heatmaps are flipped back; joint order is the same for a mirrored hand),
gestures and eyes, and clock, whose mirror shows a known other time (tasks/clock.py `mirror_time`), so
the mirror's reading is mapped back before averaging. A digit in a mirror is no digit, so digits has none.
The second view doubles the work per image: measure latency with `glance bench` before shipping it.
Calibrated values (gestures' no_gesture threshold, eyes' EER threshold, clock's temperature) were fitted
without the averaging and are copied as they are: refit them on validation data with
`glance val TASK --data VAL --weights OUT --calibrate OUT2.pt` (for gestures, `tools/gestures_fusion.py
--flip` does it in one go).

    python tools/flip_average.py WEIGHTS --out runs/TASK/flipped.pt
    glance bench TASK --weights runs/TASK/flipped.pt
    python tools/flip_average.py glancekit/weights/clock.pt --remove --out runs/clock/bare.pt   # half the work
"""
from __future__ import annotations

import argparse
import inspect
from pathlib import Path

from glancekit.engine.checkpoint import build_from_checkpoint, file_sha256, load_checkpoint, save_checkpoint
from glancekit.errors import GlanceError
from glancekit.models import flip_averaged, without_flip_average
from glancekit.tasks import get


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights")
    ap.add_argument("--out", required=True)
    ap.add_argument("--remove", action="store_true",
                    help="the other way: write the bare net of mirror-averaged weights (one view, half the work)")
    a = ap.parse_args()
    ckpt = load_checkpoint(a.weights)
    task = get(ckpt["task"])
    averaged = bool(ckpt["model_kwargs"].get("flip_average"))
    if a.remove:
        if not averaged:
            raise SystemExit(f"{a.weights} does not average over mirror images: nothing to remove")
        out = without_flip_average(ckpt)
        meta = {k: v for k, v in ckpt["meta"].items() if k != "flip_average_added"}
        what = "reading each image once, without its mirror image"
    else:
        if "flip_average" not in inspect.signature(task.build_model).parameters:
            raise SystemExit(f"{task.name} has no mirror averaging: its mirror image has no answer to map back")
        if averaged:
            raise SystemExit(f"{a.weights} already averages over mirror images")
        out = flip_averaged(ckpt)
        meta = {**ckpt["meta"], "flip_average_added": {"how": "tools/flip_average.py, after training",
                                                        "from": str(a.weights), "sha256": file_sha256(Path(a.weights))}}
        what = "answering with the mean over each image and its mirror image"
    _, model = build_from_checkpoint(out)
    save_checkpoint(Path(a.out), task, model, out["model_kwargs"], meta)
    print(f"wrote {a.out}: {task.name} {what}")

if __name__ == "__main__":
    try:
        main()
    except GlanceError as e:
        raise SystemExit(f"error: {e}") from None
