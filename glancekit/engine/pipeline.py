"""Whole photos and camera frames: find each object with a detector task, then read each one with the reader
tasks (a declared pair, `Task.detector`; nothing here names a task).

    photo ─► detector (hands) ─► boxes ─► square crop around each box ─► readers (gestures, hand_keypoints)
          ─► FramePrediction: one FoundObject per box, in the photo's pixels

`glancekit.load("gestures").predict(photo)` returns a FramePrediction whose `.hands` lists every hand with its
box, the detector's score, the gesture, its confidence and the 21 keypoints; `crop=True` (CLI `--crop`) skips
the detector for inputs that are already one object's crop. A photo with nothing in it gives an empty list.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data.images import crop_window, load_image
from ..errors import GlanceError
from ..tasks import Prediction, Task, get
from .predict import Predictor, predict_in_batches


@dataclass
class FoundObject:
    """One object found in a photo. `box`: x0, y0, x1, y1 in the photo's pixels; `score`: the detector's;
    `label`, `confidence`: the reader's answer for the crop (top: its best classes); `keypoints`: 21 [x, y,
    confidence] in the photo's pixels, where a keypoint reader ran; the reader's other fields are attributes
    too (a clock's `.hour`, `.minute`, `.time`)."""

    box: list[float]
    score: float
    label: str
    confidence: float
    top: list[tuple[str, float]] | None = None
    keypoints: list[list[float]] | None = None
    details: dict[str, Any] = field(default_factory=dict)  # the reader's other fields (a clock's hour, minute)
    answer: Prediction | None = field(default=None, repr=False)  # the reader's own prediction for the crop

    def __getattr__(self, name: str) -> Any:  # the reader's other fields by name: a clock's `.hour`, `.time`
        details = self.__dict__.get("details", {})
        if name in details:
            return details[name]
        raise AttributeError(name)


@dataclass
class FramePrediction(Prediction):
    """Everything found in one photo. `label` sums it up ("2 hands: five, like"); `confidence` is the most
    confident object's. The objects are `objects`, also reachable by the detector's name for them
    (`.hands` for hands)."""

    objects: list[FoundObject] = field(default_factory=list)
    objects_key: str = "objects"

    def __getattr__(self, name: str) -> Any:
        if name != "objects_key" and name == self.__dict__.get("objects_key"):
            return self.objects
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "confidence": self.confidence, self.objects_key: [self._object(o) for o in self.objects]}

    @staticmethod
    def _object(o: FoundObject) -> dict[str, Any]:
        d = {f.name: getattr(o, f.name) for f in fields(o)
             if getattr(o, f.name) is not None and f.name not in ("details", "answer")}
        return {**d, **o.details}

    def rows(self) -> list[dict[str, Any]]:
        """CSV rows: one per object (a photo with none: one row whose prediction says so)."""
        if not self.objects:
            return [{"object": "", "prediction": f"no {self.objects_key}", "confidence": 0.0, "box": "", "score": ""}]
        return [{"object": i, "prediction": o.label, "confidence": round(o.confidence, 4),
                 "box": " ".join(f"{v:.1f}" for v in o.box), "score": round(o.score, 4), **o.details,
                 **({"keypoints": json.dumps([[round(v, 1) for v in p] for p in o.keypoints])} if o.keypoints else {})}
                for i, o in enumerate(self.objects)]


class Pipeline:
    """Detector + readers for a task whose `detector` is set. `.predict` takes what `Predictor.predict` takes."""

    def __init__(self, task: str | Task, weights: str | Path | None = None, backend: str = "auto",
                 detector_weights: str | Path | None = None, threshold: float | None = None) -> None:
        self.task = get(task) if isinstance(task, str) else task
        if not self.task.detector:
            raise GlanceError(f"task {self.task.name} reads whole images; it has no detector to find objects first")
        self.detector = Predictor(self.task.detector, detector_weights, backend=backend)
        if threshold is not None:
            self.detector.meta["threshold"] = threshold
        self.objects_key = getattr(self.detector.task, "objects_key", "objects")
        self.readers = [Predictor(self.task, weights, backend=backend)]
        self.readers += [Predictor(name, backend=backend) for name in self.task.companions]
        self.batch = self.detector.batch
        self.backend = self.detector.backend

    def predict(self, inputs: Any) -> FramePrediction | list[FramePrediction]:
        single = not isinstance(inputs, (list, tuple))
        images = [load_image(i) for i in ([inputs] if single else inputs)]
        if not images:
            return []
        found = self.detector.predict(images)
        crops, owners, windows = [], [], []
        for k, (img, det) in enumerate(zip(images, found)):  # type: ignore[arg-type]
            for obj in det.objects:  # type: ignore[attr-defined]
                win = crop_window(img.shape, obj["box"])
                crops.append(img[win[1]:win[3], win[0]:win[2]])
                owners.append((k, obj))
                windows.append(win)
        read = [r.predict(crops) if crops else [] for r in self.readers]
        per_image: list[list[FoundObject]] = [[] for _ in images]
        for n, (k, obj) in enumerate(owners):
            main = read[0][n]  # type: ignore[index]
            details = {k: v for k, v in main.to_dict().items()
                       if k not in ("label", "confidence", "top", "keypoints", "index")}
            o = FoundObject(obj["box"], round(obj["score"], 4), main.label, round(main.confidence, 4),
                            getattr(main, "top", None) or None, details=details, answer=main)
            for answer in [main, *(r[n] for r in read[1:])]:  # type: ignore[index]
                pts = getattr(answer, "keypoints", None)
                if pts:
                    a, c = windows[n][0], windows[n][1]
                    o.keypoints = [[round(x + a, 2), round(y + c, 2), round(s, 3)] for x, y, s in pts]
            per_image[k].append(o)
        preds = [self._frame(objs) for objs in per_image]
        return preds[0] if single else preds

    def _frame(self, objects: list[FoundObject]) -> FramePrediction:
        from collections import Counter
        n = len(objects)
        label = f"{n} {self.objects_key if n != 1 else self.detector.task.labels[0]}"
        counts = Counter(o.label for o in objects if o.label != self.detector.task.labels[0])
        if counts:  # "3 hands: five x2, like"
            label += ": " + ", ".join(f"{k} x{v}" if v > 1 else k for k, v in counts.most_common())
        return FramePrediction(label, max((o.confidence for o in objects), default=0.0), objects, self.objects_key)

    def predict_files(self, files: Sequence[Path]) -> list[Prediction]:
        return predict_in_batches(self.predict, files, self.batch, "finding and reading")

    def visualize(self, image: np.ndarray, prediction: Prediction) -> np.ndarray:
        """Each object's box with its label and confidence, and its skeleton where it has keypoints."""
        import cv2

        from ..synth.hands import draw_skeleton
        from ..tasks.detection import draw_boxes
        img = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        objects = getattr(prediction, "objects", [])
        radius = max(2, int(round(max(img.shape[:2]) / 200)))
        for o in objects:
            if o.keypoints:
                img = draw_skeleton(img, np.asarray(o.keypoints, np.float32), radius)
        return draw_boxes(img, [o.box for o in objects], [f"{o.label} {o.confidence:.2f}" for o in objects])
