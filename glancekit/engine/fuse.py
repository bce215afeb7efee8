"""`glance fuse gestures`: put the two gesture readers (pixels: `gestures`, keypoints: `gestures_kp` over
`hand_keypoints`) into one gestures model, with the mix picked on validation renders.

They err on different images, so the weighted mean of their log-probabilities (gestures_kp.FusedGestures,
weight w on the keypoint side) reads better than either. Every w in 0, 0.1, …, 1 is scored (weighted F1) on
the data `glance bench` uses: validation renders of the training styles (they pick w), held-out-style test
renders, and the real boxes the image run held out (its `--mix` test part, where the shared data has it).
The fused module itself is run, so the keypoint side reads the 96 px input upsampled to 128 px exactly as
the shipped model will. With `out`, the fused weights at the picked w are written with the no_gesture
threshold refitted on the same validation renders; `glance ship gestures --weights OUT` ships them.
`flip`: every figure is of the model that answers with the mean of an image and its mirror image (the mix
is linear, so the mean of the two halves' tables is exactly that model's), and that model is written.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.dataset import prepare
from ..data.locations import located
from ..errors import GlanceError
from ..metrics.classification import classification_report
from ..models import FlipAverage, without_flip_average
from ..tasks import Task, get
from .bench import _bench_samples
from .checkpoint import file_sha256, load_checkpoint, resolve_weights, save_checkpoint
from .evaluate import load_eval_samples

KEYPOINT_SHARES = tuple(float(w) for w in np.round(np.arange(0, 1.01, 0.1), 2))
FUSED_TASK, PARTS = "gestures", ("gestures", "hand_keypoints", "gestures_kp")


@dataclass
class FuseResult:
    """Weighted F1 per set (rows follow KEYPOINT_SHARES), the share picked on validation, what was written."""
    scores: dict[str, list[float]]
    sizes: dict[str, int]
    picked: float
    real_note: str
    out: Path | None = None
    threshold: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _halves(fused: Any, x: np.ndarray, flip: bool) -> tuple[np.ndarray, np.ndarray]:
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


def fuse(task: Task, image: str | None = None, keypoints: str | None = None, reader: str | None = None,
         n_val: int = 1800, n_test: int = 1800, flip: bool = False, out: str | Path | None = None) -> FuseResult:
    """Score the fused model at every keypoint share; with `out`, write it at the share picked on validation.
    Each part defaults to the shipped weights (`image` may be a fused model: its image classifier is taken)."""
    from ..tasks.gestures_kp import FusedGestures
    if task.name != FUSED_TASK:
        raise GlanceError(f"only {FUSED_TASK} has two readers to fuse, not {task.name}")
    if n_val < 1 or n_test < 1:
        raise GlanceError("--val and --n must be at least 1")
    paths = {n: resolve_weights(get(n), p) for n, p in zip(PARTS, (image, keypoints, reader))}
    parts = {n: load_checkpoint(p, get(n)) for n, p in paths.items()}
    if flip:  # parts as bare nets: one that averages over mirror images itself would do it twice
        parts = {n: without_flip_average(c) for n, c in parts.items()}
    took_image_part = "fuse" in parts["gestures"]["model_kwargs"]
    if took_image_part:  # e.g. the shipped model: fuse its own image classifier again
        parts["gestures"], _ = task.trainable_checkpoint(parts["gestures"])
    image_ckpt = parts["gestures"]
    kwargs = {**image_ckpt["model_kwargs"], "fuse": {"weight": 0.0, "keypoints": parts["hand_keypoints"]["model_kwargs"],
                                                     "reader": parts["gestures_kp"]["model_kwargs"]}}
    fused = task.build_model(**kwargs)
    assert isinstance(fused, FusedGestures)
    for module, name in ((fused.image_net, "gestures"), (fused.keypoint_net, "hand_keypoints"),
                         (fused.reader, "gestures_kp")):
        try:
            module.load_state_dict(parts[name]["state_dict"])
        except RuntimeError as e:
            raise GlanceError(f"{paths[name]} does not fit the fused model's {name} part: "
                              f"{str(e).splitlines()[0]}") from None
    fused.eval()

    sets = {"val renders": _bench_samples(task, f"synth:val:{n_val}", "val", 0, image_ckpt["meta"])[0],
            "test renders": _bench_samples(task, f"synth:test:{n_test}", "test", 0, image_ckpt["meta"])[0]}
    mix = (image_ckpt["meta"].get("split") or {}).get("mix")
    real_note = "no real boxes: the image run had no --mix set"
    if mix and located(mix["data"]).exists():  # the real photos the image run was trained beside: their held-out part
        sets["real test boxes"] = load_eval_samples(task, located(mix["data"]), "test", int(mix["seed"]),
                                                    mix["val_frac"], mix["test_frac"], bool(mix.get("grouped", False)))
        real_note = f"real boxes: the {len(sets['real test boxes'])} the image run held out of {mix['data']}"
    elif mix:
        real_note = f"no real boxes: the image run's --mix set {mix['data']} is not on this machine"
    tables: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    scores: dict[str, list[float]] = {}
    for name, samples in sets.items():
        x, y = prepare(task, samples, f"reading {name}")
        pix, pts = _halves(fused, x, flip)
        tables[name] = (pix, pts, y.numpy())
        scores[name] = [classification_report(y.numpy(), ((1 - w) * pix + w * pts).argmax(1),
                                              len(task.labels))["weighted_f1"] for w in KEYPOINT_SHARES]
    best = int(np.argmax(scores["val renders"]))
    result = FuseResult(scores, {k: len(v) for k, v in sets.items()}, KEYPOINT_SHARES[best], real_note)
    if out is None:
        return result
    w = KEYPOINT_SHARES[best]
    fused.weight = w
    kwargs["fuse"]["weight"] = w
    pix, pts, yv = tables["val renders"]
    meta = {**image_ckpt["meta"], **task.calibrate((1 - w) * pix + w * pts, yv), "best": scores["val renders"][best],
            "metrics": {"val_weighted_f1": scores["val renders"][best]},
            "assembled_from": {"how": "glance fuse: weighted mean of log-probabilities" +
                                      (", averaged over the image and its mirror image" if flip else ""),
                               "weight": w, "picked_on": f"synth:val:{n_val}",
                               "parts": {n: str(p) + (" (its image classifier)" if n == "gestures" and
                                                      took_image_part else "") for n, p in paths.items()},
                               "sha256": {n: file_sha256(p) for n, p in paths.items()}}}
    model: torch.nn.Module = fused
    if flip:
        model, kwargs = FlipAverage(fused), {**kwargs, "flip_average": True}
    result.out = Path(out)
    result.out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(result.out, task, model, kwargs, meta)
    result.threshold, result.meta = meta.get("threshold"), meta
    return result
