"""clock: a photo of an analog clock → the time, 12-hour, to the minute ("10:35").

Not 720 classes: the model has four heads in one output row (so ONNX export stays one tensor),
    [0:12)  hour logits        (the hour of the time read to the nearest minute mark)
    [12:72) minute logits      (trained with circular soft targets: 59 is next to 0)
    [72:74) sin, cos of the hour hand's angle   (continuous: 10:30 points half-way between 10 and 11)
    [74:76) sin, cos of the minute hand's angle
Decoding scores all 720 times at once: hour logit + minute logit + how well the regressed hour-hand
angle agrees with where the hour hand stands at that time. Near the top of the hour the hour hand is
almost at the next number, and this keeps "hour" consistent with "minute" (no 2:58 read as 3:58). The
confidence is the probability of being right to within a minute, made honest by a temperature fitted on
validation (`calibrate`, stored with the weights).

A clock in a mirror shows another time, but a known one (`mirror_time`). So the model can also read
the mirror image and average both readings (`model: {flip_average: true}`, `ClockMirror`), and
training can mirror images with their mirrored times (`augment: true`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.images import IMAGE_EXTENSIONS, square_rgb
from ..data.readers import Samples
from ..errors import GlanceError
from ..metrics.calibration import expected_calibration_error, reliability
from ..metrics.clock import clock_report, time_error
from ..models import FlipAverage, SmallCNN, bare_for_training
from ..synth import clock as synth_clock
from .base import Infer, Prediction, Task, display_image, soft_cross_entropy, softmax

SIZE = 144
N_OUT = 12 + 60 + 2 + 2
# How far training renders turn clocks that show "up" by numerals or outline (validation and the benchmark:
# synth_clock.MAX_TURN, 25°). At the edge of its training range a net under-reads the turn: the net shipped
# on 2026-11-28 read 98.3% of benchmark clocks turned under 16° to within a minute, 93.4% of those turned
# 16–25° (35 of its 60 misses). Fine-tuned at 35° (2026-11-28, 11 epochs, two runs), turns of 16–25° rose to
# 95.3% and small turns fell to 97.4%; on 6,000 validation renders it read 96.6% against 97.1% (97.7% against
# 97.6% mirror-averaged), so the default stays 25° until a longer run from scratch settles it.
TRAIN_MAX_TURN = synth_clock.MAX_TURN
_TIME = re.compile(r"^(\d{1,2})\s*[-_:hH.]\s*(\d{1,2})(?!\d)")


@dataclass
class ClockPrediction(Prediction):
    """label "h:mm"; hour 1–12 as people read it, minute 0–59."""

    hour: int = 12
    minute: int = 0

    def columns(self) -> dict[str, Any]:
        return {"hour": self.hour, "minute": self.minute}

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "time": self.label}


def parse_time(text: str) -> tuple[int, int] | None:
    """'10-35', '10_35', '10:35', '10h35', '7-5' → (10, 35); hour 12 becomes 0. None when no time."""
    m = _TIME.match(text.strip())
    if not m:
        return None
    h, mi = int(m.group(1)), int(m.group(2))
    if not (0 <= h <= 12 and 0 <= mi <= 59):
        return None
    return h % 12, mi


class TimeNameReader:
    """A folder of images whose file names start with the time: `10-35.jpg`, `7_05_kitchen.png`."""

    name = "time-in-filename"

    def _files(self, path: Path) -> list[Path]:
        if not path.is_dir() or (path / "labels.csv").exists():
            return []
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)

    def can_read(self, path: Path) -> bool:
        files = self._files(path)
        return bool(files) and all(parse_time(f.stem) is not None for f in files)

    def read(self, path: Path, task: Task) -> Samples:
        files = self._files(path)
        targets = [task.parse_target({"label": f.stem}, where=str(f)) for f in files]
        return Samples(list(files), targets, [f.name for f in files], str(path))


def mirror_time(hour: Any, minute: Any) -> tuple[Any, Any]:
    """The time a clock showing hour:minute reads in a mirror (a horizontal flip of its photo).

    Each hand's angle θ becomes -θ. A time is read to the minute mark the minute hand is nearest to, so the
    hand lies within half a minute of m and its mirror within half a minute of 60-m: it reads (60-m) % 60.
    The time as a whole, 60h + m minutes, becomes 720 - 60h - m: hour 11-h, or 12-h on the hour (3:00 → 9:00,
    3:10 → 8:50). An involution: mirroring twice gives the time back. Works on ints and tensors."""
    on_the_hour = minute == 0
    if isinstance(on_the_hour, torch.Tensor):
        on_the_hour = on_the_hour.long()
    return (11 - hour + on_the_hour) % 12, (60 - minute) % 60


class ClockMirror(nn.Module):
    """Model outputs for a mirrored clock → the outputs for the clock itself: hour and minute logits
    re-indexed by `mirror_time`, the sine of each hand's angle negated. With `FlipAverage` the model
    reads each photo twice, as it is and in the mirror, and averages what the two views say.
    The hour logits are re-indexed as for minutes 1–59 (h → 11-h): logits cannot follow the minute, so on
    the hour the mirror view's hour points one low, and the hour hand's angle, mirrored exactly, sets it right
    in the joint decoding (`time_scores`)."""

    def __init__(self) -> None:
        super().__init__()
        hour, minute = (11 - torch.arange(12)) % 12, (60 - torch.arange(60)) % 60
        perm = torch.cat([hour, 12 + minute, torch.arange(72, N_OUT)])
        sign = torch.ones(N_OUT)
        sign[[72, 74]] = -1.0
        # Not persistent: they are fixed by the output layout, not learned, and weights files stay as they were.
        self.register_buffer("perm", perm, persistent=False)
        self.register_buffer("sign", sign, persistent=False)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y[:, self.perm] * self.sign


def _circular_soft(index: torch.Tensor, n: int, sigma: float) -> torch.Tensor:
    """One soft target row per index: a Gaussian around it, wrapped round the dial of n bins."""
    bins = torch.arange(n, device=index.device, dtype=torch.float32)
    d = (bins[None, :] - index[:, None].float()).abs()
    d = torch.minimum(d, n - d)
    w = torch.exp(-0.5 * (d / sigma) ** 2)
    return w / w.sum(1, keepdim=True)


class ClockTask(Task):
    name = "clock"
    labels = ()
    input_size = (SIZE, SIZE)
    channels = 3
    select_metric = "val_within1"
    select_mode = "max"
    default_data = "synth:test:2000"  # held-out style families; see glancekit/synth/clock.py
    real_sources = ("clock",)         # real photos under the shared data root, benchmarked when present
    detector = "clocks"               # whole photos: find each clock (tasks/clocks.py), then read it
    synth_backgrounds = "gestures/hands_dataset/images"  # photos used as backgrounds when present
    target_columns = ("hour", "minute", "label")
    train_defaults = {"data": "synth", "epochs": 30, "batch": 64, "lr": 2e-3, "optimizer": "adamw",
                      "schedule": "cosine", "weight_decay": 5e-4, "epoch_size": 16000, "val_size": 1500,
                      "augment": False, "model": {}}

    # ---- data -------------------------------------------------------------------------------
    def readers(self) -> list[Any]:
        return [TimeNameReader()]

    def augment(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`augment: true` mirrors half of each batch, with the time the mirror shows (`mirror_time`).
        Real clocks are never mirrored; this is for a model that will also read the mirror view
        (`model: {flip_average: true}`), so that view is one it was trained on."""
        flip = torch.rand(len(x), device=x.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        h, m = mirror_time(y[:, 0], y[:, 1])
        return x, torch.where(flip[:, None], torch.stack([h, m], 1), y)

    def parse_target(self, raw: dict[str, str], where: str = "") -> tuple[int, int]:
        if raw.get("hour", "") != "" or raw.get("minute", "") != "":
            try:
                h, m = int(raw.get("hour", "")), int(raw.get("minute", ""))
            except ValueError:
                raise GlanceError(f"{where}: hour and minute must be whole numbers, got "
                                  f"'{raw.get('hour')}', '{raw.get('minute')}'") from None
            if not (0 <= h <= 12 and 0 <= m <= 59):
                raise GlanceError(f"{where}: time {h}:{m:02d} is not a 12-hour clock time")
            return h % 12, m
        parsed = parse_time(raw.get("label", ""))
        if parsed is None:
            raise GlanceError(f"{where}: cannot read a time from '{raw.get('label', '')}'; "
                              "expected h-mm, h_mm or h:mm (e.g. 10-35)")
        return parsed

    def collate_targets(self, targets: list[Any]) -> torch.Tensor:
        return torch.as_tensor(np.asarray(targets, dtype=np.int64).reshape(-1, 2))

    def label_from_text(self, text: str) -> str:
        parsed = parse_time(text)
        if parsed is None:
            raise GlanceError(f"'{text}' is not a time: type it as h:mm (e.g. 10:35)")
        return synth_clock.time_str(*parsed)

    def target_str(self, target: Any) -> str:
        h, m = (int(v) for v in np.asarray(target).ravel()[:2])
        return synth_clock.time_str(h, m)

    def score_answers(self, preds: Sequence[Prediction | None], targets: Sequence[Any]) -> dict[str, float]:
        """Exact, within ±1 and ±5 minutes, hour right, and the confidence's calibration error (right meaning
        within ±1, over the clocks found), of readings made outside `evaluate` (None: not found)."""
        read = [p is not None for p in preds]
        pred = np.asarray([[p.hour % 12, p.minute] if isinstance(p, ClockPrediction) else [0, 0] for p in preds])
        true = np.asarray(targets, np.int64).reshape(-1, 2)
        err = np.where(read, time_error(pred, true), 10_000) if len(true) else np.zeros(0)
        hour_ok = [ok and (int(p.hour) % 12) == int(t[0]) % 12 for ok, p, t in zip(read, preds, true)]  # type: ignore[union-attr]
        conf = np.asarray([p.confidence for p in preds if p is not None])
        return {"exact": float(np.mean(err == 0)), "within1": float(np.mean(err <= 1)),
                "within5": float(np.mean(err <= 5)), "hour": float(np.mean(hour_ok)) if hour_ok else float("nan"),
                "confidence_ece": expected_calibration_error(conf, err[np.asarray(read, bool)] <= 1)
                if len(conf) else float("nan")}

    def target_columns_dict(self, target: Any) -> dict[str, Any]:
        h, m = (int(v) for v in np.asarray(target).ravel()[:2])
        return {"hour": 12 if h == 0 else h, "minute": m}

    def distribution_key(self, target: Any) -> str:
        h = int(np.asarray(target).ravel()[0])
        return f"{12 if h == 0 else h}h"

    def synthesize(self, rng: np.random.Generator, split: str, photos: Sequence[np.ndarray]
                   ) -> tuple[np.ndarray, tuple[int, int]]:
        """Training/validation renders use the training style families, `test` only the held-out
        ones; photos are split in two halves the same way (even ones train, odd ones test). Training
        renders alone turn clocks up to TRAIN_MAX_TURN; validation keeps the benchmark's range."""
        families = synth_clock.TEST_FAMILIES if split == "test" else synth_clock.TRAIN_FAMILIES
        pool = photos[1::2] if split == "test" else photos[0::2]
        turn = TRAIN_MAX_TURN if split == "train" else synth_clock.MAX_TURN
        s = synth_clock.render_clock(rng, SIZE, families=families, photos=pool, max_turn=turn)
        return s.image, (s.hour, s.minute)

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """Any photo → padded to a square (angles stay true), 144x144 RGB, scaled to [-1, 1]."""
        return square_rgb(image, SIZE)

    # ---- model ------------------------------------------------------------------------------
    def build_model(self, flip_average: bool = False, **kwargs: Any) -> nn.Module:
        """A SmallCNN with the four heads in one output row; `flip_average`: it also reads the mirror
        image and averages both readings, the mirror's mapped back by `ClockMirror`."""
        cfg = {"widths": (32, 64, 128, 192), "depths": (1, 2, 2, 2), "stem": 24, "pool_grid": 4,
               "hidden": 256, "dropout": 0.1, **kwargs}
        net = SmallCNN(self.channels, N_OUT, **cfg)
        return FlipAverage(net, unmirror=ClockMirror()) if flip_average else net

    def trainable_checkpoint(self, ckpt: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """`--init` of mirror-averaged weights fine-tunes the bare net (half the work per step)."""
        return bare_for_training(ckpt)

    @staticmethod
    def _heads_loss(outputs: torch.Tensor, hour_p: torch.Tensor, minute_p: torch.Tensor,
                    angles: torch.Tensor) -> torch.Tensor:
        """The four heads against their targets: hour and minute distributions (cross-entropy) and the
        sin/cos of both hands (squared error, weighted 2). One weighting for labels and teachers alike."""
        return (soft_cross_entropy(outputs[:, :12], hour_p) + soft_cross_entropy(outputs[:, 12:72], minute_p)
                + 2.0 * F.mse_loss(outputs[:, 72:76], angles))

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        h, m = targets[:, 0], targets[:, 1]
        a_h = (h.float() + m.float() / 60) * (2 * np.pi / 12)
        a_m = m.float() * (2 * np.pi / 60)
        vec = torch.stack([a_h.sin(), a_h.cos(), a_m.sin(), a_m.cos()], 1)
        return self._heads_loss(outputs, _circular_soft(h, 12, 0.35), _circular_soft(m, 60, 0.8), vec)

    def distill_loss(self, outputs: torch.Tensor, teacher: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The teacher's hour and minute distributions as soft targets and its hand angles as regression
        targets, weighted as `loss` weighs the labels' (so the two losses mix on one scale)."""
        return self._heads_loss(outputs, F.softmax(teacher[:, :12], 1), F.softmax(teacher[:, 12:72], 1),
                                teacher[:, 72:76])

    # ---- decoding and metrics ---------------------------------------------------------------
    @staticmethod
    def time_scores(outputs: np.ndarray, kappa: float = 4.0) -> np.ndarray:
        """(N, 720) score of every time t = 60 * hour + minute, joint over all 720 times rather than
        minute first and hour second: the hour logit, the minute logit, and how well the regressed
        hour-hand angle agrees with where the hour hand stands at that time (the minute hand within half a
        minute of its mark, as people read a clock and the renderer draws it). So a clear hour hand can move a minute
        reading across the hour (7:59 against 8:00), and the hour can never disagree with the minute."""
        o = np.asarray(outputs, dtype=np.float64)
        expected = np.arange(720) * (2 * np.pi / 720)
        log_h, log_m = np.log(softmax(o[:, :12]) + 1e-9), np.log(softmax(o[:, 12:72]) + 1e-9)
        # kappa * strength * cos(angle - expected), as two outer products (no N x 720 cosines)
        sin_a, cos_a = o[:, 72], o[:, 73]
        norm = np.hypot(sin_a, cos_a)
        w = kappa * np.clip(norm, 0, 1) / np.maximum(norm, 1e-9)
        agree = np.outer(w * cos_a, np.cos(expected)) + np.outer(w * sin_a, np.sin(expected))
        return (log_h[:, :, None] + log_m[:, None, :]).reshape(len(o), 720) + agree

    @staticmethod
    def read_scores(scores: np.ndarray, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """`time_scores` → (N, 2) (hour, minute) and a confidence each: the probability that the reading is
        right to within a minute. `temperature` (fitted on validation by `calibrate`) scales the scores so
        the confidence means what it says: the soft training targets alone make every reading look less
        sure than it is. The readings themselves do not depend on it."""
        p = softmax(scores / temperature)
        best, rows = p.argmax(1), np.arange(len(p))
        # A reading one minute off is still a good reading: its neighbours (across the hour too) count.
        conf = sum(p[rows, (best + d) % 720] for d in (-1, 0, 1))
        return np.stack([best // 60, best % 60], 1), np.clip(conf, 0, 1)

    @classmethod
    def decode_times(cls, outputs: np.ndarray, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Raw outputs → (N, 2) (hour, minute) and a confidence each, in chunks (N x 720 scores, bounded memory)."""
        outputs = np.asarray(outputs)
        if len(outputs) == 0:
            return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
        parts = [cls.read_scores(cls.time_scores(o), temperature)
                 for o in np.split(outputs, np.arange(2048, len(outputs), 2048))]
        return np.concatenate([t for t, _ in parts]), np.concatenate([c for _, c in parts])

    @staticmethod
    def _temperature(meta: dict[str, Any] | None) -> float:
        return float((meta or {}).get("temperature", 1.0))

    def evaluate(self, outputs: np.ndarray, targets: np.ndarray, meta: dict[str, Any] | None = None
                 ) -> dict[str, float]:
        true = np.asarray(targets).reshape(-1, 2)
        pred, conf = self.decode_times(outputs, self._temperature(meta))
        report = clock_report(pred, true)
        report["confidence_ece"] = expected_calibration_error(conf, time_error(pred, true) <= 1)
        return report

    def calibrate(self, outputs: np.ndarray, targets: np.ndarray) -> dict[str, Any]:
        """The temperature whose confidences best predict "read to within a minute" on validation
        (least log loss over a grid). The readings themselves do not change, only their confidence."""
        scores = self.time_scores(outputs)  # once: only the temperature changes below
        pred, _ = self.read_scores(scores)
        ok = time_error(pred, np.asarray(targets).reshape(-1, 2)) <= 1

        def log_loss(c: np.ndarray) -> float:
            c = np.clip(c, 1e-6, 1 - 1e-6)
            return float(-np.mean(np.where(ok, np.log(c), np.log(1 - c))))

        grid = np.geomspace(0.2, 2.0, 31)
        confs = [self.read_scores(scores, float(T))[1] for T in grid]
        k = int(np.argmin([log_loss(c) for c in confs]))
        before = self.read_scores(scores, 1.0)[1]
        return {"temperature": round(float(grid[k]), 4),
                "temperature_rule": f"least log loss of 'right to within a minute' on {len(ok)} validation "
                                    f"images; calibration error {expected_calibration_error(before, ok):.3f} at "
                                    f"temperature 1 → {expected_calibration_error(confs[k], ok):.3f}"}

    def decode(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[Prediction]:
        times, conf = self.decode_times(outputs, self._temperature(meta))
        return [ClockPrediction(synth_clock.time_str(int(h), int(m)), float(c), 12 if h == 0 else int(h), int(m))
                for (h, m), c in zip(times, conf)]

    def report(self, outputs: np.ndarray, targets: np.ndarray, images: np.ndarray, ids: list[str],
               meta: dict[str, Any], out_dir: Path, infer: Infer | None = None) -> list[tuple[str, list]]:
        import matplotlib.pyplot as plt

        from ..runs import report as rp
        pred, conf = self.decode_times(outputs, self._temperature(meta))
        true = np.asarray(targets).reshape(-1, 2)
        err = time_error(pred, true)
        order = np.lexsort((-conf, -err))[:48]  # largest errors first, confident ones first among equals
        grid = rp.image_grid([display_image(images[i]) for i in order],
                             [f"{synth_clock.time_str(*pred[i])} (true {synth_clock.time_str(*true[i])})"
                              for i in order], out_dir / "val_predictions.png", ncols=8,
                             colors=["red" if err[i] > 1 else "green" for i in order])
        fig, axes = plt.subplots(1, 3, figsize=(15, 3.6))
        tol = np.arange(0, 61)
        axes[0].plot(tol, [np.mean(err <= t) for t in tol])
        axes[0].set(xlabel="tolerance (minutes)", ylabel="share of clocks read within it", ylim=(0, 1.01),
                    title="Accuracy by tolerance")
        axes[0].grid(alpha=0.3)
        bins = [0, 1, 2, 5, 15, 30, 60, 120, 361]
        counts = [int(np.sum((err >= a) & (err < b))) for a, b in zip(bins[:-1], bins[1:])]
        axes[1].bar(range(len(counts)), counts)
        axes[1].set_xticks(range(len(counts)), [f"{a}–{b - 1}" for a, b in zip(bins[:-1], bins[1:])], rotation=30)
        axes[1].set(xlabel="error (minutes)", ylabel="clocks", title="Error distribution")
        # Does the confidence mean what it says? (the temperature fitted on validation is in `meta`)
        mean_conf, share, count = reliability(conf, err <= 1)
        used = count > 0
        axes[2].plot([0, 1], [0, 1], color="gray", lw=1, ls="--")
        axes[2].plot(mean_conf[used], share[used], marker="o")
        axes[2].set(xlabel="confidence", ylabel="share read within ±1 minute", xlim=(0, 1), ylim=(0, 1.01),
                    title=f"Confidence calibration (temperature {self._temperature(meta):g})")
        axes[2].grid(alpha=0.3)
        tol_png = rp._save(fig, out_dir / "tolerance.png")
        # Which hour is confused with which: the usual failure is swapping the two hands.
        from ..metrics import confusion_matrix
        hours = [str(h) for h in [12, *range(1, 12)]]
        cm = rp.plot_confusion(confusion_matrix(true[:, 0] % 12, pred[:, 0] % 12, 12), hours, out_dir / "hours.png")
        swapped = float(np.mean((pred[:, 0] == (np.round(true[:, 1] / 5).astype(int) % 12)) & (err > 15)))
        return [
            ("Accuracy by tolerance, error distribution and confidence calibration", [tol_png]),
            ("Hour confusion (rows true, columns predicted)",
             [cm, {"hands swapped (hour read where the minute hand points)": swapped}]),
            ("Predictions, largest errors first", [grid]),
        ]


TASK = ClockTask()
