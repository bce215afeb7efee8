"""`glance audit TASK --data LABELLED`: find images whose label is probably wrong.

A model cannot score better than the labels it is graded on, and a small real set (the eyes crops, a
user's own photos) always carries some mistakes. Looking at a trained model's errors does not find
them: the model has learnt its own training labels, mistakes included. So the audit cross-fits:

1. cut the set into K folds (stratified by class; the boxes of one photo stay in one fold),
2. train K models, each on the other K-1 folds for a fixed number of epochs (the task's own recipe),
   and predict the fold it never saw: every image gets an *out-of-fold* probability per class,
3. flag an image as a suspect when another class is at least as likely as that class's own typical
   confidence (the per-class threshold of confident learning, Northcutt et al. 2021) and beats the
   given label; rank suspects by how little the given label is believed.

The same out-of-fold answers also score the recipe itself: every labelled image is graded once, by a
model that never saw it, with the task's own metrics (EER for eyes) and a bootstrap interval. On a small
set that is a much tighter figure than a held-out split gives (eyes: 2,399 graded crops instead of 360),
so it is the figure to compare two recipes by. Pooling the answers of K models mixes their calibrations,
which can move a threshold-free metric such as EER a little either way (eyes, 3 folds: within 0.35 points
of the mean of the per-fold figures).

It writes `suspects.csv` (file, label, suggested, p(label), p(suggested)), `oof.csv` (every image),
a grid of the suspects worst first (and one of the out-of-fold errors the rule did not flag), and a
review file in the format of `glance label`, so a person can confirm or reject each one with
`glance review` (or the web Label page). Nothing in the data folder is changed: fixing a label is a
person's decision.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.utils.data import DataLoader

from ..config import TrainConfig
from ..data.dataset import prepare, tensor_dataset
from ..data.readers import Samples, read_dataset
from ..data.synth import parse_spec
from ..errors import GlanceError
from ..label.propose import Row, write_labels
from ..progress import console, progress
from ..runs import report as rp
from ..runs.store import atomic_write_csv, atomic_write_text, new_run_dir, write_run_json
from ..tasks import Task
from ..tasks.base import display_image, softmax
from .evaluate import torch_infer
from .module import TaskModule


def fold_ids(targets: list[Any], groups: list[str] | None, folds: int, seed: int) -> np.ndarray:
    """Fold number of every sample: stratified by class, whole groups (one photo's boxes) together."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
    y = np.asarray(targets)
    counts = np.bincount(y)
    if folds < 2:
        raise GlanceError(f"--folds must be at least 2, got {folds}")
    if len(y) < 2 * folds or counts[counts > 0].min() < folds:
        raise GlanceError(f"too few images to cut into {folds} folds ({len(y)} images, the smallest class has "
                          f"{int(counts[counts > 0].min())}); pass a smaller --folds")
    out = np.full(len(y), -1)
    splitter = (StratifiedGroupKFold(folds, shuffle=True, random_state=seed) if groups is not None
                else StratifiedKFold(folds, shuffle=True, random_state=seed))
    for k, (_, held) in enumerate(splitter.split(np.zeros(len(y)), y, groups)):
        out[held] = k
    return out


def find_suspects(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(is_suspect, suggested class) from out-of-fold probabilities.

    Class j's threshold is the mean p_j over the images labelled j (how sure the models are of a
    typical j). An image labelled i is a suspect when its most likely other class j reaches j's
    threshold and is more likely than i. The suggestion is that class j."""
    n, c = probs.shape
    thresholds = np.array([probs[labels == j, j].mean() if (labels == j).any() else 1.0 for j in range(c)])
    others = probs.copy()
    others[np.arange(n), labels] = -1.0
    suggested = others.argmax(1)
    p_sug = probs[np.arange(n), suggested]
    p_lab = probs[np.arange(n), labels]
    return (p_sug >= thresholds[suggested]) & (p_sug > p_lab), suggested


class _EpochTicks(Callback):
    def __init__(self, bar: Any, job: Any) -> None:
        self.bar, self.job = bar, job

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.bar.advance(self.job)


def fit_fixed(task: Task, cfg: TrainConfig, x: np.ndarray, y: torch.Tensor, callbacks: list[Callback]) -> nn.Module:
    """Train the task's model on (x, y) for cfg.epochs with its recipe; no validation, no selection
    (there is nothing to select on that the audit could trust)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    dl = DataLoader(tensor_dataset(x, y), batch_size=cfg.batch, shuffle=True, generator=gen,
                    num_workers=cfg.workers, drop_last=len(x) > cfg.batch)
    module = TaskModule(task, cfg, len(dl))
    trainer = L.Trainer(max_epochs=cfg.epochs, accelerator=cfg.accelerator, devices=1, logger=False,
                        callbacks=callbacks, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0)
    trainer.fit(module, dl)
    return module.eval_model


@dataclass
class AuditResult:
    run: Path
    images: int
    suspects: int
    oof_accuracy: float
    per_pair: dict[str, int]
    oof_metrics: dict[str, float]
    oof_intervals: dict[str, list[float]]  # [low, high]


def _file_key(samples: Samples, i: int) -> str:
    item = samples.items[i]
    return str(item) if isinstance(item, (str, Path)) else samples.ids[i]


def audit(task: Task, data: str, cfg: TrainConfig, folds: int = 5, top: int = 64,
          name: str | None = None) -> AuditResult:
    """Cross-fit `folds` models on `data` and write the suspects; see the module docstring."""
    if not task.labels:
        raise GlanceError(f"audit works on classification tasks; {task.name} has no classes")
    if parse_spec(data) is not None:
        raise GlanceError("synthetic renders have exact labels; audit a labelled set of real images")
    from ..engine.train import _quiet_lightning
    _quiet_lightning()
    samples = read_dataset(data, task)
    fold = fold_ids(list(samples.targets), samples.groups, folds, cfg.split_seed)
    x, y = prepare(task, samples, "reading")
    run_dir = new_run_dir(cfg.project, task.name, name or "audit")
    started = time.time()
    write_run_json(run_dir, task=task.name, kind="audit", status="running", tags=["audit"], started=started,
                   data=data, folds=folds, epochs=cfg.epochs, seed=cfg.seed)
    probs = np.zeros((len(x), len(task.labels)), np.float32)
    try:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        with progress() as bar:
            job = bar.add_task(f"cross-fitting {folds} models × {cfg.epochs} epochs", total=folds * cfg.epochs)
            for k in range(folds):
                held = fold == k
                model = fit_fixed(task, cfg, x[~held], y[torch.from_numpy(~held)], [_EpochTicks(bar, job)])
                probs[held] = softmax(torch_infer(model)(x[held]))
                acc = float((probs[held].argmax(1) == y.numpy()[held]).mean())
                console.print(f"fold {k + 1}/{folds}: {int(held.sum())} images, out-of-fold accuracy {acc:.4f}")
    except (KeyboardInterrupt, SystemExit):
        write_run_json(run_dir, status="interrupted", duration_s=round(time.time() - started, 1))
        raise
    except BaseException as e:
        write_run_json(run_dir, status="failed", error=f"{e.__class__.__name__}: {e}",
                       duration_s=round(time.time() - started, 1))
        raise
    labels = y.numpy().astype(int)
    suspect, suggested = find_suspects(probs, labels)
    p_lab = probs[np.arange(len(labels)), labels]
    order = [int(i) for i in np.argsort(p_lab) if suspect[i]]  # least believed first
    names = task.labels

    def row(i: int) -> dict[str, Any]:
        return {"file": _file_key(samples, i), "label": names[labels[i]], "suggested": names[suggested[i]],
                "p_label": round(float(p_lab[i]), 4), "p_suggested": round(float(probs[i, suggested[i]]), 4),
                "fold": int(fold[i])}
    columns = ["file", "label", "suggested", "p_label", "p_suggested", "fold"]
    atomic_write_csv(run_dir / "suspects.csv", [{"rank": r + 1, **row(i)} for r, i in enumerate(order)],
                     ["rank", *columns])
    atomic_write_csv(run_dir / "oof.csv", [{**row(i), "suspect": int(suspect[i])} for i in range(len(labels))],
                     [*columns, "suspect"])
    per_pair: dict[str, int] = {}
    for i in order:
        key = f"{names[labels[i]]} → {names[suggested[i]]}"
        per_pair[key] = per_pair.get(key, 0) + 1
    review = _write_review(task, run_dir, samples, order, suggested, probs)
    oof_acc = float((probs.argmax(1) == labels).mean())
    oof_metrics, oof_intervals = out_of_fold_scores(task, probs, labels)
    shown = order[:top]
    grid = rp.image_grid([display_image(x[i]) for i in shown],
                         [f"#{r + 1} {names[labels[i]]}→{names[suggested[i]]} {p_lab[i]:.2f}"
                          for r, i in enumerate(shown)],
                         run_dir / "suspects.png", colors=["red"] * len(shown))
    # Out-of-fold errors the rule did not flag: a model that splits its belief (tempered outputs, ambiguous
    # images) flags few, and a person may still want to look down this list.
    others = [int(i) for i in np.argsort(p_lab) if not suspect[i] and probs[i].argmax() != labels[i]][:top]
    others_grid = rp.image_grid([display_image(x[i]) for i in others],
                                [f"{names[labels[i]]}→{names[probs[i].argmax()]} {p_lab[i]:.2f}" for i in others],
                                run_dir / "disagreements.png", colors=["orange"] * len(others))
    from ..metrics import confusion_matrix
    cm = rp.plot_confusion(confusion_matrix(labels, probs.argmax(1), len(names)), list(names),
                           run_dir / "oof_confusion.png")
    summary = {"data": data, "images": len(labels), "folds": folds, "epochs per model": cfg.epochs,
               "out-of-fold accuracy": round(oof_acc, 4), "suspects": len(order),
               "suspect share": round(len(order) / max(1, len(labels)), 4)}
    rp.write_report(run_dir / "report.html", f"glance audit {task.name}", [
        ("Summary", [summary, rp.html_table([{"given → suggested": k, "suspects": v} for k, v in per_pair.items()])
                     if per_pair else "no suspects"]),
        ("The recipe, scored out of fold (every image graded once by the model that never saw it; 95% bootstrap "
         "interval)", [rp.html_table([{"metric": k, "value": round(v, 4),
                                        "95% interval": "–".join(f"{b:.4f}" for b in oof_intervals.get(k, ()))}
                                       for k, v in oof_metrics.items()])]),
        (f"Suspects, least believed label first (p = out-of-fold probability of the given label; first {len(shown)})",
         [grid, rp.html_table([row(i) for i in shown])]),
        ("Not flagged, but the models answered another class (least believed first; all rows in oof.csv)",
         [others_grid]),
        ("Out-of-fold confusion matrix (given label vs the models' answer)", [cm]),
    ])
    duration = round(time.time() - started, 1)
    write_run_json(run_dir, status="done", duration_s=duration, images=len(labels), suspects=len(order),
                   oof_accuracy=oof_acc, oof_metrics=oof_metrics, review_file=str(review) if review else None)
    atomic_write_text(run_dir / "audit.json", json.dumps({**summary, "per_pair": per_pair, "oof_metrics": oof_metrics,
                                                          "oof_intervals": oof_intervals, "duration_s": duration},
                                                         indent=2))
    return AuditResult(run_dir, len(labels), len(order), oof_acc, per_pair, oof_metrics, oof_intervals)


def out_of_fold_scores(task: Task, probs: np.ndarray, labels: np.ndarray
                       ) -> tuple[dict[str, float], dict[str, list[float]]]:
    """The task's own metrics on the pooled out-of-fold probabilities, and their 95% bootstrap intervals
    (computed as `glance bench` computes them). The task's evaluate reads logits; log-probabilities are
    logits that softmax back to the same values."""
    from .bench import metric_intervals
    logits = np.log(np.clip(probs, 1e-12, None))
    metrics = {k: float(v) for k, v in task.evaluate(logits, labels).items()
               if isinstance(v, (int, float)) and np.isfinite(v)}
    intervals = metric_intervals(task, logits, labels, {})
    return metrics, {k: intervals[k] for k in metrics if k in intervals}


def _write_review(task: Task, run_dir: Path, samples: Samples, order: list[int], suggested: np.ndarray,
                  probs: np.ndarray) -> Path | None:
    """The suspects as proposals (label = the suggestion) for `glance review TASK --pool ROOT --labels
    review.csv`: ROOT is the folder the image files share. Only for sets of image files."""
    if not order or not all(isinstance(samples.items[i], (str, Path)) for i in order):
        return None
    paths = [Path(samples.items[i]).resolve() for i in order]
    root = Path(os.path.commonpath([str(p.parent) for p in paths]))
    names = task.labels
    rows = {}
    for rank, (i, p) in enumerate(zip(order, paths)):
        rel = str(p.relative_to(root))
        rows[rel] = Row(rel, names[suggested[i]], "proposed", float(probs[i, suggested[i]]), -1, rank)
    labels_path = run_dir / "review.csv"
    write_labels(labels_path, rows)
    atomic_write_text(run_dir / "review_root.txt", str(root) + "\n")
    return labels_path
