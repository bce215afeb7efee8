"""Optional peer models run on the same images as ours in `glance bench TASK --peer NAME`.

Peers are never dependencies: each is imported only when asked for, and a missing package is one
clear error line. MediaPipe Hands (the `mediapipe` 0.10.14 wheel ships its hand landmark model, so it
runs offline) gives 21 landmarks in the same order as ours, and, on whole photos, a box around each hand it
finds (`glance bench gestures --photos --peer mediapipe`).
"""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from ..data.images import to_rgb
from ..errors import GlanceError

Peer = Callable[[list[np.ndarray]], tuple[np.ndarray, float]]  # images → (N, 21, 3) points, ms per image
# whole photos → per photo a (K, 5) array of boxes x0, y0, x1, y1, score (most confident first), and ms per photo
BoxPeer = Callable[[list[np.ndarray]], tuple[list[np.ndarray], float]]


def _mediapipe():  # type: ignore[no-untyped-def]
    try:
        import mediapipe as mp
    except ImportError:
        raise GlanceError("the mediapipe peer needs `pip install mediapipe==0.10.14` (optional; its wheel "
                          "carries the hand models)") from None
    return mp


def mediapipe_hands(images: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Landmarks (pixels, confidence = handedness score; NaN where no hand was found) and ms/image."""
    mp = _mediapipe()
    out = np.full((len(images), 21, 3), np.nan, np.float32)
    with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=1, model_complexity=1,
                                  min_detection_confidence=0.3) as hands:
        t0 = time.perf_counter()
        for i, img in enumerate(images):
            rgb = to_rgb(img)
            res = hands.process(np.ascontiguousarray(rgb))
            if res.multi_hand_landmarks:
                h, w = rgb.shape[:2]
                score = res.multi_handedness[0].classification[0].score if res.multi_handedness else 1.0
                out[i] = [[lm.x * w, lm.y * h, score] for lm in res.multi_hand_landmarks[0].landmark]
        ms = (time.perf_counter() - t0) * 1000 / max(1, len(images))
    return out, ms


def mediapipe_hand_boxes(images: list[np.ndarray], widen: float = 1.15) -> tuple[list[np.ndarray], float]:
    """Every hand MediaPipe Hands finds in each whole photo (up to 4): the box around its 21 landmarks, widened
    by 15% about its centre (the rule the shared web sources' MediaPipe boxes follow), scored by handedness."""
    mp = _mediapipe()
    out: list[np.ndarray] = []
    with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=4, model_complexity=1,
                                  min_detection_confidence=0.5) as hands:
        t0 = time.perf_counter()
        for img in images:
            rgb = to_rgb(img)
            res = hands.process(np.ascontiguousarray(rgb))
            h, w = rgb.shape[:2]
            boxes = []
            for k, lms in enumerate(res.multi_hand_landmarks or []):
                pts = np.array([[lm.x * w, lm.y * h] for lm in lms.landmark])
                (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
                cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * widen / 2, (y1 - y0) * widen / 2
                score = res.multi_handedness[k].classification[0].score if res.multi_handedness else 1.0
                boxes.append([max(0, cx - hw), max(0, cy - hh), min(w, cx + hw), min(h, cy + hh), score])
            b = np.asarray(boxes, np.float64).reshape(-1, 5)
            out.append(b[np.argsort(-b[:, 4])])
        ms = (time.perf_counter() - t0) * 1000 / max(1, len(images))
    return out, ms


PEERS: dict[str, dict[str, Peer]] = {"hand_keypoints": {"mediapipe": mediapipe_hands}}
BOX_PEERS: dict[str, dict[str, BoxPeer]] = {"hands": {"mediapipe": mediapipe_hand_boxes}}  # by detector task


def get_peer(task: str, name: str, table: dict[str, dict[str, Any]] = PEERS) -> Any:
    peers = table.get(task, {})
    if name not in peers:
        raise GlanceError(f"no peer '{name}' for task {task}; available: {', '.join(peers) or 'none'}")
    return peers[name]
