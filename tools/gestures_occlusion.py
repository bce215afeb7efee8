"""How much of the gestures error is renders whose defining fingertips are hidden.

Renders held-out-style hands (the test half of the background photos, the task's `facing`), marks each
one whose defining fingertips (e.g. thumb + four fingertips for five) are not all visible by the
renderer's depth order, and prints the shipped model's accuracy on both groups, overall and per gesture.

    python tools/gestures_occlusion.py [--n 1800] [--weights W]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from sklearn.metrics import f1_score

from glancekit.data.synth import load_photos
from glancekit.data.locations import default_backgrounds
from glancekit.engine.checkpoint import build_from_checkpoint, load_checkpoint, resolve_weights
from glancekit.synth import hands
from glancekit.tasks import get

# Keypoints that must be visible to tell the gesture (0 wrist, 4 thumb tip, 8/12/16/20 fingertips).
NEEDED = {"one": [8], "two": [8, 12], "three": [8, 12, 16], "four": [8, 12, 16, 20], "five": [4, 8, 12, 16, 20],
          "like": [4], "dislike": [4], "ok": [4, 8, 12, 16, 20], "fist": []}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1800)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--seed", type=int, default=12345)
    a = ap.parse_args()
    task = get("gestures")
    photos = load_photos(default_backgrounds(task))[1::2]
    rng = np.random.default_rng(a.seed)
    xs, ys, seen = [], [], []
    for i in range(a.n):
        g = i % len(task.labels)
        s = hands.render_hand(rng, 96, gesture=task.labels[g], photos=photos, facing=task.facing)
        xs.append(task.preprocess(s.image))
        ys.append(g)
        seen.append(all(s.keypoints[k, 2] > 0 for k in NEEDED[task.labels[g]]))
    x, y, vis = torch.as_tensor(np.stack(xs)), np.array(ys), np.array(seen)
    _, model = build_from_checkpoint(load_checkpoint(resolve_weights(task, a.weights), task))
    with torch.inference_mode():
        pred = torch.cat([model(x[i:i + 256]) for i in range(0, len(x), 256)]).argmax(1).numpy()
    ok = pred == y
    print(f"all {len(y)}: weighted F1 {f1_score(y, pred, average='weighted'):.3f}, accuracy {ok.mean():.3f}")
    print(f"defining fingertips visible: {vis.sum()} renders, accuracy {ok[vis].mean():.3f}; "
          f"some hidden: {(~vis).sum()}, accuracy {ok[~vis].mean() if (~vis).any() else float('nan'):.3f}")
    for g, name in enumerate(task.labels):
        k = y == g
        hid = ok[k & ~vis].mean() if (k & ~vis).any() else float("nan")
        print(f"  {name:8s} hidden {(~vis[k]).mean():.2f}  accuracy visible {ok[k & vis].mean():.2f}  hidden {hid:.2f}")


if __name__ == "__main__":
    main()
