"""clocks: a photo → a box around every analog clock in it (class `clock`).

The finder of the whole-photo clock pipeline (engine/pipeline.py): `glance predict clock PHOTO` finds each clock
here and reads the square crop around it with the `clock` task. A detection task (tasks/detection.py).

Data: `--data synth` scenes, 0–3 rendered clocks (glancekit/synth/clock.py, the training style families; the test
split only the held-out families) pasted at 8–90% of the scene's longer side into the task's background photos
(HANDS photos: rooms and people with no clock in them), the box the dial's outline. There is no real photo with
boxed clocks in the shared data: the 30 clock photos are scored by `glance bench clock` through the pipeline (the
clock found and read), not here.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..synth import clock as synth_clock
from .detection import DetectionTask


def render_clock_object(families: Sequence[tuple[str, str, str]]):  # type: ignore[no-untyped-def]
    def render(rng: np.random.Generator, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = synth_clock.render_clock(rng, side, families=families)
        assert s.mask is not None
        ys, xs = np.nonzero(s.mask)
        box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
        return s.image, s.mask, box
    return render


class ClocksTask(DetectionTask):
    name = "clocks"
    labels = ("clock",)
    objects_key = "clocks"
    default_data = "synth:test:600"
    synth_backgrounds = "gestures/hands_dataset/images"
    zoom = (0.6, 1.3)
    # Clocks seldom overlap, while one clock filling a photo can give several peaks, each a part of its dial
    # (measured on the 30 real images: 15 reported two or more clocks at 0.5, 2 at 0.2).
    nms_iou = 0.2
    train_defaults = {"data": "synth", "epochs": 12, "batch": 32, "lr": 3e-3, "optimizer": "adamw",
                      "schedule": "cosine", "weight_decay": 1e-4, "epoch_size": 3000, "val_size": 400,
                      "augment": True, "model": {}}

    def synthesize(self, rng: np.random.Generator, split: str, photos: Sequence[np.ndarray]
                   ) -> tuple[np.ndarray, np.ndarray]:
        families = synth_clock.TEST_FAMILIES if split == "test" else synth_clock.TRAIN_FAMILIES
        return self.render_scene(rng, split, photos, render_clock_object(families), counts=(0.15, 0.6, 0.2, 0.05),
                                 sizes=(0.08, 0.9))


TASK = ClocksTask()
