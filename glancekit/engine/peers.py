"""Optional peer models run on the same images as ours in `glance bench TASK --peer NAME`.

Peers are never dependencies: each is imported only when asked for, and a missing package is one
clear error line. MediaPipe Hands (the `mediapipe` 0.10.14 wheel ships its hand landmark model, so it
runs offline) gives 21 landmarks in the same order as ours.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from ..errors import GlanceError

Peer = Callable[[list[np.ndarray]], tuple[np.ndarray, float]]  # images → (N, 21, 3) points, ms per image


def mediapipe_hands(images: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Landmarks (pixels, confidence = handedness score; NaN where no hand was found) and ms/image."""
    try:
        import mediapipe as mp
    except ImportError:
        raise GlanceError("the mediapipe peer needs `pip install mediapipe==0.10.14` (optional; its wheel "
                          "carries the hand landmark model)") from None
    out = np.full((len(images), 21, 3), np.nan, np.float32)
    with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=1, model_complexity=1,
                                  min_detection_confidence=0.3) as hands:
        t0 = time.perf_counter()
        for i, img in enumerate(images):
            rgb = img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=2)
            res = hands.process(np.ascontiguousarray(rgb))
            if res.multi_hand_landmarks:
                h, w = rgb.shape[:2]
                score = res.multi_handedness[0].classification[0].score if res.multi_handedness else 1.0
                out[i] = [[lm.x * w, lm.y * h, score] for lm in res.multi_hand_landmarks[0].landmark]
        ms = (time.perf_counter() - t0) * 1000 / max(1, len(images))
    return out, ms


PEERS: dict[str, dict[str, Peer]] = {"hand_keypoints": {"mediapipe": mediapipe_hands}}


def get_peer(task: str, name: str) -> Peer:
    peers = PEERS.get(task, {})
    if name not in peers:
        raise GlanceError(f"no peer '{name}' for task {task}; available: {', '.join(peers) or 'none'}")
    return peers[name]
