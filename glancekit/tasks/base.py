"""What a task is: everything specific to one problem, read by the shared machinery.

The engine (train, val, predict, export, serve, bench) never names a task. It calls the hooks below:

    image ─► preprocess ─► model ─► decode ─► Prediction
    reader ─► parse_target ─► augment ─► model ─► loss / evaluate ─► calibrate ─► report

`ClassificationTask` fills in the hooks for "one label per image" problems; tasks override only what
differs (digits: MNIST-style preprocessing and a not-a-digit threshold).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import torch
from torch import nn

from ..data.readers import Reader, Samples
from ..errors import GlanceError

Infer = Callable[[np.ndarray], np.ndarray]  # batch of preprocessed arrays → raw model outputs


@dataclass
class Prediction:
    """The common part of every task's answer: a printable label and a confidence in [0, 1]."""

    label: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def columns(self) -> dict[str, Any]:
        """Task-specific extra columns for CSV/table output (beyond path, prediction, confidence)."""
        return {}

    def rows(self) -> list[dict[str, Any]]:
        """CSV/table rows for this image (one; a whole-frame prediction gives one per object found)."""
        return [{"prediction": self.label, "confidence": round(self.confidence, 4), **self.columns()}]


@dataclass
class ClassPrediction(Prediction):
    """A class label, its index (-1 when rejected) and the top classes with their probabilities;
    `threshold`: for a task that may answer "none of these", the score below which it does, and `trust`
    that score for this answer (the top probability, or for digits the certainty; see
    TrustedThreshold.trust), so a user can see why an answer was rejected; else both None."""

    index: int = -1
    top: list[tuple[str, float]] = field(default_factory=list)
    threshold: float | None = None
    trust: float | None = None

    def columns(self) -> dict[str, Any]:
        return {"top": " ".join(f"{n}:{p:.3f}" for n, p in self.top)}


