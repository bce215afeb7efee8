"""`glance mine TASK --data LABELLED --pool UNLABELLED`: confusion-driven active learning.

1. Run the model on a labelled set and name the most confused pairs of classes (both directions
   summed, e.g. two ↔ three), with a grid of the images behind each confusion.
2. Rank the unlabelled pool: least sure first (small margin between the top two classes, high
   entropy), with a bonus when an image's top two classes are one of those confused pairs — the images
   most likely to teach the model what it gets wrong.
3. Write the ranking as proposals in the labels-file format of `glance label`, so `glance review TASK
   --pool POOL --labels FILE` (or the web Label page) walks it in that order. Human rows already in the
   file are never touched.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..data.dataset import prepare
from ..data.images import list_images, load_image
from ..errors import GlanceError
from ..label.propose import Row, read_labels, write_labels
from ..progress import progress
from ..runs import report as rp
from ..runs.store import atomic_write_text, new_run_dir
from ..tasks import Task
from ..tasks.base import display_image, softmax
from .evaluate import load_eval_samples
from .predict import Predictor


def confused_pairs(cm: np.ndarray, top: int = 3) -> list[tuple[int, int, int]]:
    """(a, b, count) for the `top` unordered class pairs with the most errors between them."""
    n = len(cm)
    pairs = [(a, b, int(cm[a, b] + cm[b, a])) for a in range(n) for b in range(a + 1, n)]
    return [p for p in sorted(pairs, key=lambda p: -p[2]) if p[2] > 0][:top]


def rank_pool(probs: np.ndarray, pairs: list[tuple[int, int, int]], bonus: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Priority (higher = review sooner) and the confused pair each image falls in (-1 if none)."""
    order = np.argsort(-probs, 1)
    p1 = probs[np.arange(len(probs)), order[:, 0]]
    p2 = probs[np.arange(len(probs)), order[:, 1]]
    margin = p1 - p2
    entropy = -(probs * np.log(probs + 1e-12)).sum(1) / np.log(probs.shape[1])
    in_pair = np.full(len(probs), -1)
    for k, (a, b, _) in enumerate(pairs):
        hit = ((order[:, 0] == a) & (order[:, 1] == b)) | ((order[:, 0] == b) & (order[:, 1] == a))
        in_pair = np.where((in_pair < 0) & hit, k, in_pair)
    score = (1 - margin) + entropy + bonus * (in_pair >= 0)
    return score, in_pair


def mine(task: Task, data: str, pool: str, weights: str | None = None, top: int = 3, labels: str | None = None,
         project: str = "runs", name: str | None = None, limit: int | None = None) -> dict[str, Any]:
    if not task.labels:
        raise GlanceError(f"mine works on classification tasks; {task.name} has no classes")
    from ..metrics import confusion_matrix
    predictor = Predictor(task, weights)
    samples = load_eval_samples(task, data)
    x, y = prepare(task, samples, "reading labelled")
    probs_l = softmax(predictor.infer(x))
    true = y.numpy()
    pred = probs_l.argmax(1)
    cm = confusion_matrix(true, pred, len(task.labels))
    pairs = confused_pairs(cm, top)
    out_dir = new_run_dir(project, task.name, name or "mine")
    sections: list[tuple[str, list]] = [("Confusion matrix of the labelled set",
                                         [rp.plot_confusion(cm, list(task.labels), out_dir / "confusion.png")])]
    pair_rows = []
    for k, (a, b, count) in enumerate(pairs):
        idx = np.where(((true == a) & (pred == b)) | ((true == b) & (pred == a)))[0][:32]
        grid = rp.image_grid([display_image(x[i]) for i in idx],
                             [f"true {task.labels[true[i]]} → {task.labels[pred[i]]} {probs_l[i].max():.2f}" for i in idx],
                             out_dir / f"confused_{k + 1}_{task.labels[a]}_{task.labels[b]}.png", colors=["red"] * len(idx))
        pair_rows.append({"pair": f"{task.labels[a]} ↔ {task.labels[b]}", "errors": count,
                          f"{task.labels[a]} read as {task.labels[b]}": int(cm[a, b]),
                          f"{task.labels[b]} read as {task.labels[a]}": int(cm[b, a])})
        sections.append((f"Confused: {task.labels[a]} ↔ {task.labels[b]} ({count} errors)", [grid]))

    pool_dir = Path(pool)
    files = list_images([pool_dir])
    if limit:
        files = files[:limit]
    with progress() as bar:
        job = bar.add_task(f"scoring {len(files)} pool images", total=len(files))
        chunks = []
        for i in range(0, len(files), 64):
            xb = np.stack([task.preprocess(load_image(f)) for f in files[i:i + 64]])
            chunks.append(softmax(predictor.infer(xb)))
            bar.advance(job, len(xb))
    probs = np.concatenate(chunks)
    score, in_pair = rank_pool(probs, pairs)
    order = np.argsort(-score)
    labels_path = Path(labels) if labels else pool_dir / "labels.csv"
    rows = read_labels(labels_path)
    to_label = []
    for rank, i in enumerate(order):
        rel = str(files[i].relative_to(pool_dir))
        top2 = np.argsort(-probs[i])[:2]
        to_label.append({"rank": rank + 1, "file": rel, "proposal": task.labels[top2[0]],
                         "second": task.labels[top2[1]], "margin": float(probs[i, top2[0]] - probs[i, top2[1]]),
                         "score": float(score[i]),
                         "confused_pair": pair_rows[in_pair[i]]["pair"] if in_pair[i] >= 0 else ""})
        if rows.get(rel, Row(rel, "", "proposed", 0.0)).source == "human":
            continue  # a person's decision stays
        rows[rel] = Row(rel, task.labels[top2[0]], "proposed", float(probs[i, top2[0]]), int(in_pair[i]), rank)
    write_labels(labels_path, rows)
    atomic_write_text(out_dir / "to_label.json", json.dumps(to_label, indent=2))
    first = order[:32]
    sections.append(("Pool: review these first", [
        rp.image_grid([display_image(task.preprocess(load_image(files[i]))) for i in first],
                      [f"{to_label[r]['proposal']}/{to_label[r]['second']} m{to_label[r]['margin']:.2f}"
                       for r in range(len(first))], out_dir / "to_label.png"),
        rp.html_table(to_label[:50])]))
    sections.insert(0, ("Most confused pairs", [rp.html_table(pair_rows) if pair_rows else "no confusions"]))
    rp.write_report(out_dir / "report.html", f"glance mine {task.name}", sections)
    return {"pairs": pair_rows, "pool": len(files), "labels": str(labels_path), "run": str(out_dir),
            "first": to_label[:10]}
