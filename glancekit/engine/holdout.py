"""`glance audit TASK --by-source`: judge a training recipe on people, rooms and cameras it never saw.

A held-out split of a source the model trained on flatters it: the same people, pens and cameras sit on
both sides. So, leave one source out: for each real source, train the task's recipe (the options given,
as `glance train` would) on all the other sources, selecting the epoch and fitting the thresholds on
their validation parts only, then score the source it never saw, all of it. The worst held-out source is
the recipe's headline figure; each fold's run (weights, report) is kept under the audit's folder.

Sources: the `--data` sets given (two or more), else every real source of the task under the shared
data root (`Task.real_sources`).
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..data.dataset import prepare
from ..data.locations import data_root
from ..errors import GlanceError
from ..output import print_rows
from ..progress import console
from ..runs import report as rp
from ..runs.store import atomic_write_text, new_run_dir, write_run_json
from ..tasks import Task
from .bench import metric_intervals
from .checkpoint import build_from_checkpoint, load_checkpoint
from .evaluate import evaluate_arrays, load_eval_samples, torch_infer
from .sources import figure_rows, headline, task_sources, worst_source


@dataclass
class HoldoutResult:
    run: Path
    metric: str
    by_source: dict[str, dict[str, Any]]   # held-out source → images, metrics, interval, the fold's run
    worst: str


def _named_sources(task: Task, data: list[str] | None) -> dict[str, str]:
    if data:
        names = {Path(d).name or str(d): str(d) for d in data}
        if len(names) < len(data):
            raise GlanceError("--by-source: two --data sources share a folder name; give each its own")
    else:
        names = {s.name: str(s.path) for s in task_sources(task)}
        if not names:
            raise GlanceError(f"--by-source: no real source of {task.name} found under {data_root()}; "
                              "pass them with --data A --data B ...")
    if len(names) < 2:
        raise GlanceError("--by-source needs at least two sources: one to hold out, one to train on")
    return names


def audit_by_source(task: Task, cfg: TrainConfig, data: list[str] | None = None,
                    name: str | None = None) -> HoldoutResult:
    """Train the recipe once per source with that source held out and score it; see the module docstring."""
    sources = _named_sources(task, data)
    run_dir = new_run_dir(cfg.project, task.name, name or "by_source")
    key, mode = headline(task)
    started = time.time()
    write_run_json(run_dir, task=task.name, kind="audit_by_source", status="running", tags=["audit"],
                   started=started, sources=sources, epochs=cfg.epochs, seed=cfg.seed, select_metric=key)
    from .train import train
    results: dict[str, dict[str, Any]] = {}
    try:
        for k, (held, path) in enumerate(sources.items(), 1):
            others = [p for n, p in sources.items() if n != held]
            console.print(f"[bold]{k}/{len(sources)}[/] holding out {held}: training on {len(others)} other sources")
            fold_cfg = dataclasses.replace(cfg, data=others, project=str(run_dir / "folds"),
                                           name=f"without-{k}", tags=["audit_by_source"])
            fold_run = train(task.name, fold_cfg)
            ckpt = load_checkpoint(fold_run / "weights" / "best.pt", task)
            _, model = build_from_checkpoint(ckpt)
            samples = load_eval_samples(task, path)
            x, y = prepare(task, samples, f"reading {held}")
            ev = evaluate_arrays(task, torch_infer(model), x, y.numpy(), ckpt["meta"])
            results[held] = {"data": path, "images": len(samples), "metrics": ev.metrics,
                             "metrics_ci95": metric_intervals(task, ev.outputs, ev.targets, ckpt["meta"]),
                             "fold_run": str(fold_run), "trained_on": others}
            atomic_write_text(run_dir / "by_source.json", json.dumps(results, indent=2, default=str))
    except BaseException as e:
        write_run_json(run_dir, status="failed" if not isinstance(e, KeyboardInterrupt) else "interrupted",
                       error=f"{e.__class__.__name__}: {e}", duration_s=round(time.time() - started, 1))
        raise
    picked = worst_source(results, key, mode)
    if picked is None:
        raise GlanceError(f"no held-out source has the {key} figure")
    worst = picked[0]
    rows = figure_rows(results, key, "held-out source")
    print_rows(rows, f"{task.name}: each source scored by a model trained without it (worst: {worst})")
    rp.write_report(run_dir / "report.html", f"glance audit {task.name} --by-source",
                    [("Leave one source out", [
                        f"Each row: the recipe trained on every other source, scored on all of this one. Worst "
                        f"held-out source by {key}: {worst}.", rp.html_table(rows)])])
    write_run_json(run_dir, status="done", duration_s=round(time.time() - started, 1),
                   best=results[worst]["metrics"][key],
                   worst_source=worst, by_source={n: r["metrics"].get(key) for n, r in results.items()})
    return HoldoutResult(run_dir, key, results, worst)
