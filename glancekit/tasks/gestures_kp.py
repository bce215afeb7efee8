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
import torch.nn.functional as F
from torch import nn

from .gestures import GesturesTask
from .hand_keypoints import SIZE as KEYPOINT_SIZE
from .hand_keypoints import decode_heatmaps_torch

TIPS = (4, 8, 12, 16, 20)
N_FEATURES = 42 + 21 + 2 + 10


def keypoint_features_torch(points: torch.Tensor) -> torch.Tensor:
    """(N, 21, 3) keypoints (x, y, confidence; any pixel scale) → (N, N_FEATURES), see module docstring.

    Written with plain arithmetic (no atan2) so a model that reads keypoints exports it to ONNX;
    `keypoint_features` is this same code for one numpy array of points."""
    xy = points[..., :2] - points[:, :1, :2]
    ref = xy[:, 9]
    length = ref.norm(dim=-1)
    flat = length <= 0
    length = torch.where(flat, torch.ones_like(length), length)
    # The hand's angle from "up" (0 when the wrist → middle-knuckle line points up in the image).
    sin_a = torch.where(flat, torch.zeros_like(length), ref[:, 0] / length)
    cos_a = torch.where(flat, torch.ones_like(length), -ref[:, 1] / length)
    x, y = xy[..., 0], xy[..., 1]
    # Rotate by -angle: the hand then points up; divide by its length: it is then one unit long.
    canon = torch.stack([cos_a[:, None] * x + sin_a[:, None] * y, -sin_a[:, None] * x + cos_a[:, None] * y], -1)
    canon = canon / length[:, None, None]
    tips = canon[:, list(TIPS)]
    pair = [(tips[:, i] - tips[:, j]).norm(dim=-1) for i in range(5) for j in range(i + 1, 5)]
    return torch.cat([canon.flatten(1), points[..., 2], sin_a[:, None], cos_a[:, None],
                      torch.stack(pair, 1)], 1)


def keypoint_features(points: np.ndarray) -> np.ndarray:
    """(21, 3) image-pixel keypoints with confidences → (N_FEATURES,) float32."""
    p = torch.from_numpy(np.asarray(points, np.float64)[None])
    return keypoint_features_torch(p)[0].numpy().astype(np.float32)


class FusedGestures(nn.Module):
    """Both gesture readers in one graph: the image classifier and keypoints → features → MLP.

    They err on different images (the pixels see skin and shading, the keypoints see geometry), so the
    answer is the weighted mean of their log-probabilities, `weight` on the keypoint side, chosen on
    validation renders (`glance fuse gestures`). The keypoint model reads the 96 px gestures input
    upsampled to its 128 px, as gestures_kp does on the 96 px renders it trains on. One input, one
    output, one ONNX file; the three parts keep their own trained weights.
    """

    def __init__(self, image_net: nn.Module, keypoint_net: nn.Module, reader: nn.Module, weight: float) -> None:
        super().__init__()
        self.image_net, self.keypoint_net, self.reader = image_net, keypoint_net, reader
        self.weight = float(weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.image_net.forward_features(x)  # type: ignore[operator]

    def halves(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two log-probability tables that `forward` mixes: (pixels, keypoints)."""
        pixels = F.log_softmax(self.image_net(x), 1)
        up = F.interpolate(x, size=(KEYPOINT_SIZE, KEYPOINT_SIZE), mode="bilinear", align_corners=False)
        feats = keypoint_features_torch(decode_heatmaps_torch(self.keypoint_net(up)))
        return pixels, F.log_softmax(self.reader(feats[:, None, None, :]), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixels, points = self.halves(x)
        return (1 - self.weight) * pixels + self.weight * points


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
