"""gestures: a hand image → one of 9 static gestures, or "no_gesture" when nothing fits.

Labels: one, two, three, four, five, like, dislike, ok, fist. "three" is index + middle + ring (as in the
HANDS data set); "two" is index + middle (HaGRID's two_up / peace). The input is a hand crop (a
detector's box with a margin, the recorder's box, or a photo framed on the hand), padded to a square,
96x96 RGB. The best epoch is the one with the highest weighted F1 on validation (the task's origin
selected models that way); below a confidence fitted on validation the answer is "no_gesture", and
random hand poses rendered by the hand generator are trained towards "unsure" (outlier exposure).

Data: `--data synth` renders the 9 gestures with the articulated hand generator (glancekit/synth/hands.py);
readers take HaGRID (per-gesture JSON with normalised boxes; names mapped onto ours, others ignored),
the HANDS layout (labels.csv with one box per hand), a class folder per gesture or a CSV file,label.
"""
from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import augment as aug
from ..data.images import IMAGE_EXTENSIONS, crop_box, load_image, square_rgb
from ..data.readers import Samples, photo_groups
from ..errors import GlanceError
from ..models import MobileNetV2
from ..synth import hands as synth_hands
from .base import ClassificationTask, Infer, Task, TrustedThreshold

SIZE = 96
NO_GESTURE = "no_gesture"
# Other data sets' names for our gestures. HaGRID: palm = five, two_up / peace = two. HANDS: "N-hand".
SYNONYMS = {"palm": "five", "two_up": "two", "peace": "two", "thumbs_up": "like", "thumbs_down": "dislike",
            "0-hand": "fist", "1-hand": "one", "2-hand": "two", "3-hand": "three", "4-hand": "four",
            "5-hand": "five", "0": "fist", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five"}
def _label_name(raw: str) -> str:
    name = raw.strip().lower()
    return SYNONYMS.get(name, name)


class HandsBoxReader:
    """HANDS-style: labels.csv with `file,label,xmin,ymin,xmax,ymax` (pixels), one row per hand; each box
    is cropped with a margin. Rows whose label is not one of ours are skipped (counted in meta)."""

    name = "hand-boxes"

    def can_read(self, path: Path) -> bool:
        csv_path = path / "labels.csv" if path.is_dir() else path
        if not (csv_path.is_file() and csv_path.suffix == ".csv"):
            return False
        with open(csv_path, encoding="utf-8") as f:
            header = f.readline().strip().split(",")
        return {"file", "label", "xmin", "ymin", "xmax", "ymax"} <= set(header)

    def read(self, path: Path, task: Task) -> Samples:
        import csv
        csv_path = path / "labels.csv" if path.is_dir() else path
        with open(csv_path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        items, targets, ids, skipped = [], [], [], 0
        cache: dict[str, np.ndarray] = {}
        for line, r in enumerate(rows, start=2):
            label = _label_name(r.get("label") or "")
            if label not in task.labels:
                skipped += 1
                continue
            rel = (r.get("file") or "").strip()
            img_path = next((b / rel for b in (csv_path.parent, csv_path.parent / "images") if (b / rel).is_file()), None)
            if img_path is None:
                raise GlanceError(f"{csv_path}:{line}: image '{rel}' not found next to the CSV or in images/")
            try:
                box = [float(r[k]) for k in ("xmin", "ymin", "xmax", "ymax")]
            except (TypeError, ValueError):
                raise GlanceError(f"{csv_path}:{line}: xmin, ymin, xmax, ymax must be numbers") from None
            if rel not in cache:
                cache = {rel: load_image(img_path)}  # rows of one image are adjacent: keep only the last
            items.append(crop_box(cache[rel], box))
            targets.append(task.parse_target({"label": label}, where=f"{csv_path.name}:{line}"))
            ids.append(f"{rel}#{line}")
        return Samples(items, targets, ids, str(csv_path), {"skipped_rows": skipped},
                       groups=photo_groups(ids))  # the boxes of one photo split together


class HaGRIDReader:
    """HaGRID: `annotations/**/<gesture>.json` ({image_id: {"bboxes": [[x, y, w, h] normalised], "labels":
    [...]}}) and full frames somewhere below the folder as `<image_id>.jpg`. Each box whose label maps onto
    ours is cropped with a margin; HaGRID's other gestures and no_gesture boxes are ignored."""

    name = "hagrid"

    def can_read(self, path: Path) -> bool:
        from ..data.box_readers import looks_like_hagrid
        return looks_like_hagrid(path)

    def read(self, path: Path, task: Task) -> Samples:
        root = path if path.is_dir() else path.parent
        index = {p.stem: p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS}
        from ..data.box_readers import hagrid_jsons
        items, targets, ids = [], [], []
        for jf in hagrid_jsons(path):
            try:
                ann = json.loads(jf.read_text())
            except ValueError as e:
                raise GlanceError(f"{jf}: not valid JSON ({e})") from None
            for image_id, a in ann.items():
                boxes, labels = a.get("bboxes", []), a.get("labels", [])
                wanted = [(b, _label_name(lab)) for b, lab in zip(boxes, labels) if _label_name(lab) in task.labels]
                if not wanted:
                    continue
                img_path = index.get(image_id)
                if img_path is None:
                    raise GlanceError(f"{jf}: image '{image_id}' not found under {root}")
                img = load_image(img_path)
                h, w = img.shape[:2]
                for k, (b, lab) in enumerate(wanted):
                    x, y, bw, bh = (float(v) for v in b)
                    items.append(crop_box(img, (x * w, y * h, (x + bw) * w, (y + bh) * h)))
                    targets.append(task.parse_target({"label": lab}, where=str(jf)))
                    ids.append(f"{image_id}#{k}")
        return Samples(items, targets, ids, str(path), groups=photo_groups(ids))


class GesturesTask(TrustedThreshold, ClassificationTask):
    name = "gestures"
    labels = synth_hands.GESTURES
    reject_label = NO_GESTURE
    input_size = (SIZE, SIZE)
    channels = 3
    select_metric = "val_weighted_f1"
    select_mode = "max"
    default_data = "synth:test:1800"
    real_sources = ("gestures/hands_dataset", "gestures/web/*")
    synth_backgrounds = "gestures/hands_dataset/images"
    detector = "hands"  # whole photos: find each hand, then read its gesture …
    companions = ("hand_keypoints",)  # … and its 21 keypoints
    outlier_share = 0.1  # share of training renders that are random poses (target -1, "no gesture")
    # Real pictures with no hand in them (faces, clothes, walls: what a finder's false box holds), trained
    # towards "unsure" too: patches of these box-labelled photos that no hand box touches (data/negatives.py),
    # from the even half of the photos (the odd half measures rejection). Skipped when the folder is absent.
    negatives = "gestures/hands_dataset"
    negative_share = 0.1  # share of training samples that are such patches (target -1)
    negative_bank_size = 3000
    facing = 60.0  # renders show the palm or the back within this many degrees of the camera (see render_hand)
    # The shipped model: build_model's defaults widened to 567k parameters (underfitting at 150k: training
    # loss stayed above validation loss), still about 1 ms batch-1 on CPU. build_model keeps the narrow
    # defaults so weights saved with `model: {}` keep loading.
    train_defaults = {"data": "synth", "epochs": 28, "batch": 64, "lr": 3e-3, "optimizer": "adamw",
                      "schedule": "cosine", "weight_decay": 5e-4, "epoch_size": 9000, "val_size": 900,
                      "augment": True, "model": {"stages": [[1, 16, 1, 1], [4, 32, 2, 2], [4, 48, 2, 2],
                                                            [4, 96, 3, 2], [4, 144, 2, 1]], "head": 384}}

    def readers(self) -> list[Any]:
        return [HaGRIDReader(), HandsBoxReader()]

    def parse_target(self, raw: dict[str, str], where: str = "") -> int:
        return super().parse_target({**raw, "label": _label_name(raw.get("label", ""))}, where)

    def synthesize(self, rng: np.random.Generator, split: str, photos: Sequence[np.ndarray]
                   ) -> tuple[np.ndarray, int]:
        """A rendered hand in one of the gestures (equal shares); training adds random poses and real
        hand-free patches (`negatives`) as -1."""
        pool = photos[1::2] if split == "test" else photos[0::2]
        draw = rng.random() if split == "train" else 1.0
        if draw < self.outlier_share:
            return synth_hands.render_hand(rng, SIZE, gesture="random", photos=pool, facing=self.facing).image, -1
        if draw < self.outlier_share + self.negative_share and self.negative_bank:
            return self.negative_bank[int(rng.integers(len(self.negative_bank)))], -1
        g = int(rng.integers(len(self.labels)))
        return synth_hands.render_hand(rng, SIZE, gesture=self.labels[g], photos=pool,
                                       facing=self.facing).image, g

    @cached_property
    def negative_bank(self) -> list[np.ndarray]:
        """The hand-free training patches (built once per process, on first use; empty without the photos)."""
        from ..data.locations import data_root
        from ..data.negatives import object_free_patches
        folder = data_root() / self.negatives if self.negatives and self.negative_share > 0 else None
        if folder is None or not folder.is_dir():
            return []
        return object_free_patches(folder, self.detector, self.negative_bank_size, SIZE, part="even")

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """Any hand crop → padded to a square (edge pixels repeated), 96x96 RGB in [-1, 1]."""
        return square_rgb(image, SIZE)

    def augment(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flip (a left hand's gesture is the same gesture), rotation ±20° (more would turn a like into
        something else), scale ±15%, shift, colour and brightness."""
        b, dev = x.shape[0], x.device
        theta = aug.random_affine_theta(x, degrees=20, scale=0.15, shift_px=6, hflip=0.5)
        x = aug.sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), padding="border")
        gain = 1 + (torch.rand(b, 3, 1, 1, device=dev) * 2 - 1) * 0.15
        x = x * gain * (0.7 + 0.6 * torch.rand(b, 1, 1, 1, device=dev)) + (torch.rand(b, 1, 1, 1, device=dev) * 2 - 1) * 0.2
        return x.clamp(-1, 1), y

    def build_model(self, fuse: dict[str, Any] | None = None, flip_average: bool = False, **kwargs: Any) -> nn.Module:
        """The image classifier; with `fuse` ({"weight", "keypoints", "reader"}: the keypoint side's
        weight and model kwargs) the fused model of gestures_kp.FusedGestures around it; `flip_average`:
        the mean answer of the image and its mirror image (models/flip.py; gestures read the same mirrored)."""
        if flip_average:
            from ..models import FlipAverage
            return FlipAverage(self.build_model(fuse, **kwargs))
        if fuse is not None:
            from . import get
            from .gestures_kp import FusedGestures
            return FusedGestures(self.build_model(**kwargs), get("hand_keypoints").build_model(**fuse["keypoints"]),
                                 get("gestures_kp").build_model(**fuse["reader"]), fuse["weight"])
        cfg = {"stem": 24, "stem_stride": 2, "stages": ((1, 16, 1, 1), (4, 24, 2, 2), (4, 32, 2, 2), (4, 64, 2, 2),
                                                         (4, 96, 1, 1)), "head": 256, "dropout": 0.2, **kwargs}
        return MobileNetV2(self.channels, len(self.labels), **cfg)

    def trainable_checkpoint(self, ckpt: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """A fused model fine-tunes its image classifier only: the keypoint side was trained on its own
        data and loss, and CE through the mix would pull it away from keypoints."""
        from ..models import bare_for_training
        ckpt, note = bare_for_training(ckpt)
        if "fuse" not in ckpt["model_kwargs"]:
            return ckpt, note
        kwargs = {k: v for k, v in ckpt["model_kwargs"].items() if k != "fuse"}
        state = {k.removeprefix("image_net."): v for k, v in ckpt["state_dict"].items() if k.startswith("image_net.")}
        return ({**ckpt, "model_kwargs": kwargs, "state_dict": state},
                "--init is a fused model: fine-tuning its image classifier; fuse the result again with "
                "glance fuse gestures --image W (--flip for mirror averaging) before shipping it")

    def extra_metrics(self, outputs: np.ndarray, targets: np.ndarray, infer: Any, meta: dict[str, Any]
                      ) -> dict[str, float]:
        return self.rejection_stats(outputs, targets, meta)

    def source_figures(self, infer: Infer, meta: dict[str, Any], path: Path, samples: Samples | None = None,
                       outputs: np.ndarray | None = None) -> dict[str, float]:
        """`no_hand_rejected`: the share of 300 patches of the source's photos that touch no hand box
        answered `no_gesture` (the other direction of rejection; from the odd half of the `negatives`
        photos, whose even half trains). Sources that are crops, not boxed photos, have none."""
        from ..data.locations import data_root
        from ..data.negatives import object_free_patches
        if (path / "labels.csv" if path.is_dir() else path).suffix != ".csv":
            return {}
        trains = self.negatives is not None and path.resolve() == (data_root() / self.negatives).resolve()
        try:
            patches = object_free_patches(path, self.detector, 300, SIZE, seed=1, part="odd" if trains else "all")
        except GlanceError:
            return {}
        if not patches:
            return {}
        return {"no_hand_rejected": float(self.unsure(infer(np.stack([self.preprocess(p) for p in patches])),
                                                      meta).mean())}


TASK = GesturesTask()
