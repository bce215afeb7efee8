"""`glance record TASK --label L --source 0|video.mp4 --out DIR`: collect labelled crops from a camera or
a video, the data loop of the gestures task's origin.

Every `every`-th frame, the hand is cropped and saved as DIR/LABEL/<session>_<frame>.jpg; nothing existing
is overwritten. Where the task has a hand finder (`Task.detector`) with weights, each frame's most confident
hand is cropped (square, with a margin, as the whole-photo pipeline crops it) and frames with no hand are
skipped; `--box` places a fixed box instead (by default a centred square of 60% of the frame's short side,
used when there is no finder). When weights for the task exist, the current model's guess for each
crop is written next to it in DIR/record_log.csv, so one sees at once which recordings the model gets
wrong. A live preview window opens when OpenCV has a display; on a headless machine (or with
--no-preview) it records silently, which is how it is tested, from a video file.
"""
from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..data.images import crop_window
from ..errors import GlanceError
from ..progress import progress
from ..tasks import Task


def parse_box(text: str | None) -> tuple[float, float, float, float] | None:
    """'x0,y0,x1,y1' in pixels, or fractions of the frame when all are ≤ 1."""
    if not text:
        return None
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise GlanceError(f"--box takes x0,y0,x1,y1, got '{text}'") from None
    if len(vals) != 4 or vals[2] <= vals[0] or vals[3] <= vals[1]:
        raise GlanceError(f"--box takes x0,y0,x1,y1 with x1 > x0 and y1 > y0, got '{text}'")
    return vals  # type: ignore[return-value]


def frame_box(shape: tuple[int, ...], box: tuple[float, float, float, float] | None) -> tuple[int, int, int, int]:
    h, w = shape[:2]
    if box is None:
        side = int(min(h, w) * 0.6)
        x0, y0 = (w - side) // 2, (h - side) // 2
        return x0, y0, x0 + side, y0 + side
    if max(box) <= 1.0:
        box = (box[0] * w, box[1] * h, box[2] * w, box[3] * h)
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise GlanceError(f"--box {box} leaves less than 8x8 pixels of the {w}x{h} frame")
    return x0, y0, x1, y1


def _open(source: str) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(int(source)) if source.isdigit() else cv2.VideoCapture(source)
    if not cap.isOpened():
        what = f"camera {source}" if source.isdigit() else f"video file {source}"
        if not source.isdigit() and not Path(source).exists():
            raise GlanceError(f"no such video file: {source}")
        raise GlanceError(f"cannot open {what}")
    return cap


def record(task: Task, label: str, source: str, out: Path, box: str | None = None, every: int = 5,
           max_frames: int | None = None, weights: str | None = None, preview: bool = True,
           detector_weights: str | None = None) -> dict[str, Any]:
    if not task.labels:  # a clock's time changes while it is filmed: no one label for a recording
        raise GlanceError(f"glance record saves crops under one class; {task.name} has no classes (label its "
                          f"photos with `glance label {task.name} --pool DIR`)")
    label = task.label_from_text(label)
    if every < 1:
        raise GlanceError("--every must be at least 1")
    predictor = None
    try:
        from .predict import Predictor
        predictor = Predictor(task, weights)
    except GlanceError:
        if weights:
            raise
    finder = None
    if box is None and task.detector:
        try:
            from .predict import Predictor
            finder = Predictor(task.detector, detector_weights)
        except GlanceError:
            if detector_weights:
                raise
            finder = None  # no hand finder weights: the fixed box
    cap = _open(source)
    folder = out / label
    folder.mkdir(parents=True, exist_ok=True)
    session = time.strftime("%Y%m%d-%H%M%S")
    log_path = out / "record_log.csv"
    new_log = not log_path.exists()
    saved, index, window, no_hand = 0, 0, preview, 0
    with open(log_path, "a", newline="", encoding="utf-8") as log, progress() as bar:
        writer = csv.writer(log)
        if new_log:
            writer.writerow(["file", "label", "source", "frame", "model_guess", "confidence"])
        job = bar.add_task(f"recording '{label}'", total=max_frames)
        while max_frames is None or saved < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            index += 1
            if (index - 1) % every:
                continue
            if finder is not None:
                found = finder.predict(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).objects  # type: ignore[union-attr]
                if not found:
                    no_hand += 1
                    continue
                x0, y0, x1, y1 = crop_window(bgr.shape, max(found, key=lambda o: o["score"])["box"])
            else:
                x0, y0, x1, y1 = frame_box(bgr.shape, parse_box(box))
            crop = bgr[y0:y1, x0:x1]
            path = folder / f"{session}_{index:06d}.jpg"
            n = 1
            while path.exists():
                path = folder / f"{session}_{index:06d}-{n}.jpg"
                n += 1
            cv2.imwrite(str(path), crop)
            guess, conf = "", ""
            if predictor is not None:
                p = predictor.predict(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
                guess, conf = p.label, f"{p.confidence:.4f}"  # type: ignore[union-attr]
            writer.writerow([str(path.relative_to(out)), label, source, index, guess, conf])
            log.flush()  # a crash keeps every row written so far
            saved += 1
            bar.advance(job)
            if window:
                window = _show(bgr, (x0, y0, x1, y1), label, guess)
    cap.release()
    if window:
        cv2.destroyAllWindows()
    if saved == 0 and no_hand:
        raise GlanceError(f"no hand found in the {no_hand} frames looked at in {source}; place the hand's box "
                          f"yourself with --box x0,y0,x1,y1")
    if saved == 0:
        raise GlanceError(f"no frames could be read from {source}")
    return {"saved": saved, "folder": str(folder), "log": str(log_path), "frames_read": index,
            "frames_without_hand": no_hand, "crops_from": "hand finder" if finder is not None else "fixed box"}


def _show(bgr: np.ndarray, box: tuple[int, int, int, int], label: str, guess: str) -> bool:
    """Draw the box and the model's guess; False when this OpenCV has no display (headless build)."""
    view = bgr.copy()
    cv2.rectangle(view, box[:2], box[2:], (0, 255, 0), 2)
    cv2.putText(view, f"recording {label}  model: {guess or '-'}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                (0, 255, 0), 2, cv2.LINE_AA)
    try:
        cv2.imshow("glance record", view)
        cv2.waitKey(1)
        return True
    except cv2.error:
        return False
