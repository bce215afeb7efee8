"""hand_keypoints: a hand crop → 21 keypoints (x, y, confidence) in image pixels.

Order: 0 wrist; 1–4 thumb base→tip; 5–8 index; 9–12 middle; 13–16 ring; 17–20 little. The input is a
*hand crop* (the hand filling most of the image, as a detector or the gestures recorder gives), any
size: it is padded to a square and resized to 128x128. The model (`models/unet.py`) outputs one 32x32
heatmap per keypoint; decoding takes each heatmap's peak, refines it to sub-pixel precision with a
parabola through the peak and its neighbours, and reports the peak height as the point's confidence.

Targets are (21, 3) arrays: x, y in image pixels and visibility (1 visible / labelled). Metrics count
visible points only: PCK@0.2 of the hand box (the largest side of the box around the visible points),
end-point error in model-input pixels and as a share of the box, AUC of PCK over 0–0.5, and the
heatmap MSE of the task's origin (bar: ≤ 2.5e-3) for comparability.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import augment as aug
from ..data.images import square_offsets, square_rgb
from ..errors import GlanceError
from ..synth import hands as synth_hands
from .base import Infer, Prediction, Task

SIZE = 128
STRIDE = 4
HM = SIZE // STRIDE
SIGMA = 1.5  # heatmap pixels
N_POINTS = 21
FINGER_OF = ["wrist"] + [f for f in synth_hands.FINGERS for _ in range(4)]


@dataclass
class KeypointPrediction(Prediction):
    """label "hand"; `keypoints`: 21 [x, y, confidence] in the input image's pixels."""

    keypoints: list[list[float]] = field(default_factory=list)

    def columns(self) -> dict[str, Any]:
        return {"keypoints": json.dumps([[round(v, 2) for v in p] for p in self.keypoints])}


def heatmaps_for(points: torch.Tensor, size: int = HM, sigma: float = SIGMA) -> torch.Tensor:
    """(B, 21, 3) points in model-input pixels → (B, 21, size, size) Gaussian heatmaps (peak 1)."""
    g = torch.arange(size, dtype=torch.float32, device=points.device)
    cx = (points[..., 0] + 0.5) / STRIDE - 0.5
    cy = (points[..., 1] + 0.5) / STRIDE - 0.5
    gx = torch.exp(-0.5 * ((g[None, None, :] - cx[..., None]) / sigma) ** 2)
    gy = torch.exp(-0.5 * ((g[None, None, :] - cy[..., None]) / sigma) ** 2)
    return gy[..., :, None] * gx[..., None, :]


