"""Fuse the two gesture readers (pixels: `gestures`, keypoints: `gestures_kp`) into one gestures model.

They err on different images, so the weighted mean of their log-probabilities (gestures_kp.FusedGestures,
weight w on the keypoint side) reads better than either. This scores the fused model at w = 0, 0.1, …, 1
on the data `glance bench` uses: validation renders (training styles, used to pick w), the held-out-style
test renders (the task's default benchmark) and the real boxes the image run held out (its --mix test
part). It runs the fused module itself, so the keypoint side reads the 96 px input upsampled to 128 px,
exactly as the shipped model will. With --write it saves the fused weights at the w picked on validation,
with the no_gesture threshold refitted on the same validation renders; ship them with
`glance ship gestures --weights PATH`. With --flip every figure is of the fused model that answers with
the mean of an image and its mirror image (models/flip.py; the mix is linear, so the mean of the two
halves' tables is exactly that model's), and --write saves that model.

    python tools/gestures_fusion.py [--image W] [--keypoints W] [--reader W] [--flip] [--write runs/gestures/fused.pt]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import f1_score

from glancekit.data.dataset import prepare
from glancekit.engine.bench import _bench_samples
from glancekit.engine.checkpoint import file_sha256, load_checkpoint, resolve_weights, save_checkpoint
from glancekit.engine.evaluate import load_eval_samples
from glancekit.models import FlipAverage, without_flip_average
from glancekit.tasks import get
from glancekit.tasks.gestures_kp import FusedGestures

WEIGHTS = np.round(np.arange(0, 1.01, 0.1), 2)


def halves(fused: FusedGestures, x: np.ndarray, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The two log-probability tables the fused model mixes (pixels, keypoints), batch by batch; with
    `flip` each is the mean over the image and its mirror image."""
    pix, pts = [], []
    with torch.inference_mode():
        for i in range(0, len(x), 256):
            xb = torch.from_numpy(x[i:i + 256])
            a, b = fused.halves(xb)
            if flip:
                af, bf = fused.halves(xb.flip(-1))
                a, b = (a + af) / 2, (b + bf) / 2
            pix.append(a)
            pts.append(b)
    return torch.cat(pix).numpy(), torch.cat(pts).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default=None, help="gestures image classifier weights, or a fused model whose image "
                    "classifier is taken (default: the shipped, fused model)")
    ap.add_argument("--keypoints", default=None, help="hand_keypoints weights (default: shipped)")
    ap.add_argument("--reader", default=None, help="gestures_kp weights (default: shipped)")
    ap.add_argument("--n", type=int, default=1800, help="held-out-style test renders")
    ap.add_argument("--val", type=int, default=1800, help="validation renders used to pick w")
    ap.add_argument("--flip", action="store_true", help="the fused model averages each image with its mirror image")
    ap.add_argument("--write", default=None, help="save the fused weights here")
    a = ap.parse_args()
    task = get("gestures")
    assert get("gestures_kp").labels == task.labels
    paths = {n: resolve_weights(get(n), p) for n, p in
             (("gestures", a.image), ("hand_keypoints", a.keypoints), ("gestures_kp", a.reader))}
    parts = {n: load_checkpoint(p, get(n)) for n, p in paths.items()}
    if a.flip:  # parts as bare nets: one that averages over mirror images itself would do it twice
        parts = {n: without_flip_average(c) for n, c in parts.items()}
    image = parts["gestures"]
    took_image_part = "fuse" in image["model_kwargs"]
    if took_image_part:  # e.g. the shipped model: fuse its own image classifier again
        image, _ = task.trainable_checkpoint(image)
        parts["gestures"] = image
    kwargs = {**image["model_kwargs"], "fuse": {"weight": 0.0, "keypoints": parts["hand_keypoints"]["model_kwargs"],
                                                "reader": parts["gestures_kp"]["model_kwargs"]}}
    fused = task.build_model(**kwargs)
    assert isinstance(fused, FusedGestures)
    for module, name in ((fused.image_net, "gestures"), (fused.keypoint_net, "hand_keypoints"),
                         (fused.reader, "gestures_kp")):
        module.load_state_dict(parts[name]["state_dict"])
    fused.eval()

    sets = {"val renders": _bench_samples(task, f"synth:val:{a.val}", "val", 0, image["meta"])[0],
            "test renders": _bench_samples(task, f"synth:test:{a.n}", "test", 0, image["meta"])[0]}
    mix = (image["meta"].get("split") or {}).get("mix")
    if mix:  # the real photos the image run was trained beside: their held-out part
        sets["real test boxes"] = load_eval_samples(task, mix["data"], "test", int(mix["seed"]), mix["val_frac"],
                                                    mix["test_frac"], bool(mix.get("grouped", False)))
    tables, scores = {}, {}
    for name, samples in sets.items():
        x, y = prepare(task, samples, f"reading {name}")
        tables[name] = (*halves(fused, x, a.flip), y.numpy())
        pix, pts, yy = tables[name]
        scores[name] = [float(f1_score(yy, ((1 - w) * pix + w * pts).argmax(1), average="weighted")) for w in WEIGHTS]
    best = int(np.argmax(scores["val renders"]))
    print(("mirror-averaged; " if a.flip else "") + "weighted F1" + (f"; real boxes: the {len(sets['real test boxes'])} the image run held out of {mix['data']}"
                           if mix else "; no real boxes (the image run had no --mix set)"))
    print("w (keypoint share)" + "".join(f"{n:>17}" for n in scores))
    for i, w in enumerate(WEIGHTS):
        print(f"{w:>18.1f}" + "".join(f"{s[i]:17.3f}" for s in scores.values()) + ("  <- picked on val" if i == best else ""))
    if a.write:
        w = float(WEIGHTS[best])
        fused.weight = w
        kwargs["fuse"]["weight"] = w
        pix, pts, yv = tables["val renders"]
        val_out = (1 - w) * pix + w * pts
        meta = {**image["meta"], **task.calibrate(val_out, yv), "best": scores["val renders"][best],
                "metrics": {"val_weighted_f1": scores["val renders"][best]},
                "assembled_from": {"how": "tools/gestures_fusion.py: weighted mean of log-probabilities" +
                                          (", averaged over the image and its mirror image" if a.flip else ""),
                                   "weight": w, "picked_on": f"synth:val:{a.val}",
                                   "parts": {n: str(p) + (" (its image classifier)" if n == "gestures" and
                                                          took_image_part else "") for n, p in paths.items()},
                                   "sha256": {n: file_sha256(p) for n, p in paths.items()}}}
        Path(a.write).parent.mkdir(parents=True, exist_ok=True)
        model: torch.nn.Module = fused
        if a.flip:
            model, kwargs = FlipAverage(fused), {**kwargs, "flip_average": True}
        save_checkpoint(Path(a.write), task, model, kwargs, meta)
        print(f"wrote {a.write} (w {w}, no_gesture threshold {meta['threshold']:.3f})")


if __name__ == "__main__":
    main()
