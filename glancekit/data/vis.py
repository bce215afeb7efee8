"""`glance predict --save-vis DIR`: each input image with its prediction drawn on it."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

import cv2

from ..tasks import Prediction, Task
from .images import load_image


def save_visualizations(task: Task, files: Sequence[Path], preds: Sequence[Prediction], out: Path,
                        draw: Callable[[np.ndarray, Prediction], np.ndarray] | None = None) -> int:
    """Write DIR/<stem>.png for every file (a numbered suffix when two inputs share a stem); never
    overwrites an existing file. `draw` (default: the task's `visualize`) draws one prediction. Returns how many
    were written."""
    draw = draw or task.visualize
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for f, p in zip(files, preds):
        img = draw(load_image(f), p)
        target = out / f"{Path(f).stem}.png"
        i = 1
        while target.exists():
            target = out / f"{Path(f).stem}-{i}.png"
            i += 1
        bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img
        if cv2.imwrite(str(target), bgr):
            written += 1
    return written
