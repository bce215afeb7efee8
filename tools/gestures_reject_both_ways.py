"""How often `no_gesture` is answered for pictures that are not one of the gestures, and for real gestures,
at the weights' own threshold and at thresholds fitted on a real source at stated false-unsure rates.

    python tools/gestures_reject_both_ways.py [WEIGHTS ...]      (default: the shipped model)

Non-gestures, three sets: 600 rendered hands in random poses (other hand poses), 600 patches of the odd half
of the HANDS photos that touch no hand box (faces, clothes, walls: what a finder's false box holds; the even
half trains `negatives`), and 300 such patches of each of the two web sources no part of the shipped model
trained on. Gestures: the web sources' labelled hands, answered right (a `no_gesture` answer counts as
wrong). Thresholds: the weights' own, and those that reject 1, 2, 5 and 10% of `FIT` (a source the gesture
readers never trained on, what `glance val --calibrate --reject-rate` fits on). `glance bench gestures`
gives the same figures per source at the weights' own threshold (`wrongly_rejected`, `no_hand_rejected`).
"""
from __future__ import annotations

import sys

import numpy as np

from glancekit.data.dataset import prepare
from glancekit.data.locations import data_root, default_backgrounds
from glancekit.data.negatives import object_free_patches
from glancekit.data.synth import load_photos
from glancekit.engine.checkpoint import build_from_checkpoint, load_checkpoint, resolve_weights
from glancekit.engine.evaluate import load_eval_samples, torch_infer
from glancekit.synth import hands as synth_hands
from glancekit.tasks import get
from glancekit.tasks.base import softmax

WEB = "gestures/web/"
FIT = WEB + "AryaBhongade+hand-gesture-recognition"
SOURCES = ("didi-codes+computer_vision_hand_gesture_project", "dharshini-dayakar+Hand_Gesture_Recognition",
           "itzrahuldas+Gesture_proj")
RATES = (0.01, 0.02, 0.05, 0.10)


def non_gestures(n: int = 600, seed: int = 123) -> dict[str, list[np.ndarray]]:
    task = get("gestures")
    rng = np.random.default_rng(seed)
    photos = load_photos(default_backgrounds(task))[1::2]  # the half the benchmark's renders use
    sets = {"random poses": [synth_hands.render_hand(rng, 96, gesture="random", photos=photos,
                                                     facing=60).image for _ in range(n)],
            "HANDS no hand": object_free_patches(data_root() / task.negatives, task.detector, n, 96, seed=seed,
                                                 part="odd")}
    for source in SOURCES[:2]:
        sets[f"{source.split('+')[0]} no hand"] = object_free_patches(data_root() / WEB / source, task.detector,
                                                                      n // 2, 96, seed=seed)
    return sets


def main(weights: list[str | None]) -> None:
    task = get("gestures")
    negatives = {k: np.stack([task.preprocess(i) for i in v]) for k, v in non_gestures().items()}
    gestures = {s.split("+")[0]: prepare(task, load_eval_samples(task, data_root() / WEB / s), s)
                for s in (FIT.removeprefix(WEB), *SOURCES)}
    for w in weights:
        ckpt = load_checkpoint(resolve_weights(task, w), task)
        infer = torch_infer(build_from_checkpoint(ckpt)[1])
        neg = {k: softmax(infer(x)).max(1) for k, x in negatives.items()}
        real = {k: (softmax(infer(x)), y.numpy()) for k, (x, y) in gestures.items()}
        fit_conf = real[FIT.removeprefix(WEB).split("+")[0]][0].max(1)
        thresholds = {"own": float(ckpt["meta"].get("threshold", 0.0)),
                      **{f"{r:.0%} of {FIT.split('/')[-1].split('+')[0]}": float(np.quantile(fit_conf, r))
                         for r in RATES}}
        print(f"\n{w or 'shipped'}: non-gestures answered no_gesture | real gestures answered right")
        print("threshold".ljust(24) + "".join(k[:16].rjust(17) for k in [*neg, *real]))
        for name, thr in thresholds.items():
            cells = [np.mean(c < thr) for c in neg.values()]
            cells += [np.mean((p.max(1) >= thr) & (p.argmax(1) == y)) for p, y in real.values()]
            print(f"{name} ({thr:.3f})".ljust(24) + "".join(f"{c:17.3f}" for c in cells), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or [None])
