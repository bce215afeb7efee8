"""DetectionTask: "find every object of these classes in a photo", for any detector task (hands, clocks).

Nothing here is about hands. A detection task declares its classes, its input size and its data; this base
supplies the rest of the task hooks:

    photo ─► padded to a square, resized (SIZE) ─► CenterNet (models/centernet.py) ─► peaks ─► boxes
    target: (MAX_BOXES, 5) rows x0, y0, x1, y1, class (class -1 = padding), in the photo's pixels

- loss: CenterNet's penalty-reduced focal loss on the centre heatmaps (Gaussian bumps sized by the box), and
  L1 on log box size and sub-cell offset at each centre;
- decoding: a 3x3 max filter keeps local peaks, the top `TOP_K` above `MIN_SCORE` become boxes, and greedy
  NMS drops duplicates; the shipped `threshold` (best F1 on validation at IoU 0.5) decides what is answered;
- metrics (metrics/detection.py): AP@0.5, AP@0.5:0.95, recall and false detections per image at the
  threshold, recall per box size;
- augmentation: zoom in and out, shift, small rotation, flip and colour, the boxes moved with the image.

Targets are padded to a fixed number of rows so the shared tensor machinery (packing, batching, bootstrap)
works unchanged; a photo with no object is a valid sample (all rows padding).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import augment as aug
from ..data.images import square_offsets, square_rgb
from ..errors import GlanceError
from ..metrics import detection as dm
from ..models.centernet import STRIDE, CenterNet
from ..synth.scenes import RenderObject, scene
from .base import Infer, Prediction, Task

MAX_BOXES = 16
TOP_K = 20
MIN_SCORE = 0.05


@dataclass
class DetectionPrediction(Prediction):
    """label: how many objects were found ("2 hands"); confidence: the best score (0 when none);
    `objects`: each {"box": [x0, y0, x1, y1] in the photo's pixels, "score": s, "label": class}."""

    objects: list[dict[str, Any]] = field(default_factory=list)

    def columns(self) -> dict[str, Any]:
        return {"boxes": json.dumps([[*(round(v, 1) for v in o["box"]), round(o["score"], 3)] for o in self.objects])}


def boxes_in_model(boxes: np.ndarray, shape: tuple[int, ...], size: int) -> np.ndarray:
    """Photo pixels → pixels of the padded, resized model input (the mapping `square_rgb` makes)."""
    side, pad_x, pad_y = square_offsets(shape)
    out = np.asarray(boxes, np.float32).copy()
    out[:, [0, 2]] = (out[:, [0, 2]] + pad_x) * size / side
    out[:, [1, 3]] = (out[:, [1, 3]] + pad_y) * size / side
    return out


def boxes_in_photo(boxes: np.ndarray, shape: tuple[int, ...], size: int) -> np.ndarray:
    """The inverse of `boxes_in_model`, clipped to the photo."""
    side, pad_x, pad_y = square_offsets(shape)
    out = np.asarray(boxes, np.float64).copy()
    out[:, [0, 2]] = np.clip(out[:, [0, 2]] * side / size - pad_x, 0, shape[1])
    out[:, [1, 3]] = np.clip(out[:, [1, 3]] * side / size - pad_y, 0, shape[0])
    return out


def decode_maps(outputs: np.ndarray | torch.Tensor, num_classes: int, top_k: int = TOP_K,
                min_score: float = MIN_SCORE, nms_iou: float = 0.5) -> list[np.ndarray]:
    """Raw outputs (N, C+4, H, W) → per image a (K, 6) array x0, y0, x1, y1, score, class in model pixels,
    best first."""
    out = torch.as_tensor(np.asarray(outputs, np.float32)) if not isinstance(outputs, torch.Tensor) else outputs
    out = out.float()
    n, _, h, w = out.shape
    heat = torch.sigmoid(out[:, :num_classes])
    peaks = heat * (F.max_pool2d(heat, 3, 1, 1) == heat)
    scores, idx = peaks.reshape(n, -1).topk(min(top_k, num_classes * h * w))
    cls = torch.div(idx, h * w, rounding_mode="floor")
    cell = idx % (h * w)
    cy, cx = torch.div(cell, w, rounding_mode="floor"), cell % w
    reg = out[:, num_classes:].reshape(n, 4, h * w)
    gathered = reg.gather(2, cell[:, None, :].expand(n, 4, cell.shape[1]))  # (N, 4, K)
    bw, bh = torch.exp(gathered[:, 0].clamp(-6, 6)) * STRIDE, torch.exp(gathered[:, 1].clamp(-6, 6)) * STRIDE
    px = (cx.float() + gathered[:, 2] + 0.5) * STRIDE
    py = (cy.float() + gathered[:, 3] + 0.5) * STRIDE
    boxes = torch.stack([px - bw / 2, py - bh / 2, px + bw / 2, py + bh / 2, scores, cls.float()], -1).numpy()
    result = []
    for b in boxes:
        b = b[b[:, 4] >= min_score].astype(np.float64)
        result.append(b[dm.nms(b[:, :4], b[:, 4], nms_iou)] if len(b) else np.zeros((0, 6)))
    return result


def truth_rows(targets: np.ndarray) -> list[np.ndarray]:
    """(N, MAX_BOXES, 5) padded targets → per image its (M, 5) real rows."""
    return [t[t[:, 4] >= 0].astype(np.float64) for t in np.asarray(targets)]


class DetectionTask(Task):
    """Base of the detector tasks; subclasses set `name`, `labels` (classes), data and `objects_key`."""

    input_size: ClassVar[tuple[int, int]] = (192, 192)
    channels = 3
    select_metric = "val_ap50"
    select_mode = "max"
    target_columns = ("boxes",)
    objects_key: ClassVar[str] = "objects"     # what a pipeline calls the found things in its output ("hands")
    default_threshold: ClassVar[float] = 0.3  # before calibration fits one
    # Zoom range of augmentation: <1 makes objects smaller (the photo shrinks into a grey border), >1 larger.
    zoom: ClassVar[tuple[float, float]] = (0.55, 1.4)
    # Boxes overlapping a more confident one by this IoU are dropped (non-maximum suppression).
    nms_iou: ClassVar[float] = 0.5

    @property
    def size(self) -> int:
        return self.input_size[0]

    # ---- data -------------------------------------------------------------------------------
    def readers(self) -> list[Any]:
        from ..data.box_readers import BOX_READERS
        return list(BOX_READERS)

    def class_index(self, label: str) -> int | None:
        """A box's label → class index; one-class tasks take every box (a HaGRID "palm" is a hand), others
        skip boxes of classes they do not have (None)."""
        if len(self.labels) == 1:
            return 0
        return self.labels.index(label) if label in self.labels else None

    def make_target(self, boxes: list[tuple[float, float, float, float, int]], where: str = "") -> np.ndarray:
        if len(boxes) > MAX_BOXES:
            raise GlanceError(f"{where}: {len(boxes)} boxes in one image; at most {MAX_BOXES} are supported")
        t = np.full((MAX_BOXES, 5), -1.0, np.float32)
        for i, (x0, y0, x1, y1, c) in enumerate(boxes):
            if not (x1 > x0 and y1 > y0):
                raise GlanceError(f"{where}: box {[x0, y0, x1, y1]} has no area (expected x0 < x1, y0 < y1)")
            t[i] = (x0, y0, x1, y1, c)
        return t

    def parse_target(self, raw: dict[str, str], where: str = "") -> np.ndarray:
        """`boxes`: JSON [[x0, y0, x1, y1], ...] or [[x0, y0, x1, y1, "label"], ...] in pixels; [] = none."""
        try:
            rows = json.loads(raw.get("boxes", ""))
            assert isinstance(rows, list)
            parsed = []
            for r in rows:
                assert isinstance(r, list) and len(r) in (4, 5)
                c = self.class_index(str(r[4])) if len(r) == 5 else 0
                if c is not None:
                    parsed.append((*(float(v) for v in r[:4]), c))
        except (ValueError, TypeError, AssertionError):
            raise GlanceError(f"{where}: boxes must be JSON [[x0, y0, x1, y1(, label)], ...]") from None
        return self.make_target(parsed, where)  # type: ignore[arg-type]

    def render_scene(self, rng: np.random.Generator, split: str, photos: Sequence[np.ndarray], render: RenderObject,
                     counts: Sequence[float] = (0.1, 0.45, 0.25, 0.1, 0.1), sizes: tuple[float, float] = (0.08, 0.7)
                     ) -> tuple[np.ndarray, np.ndarray]:
        """A rendered scene and its target, for a subclass's `synthesize`: objects from `render` pasted into a
        landscape, portrait or square frame (synth/scenes.py); the test split uses the other half of the photos."""
        pool = photos[1::2] if split == "test" else photos[0::2]
        shape = ((240, 320), (320, 240), (256, 256))[int(rng.choice(3, p=[0.6, 0.2, 0.2]))]
        img, boxes = scene(rng, render, pool, shape, counts, sizes)
        return img, self.make_target([(*b, 0) for b in boxes.tolist()])

    def collate_targets(self, targets: list[Any]) -> torch.Tensor:
        return torch.as_tensor(np.asarray(targets, np.float32).reshape(-1, MAX_BOXES, 5))

    def target_str(self, target: Any) -> str:
        n = int((np.asarray(target)[:, 4] >= 0).sum())
        return f"{n} {self.objects_key if n != 1 else self.labels[0]}"

    def distribution_key(self, target: Any) -> str:
        n = int((np.asarray(target)[:, 4] >= 0).sum())
        return f"{min(n, 4)}{'+' if n >= 4 else ''} per image"

    def target_columns_dict(self, target: Any) -> dict[str, Any]:
        rows = [[*(round(float(v), 1) for v in r[:4]), self.labels[int(r[4])]] for r in truth_rows(target[None])[0]]
        return {"boxes": json.dumps(rows)}

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        return square_rgb(image, self.size)

    def preprocess_sample(self, image: np.ndarray, target: Any) -> tuple[np.ndarray, Any]:
        t = np.asarray(target, np.float32).copy()
        real = t[:, 4] >= 0
        if real.any():
            t[real, :4] = boxes_in_model(t[real, :4], image.shape, self.size)
        return self.preprocess(image), t

    def pack_image(self, image: np.ndarray, target: Any) -> tuple[np.ndarray, Any]:
        x, t = self.preprocess_sample(image, target)
        return np.clip((x.transpose(1, 2, 0) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8), t

    def augment(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Zoom (`zoom`), shift up to a quarter of the image, rotation ±10°, flip, with boxes mapped through the
        same transform (the box around the moved corners); a box left less than 40% inside the image is dropped.
        Then colour cast, brightness, contrast, and greyscale for one image in five."""
        b, dev, s = x.shape[0], x.device, x.shape[-1]
        lo, hi = self.zoom
        zoom = lo + torch.rand(b, device=dev) * (hi - lo)
        theta = aug.random_affine_theta(x, degrees=10, shift_px=s * 0.25, hflip=0.5)
        theta[:, :, :2] = theta[:, :, :2] / zoom[:, None, None]
        x = aug.sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), padding="zeros")
        real = y[..., 4] >= 0
        corners = torch.stack([y[..., [0, 1]], y[..., [2, 1]], y[..., [0, 3]], y[..., [2, 3]]], 2)  # (B, M, 4, 2)
        moved = aug.map_points(theta, corners.reshape(b, -1, 2), s, s).reshape(b, -1, 4, 2)
        box = torch.cat([moved.min(2).values, moved.max(2).values], -1)
        area = (box[..., 2] - box[..., 0]) * (box[..., 3] - box[..., 1])
        box = box.clamp(0, s)
        inside = (box[..., 2] - box[..., 0]) * (box[..., 3] - box[..., 1])
        keep = real & (inside >= 0.4 * area) & (box[..., 2] - box[..., 0] >= 2) & (box[..., 3] - box[..., 1] >= 2)
        y = torch.where(keep[..., None], torch.cat([box, y[..., 4:]], -1), torch.full_like(y, -1.0))
        gain = 1 + (torch.rand(b, 3, 1, 1, device=dev) * 2 - 1) * 0.15
        x = x * gain * (0.6 + 0.7 * torch.rand(b, 1, 1, 1, device=dev)) + (torch.rand(b, 1, 1, 1, device=dev) * 2 - 1) * 0.2
        grey = aug.per_image(b, 0.2, dev)
        x = torch.where(grey, x.mean(1, keepdim=True).expand_as(x), x)
        return x.clamp(-1, 1), y

    # ---- model ------------------------------------------------------------------------------
    def build_model(self, **kwargs: Any) -> nn.Module:
        return CenterNet(self.channels, len(self.labels), **kwargs)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Focal loss on the centre heatmaps + L1 on log size and offset at the centres (see module docstring)."""
        c = len(self.labels)
        n, _, h, w = outputs.shape
        heat_target = torch.zeros(n, c, h, w, device=outputs.device)
        gy = torch.arange(h, dtype=torch.float32, device=outputs.device)[:, None]
        gx = torch.arange(w, dtype=torch.float32, device=outputs.device)[None, :]
        reg_idx, reg_img, reg_target = [], [], []
        for i, j in zip(*torch.nonzero(targets[..., 4] >= 0, as_tuple=True)):
            x0, y0, x1, y1, cls = targets[i, j]
            cx, cy = (x0 + x1) / 2 / STRIDE - 0.5, (y0 + y1) / 2 / STRIDE - 0.5
            bw, bh = (x1 - x0) / STRIDE, (y1 - y0) / STRIDE
            ix, iy = int(cx.round().clamp(0, w - 1)), int(cy.round().clamp(0, h - 1))
            # Bump widths grow with the box (TTFNet's alpha 0.54 ≈ a sixth of the box each way).
            sx, sy = max(0.8, float(bw) / 6), max(0.8, float(bh) / 6)
            bump = torch.exp(-((gx - ix) ** 2) / (2 * sx * sx) - ((gy - iy) ** 2) / (2 * sy * sy))
            k = int(cls)
            heat_target[i, k] = torch.maximum(heat_target[i, k], bump)
            heat_target[i, k, iy, ix] = 1.0
            reg_img.append(int(i))
            reg_idx.append(iy * w + ix)
            reg_target.append(torch.stack([torch.log(bw.clamp(min=0.5)), torch.log(bh.clamp(min=0.5)),
                                           cx - ix, cy - iy]))
        pred = torch.sigmoid(outputs[:, :c].float()).clamp(1e-4, 1 - 1e-4)
        pos = heat_target.eq(1).float()
        pos_loss = -(torch.log(pred) * (1 - pred) ** 2 * pos).sum()
        neg_loss = -(torch.log(1 - pred) * pred ** 2 * (1 - heat_target) ** 4 * (1 - pos)).sum()
        n_pos = max(1.0, float(pos.sum()))
        loss = (pos_loss + neg_loss) / n_pos
        if reg_img:
            reg = outputs[:, c:].float().reshape(n, 4, h * w)
            got = reg[torch.tensor(reg_img), :, torch.tensor(reg_idx)]  # (P, 4)
            want = torch.stack(reg_target)
            loss = loss + F.l1_loss(got[:, :2], want[:, :2]) + F.l1_loss(got[:, 2:], want[:, 2:])
        return loss

    # ---- decoding and metrics ---------------------------------------------------------------
    def detections(self, outputs: np.ndarray) -> list[np.ndarray]:
        return decode_maps(outputs, len(self.labels), nms_iou=self.nms_iou)

    def decode(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[Prediction]:
        thr = float(meta.get("threshold", self.default_threshold))
        preds: list[Prediction] = []
        for d in self.detections(outputs):
            d = d[d[:, 4] >= thr]
            objects = [{"box": [float(v) for v in r[:4]], "score": float(r[4]), "label": self.labels[int(r[5])]}
                       for r in d]
            preds.append(DetectionPrediction(self.count_label(len(objects)),
                                             float(d[0, 4]) if len(d) else 0.0, objects))
        return preds

    def count_label(self, n: int) -> str:
        return f"{n} {self.labels[0] if n == 1 else self.objects_key}"

    def finalize(self, prediction: Prediction, image_shape: tuple[int, ...]) -> Prediction:
        if not isinstance(prediction, DetectionPrediction) or not prediction.objects:
            return prediction
        boxes = boxes_in_photo(np.asarray([o["box"] for o in prediction.objects]), image_shape, self.size)
        # A box squeezed to a sliver by the photo's edge (found in the padding) is no object.
        objects = [{**o, "box": [round(float(v), 1) for v in b]} for o, b in zip(prediction.objects, boxes)
                   if b[2] - b[0] >= 2 and b[3] - b[1] >= 2]
        return DetectionPrediction(self.count_label(len(objects)), max((o["score"] for o in objects), default=0.0),
                                   objects)

    def evaluate(self, outputs: np.ndarray, targets: np.ndarray, meta: dict[str, Any] | None = None
                 ) -> dict[str, float]:
        thr = float((meta or {}).get("threshold", self.default_threshold))
        return dm.detection_report(self.detections(outputs), truth_rows(targets), thr, self.size)

    def calibrate(self, outputs: np.ndarray, targets: np.ndarray) -> dict[str, Any]:
        thr = dm.best_f1_threshold(self.detections(outputs), truth_rows(targets))
        return {"threshold": max(thr, MIN_SCORE), "threshold_rule": "the score with the best F1 at IoU 0.5 on "
                                                                    "validation"}

    def visualize(self, image: np.ndarray, prediction: Prediction) -> np.ndarray:
        img = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        objects = getattr(prediction, "objects", [])
        return draw_boxes(img, [o["box"] for o in objects], [f"{o['label']} {o['score']:.2f}" for o in objects])

    def report(self, outputs: np.ndarray, targets: np.ndarray, images: np.ndarray, ids: list[str],
               meta: dict[str, Any], out_dir: Path, infer: Infer | None = None) -> list[tuple[str, list]]:
        """A precision-recall curve at IoU 0.5 and the validation photos, the worst first (missed and false
        objects), predictions in yellow over the true boxes in green."""
        import matplotlib.pyplot as plt

        from ..runs import report as rp
        preds, truths = self.detections(outputs), truth_rows(targets)
        thr = float(meta.get("threshold", self.default_threshold))
        _, tp, n_true, _ = dm.match(preds, truths, 0.5)
        ap, precision, recall = dm.average_precision(tp, n_true)
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(recall, precision)
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.01), ylim=(0, 1.01),
               title=f"precision-recall at IoU 0.5 (AP {ap:.3f})")
        ax.grid(alpha=0.3)
        curve = rp._save(fig, out_dir / "pr_curve.png")
        errors = []
        for p, t in zip(preds, truths):
            kept = p[p[:, 4] >= thr]
            _, tpi, _, found = dm.match([kept], [t], 0.5)
            errors.append((int((~found[0]).sum()), int((~tpi).sum())))
        order = sorted(range(len(preds)), key=lambda i: (-sum(errors[i]), i))[:32]
        tiles = []
        for i in order:
            img = np.clip((images[i].transpose(1, 2, 0) + 1) * 127.5, 0, 255).astype(np.uint8)
            img = draw_boxes(img, truths[i][:, :4], [""] * len(truths[i]), (0, 200, 0))
            kept = preds[i][preds[i][:, 4] >= thr]
            tiles.append(draw_boxes(img, kept[:, :4], [f"{s:.2f}" for s in kept[:, 4]], (255, 220, 0)))
        grid = rp.image_grid(tiles, [f"{ids[i]}: {errors[i][0]} missed, {errors[i][1]} false" for i in order],
                             out_dir / "val_detections.png", ncols=4,
                             colors=["red" if sum(errors[i]) else "green" for i in order])
        return [("Precision-recall (validation)", [curve]),
                (f"Validation photos, worst first (threshold {thr:.2f}; true boxes green, found yellow)", [grid])]


def draw_boxes(img: np.ndarray, boxes: Any, texts: list[str], color: tuple[int, int, int] = (255, 220, 0)
               ) -> np.ndarray:
    """Boxes (x0, y0, x1, y1) with a caption each, drawn on a copy of an RGB image."""
    out = img.copy()
    thick = max(1, int(round(max(img.shape[:2]) / 300)))
    for b, text in zip(np.asarray(boxes, np.float64).reshape(-1, 4), texts):
        x0, y0, x1, y1 = (int(round(v)) for v in b)
        cv2.rectangle(out, (x0, y0), (x1, y1), color, thick, cv2.LINE_AA)
        if text:
            scale = max(0.35, max(img.shape[:2]) / 900)
            org = (x0 + 2, max(int(12 * scale / 0.4), y0 - 4))
            cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
            cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)
    return out
