"""Where the keypoint gesture reader loses other people's photos: in the points, or in the reading?

    python tools/gestures_where_lost.py [READER_WEIGHTS ...]      (default: the shipped gestures_kp reader)

For every real gesture source under the shared data root it scores the reader (weighted F1 of the first
choice) twice: on the points the shipped hand_keypoints model places on each hand crop, as in use, and
on the points MediaPipe Hands placed on the same photos (`keypoints_mediapipe.json`, photos where it
found no hand left out). A reader that reads MediaPipe's points well and the model's points badly is
let down by the keypoint model; one that reads both badly has learnt the wrong gestures.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from glancekit.data.dataset import prepare
from glancekit.engine.checkpoint import build_from_checkpoint, load_checkpoint, resolve_weights
from glancekit.engine.evaluate import load_eval_samples
from glancekit.engine.sources import task_sources
from glancekit.metrics.classification import classification_report
from glancekit.tasks import get
from glancekit.tasks.gestures_kp import keypoint_features


def mediapipe_features(folder: Path, labels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    rows = [r for r in json.loads((folder / "keypoints_mediapipe.json").read_text()) if r.get("points")]
    x = np.stack([keypoint_features(np.c_[np.asarray(r["points"], np.float64), np.ones(21)]) for r in rows])
    return x, np.array([labels.index(r["label"]) for r in rows])


def weighted_f1(reader: torch.nn.Module, x: np.ndarray, y: np.ndarray, classes: int) -> float:
    with torch.no_grad():
        pred = reader(torch.as_tensor(x, dtype=torch.float32).reshape(len(x), 1, 1, -1)).argmax(1).numpy()
    return classification_report(y, pred, classes)["weighted_f1"]


if __name__ == "__main__":
    task = get("gestures_kp")
    n = len(task.labels)
    sources = [s for s in task_sources(task) if (Path(s.path) / "keypoints_mediapipe.json").exists()]
    model_points = {}
    for s in sources:
        x, y = prepare(task, load_eval_samples(task, str(s.path)), f"keypoints of {s.name}")
        model_points[s.name] = (x, y.numpy())
    for weights in sys.argv[1:] or [None]:
        _, reader = build_from_checkpoint(load_checkpoint(resolve_weights(task, weights), task))
        reader.eval()
        print(f"reader {weights or 'shipped'}: weighted F1 on the model's points / on MediaPipe's points")
        for s in sources:
            mp = mediapipe_features(Path(s.path), task.labels)
            print(f"  {s.name:55s} {weighted_f1(reader, *model_points[s.name], n):.3f} ({len(model_points[s.name][1])})"
                  f"  {weighted_f1(reader, *mp, n):.3f} ({len(mp[1])})")
