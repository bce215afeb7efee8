"""How often `no_gesture` is answered for pictures that are not one of the gestures, for gestures weights.

    python tools/gestures_reject_both_ways.py [WEIGHTS ...]      (default: the shipped model)

Two sets: 600 rendered hands in random poses (other hand poses), and 600 random square patches of the
background photos of the benchmark's renders (HANDS photos at 256 px: backgrounds, faces, objects; a
patch can hold a hand). The other direction, real gestures answered `no_gesture`, is `wrongly_rejected`
in `glance bench gestures`, per source.
"""
from __future__ import annotations

import sys

import numpy as np

import glancekit
from glancekit.data.locations import default_backgrounds
from glancekit.data.synth import load_photos
from glancekit.synth import hands as synth_hands
from glancekit.tasks import get


def non_gestures(n: int = 600, seed: int = 123) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    photos = load_photos(default_backgrounds(get("gestures")))[1::2]  # the half the benchmark's renders use
    poses = [synth_hands.render_hand(rng, 96, gesture="random", photos=photos, facing=60).image for _ in range(n)]
    patches = []
    for _ in range(n):
        p = photos[rng.integers(len(photos))]
        h, w = p.shape[:2]
        s = int(rng.integers(48, min(h, w)))
        y, x = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
        patches.append(np.ascontiguousarray(p[y:y + s, x:x + s]))
    return {"random hand poses": poses, "random photo patches": patches}


if __name__ == "__main__":
    sets = non_gestures()
    for weights in sys.argv[1:] or [None]:
        model = glancekit.load("gestures", weights=weights, crop=True)
        for what, images in sets.items():
            share = np.mean([p.label == "no_gesture" for p in model.predict(images)])
            print(f"{weights or 'shipped'}: {what} answered no_gesture {share:.3f}")