class Task:
    """Base class: declare the problem; the engine does the rest. See module docstring."""

    name: ClassVar[str]
    labels: ClassVar[tuple[str, ...]] = ()
    input_size: ClassVar[tuple[int, int]]  # (height, width) the model sees
    channels: ClassVar[int] = 1
    select_metric: ClassVar[str] = "val_loss"  # logged metric that picks the best epoch
    select_mode: ClassVar[str] = "min"
    # The figure a real source is judged by (bench, audit --by-source); None: the selection metric. It may be
    # one only a calibrated model has (e.g. answers right once "unsure" counts as wrong).
    headline_metric: ClassVar[str | None] = None
    default_data: ClassVar[str | None] = None  # folder under the shared data root used by bench (or synth:…)
    # Real data sets under the shared data root (globs allowed; one match = one source): `glance bench`
    # scores each on its own and names the worst (engine/sources.py).
    real_sources: ClassVar[tuple[str, ...]] = ()
    synth_backgrounds: ClassVar[str | None] = None  # photo folder under the data root for synthetic renders
    # A task that reads one object (a hand crop) names the detector task that finds such objects in a whole
    # photo (engine/pipeline.py), and other readers whose answers join each object's (keypoints for gestures).
    detector: ClassVar[str | None] = None
    companions: ClassVar[tuple[str, ...]] = ()
    # Training defaults for this task; a YAML config and CLI flags override them.
    train_defaults: ClassVar[dict[str, Any]] = {}
    # CSV columns that hold the target; a row with all of them empty is unlabelled.
    target_columns: ClassVar[tuple[str, ...]] = ("label",)
    # Split used when training is given one data set: fractions held out for val and test.
    val_frac: ClassVar[float] = 0.1
    test_frac: ClassVar[float] = 0.1

    # ---- data -------------------------------------------------------------------------------
    def readers(self) -> list[Reader]:
        """Task-specific readers tried before the generic IDX / CSV / class-folder ones."""
        return []

    def parse_target(self, raw: dict[str, str], where: str = "") -> Any:
        raise NotImplementedError

    def collate_targets(self, targets: list[Any]) -> torch.Tensor:
        return torch.as_tensor(np.asarray(targets))

    def strata(self, targets: list[Any]) -> list[Any] | None:
        """Groups to stratify the split by (class labels), or None for a plain random split."""
        return None

    def synthesize(self, rng: np.random.Generator, split: str, photos: Sequence[np.ndarray]
                   ) -> tuple[np.ndarray, Any]:
        """One rendered (uint8 image, target) for `split` (train/val/test). Tasks with a generator
        override this; then `--data synth` works for them (see glancekit/data/synth.py)."""
        raise NotImplementedError

    @property
    def can_synthesize(self) -> bool:
        return type(self).synthesize is not Task.synthesize

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """uint8 HxW or HxWx3 image → float32 CxHxW array the model takes."""
        raise NotImplementedError

    def preprocess_sample(self, image: np.ndarray, target: Any) -> tuple[np.ndarray, Any]:
        """Preprocess an image together with its target. Tasks whose targets are pixel positions
        (keypoints) move them into the model's input frame here; the default leaves targets alone."""
        return self.preprocess(image), target

    def finalize(self, prediction: Prediction, image_shape: tuple[int, ...]) -> Prediction:
        """Map a decoded prediction back onto the original image (of `image_shape`), e.g. keypoints
        from model-input pixels to image pixels. Default: nothing to map."""
        return prediction

    def visualize(self, image: np.ndarray, prediction: Prediction) -> np.ndarray:
        """The image with the prediction drawn on it (`glance predict --save-vis`). Default: the label
        and confidence written in the corner; keypoint tasks draw the skeleton."""
        import cv2
        img = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        scale = max(0.4, max(img.shape[:2]) / 400)
        text = f"{prediction.label} {prediction.confidence:.2f}"
        for color, thick in (((0, 0, 0), 4), ((255, 255, 0), 1)):
            cv2.putText(img, text, (4, int(22 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, color,
                        max(1, int(thick * scale)), cv2.LINE_AA)
        return img

    def pack_image(self, image: np.ndarray, target: Any) -> tuple[np.ndarray, Any]:
        """A decoded uint8 image (and its target) made small for a packed data set (`glance pack`):
        resized to the model's input size. Tasks whose targets live in pixels (keypoints) or that must
        not squash the image (clocks) override this. `preprocess` still runs on the packed image."""
        import cv2
        h, w = self.input_size
        if image.shape[:2] != (h, w):
            interp = cv2.INTER_AREA if image.shape[0] > h or image.shape[1] > w else cv2.INTER_LINEAR
            image = cv2.resize(image, (w, h), interpolation=interp)
        return image, target

    def augment(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Random training-time changes of a preprocessed batch (and its targets). Default: none.
        A task whose augmentation has knobs takes them as keyword arguments (`augment_options` of the
        training config); `check_augment_options` refuses names it does not take."""
        return x, y

    def check_augment_options(self, options: dict[str, Any]) -> None:
        """One clear line for `augment_options` this task's `augment` does not take."""
        import inspect
        taken = [n for n, p in inspect.signature(self.augment).parameters.items()
                 if p.kind == p.KEYWORD_ONLY or (p.kind == p.POSITIONAL_OR_KEYWORD and n not in ("x", "y"))]
        unknown = sorted(set(options) - set(taken))
        if unknown:
            raise GlanceError(f"augment_options: {self.name} does not take {', '.join(unknown)}"
                              f" (it takes: {', '.join(taken) or 'none'})")

    # ---- model ------------------------------------------------------------------------------
    def build_model(self, **kwargs: Any) -> nn.Module:
        raise NotImplementedError

    def trainable_checkpoint(self, ckpt: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The part of a weights file that `train --init` fine-tunes, and a note when that is not all of
        it (a model assembled from separately trained parts). Default: the whole model."""
        return ckpt, None

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def distill_loss(self, outputs: torch.Tensor, teacher: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """How far a student's raw outputs are from a frozen teacher's on the same batch (`train
        --distill`). Tasks whose outputs are not plain class logits say how to compare them."""
        raise GlanceError(f"task {self.name} has no distillation loss")

    # ---- evaluation -------------------------------------------------------------------------
    def evaluate(self, outputs: np.ndarray, targets: np.ndarray, meta: dict[str, Any] | None = None
                 ) -> dict[str, float]:
        """Metrics of raw model outputs against targets (names without the val_ prefix)."""
        raise NotImplementedError

    def calibrate(self, outputs: np.ndarray, targets: np.ndarray) -> dict[str, Any]:
        """Values fitted on validation and shipped with the weights (thresholds). Default: none."""
        return {}

    def decode(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[Prediction]:
        """Raw outputs of a batch → one Prediction each, using calibrated values in `meta`."""
        raise NotImplementedError

    def extra_metrics(self, outputs: np.ndarray, targets: np.ndarray, infer: Infer,
                      meta: dict[str, Any]) -> dict[str, float]:
        """Metrics that need more than the outputs (e.g. rejection of generated non-examples);
        `infer` maps a batch of preprocessed arrays to raw outputs. Default: none."""
        return {}

    def source_figures(self, infer: Infer, meta: dict[str, Any], path: Path, samples: Samples,
                       outputs: np.ndarray) -> dict[str, float]:
        """Figures of a real source beyond its labels, for `glance bench`'s per-source table (e.g. how much of
        the source's photos where no object is gets the reject answer, or the scored `samples` against a
        second labelling; `outputs` are the model's for them). Default: none."""
        return {}

    def report(self, outputs: np.ndarray, targets: np.ndarray, images: np.ndarray, ids: list[str],
               meta: dict[str, Any], out_dir: Path, infer: Infer | None = None) -> list[tuple[str, list]]:
        """Pictures and tables for report.html, as (heading, items) sections. Default: none."""
        return []

    def label_from_text(self, text: str) -> str:
        """A label a person picked or typed (Label page, `glance review`) → the label as it is stored; one clear
        error when the task has no such label. Class tasks: one of `labels`; a clock: any `h:mm`."""
        if text in self.labels:
            return text
        raise GlanceError(f"'{text}' is not a label of task {self.name}: {', '.join(self.labels)}")

    def target_str(self, target: Any) -> str:
        return str(target)

    def score_answers(self, preds: Sequence[Prediction | None], targets: Sequence[Any]) -> dict[str, float]:
        """Shares of answers that are right, for predictions made outside `evaluate` (the whole-photo pipeline's
        reading of each object; None = the object was not found, which counts as wrong). Default: the label."""
        right = [p is not None and p.label == self.target_str(t) for p, t in zip(preds, targets)]
        return {"right": float(np.mean(right)) if right else float("nan")}

    def target_columns_dict(self, target: Any) -> dict[str, Any]:
        """A target as CSV columns that `parse_target` reads back (used when writing data sets)."""
        return {"label": self.target_str(target)}

    def distribution_key(self, target: Any) -> str:
        """What the label-distribution picture counts (the label itself, unless that is too fine)."""
        return self.target_str(target)


class ClassificationTask(Task):
    """One label per image: cross-entropy, accuracy/P/R/F1/confusion, softmax decoding."""

    select_metric = "val_accuracy"
    select_mode = "max"

    def parse_target(self, raw: dict[str, str], where: str = "") -> int:
        value = raw.get("label", "")
        if value in self.labels:
            return self.labels.index(value)
        raise GlanceError(f"{where}: unknown label '{value}' for task {self.name}; "
                          f"expected one of: {', '.join(self.labels)}")

    def collate_targets(self, targets: list[Any]) -> torch.Tensor:
        return torch.as_tensor(np.asarray(targets, dtype=np.int64))

    def strata(self, targets: list[Any]) -> list[Any] | None:
        return list(targets)

    def target_str(self, target: Any) -> str:
        return self.labels[int(target)]

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(outputs, targets, label_smoothing=0.05)

    def distill_loss(self, outputs: torch.Tensor, teacher: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return soft_cross_entropy(outputs, nn.functional.softmax(teacher, 1))

    def evaluate(self, outputs: np.ndarray, targets: np.ndarray, meta: dict[str, Any] | None = None
                 ) -> dict[str, float]:
        from ..metrics import classification_report
        pred = outputs.argmax(1)
        return classification_report(targets, pred, len(self.labels), scores=outputs)

    def decode(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[Prediction]:
        probs = softmax(outputs)
        preds: list[Prediction] = []
        for p in probs:
            order = np.argsort(-p)[:3]
            top = [(self.labels[i], float(p[i])) for i in order]
            preds.append(ClassPrediction(self.labels[order[0]], float(p[order[0]]), int(order[0]), top))
        return preds

    def report(self, outputs: np.ndarray, targets: np.ndarray, images: np.ndarray, ids: list[str],
               meta: dict[str, Any], out_dir: Path, infer: Infer | None = None) -> list[tuple[str, list]]:
        from ..metrics import confusion_matrix, per_class_prf
        from ..runs import report as rp
        n = len(self.labels)
        pred = outputs.argmax(1)
        probs = softmax(outputs)
        cm = confusion_matrix(targets, pred, n)
        prf = per_class_prf(targets, pred, n)
        # Worst errors first: wrong predictions by descending confidence, then least confident rights.
        conf = probs.max(1)
        wrong = np.where(pred != targets)[0]
        right = np.where(pred == targets)[0]
        order = np.concatenate([wrong[np.argsort(-conf[wrong])], right[np.argsort(conf[right])]])[:64]
        grid = rp.image_grid(
            [display_image(images[i]) for i in order],
            [f"{self.labels[pred[i]]} {conf[i]:.2f} (true {self.labels[targets[i]]})" for i in order],
            out_dir / "val_predictions.png",
            colors=["red" if pred[i] != targets[i] else "green" for i in order])
        rows = [{"class": self.labels[i], "precision": prf["precision"][i], "recall": prf["recall"][i],
                 "f1": prf["f1"][i], "support": int(prf["support"][i])} for i in range(n)]
        return [
            ("Confusion matrix (validation)", [rp.plot_confusion(cm, list(self.labels), out_dir / "confusion.png")]),
            ("Per-class precision / recall / F1 (validation)",
             [rp.plot_prf_table(prf, list(self.labels), out_dir / "per_class.png"), rp.html_table(rows)]),
            ("Validation predictions, worst errors first", [grid]),
        ]


class TrustedThreshold:
    """Mixin for a ClassificationTask that may answer "none of these" (`reject_label`).

    The threshold is fitted on validation: the `trusted_percentile`-th percentile of the confidence of
    correct predictions; below it the answer is `reject_label`. Training may add outliers with target
    -1 (outlier exposure), which the loss pushes towards the uniform distribution."""

    reject_label: ClassVar[str] = "none"
    trusted_percentile: ClassVar[float] = 5.0
    # When set: the threshold is instead the confidence below which this share of all validation samples
    # falls, so about that share of real inputs like them is answered `reject_label` (a stated false-reject
    # rate, right and wrong answers alike).
    reject_rate: ClassVar[float | None] = None
    # What the threshold is compared with: "top1", the top probability (the answer's confidence), or
    # "certainty", 1 - entropy / log(classes): 1 for an answer all on one class, 0 for a uniform one. An
    # answer torn between two classes keeps some certainty where the top probability falls to a half, so
    # "none of these" (flat over all) and "this or that" (a hard real example) come apart (digits: measured
    # on sources never trained on, docs/experiments.md 2026-12-08).
    trust_score: ClassVar[str] = "top1"

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        known = targets >= 0
        loss = (nn.functional.cross_entropy(outputs[known], targets[known], label_smoothing=0.05)
                if known.any() else outputs.sum() * 0)
        if (~known).any():
            # KL(uniform ‖ p): zero when the model is perfectly unsure about an outlier.
            kl = -nn.functional.log_softmax(outputs[~known], 1).mean(1) - float(np.log(outputs.shape[1]))
            loss = loss + 0.5 * kl.mean()
        return loss

    def trust(self, outputs: np.ndarray, score: str | None = None) -> np.ndarray:
        """The score the threshold is compared with, per row of raw outputs: `score` ("top1" or
        "certainty"), else the task's `trust_score`."""
        p = softmax(outputs)
        if (score or self.trust_score) == "certainty":
            return 1.0 + (p * np.log(np.clip(p, 1e-12, 1.0))).sum(1) / float(np.log(p.shape[1]))
        return p.max(1)

    @staticmethod
    def meta_score(meta: dict[str, Any]) -> str:
        """The score a threshold in `meta` was fitted on: the one recorded with it, "top1" for thresholds
        fitted before scores were recorded (so older weights keep the answers they were measured with)."""
        return str(meta.get("trust_score", "top1"))

    def unsure(self, outputs: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
        """Per row of raw outputs: whether the answer is `reject_label` under the threshold in `meta`."""
        return self.trust(outputs, self.meta_score(meta)) < float(meta.get("threshold", 0.0))

    def calibrate(self, outputs: np.ndarray, targets: np.ndarray, reject_rate: float | None = None,
                  on: str = "validation") -> dict[str, Any]:
        """The threshold; `reject_rate` (else the task's) states the share of the samples to reject;
        `on` names those samples in the rule the card shows (`glance val --calibrate` names its data)."""
        conf = self.trust(outputs)
        rate = self.reject_rate if reject_rate is None else reject_rate
        if rate is not None:
            known = targets >= 0
            thr = float(np.quantile(conf[known], rate)) if known.any() else 0.5
            return {"threshold": thr, "trust_score": self.trust_score,
                    "threshold_rule": f"rejects {rate:.1%} of the {on} {self.name} by {self._score_words()}, right "
                                      f"and wrong answers alike"}
        correct = outputs.argmax(1) == targets
        thr = float(np.percentile(conf[correct], self.trusted_percentile)) if correct.any() else 0.5
        return {"threshold": thr, "trust_score": self.trust_score,
                "threshold_rule": f"{self.trusted_percentile:g}th percentile of the {self._score_words()} of correct "
                                  f"validation predictions"}

    def _score_words(self) -> str:
        return "certainty (1 - entropy / log classes)" if self.trust_score == "certainty" else "confidence"

    def evaluate(self, outputs: np.ndarray, targets: np.ndarray, meta: dict[str, Any] | None = None
                 ) -> dict[str, float]:
        """The classifier's metrics, and with a calibrated threshold `answered_right`: the share answered
        with the right label, an "unsure" answer counting as wrong (what a user gets)."""
        metrics = super().evaluate(outputs, targets, meta)  # type: ignore[misc]
        if meta and "threshold" in meta:
            metrics["answered_right"] = self.rejection_stats(outputs, targets, meta)["answered_right"]
        return metrics

    def decode(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[Prediction]:
        thr = float(meta.get("threshold", 0.0))
        preds = super().decode(outputs, meta)  # type: ignore[misc]
        for p, trust in zip(preds, self.trust(outputs, self.meta_score(meta))):
            p.threshold, p.trust = thr, float(trust)  # type: ignore[attr-defined]
            if trust < thr:
                p.label, p.index = self.reject_label, -1
        return preds

    def rejection_stats(self, outputs: np.ndarray, targets: np.ndarray, meta: dict[str, Any]) -> dict[str, float]:
        """How many true examples the threshold throws away, and the accuracy on what it keeps."""
        kept = ~self.unsure(outputs, meta)
        pred = outputs.argmax(1)
        return {"wrongly_rejected": float((~kept).mean()),
                "accuracy_on_accepted": float((pred[kept] == targets[kept]).mean()) if kept.any() else 0.0,
                "answered_right": float((kept & (pred == targets)).mean())}


def soft_cross_entropy(logits: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against a distribution per row (soft labels, or a teacher's probabilities)."""
    return -(nn.functional.log_softmax(logits, 1) * target_probs).sum(1).mean()


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def display_image(chw: np.ndarray) -> np.ndarray:
    """A preprocessed CxHxW array back to something image_grid can show."""
    arr = np.asarray(chw, dtype=np.float32)
    arr = arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)
    lo, hi = float(arr.min()), float(arr.max())
    return (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
