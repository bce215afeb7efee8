"""gestures_kp: the same 9 gestures, read from the 21 hand keypoints instead of the pixels.

image → hand_keypoints model → 21 (x, y, confidence) → features → small MLP. The features are made
independent of where the hand is and how big it is (translate to the wrist, divide by the wrist →
middle-knuckle length) and of its in-plane rotation (rotate that line to point up), with the rotation
itself kept as two features (sin, cos), since "like" and "dislike" differ only by it. Adding a custom
gesture then needs only a few dozen examples: the keypoint model already did the seeing.

Labels, readers, synthetic data, threshold and selection are the gestures task's; only the input side
(preprocess, augmentation, model) differs, so both approaches are compared on the same held-out data.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .gestures import GesturesTask

TIPS = (4, 8, 12, 16, 20)
N_FEATURES = 42 + 21 + 2 + 10


def keypoint_features(points: np.ndarray) -> np.ndarray:
    """(21, 3) image-pixel keypoints with confidences → (N_FEATURES,) float32, see module docstring."""
    p = np.asarray(points, np.float64)
    xy = p[:, :2] - p[0, :2]
    ref = xy[9]
    length = float(np.hypot(*ref)) or 1.0
    ang = float(np.arctan2(ref[0], -ref[1]))  # 0 when the hand points up in the image
    c, s = np.cos(-ang), np.sin(-ang)
    rot = np.array([[c, -s], [s, c]])
    canon = (xy @ rot.T) / length
    tips = canon[list(TIPS)]
    pair = [float(np.linalg.norm(tips[i] - tips[j])) for i in range(5) for j in range(i + 1, 5)]
    return np.concatenate([canon.ravel(), p[:, 2], [np.sin(ang), np.cos(ang)], pair]).astype(np.float32)


class GestureKeypointsTask(GesturesTask):
    name = "gestures_kp"
    input_size = (1, N_FEATURES)
    channels = 1
    keypoint_weights: str | None = None  # default: the shipped hand_keypoints model
    train_defaults = {**GesturesTask.train_defaults, "epochs": 15, "batch": 128, "lr": 3e-3, "epoch_size": 6000}

    def __init__(self) -> None:
        self._keypoints: Any = None

    def _points(self, image: np.ndarray) -> np.ndarray:
        if self._keypoints is None:
            from ..engine.predict import Predictor
            self._keypoints = Predictor("hand_keypoints", self.keypoint_weights)
        pred = self._keypoints.predict(image)
        return np.asarray(pred.keypoints, np.float32)

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """A hand crop → 21 keypoints from the hand_keypoints model → normalised features (1, 1, 75)."""
        return keypoint_features(self._points(image))[None, None, :]

    def augment(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mirror half the hands (left ↔ right: x coordinates and the rotation's sine change sign) and
        jitter the point positions a little."""
        x = x.clone()
        flip = torch.rand(x.shape[0], device=x.device) < 0.5
        xs = x[:, 0, 0, 0:42:2]
        x[:, 0, 0, 0:42:2] = torch.where(flip[:, None], -xs, xs)
        x[:, 0, 0, 63] = torch.where(flip, -x[:, 0, 0, 63], x[:, 0, 0, 63])
        x[:, 0, 0, :42] += torch.randn_like(x[:, 0, 0, :42]) * 0.02
        return x, y

    def build_model(self, hidden: int = 128, dropout: float = 0.2, **kwargs: Any) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(N_FEATURES, hidden), nn.ReLU(), nn.Dropout(dropout),
                             nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
                             nn.Linear(hidden, len(self.labels)))

    def report(self, outputs: np.ndarray, targets: np.ndarray, images: np.ndarray, ids: list[str],
               meta: dict[str, Any], out_dir: Any, infer: Any = None) -> list[tuple[str, list]]:
        # The inputs are feature vectors, not pictures: keep the confusion matrix and per-class table.
        return [s for s in super().report(outputs, targets, images, ids, meta, out_dir, infer)
                if not s[0].startswith("Validation predictions")]


TASK = GestureKeypointsTask()
