"""Measure the zero-label bootstrap on the labelled eye crops (labels used only as the simulated person).

1. `propose` with no model and no labels (PCA of pixels + k-means): every cluster is unnamed;
2. the "person" answers the review queue's first K items (one central image per cluster);
3. `propose` again: each cluster is named from those answers; proposal accuracy is measured on all
   images the person did not label.

    python tools/eyes_bootstrap.py ../shared/data/eyes
"""
from __future__ import annotations

import csv
import sys
import tempfile
from pathlib import Path

import numpy as np

from glancekit.label.propose import Row, propose, read_labels, write_labels
from glancekit.tasks import get


def main(data: Path, clusters: int | None = None) -> None:
    task = get("eyes")
    truth = {r["file"]: r["label"] for r in csv.DictReader(open(data / "labels.csv")) if r["label"]}
    with tempfile.TemporaryDirectory() as tmp:
        pool = Path(tmp) / "pool"
        pool.mkdir()
        for f in truth:
            (pool / f).symlink_to((data / "images" / f).resolve())
        labels = Path(tmp) / "labels.csv"
        rows = propose(task, pool, labels, weights=Path(tmp) / "no-model.pt", clusters=clusters)
        k = len({r.cluster for r in rows.values()})
        queue = sorted(rows.values(), key=lambda r: r.review_rank)[:k]
        rows = read_labels(labels)
        for r in queue:  # the simulated person answers the central image of every cluster
            rows[r.file] = Row(r.file, truth[r.file], "human", 1.0, r.cluster, r.review_rank)
        write_labels(labels, rows)
        rows = propose(task, pool, labels, weights=Path(tmp) / "no-model.pt", clusters=clusters)
        prop = [(truth[f], r.label) for f, r in rows.items() if r.source == "proposed"]
        acc = np.mean([t == p for t, p in prop])
        print(f"{len(truth)} images, {k} clusters, {k} human decisions → proposals for the other "
              f"{len(prop)} are {acc:.1%} correct")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None)
