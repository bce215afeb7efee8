"""Review proposed labels in a terminal, one key per class (the web app's Label page does the same).

Every decision is written to the labels file at once (atomic rewrite), so a crash or Ctrl-C loses at
most the image on screen. Keys: the class keys shown (a task without classes, the clock: type the time,
h:mm), Enter = accept the proposal, s = skip, u = undo, q = quit.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..data.images import load_image
from ..errors import GlanceError
from ..tasks import Task
from .session import LabelSession

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
    session = LabelSession(task, Path(labels_path), Path(pool), limit)
    keys = class_keys(task)
    typed = not task.labels  # free-text labels (a clock's time): the person types the label itself
    legend = ("type the label (a clock: h:mm)" if typed else "  ".join(f"[{k}] {v}" for k, v in keys.items())) \
        + "  [Enter] accept  [s] skip  [u] undo  [q] quit"
    while (row := session.current) is not None:
        show(ascii_art(task.preprocess(load_image(session.pool / row.file))))
        proposal = f"{row.label} ({row.confidence:.2f})" if row.label else "none"
        show(f"[{session.position + 1}/{len(session.queue)}] {row.file}  proposed: {proposal}\n{legend}")
        try:
            key = ask("> ").strip().lower()
        except EOFError:
            break
        if key == "q":
            break
        if key == "u":
            session.undo()
        elif key == "s":
            session.skip()
        elif key in keys or (not key and row.label):
            session.decide(keys.get(key))
        elif typed and key:
            try:
                session.decide(key)
            except GlanceError as e:
                show(str(e))
        else:
            show(f"unknown key '{key}'" if key else "no proposal to accept: press a class key")
    show(f"{session.decisions} decisions saved to {session.labels_path}")
    return session.decisions
