"""Review proposed labels in a terminal, one key per class — the fallback until the web app's Label page.

Every decision is written to the labels file at once (atomic rewrite), so a crash or Ctrl-C loses at
most the image on screen. Keys: the class keys shown, Enter = accept the proposal, s = skip, u = undo,
q = quit.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..data.images import load_image
from ..errors import GlanceError
from ..tasks import Task
from .propose import Row, read_labels, write_labels

SHADES = " .:-=+*#%@"


def ascii_art(chw: np.ndarray, width: int = 24) -> str:
    """A preprocessed image as characters (two per pixel so it is not squashed)."""
    img = np.asarray(chw, np.float32)
    img = img[0] if img.shape[0] == 1 else img.mean(0)
    step = max(1, img.shape[1] // width)
    img = img[::step, ::step]
    lo, hi = float(img.min()), float(img.max())
    norm = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    return "\n".join("".join(SHADES[int(v * (len(SHADES) - 1))] * 2 for v in row) for row in norm)


def class_keys(task: Task) -> dict[str, str]:
    """key → label: the first letter where that is unambiguous, else 1..n."""
    firsts = [lab[0].lower() for lab in task.labels]
    if len(set(firsts)) == len(firsts) and not set(firsts) & {"s", "u", "q"}:
        return dict(zip(firsts, task.labels))
    return {str(i + 1): lab for i, lab in enumerate(task.labels)}


def review(task: Task, labels_path: str | Path, pool: str | Path, ask: Callable[[str], str] = input,
           show: Callable[[str], None] = print, limit: int | None = None) -> int:
    """Walk the proposals in review order; return the number of decisions saved."""
    labels_path, pool = Path(labels_path), Path(pool)
    rows = read_labels(labels_path)
    if not rows:
        raise GlanceError(f"no labels file at {labels_path}: run `glance label {task.name} --pool DIR` first")
    queue = sorted((r for r in rows.values() if r.source != "human"), key=lambda r: (r.review_rank, r.file))
    if limit:
        queue = queue[:limit]
    keys = class_keys(task)
    legend = "  ".join(f"[{k}] {v}" for k, v in keys.items()) + "  [Enter] accept  [s] skip  [u] undo  [q] quit"
    history: list[tuple[int, Row]] = []
    decisions, i = 0, 0
    while i < len(queue):
        row = queue[i]
        path = pool / row.file
        show(ascii_art(task.preprocess(load_image(path))))
        proposal = f"{row.label} ({row.confidence:.2f})" if row.label else "none"
        show(f"[{i + 1}/{len(queue)}] {row.file}  proposed: {proposal}\n{legend}")
        try:
            key = ask("> ").strip().lower()
        except EOFError:
            break
        if key == "q":
            break
        if key == "u":
            if history:
                i, previous = history.pop()
                rows[previous.file] = previous
                write_labels(labels_path, rows)
                decisions -= 1
            continue
        if key == "s":
            i += 1
            continue
        label = keys.get(key) if key else (row.label or None)
        if label is None:
            show(f"unknown key '{key}'")
            continue
        history.append((i, rows[row.file]))
        rows[row.file] = Row(row.file, label, "human", 1.0, row.cluster, row.review_rank)
        write_labels(labels_path, rows)  # saved before the next image is shown
        decisions += 1
        i += 1
    show(f"{decisions} decisions saved to {labels_path}")
    return decisions
