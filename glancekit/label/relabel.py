"""A person's corrections applied to a labelled set: the `source=human` rows of a labels file (the
review.csv of `glance audit` after `glance review`, or a pool's labels.csv) replace the labels of those
images. `train --relabel` applies them to the train and val parts; `val --relabel` grades against them.
Nothing on disk changes: the data keeps its own labels, and each run records how many it replaced.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..data.readers import Samples, item_key
from ..errors import GlanceError
from ..tasks import Task
from .propose import read_labels


def read_decisions(task: Task, path: str | Path) -> dict[str, Any]:
    """Resolved image path → target, for every human row. Files are relative to the root named in a
    `review_root.txt` beside the labels file (what `glance audit` writes; a relative root counts from the
    file's folder), else to the labels file's folder (a pool's labels.csv). Proposals are not decisions."""
    labels_path = Path(path)
    if not labels_path.is_file():
        raise GlanceError(f"--relabel {path}: no such labels file")
    root_file = labels_path.parent / "review_root.txt"
    root = labels_path.parent / root_file.read_text().strip() if root_file.is_file() else labels_path.parent
    return {item_key(root / row.file): task.parse_target({"label": row.label}, where=f"{path}: {row.file}")
            for row in read_labels(labels_path).values() if row.source == "human" and row.label}


def relabel(parts: dict[str, Samples], decisions: dict[str, Any]) -> tuple[dict[str, Samples], dict[str, int]]:
    """Each part with the decided targets in place of its own, and per part how many labels changed
    (`changed_NAME`) and how many of its images the decisions named (`named_NAME`)."""
    fixed, counts = {}, {}
    for name, part in parts.items():
        targets, changed, named = list(part.targets), 0, 0
        for i, item in enumerate(part.items):
            new = decisions.get(item_key(item))
            if new is not None:
                named += 1
                changed += new != targets[i]
                targets[i] = new
        fixed[name] = dataclasses.replace(part, targets=targets)
        counts[f"changed_{name}"], counts[f"named_{name}"] = changed, named
    return fixed, counts
