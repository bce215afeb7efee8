"""Scenes for detectors: rendered objects pasted into a background at random size, place and count, with
exact boxes. Nothing here knows what the objects are; a task hands over a function that renders one object
(an RGB crop, the mask of the object in it, and its box in the crop's pixels).
"""
from __future__ import annotations

from typing import Callable, Sequence

import cv2
import numpy as np

from ..metrics.detection import iou_matrix
from .common import background

# one object: (rng, side in pixels) → (RGB crop side x side, bool mask, box x0, y0, x1, y1 in the crop)
RenderObject = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray, np.ndarray]]


def scene(rng: np.random.Generator, render: RenderObject, photos: Sequence[np.ndarray] = (),
          shape: tuple[int, int] = (240, 320), counts: Sequence[float] = (0.1, 0.45, 0.25, 0.1, 0.1),
          sizes: tuple[float, float] = (0.08, 0.7)) -> tuple[np.ndarray, np.ndarray]:
    """A (height, width) RGB scene and its (K, 4) boxes. The number of objects is drawn with probabilities
    `counts` (index = count); each object's crop side is a share `sizes` of the scene's longer side, drawn
    log-uniformly (small objects as often as large ones), and placed so it overlaps no earlier box by more
    than IoU 0.2; it may be cut by the scene's edge. Edges are feathered so no hard seam gives it away."""
    h, w = shape
    side = max(h, w)
    bg = background(rng, side, photos)
    y0 = int(rng.integers(0, side - h + 1))
    x0 = int(rng.integers(0, side - w + 1))
    img = bg[y0:y0 + h, x0:x0 + w].astype(np.float32)
    n = int(rng.choice(len(counts), p=np.asarray(counts) / np.sum(counts)))
    boxes: list[np.ndarray] = []
    for _ in range(n):
        s = int(round(side * float(np.exp(rng.uniform(np.log(sizes[0]), np.log(sizes[1]))))))
        s = max(16, s)
        crop, mask, box = render(rng, s)
        for _try in range(10):
            ox = int(rng.integers(-s // 4, w - 3 * s // 4 + 1)) if w > s // 2 else 0
            oy = int(rng.integers(-s // 4, h - 3 * s // 4 + 1)) if h > s // 2 else 0
            placed = np.array([box[0] + ox, box[1] + oy, box[2] + ox, box[3] + oy], np.float64)
            clipped = np.clip(placed, 0, [w, h, w, h])
            visible = (clipped[2] - clipped[0]) * (clipped[3] - clipped[1])
            full = (placed[2] - placed[0]) * (placed[3] - placed[1])
            if visible < 0.5 * full:
                continue
            if boxes and iou_matrix(clipped[None], np.asarray(boxes)).max() > 0.2:
                continue
            _paste(img, crop, mask, ox, oy)
            boxes.append(clipped)
            break
    return np.clip(img, 0, 255).astype(np.uint8), np.asarray(boxes, np.float32).reshape(-1, 4)


def _paste(img: np.ndarray, crop: np.ndarray, mask: np.ndarray, ox: int, oy: int) -> None:
    h, w = img.shape[:2]
    s = crop.shape[0]
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0)[..., None]
    a0, b0 = max(0, ox), max(0, oy)
    a1, b1 = min(w, ox + s), min(h, oy + s)
    if a1 <= a0 or b1 <= b0:
        return
    region = (slice(b0, b1), slice(a0, a1))
    src = (slice(b0 - oy, b1 - oy), slice(a0 - ox, a1 - ox))
    img[region] = img[region] * (1 - alpha[src]) + crop[src].astype(np.float32) * alpha[src]
