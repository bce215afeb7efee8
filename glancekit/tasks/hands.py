"""hands: a photo or camera frame → a box around every hand in it (class `hand`).

The first half of the whole-frame pipeline (engine/pipeline.py): `gestures` and `hand_keypoints` read the
crops of the boxes found here. A detection task (tasks/detection.py: CenterNet over a MobileNetV2-style
trunk, 192x192 input, boxes at stride 4).

Data:
- `gestures/hands_dataset` (boxes drawn by people) and the six `gestures/web/*` sources (MediaPipe's
  21 points widened by 15%: machine labels; photos where MediaPipe found no hand are left out, and where a photo
  held two hands only the larger was kept, so a found second hand may count as a false one there);
- `--data synth`: scenes with 0–4 rendered hands (glancekit/synth/hands.py) pasted at random size (8–70% of the
  longer side) and place into backgrounds, the box around the hand's 21 points widened by 12% each way (between
  the people's boxes of HANDS, about 10%, and MediaPipe's 15%). The backgrounds are procedural unless
  `--backgrounds` names photos: the shared photos all hold hands, which would be unlabelled hands in a scene.
Every real source is scored on its own by `glance bench hands` (AP per source, the worst named).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..synth import hands as synth_hands
from .detection import DetectionTask

BOX_MARGIN = 0.12


def render_hand_object(rng: np.random.Generator, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One rendered hand (any gesture or pose, either side, any view) as a crop, its mask and its box."""
    s = synth_hands.render_hand(rng, side, gestures=(*synth_hands.GESTURES, "random", "random"))
    pts = s.keypoints[:, :2]
    lo, hi = pts.min(0), pts.max(0)
    pad = (hi - lo) * BOX_MARGIN
    box = np.concatenate([lo - pad, hi + pad])
    assert s.mask is not None
    return s.image, s.mask, box


class HandsTask(DetectionTask):
    name = "hands"
    labels = ("hand",)
    objects_key = "hands"
    default_data = "synth:test:600"
    real_sources = ("gestures/hands_dataset", "gestures/web/*")
    val_frac = 0.1
    test_frac = 0.15
    train_defaults = {"data": "synth", "epochs": 16, "batch": 32, "lr": 3e-3, "optimizer": "adamw",
                      "schedule": "cosine", "weight_decay": 1e-4, "epoch_size": 4000, "val_size": 400,
                      "augment": True, "model": {}}

    def synthesize(self, rng: np.random.Generator, split: str, photos: Sequence[np.ndarray]
                   ) -> tuple[np.ndarray, np.ndarray]:
        return self.render_scene(rng, split, photos, render_hand_object)


TASK = HandsTask()
