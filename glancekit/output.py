"""Printing and writing results: one place for tables, CSV and JSON, for every task."""
from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console
from rich.table import Table

from .errors import GlanceError
from .runs.store import RunInfo, atomic_write_csv, atomic_write_text
from .tasks import Prediction

# A pipe or a log file has no width: give tables room so paths are not cut off.
stdout = Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def prediction_rows(files: Sequence[Path], preds: Sequence[Prediction]) -> list[dict[str, Any]]:
    """One row per image, or per object found in it for whole-frame predictions (each row names its image)."""
    return [{"path": str(f), **r} for f, p in zip(files, preds) for r in p.rows()]


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    """Every key any row has, in order of first appearance (a photo with no hand has no keypoints column)."""
    return list(dict.fromkeys(k for r in rows for k in r)) if rows else ["path", "prediction", "confidence"]


def print_predictions(files: Sequence[Path], preds: Sequence[Prediction], title: str) -> None:
    rows = prediction_rows(files, preds)
    table = Table(title=title)
    cols = _columns(rows)
    for col in cols:
        table.add_column(col, justify="right" if col in ("confidence", "score") else "left")
    for r in rows:
        table.add_row(*(f"{r[c]:.3f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols))
    stdout.print(table)


def write_predictions(out: Path, files: Sequence[Path], preds: Sequence[Prediction]) -> Path:
    """CSV (path,prediction,confidence,+task columns) or JSON (full prediction objects)."""
    if out.suffix.lower() == ".json":
        data = [{"path": str(f), **p.to_dict()} for f, p in zip(files, preds)]
        atomic_write_text(out, json.dumps(data, indent=2))
    elif out.suffix.lower() == ".csv":
        rows = prediction_rows(files, preds)
        atomic_write_csv(out, rows, _columns(rows))
    else:
        raise GlanceError(f"--out must end in .csv or .json, got {out.name}")
    return out


def print_metrics(metrics: dict[str, Any], title: str, intervals: dict[str, Any] | None = None) -> None:
    """A metric table; with `intervals` ({metric: (low, high)}) a 95% interval column beside the values."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    if intervals:
        table.add_column("95% interval", justify="right")
    for k, v in metrics.items():
        row = [k, f"{v:.4f}" if isinstance(v, float) else str(v)]
        if intervals:
            lo_hi = intervals.get(k)
            row.append(f"{lo_hi[0]:.4f} – {lo_hi[1]:.4f}" if lo_hi else "")
        table.add_row(*row)
    stdout.print(table)


def print_rows(rows: list[dict[str, str]], title: str) -> None:
    """A table of rows that share their keys (the first row's keys are the columns)."""
    if not rows:
        return
    table = Table(title=title)
    for col in rows[0]:
        table.add_column(col, justify="right" if col not in ("source", "part") else "left")
    for r in rows:
        table.add_row(*(str(r.get(c, "")) for c in rows[0]))
    stdout.print(table)


def print_runs(runs: list[RunInfo]) -> None:
    if not runs:
        stdout.print("no runs yet (train one with `glance train TASK --data PATH`)")
        return
    table = Table(title="runs")
    for col in ("name", "task", "status", "tags", "date", "best metric", "duration", "path"):
        table.add_column(col)
    for r in runs:
        best = f"{r.metric}={r.best:.4f}" if r.best is not None and r.metric else "-"
        dur = f"{r.duration_s:.0f}s" if r.duration_s is not None else "-"
        date = dt.datetime.fromtimestamp(r.started).strftime("%Y-%m-%d %H:%M") if r.started else "-"
        table.add_row(r.name, r.task, r.status, ",".join(r.tags), date, best, dur, str(r.path))
    stdout.print(table)
