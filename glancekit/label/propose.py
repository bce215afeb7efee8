"""Bootstrap labels for an unlabelled pool: embed → cluster → propose → order by uncertainty.

* embed: the current model's penultimate features when weights exist, else PCA of the pixels (so it
  works from zero labels and no model);
* cluster: k-means; every cluster gets a label from the human labels inside it (majority), else from the
  model's mean probability over it, else none ("?": a person must name one image of it first);
* propose: per image, the model's label where there is a model, else its cluster's; the confidence is
  the model's probability, or the cluster's purity of human labels;
* order: what a person should look at first — the least certain proposals, and for unnamed clusters the
  image nearest each centre, so one decision names a whole cluster.

The labels file (`file,label,source,confidence,cluster,review_rank`) is rewritten atomically; rows a
person made (`source=human`) are never changed, so re-running after a review only updates proposals.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.images import list_images, load_image
from ..errors import GlanceError
from ..runs.store import atomic_write_csv
from ..tasks import Task

FIELDS = ["file", "label", "source", "confidence", "cluster", "review_rank"]


@dataclass
class Row:
    file: str
    label: str
    source: str  # human | proposed
    confidence: float
    cluster: int = -1
    review_rank: int = -1

    def as_csv(self) -> dict[str, Any]:
        return {"file": self.file, "label": self.label, "source": self.source,
                "confidence": f"{self.confidence:.4f}", "cluster": self.cluster, "review_rank": self.review_rank}


def read_labels(path: Path) -> dict[str, Row]:
    """Existing labels; a plain `file,label` CSV counts as human labels."""
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "file" not in reader.fieldnames or "label" not in reader.fieldnames:
            raise GlanceError(f"{path}: expected a header with 'file' and 'label' columns")
        rows = {}
        for r in reader:
            rows[r["file"]] = Row(r["file"], (r.get("label") or "").strip(), (r.get("source") or "human").strip(),
                                  float(r.get("confidence") or 1.0), int(float(r.get("cluster") or -1)),
                                  int(float(r.get("review_rank") or -1)))
    return rows


def write_labels(path: Path, rows: dict[str, Row]) -> None:
    atomic_write_csv(path, [row.as_csv() for row in sorted(rows.values(), key=lambda r: r.file)], FIELDS)


def embed(task: Task, x: np.ndarray, weights: str | Path | None, seed: int = 0
          ) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """(embeddings, raw model outputs or None, the weights' calibrated meta).
    Weights: the given ones, else shipped, else PCA of the pixels."""
    from ..engine.checkpoint import build_from_checkpoint, load_checkpoint, shipped_weights
    path = Path(weights) if weights else shipped_weights(task.name)
    if path.is_file():
        import torch
        ckpt = load_checkpoint(path, task)
        _, model = build_from_checkpoint(ckpt)
        feats, logits = [], []
        with torch.inference_mode():
            for i in range(0, len(x), 256):
                xb = torch.from_numpy(x[i:i + 256])
                f = model.forward_features(xb)  # type: ignore[operator]
                feats.append(f.numpy())
                logits.append(model(xb).numpy())
        e = np.concatenate(feats)
        return e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-8), np.concatenate(logits), ckpt["meta"]
    from sklearn.decomposition import PCA
    flat = x.reshape(len(x), -1)
    flat = flat - flat.mean(1, keepdims=True)
    n = min(32, len(x) - 1, flat.shape[1])
    return PCA(n, random_state=seed).fit_transform(flat), None, {}


def propose(task: Task, pool: str | Path, labels_path: str | Path, weights: str | Path | None = None,
            clusters: int | None = None, seed: int = 0) -> dict[str, Row]:
    """Propose labels for every image of `pool` not labelled by a person; write and return all rows."""
    from sklearn.cluster import KMeans
    pool, labels_path = Path(pool), Path(labels_path)
    files = list_images([pool])
    rel = [str(f.relative_to(pool)) if pool.is_dir() else f.name for f in files]
    rows = read_labels(labels_path)
    for r in rows.values():
        if r.source == "human" and r.label:
            try:
                task.label_from_text(r.label)
            except GlanceError as e:
                raise GlanceError(f"{labels_path}: {r.file}: {e}") from None
    if not task.labels:
        return propose_readings(task, files, rel, rows, labels_path, weights)
    x = np.stack([task.preprocess(load_image(f)) for f in files]).astype(np.float32)
    emb, outputs, meta = embed(task, x, weights, seed)
    probs = None
    if outputs is not None:
        from ..tasks.base import softmax
        probs = softmax(outputs)
        # The model's own decision (with its calibrated threshold), not a bare argmax.
        decoded = task.decode(outputs, meta)
        model_label = np.array([task.labels.index(p.label) if p.label in task.labels else -1 for p in decoded])
        model_conf = np.array([p.confidence for p in decoded])
    k = clusters or int(np.clip(round(np.sqrt(len(files) / 2)), 2, 50))
    k = min(k, len(files))
    km = KMeans(k, n_init=4, random_state=seed).fit(emb)
    assign = km.labels_
    dist = np.linalg.norm(emb - km.cluster_centers_[assign], axis=1)
    human = {i: task.labels.index(rows[f].label) for i, f in enumerate(rel)
             if f in rows and rows[f].source == "human" and rows[f].label}
    n_cls = len(task.labels)
    cluster_label = np.full(k, -1)
    cluster_conf = np.zeros(k)
    for c in range(k):
        members = np.where(assign == c)[0]
        known = [human[i] for i in members if i in human]
        if known:
            counts = np.bincount(known, minlength=n_cls)
            cluster_label[c], cluster_conf[c] = counts.argmax(), counts.max() / counts.sum()
        elif probs is not None:
            mean = probs[members].mean(0)
            cluster_label[c], cluster_conf[c] = mean.argmax(), mean.max()
    label = np.full(len(files), -1)
    conf = np.zeros(len(files))
    for i in range(len(files)):
        if probs is not None:
            label[i], conf[i] = model_label[i], model_conf[i]
        elif cluster_label[assign[i]] >= 0:
            label[i], conf[i] = cluster_label[assign[i]], cluster_conf[assign[i]] * 0.99
    # Review order: unnamed clusters' most central images first, then by ascending confidence.
    priority = conf.copy()
    for c in np.where(cluster_label < 0)[0]:
        members = np.where(assign == c)[0]
        priority[members[np.argmin(dist[members])]] = -1.0
    order = np.argsort(priority, kind="stable")
    rank = np.empty(len(files), int)
    rank[order] = np.arange(len(files))
    for i, f in enumerate(rel):
        if f in rows and rows[f].source == "human":
            rows[f].cluster = int(assign[i])
            continue
        rows[f] = Row(f, task.labels[label[i]] if label[i] >= 0 else "", "proposed", float(conf[i]),
                      int(assign[i]), int(rank[i]))
    write_labels(labels_path, rows)
    return rows


def propose_readings(task: Task, files: list[Path], rel: list[str], rows: dict[str, Row], labels_path: Path,
                     weights: str | Path | None) -> dict[str, Row]:
    """Tasks whose labels are not classes (a clock's time): no clusters to name, so each image's proposal is
    the model's own reading (through the whole-photo pipeline where the task has one: the most confident
    object), the least confident first. An image where nothing is found gets no proposal."""
    import glancekit
    from ..engine.predict import predict_in_batches
    model = glancekit.load(task.name, weights)
    todo = [(f, r) for f, r in zip(files, rel) if not (r in rows and rows[r].source == "human")]
    preds = predict_in_batches(model.predict, [f for f, _ in todo], 16, "reading")
    proposals = []
    for (_, r), p in zip(todo, preds):
        objects = getattr(p, "objects", None)
        if objects is not None:  # a whole photo: its most confident object, or nothing found
            best = max(objects, key=lambda o: o.confidence, default=None)
            proposals.append((r, best.label if best else "", best.confidence if best else 0.0))
        else:
            proposals.append((r, p.label, p.confidence))
    for rank, (r, label, conf) in enumerate(sorted(proposals, key=lambda t: (t[2], t[0]))):
        rows[r] = Row(r, label, "proposed", float(conf), -1, rank)
    write_labels(labels_path, rows)
    return rows
