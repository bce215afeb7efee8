"""Pictures that hold none of a task's objects, cut from photos whose objects are boxed.

A reader with a reject answer (`no_gesture`) meets, in use, crops with no hand in them: a finder's false
box on a face, an arm, a shelf. Rendered outliers (random hand poses) do not look like those; the parts of
real photos that no box touches do. `object_free_patches` cuts square patches from box-labelled photos
(any layout the detection task's readers take), each kept clear of every box grown by `margin`, so they
train "none of these" (outlier exposure) and, cut from photos no model trained on, measure it.

Photos are chosen by their place in the sorted list (`part`: "even", "odd" or "all"), so the photos that
train and those that measure never meet.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import GlanceError
from .images import load_image, to_rgb


def _clear(x0: int, y0: int, side: int, boxes: np.ndarray, margin: float) -> bool:
    """Whether the square (x0, y0, side) keeps out of every box, each grown by `margin` of its size."""
    for bx0, by0, bx1, by1 in boxes:
        gx, gy = (bx1 - bx0) * margin, (by1 - by0) * margin
        if x0 < bx1 + gx and x0 + side > bx0 - gx and y0 < by1 + gy and y0 + side > by0 - gy:
            return False
    return True


def object_free_patches(path: str | Path, detector: str, n: int, size: int, seed: int = 0, part: str = "all",
                        sides: tuple[float, float] = (0.15, 0.6), margin: float = 0.1,
                        tries: int = 30) -> list[np.ndarray]:
    """`n` square RGB patches (uint8, size x size) from the photos at `path` that touch none of their boxes.

    `detector` names the detection task whose readers read `path`; a patch's side is `sides` of the photo's
    short side. Photos whose boxes leave no room are passed over; fewer than `n` patches come back only when
    no photo has room."""
    from ..tasks import get
    from .readers import read_dataset
    samples = read_dataset(path, get(detector))
    order = sorted(range(len(samples)), key=lambda i: str(samples.ids[i]))
    pick = {"all": order, "even": order[0::2], "odd": order[1::2]}.get(part)
    if pick is None:
        raise GlanceError(f"part must be all, even or odd, not {part!r}")
    rng = np.random.default_rng(seed)
    per_photo = max(1, -(-n // max(1, len(pick))))  # ceil: spread the patches over every photo
    out: list[np.ndarray] = []
    for i in rng.permutation(pick):
        image = to_rgb(load_image(samples.items[i]))
        target = np.asarray(samples.targets[i])
        boxes = target[target[:, 4] >= 0, :4] if target.size else np.zeros((0, 4))
        h, w = image.shape[:2]
        for _ in range(per_photo):
            for _ in range(tries):
                side = int(rng.uniform(*sides) * min(h, w))
                x0, y0 = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
                if side >= 8 and _clear(x0, y0, side, boxes, margin):
                    crop = image[y0:y0 + side, x0:x0 + side]
                    out.append(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))
                    break
        if len(out) >= n:
            break
    return out[:n]
