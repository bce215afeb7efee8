"""Figures per real source: each real data set a task names is scored on its own, and the worst is named.

A model that scores 0.97 on the one real set it was tuned on can score far less on photos of other people,
rooms and cameras, and users only meet the second kind. So `glance bench` scores every real source of the
task (`Task.real_sources`, paths under the shared data root, globs allowed: one match = one source)
separately: a source the weights trained on (their split's `data_path` or `--mix` set) is scored on exactly
the part training held out, any other source on all of it. The worst source by the task's headline metric
is the figure to quote (among sources never trained on, when there are any: a held-out part of a trained
source is the same people and rooms); renders come second.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..data.dataset import prepare
from ..data.locations import data_root
from ..data.plan import kept_split, recorded_split
from ..tasks import Task
from .evaluate import evaluate_arrays, load_eval_samples


@dataclass(frozen=True)
class Source:
    name: str   # its path under the data root, e.g. gestures/web/AryaBhongade+hand-gesture-recognition
    path: Path


def task_sources(task: Task, root: Path | None = None) -> list[Source]:
    """The task's real sources that exist under the data root, in the order the task names them."""
    root = root or data_root()
    found: list[Source] = []
    for pattern in task.real_sources:
        for path in sorted(root.glob(pattern)):
            rel = path.relative_to(root)
            # a labels file names its folder's source (…/keypoints_mediapipe.json → …)
            name = (rel.parent if path.is_file() else rel).as_posix()
            found.append(Source(name, path))
    return found


NEVER_TRAINED = "all (never trained on)"
# A source with fewer images than this is not the headline while a larger one can be (3 held-out photos
# give an interval as wide as the scale).
MIN_IMAGES_FOR_WORST = 15


def pick_worst(values: dict[str, float], sizes: dict[str, int], unseen: set[str], mode: str
               ) -> tuple[str, str] | None:
    """The worst source by `values` ("max": higher is better) and which sources it was picked among: those
    never trained on (`unseen`) with at least MIN_IMAGES_FOR_WORST images, else any with that many, else all."""
    enough = {n for n in values if sizes.get(n, 0) >= MIN_IMAGES_FOR_WORST}
    pools = [(enough & unseen, f"sources never trained on with at least {MIN_IMAGES_FOR_WORST} images"),
             (enough, f"sources with at least {MIN_IMAGES_FOR_WORST} images"), (set(values), "all sources")]
    for names, among in pools:
        if names:
            return (min if mode == "max" else max)(sorted(names), key=values.__getitem__), among
    return None


def headline(task: Task) -> tuple[str, str]:
    """The metric a source is judged by, and whether higher is better ("max") or lower ("min")."""
    return task.headline_metric or task.select_metric.removeprefix("val_"), task.select_mode


def trained_split(meta: dict[str, Any], path: Path) -> dict[str, Any] | None:
    """The split the weights made of `path` when they trained on part of it (else None)."""
    return kept_split(recorded_split(meta), path)


def untrained_part(task: Task, meta: dict[str, Any], path: Path) -> tuple[Any, str]:
    """The samples of `path` the weights of `meta` never trained on, and which part that is: the test part their
    split held out where they trained on `path`, else all of it."""
    split = trained_split(meta, path)
    if split is None:
        return load_eval_samples(task, path), NEVER_TRAINED
    return (load_eval_samples(task, path, "test", int(split["seed"]), split.get("val_frac"), split.get("test_frac"),
                              bool(split.get("grouped", False))), "the test part training held out")


def worst_source(figures: dict[str, dict[str, Any]], key: str, mode: str) -> tuple[str, str] | None:
    """The source whose `key` is worst among those that have it (see pick_worst), and what it was picked
    among. A figure without a `part` is of a source held out whole (leave-one-source-out)."""
    judged = {n: f["metrics"][key] for n, f in figures.items() if key in f["metrics"]}
    return pick_worst(judged, {n: int(f["images"]) for n, f in figures.items()},
                      {n for n, f in figures.items() if f.get("part", NEVER_TRAINED) == NEVER_TRAINED}, mode)


def figure_rows(figures: dict[str, dict[str, Any]], key: str, label: str = "source") -> list[dict[str, str]]:
    """One row per source for a table: its name, the part scored (where recorded), images, and the
    headline metric with its interval."""
    rows = []
    for name, f in figures.items():
        v, ci = f["metrics"].get(key), f["metrics_ci95"].get(key)
        rows.append({label: name, **({"part": f["part"]} if "part" in f else {}), "images": str(f["images"]),
                     key: "" if v is None else f"{v:.4f}" + (f" ({ci[0]:.3f}–{ci[1]:.3f})" if ci else "")})
    return rows


def score_sources(task: Task, infer: Callable[[np.ndarray], np.ndarray], meta: dict[str, Any],
                  intervals: Callable[..., dict[str, Any]], root: Path | None = None) -> dict[str, Any]:
    """{"sources": {name: figures}, "worst_source": {...}} for every real source of the task that is here."""
    results: dict[str, Any] = {}
    for src in task_sources(task, root):
        samples, part = untrained_part(task, meta, src.path)
        if len(samples) == 0:
            continue
        x, y = prepare(task, samples, f"reading {src.name}")
        ev = evaluate_arrays(task, infer, x, y.numpy(), meta)
        ev.metrics.update(task.source_figures(infer, meta, src.path, samples, ev.outputs))
        results[src.name] = {"data": str(src.path), "part": part, "images": len(samples), "metrics": ev.metrics,
                             "metrics_ci95": intervals(task, ev.outputs, ev.targets, meta)}
    out: dict[str, Any] = {"sources": results}
    key, mode = headline(task)
    worst = worst_source(results, key, mode)
    if worst is not None:
        name, among = worst
        out["worst_source"] = {"name": name, "metric": key, "value": results[name]["metrics"][key],
                               "interval": results[name]["metrics_ci95"].get(key), "among": among}
    return out