def decode_heatmaps_torch(hm: torch.Tensor) -> torch.Tensor:
    """(N, 21, H, W) → (N, 21, 3): x, y in model-input pixels and the peak as confidence.

    The peak pixel, moved by a quadratic fit through it and its neighbours (at most half a pixel each
    way). In torch so that a model that reads keypoints (the fused gestures model) exports it in its
    ONNX graph; `decode_heatmaps` is this same code for numpy arrays."""
    n, k, h, w = hm.shape
    flat = hm.reshape(n, k, h * w)
    idx = flat.argmax(-1)
    py, px = torch.div(idx, w, rounding_mode="floor"), idx % w
    peak = flat.gather(-1, idx[..., None])[..., 0]

    def at(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return flat.gather(-1, (y.clamp(0, h - 1) * w + x.clamp(0, w - 1))[..., None])[..., 0]

    def refine(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
        denom = lo - 2 * peak + hi
        ok = denom.abs() > 1e-6
        off = torch.where(ok, 0.5 * (lo - hi) / torch.where(ok, denom, torch.ones_like(denom)), torch.zeros_like(denom))
        return off.clamp(-0.5, 0.5)

    zero = torch.zeros_like(peak)
    fx = px.to(hm.dtype) + torch.where((px > 0) & (px < w - 1), refine(at(py, px - 1), at(py, px + 1)), zero)
    fy = py.to(hm.dtype) + torch.where((py > 0) & (py < h - 1), refine(at(py - 1, px), at(py + 1, px)), zero)
    return torch.stack([(fx + 0.5) * STRIDE - 0.5, (fy + 0.5) * STRIDE - 0.5, peak.clamp(0, 1)], -1)


def decode_heatmaps(hm: np.ndarray) -> np.ndarray:
    """`decode_heatmaps_torch` for a numpy array."""
    return decode_heatmaps_torch(torch.from_numpy(np.ascontiguousarray(hm, np.float32))).numpy().astype(np.float32)


class HandKeypointsTask(Task):
    name = "hand_keypoints"
    labels = ()
    input_size = (SIZE, SIZE)
    channels = 3
    select_metric = "val_pck"
    select_mode = "max"
    default_data = "synth:test:1000"       # renders with the test seed stream and the other background half
    synth_backgrounds = "gestures/hands_dataset/images"
    detector = "hands"  # whole photos: find each hand, then place its points
    # Real photos with MediaPipe's keypoints (machine labels: agreement with that peer), and hands whose points
    # people placed (hand_keypoints/human: accuracy against people, never trained on).
    real_sources = ("gestures/hands_dataset/keypoints_mediapipe.json", "gestures/web/*/keypoints_mediapipe.json",
                    "hand_keypoints/human/*/keypoints.json")
    target_columns = ("keypoints",)
    train_defaults = {"data": "synth", "epochs": 20, "batch": 32, "lr": 3e-3, "optimizer": "adamw",
                      "schedule": "cosine", "weight_decay": 1e-4, "epoch_size": 8000, "val_size": 800,
                      "augment": True, "model": {}}

    # ---- data -------------------------------------------------------------------------------
    def readers(self) -> list[Any]:
        from ..data.keypoint_readers import KEYPOINT_READERS
        return list(KEYPOINT_READERS)

    def parse_target(self, raw: dict[str, str], where: str = "") -> np.ndarray:
        try:
            pts = np.asarray(json.loads(raw.get("keypoints", "")), np.float32)
        except (ValueError, TypeError):
            raise GlanceError(f"{where}: keypoints must be JSON [[x, y(, visible)], ...]") from None
        if pts.ndim != 2 or pts.shape[0] != N_POINTS or pts.shape[1] not in (2, 3):
            raise GlanceError(f"{where}: expected 21 keypoints of [x, y] or [x, y, visible], got shape {pts.shape}")
        if pts.shape[1] == 2:
            pts = np.concatenate([pts, np.ones((N_POINTS, 1), np.float32)], 1)
        return pts

    def collate_targets(self, targets: list[Any]) -> torch.Tensor:
        return torch.as_tensor(np.asarray(targets, dtype=np.float32).reshape(-1, N_POINTS, 3))

    def target_str(self, target: Any) -> str:
        return f"{int(np.asarray(target)[:, 2].sum())}/21 visible"

    def distribution_key(self, target: Any) -> str:
        v = int(np.asarray(target)[:, 2].sum())
        return "21 visible" if v == 21 else f"{(v // 5) * 5}-{min(20, (v // 5) * 5 + 4)} visible"

    def target_columns_dict(self, target: Any) -> dict[str, Any]:
        return {"keypoints": json.dumps(np.round(np.asarray(target), 2).tolist())}

    def synthesize(self, rng: np.random.Generator, split: str, photos: Sequence[np.ndarray]
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Renders from the hand generator; the test split uses the other half of the photos."""
        pool = photos[1::2] if split == "test" else photos[0::2]
        s = synth_hands.render_hand(rng, SIZE, photos=pool)
        return s.image, s.keypoints

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """Any hand crop → padded to a square (edge pixels repeated), 128x128 RGB in [-1, 1]."""
        return square_rgb(image, SIZE)

    def preprocess_sample(self, image: np.ndarray, target: Any) -> tuple[np.ndarray, Any]:
        t = np.asarray(target, np.float32).copy()
        side, pad_x, pad_y = square_offsets(image.shape)
        t[:, 0] = (t[:, 0] + pad_x + 0.5) * SIZE / side - 0.5
        t[:, 1] = (t[:, 1] + pad_y + 0.5) * SIZE / side - 0.5
        return self.preprocess(image), t

    def finalize(self, prediction: Prediction, image_shape: tuple[int, ...]) -> Prediction:
        if not isinstance(prediction, KeypointPrediction):
            return prediction
        side, pad_x, pad_y = square_offsets(image_shape)
        pts = []
        for x, y, c in prediction.keypoints:
            pts.append([float((x + 0.5) * side / SIZE - 0.5 - pad_x), float((y + 0.5) * side / SIZE - 0.5 - pad_y),
                        float(c)])
        return KeypointPrediction(prediction.label, prediction.confidence, pts)

    def pack_image(self, image: np.ndarray, target: Any) -> tuple[np.ndarray, Any]:
        """Packed hands are stored as the model sees them (square, 128 px) with targets moved along."""
        x, t = self.preprocess_sample(image, target)
        img = np.clip((x.transpose(1, 2, 0) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
        return img, t

    def augment(self, x: torch.Tensor, y: torch.Tensor, degrees: float = 30.0, scale: float = 0.15,
                shift_px: float = 8.0, degrade: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotation ±`degrees`, scale ±`scale`, shift ±`shift_px` and horizontal flip move image and
        keypoints together (a flipped right hand is a left hand: the keypoint order stays); then colour
        changes. `degrees: 180` is any in-plane rotation: real hands point down and across the frame,
        which renders and HANDS' upright hands rarely show. `degrade`: the share of images made greyscale,
        dark, blurred or noisy (`augment.degrade`)."""
        b, dev = x.shape[0], x.device
        theta = aug.random_affine_theta(x, degrees=degrees, scale=scale, shift_px=shift_px, hflip=0.5)
        x = aug.sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), padding="border")
        pts = aug.map_points(theta, y[..., :2], x.shape[-2], x.shape[-1])
        inside = ((pts >= 0) & (pts <= SIZE - 1)).all(-1).float()
        y = torch.cat([pts, (y[..., 2] * inside)[..., None]], -1)
        gain = 1 + (torch.rand(b, 3, 1, 1, device=dev) * 2 - 1) * 0.15
        x = (x * gain * (0.7 + 0.6 * torch.rand(b, 1, 1, 1, device=dev))
             + (torch.rand(b, 1, 1, 1, device=dev) * 2 - 1) * 0.2)
        return aug.degrade(x.clamp(-1, 1), degrade), y

    # ---- model ------------------------------------------------------------------------------
    def build_model(self, flip_average: bool = False, **kwargs: Any) -> nn.Module:
        """The heatmap U-Net; `flip_average`: the mean of the maps of the crop and of its mirror image
        (flipped back), see models/flip.py."""
        from ..models import FlipAverage
        from ..models.unet import HeatmapUNet
        cfg = {"stem": 12, "stages": ((1, 12, 1, 1), (3, 24, 1, 2), (3, 32, 2, 2), (4, 64, 2, 2), (4, 96, 1, 1)),
               "decoder": (48, 32), **kwargs}
        net = HeatmapUNet(self.channels, N_POINTS, **cfg)
        return FlipAverage(net, maps=True) if flip_average else net

    def trainable_checkpoint(self, ckpt: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """Mirror averaging is added after training (the shipped weights have it): fine-tune the bare net."""
        from ..models import bare_for_training
        return bare_for_training(ckpt)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        # Every point gets its heatmap, visible or not (the generator knows where hidden joints are and
        # a hand model should too); points outside the crop get an all-zero map. Pixels near a point
        # weigh 10x: with plain MSE an all-zero output is already 99% right and training stalls there.
        # Scaled so the loss is O(1); the reported heatmap MSE stays the plain, unweighted one.
        target = heatmaps_for(targets)
        return ((outputs - target) ** 2 * (1 + 9 * target)).mean() * 100

    # ---- decoding and metrics ---------------------------------------------------------------
    def decode(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[Prediction]:
        pts = decode_heatmaps(np.asarray(outputs, np.float32))
        return [KeypointPrediction("hand", float(p[:, 2].mean()), p.tolist()) for p in pts]

    def point_metrics(self, pred: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        """PCK / EPE / AUC / per finger of (N, 21, 2) points against targets, in model-input pixels."""
        from ..metrics import keypoints as km
        rep = km.keypoint_report(np.asarray(pred, np.float32), np.asarray(targets, np.float32))
        out = {"pck": rep.get("pck@0.2", float("nan"))}
        out.update({k.replace("@", "_"): v for k, v in rep.items() if k != "pck@0.2"})
        return out

    def evaluate(self, outputs: np.ndarray, targets: np.ndarray, meta: dict[str, Any] | None = None
                 ) -> dict[str, float]:
        from ..metrics import keypoints as km
        gt = np.asarray(targets, np.float32)
        out = self.point_metrics(decode_heatmaps(np.asarray(outputs, np.float32))[..., :2], gt)
        hm = heatmaps_for(torch.from_numpy(gt)).numpy()
        out["heatmap_mse"] = float(km.heatmap_mse(np.asarray(outputs, np.float32), hm))
        return out

    def visualize(self, image: np.ndarray, prediction: Prediction) -> np.ndarray:
        assert isinstance(prediction, KeypointPrediction)
        img = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        radius = max(2, int(round(max(img.shape[:2]) / 100)))
        return synth_hands.draw_skeleton(img, np.asarray(prediction.keypoints, np.float32), radius)

    def report(self, outputs: np.ndarray, targets: np.ndarray, images: np.ndarray, ids: list[str],
               meta: dict[str, Any], out_dir: Path, infer: Infer | None = None) -> list[tuple[str, list]]:
        import matplotlib.pyplot as plt

        from ..metrics import keypoints as km
        from ..runs import report as rp
        pred = decode_heatmaps(np.asarray(outputs, np.float32))
        gt = np.asarray(targets, np.float32)
        box = km.box_size(gt)
        err = np.linalg.norm(pred[..., :2] - gt[..., :2], axis=-1)
        vis = gt[..., 2] > 0.5
        per_sample = np.where(vis.any(1), (err * vis).sum(1) / np.maximum(vis.sum(1), 1) / np.maximum(box, 1e-6), 0)
        order = np.argsort(-per_sample)[:32]
        tiles = []
        for i in order:
            img = np.clip((images[i].transpose(1, 2, 0) + 1) * 127.5, 0, 255).astype(np.uint8)
            g = synth_hands.draw_skeleton(img, gt[i], 1)
            tiles.append(np.concatenate([g, synth_hands.draw_skeleton(img, pred[i], 2)], 1))
        grid = rp.image_grid(tiles, [f"{ids[i]} err {per_sample[i]:.2f} box" for i in order],
                             out_dir / "val_keypoints.png", ncols=4)
        thr, curve = km.pck_curve(pred[..., :2], gt) if hasattr(km, "pck_curve") else (None, None)
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        if thr is not None:
            axes[0].plot(thr, curve)
            axes[0].set(xlabel="threshold (share of hand box)", ylabel="PCK", ylim=(0, 1.01), title="PCK curve")
            axes[0].axvline(0.2, color="gray", ls="--")
            axes[0].grid(alpha=0.3)
        fingers = km.per_finger(pred[..., :2], gt)
        names = list(fingers)
        axes[1].bar(names, [fingers[n]["pck"] for n in names])
        axes[1].set(ylim=(0, 1.01), ylabel="PCK@0.2", title="Per finger")
        curves = rp._save(fig, out_dir / "pck.png")
        rows = [{"finger": n, "pck@0.2": fingers[n]["pck"], "epe (input px)": fingers[n]["epe"]} for n in names]
        return [("PCK curve and per-finger accuracy", [curves, rp.html_table(rows)]),
                ("Predictions (right) against targets (left), worst first", [grid])]


TASK = HandKeypointsTask()
