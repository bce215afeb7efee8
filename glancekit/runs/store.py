"""runs/TASK/NAME: one folder per run, never reused, so a failed run cannot spoil an earlier one.

Each run folder holds `run.json` (status, task, tags, times, best metric), `config.yaml`,
`metrics.csv`, `weights/best.pt` + `last.pt`, pictures and `report.html`. The runs table is read off
those folders, so there is no shared index file to corrupt.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..errors import GlanceError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are ordinary files
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_csv(path: Path, rows: Iterable[dict[str, Any]], fieldnames: Sequence[str]) -> None:
    """A header and one line per row, replacing `path` in one step (a reader never sees half a file)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(fieldnames))
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def new_run_dir(project: str | Path, task: str, name: str | None) -> Path:
    """A fresh folder runs/TASK/NAME; NAME gets -2, -3, ... if taken (never overwrite a run)."""
    base = Path(project) / task
    base.mkdir(parents=True, exist_ok=True)
    stem = name or "train"
    for i in range(1, 10_000):
        candidate = base / (stem if i == 1 else f"{stem}-{i}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise GlanceError(f"too many runs named {stem} in {base}")


@dataclass
class RunInfo:
    path: Path
    task: str
    name: str
    status: str
    tags: list[str]
    started: float
    duration_s: float | None
    metric: str | None
    best: float | None

    @classmethod
    def read(cls, run_dir: Path) -> "RunInfo | None":
        try:
            d = json.loads((run_dir / "run.json").read_text())
        except (OSError, ValueError):
            return None
        return cls(run_dir, d.get("task", "?"), run_dir.name, d.get("status", "?"), d.get("tags", []),
                   float(d.get("started", 0)), d.get("duration_s"), d.get("select_metric"), d.get("best"))


def write_run_json(run_dir: Path, **fields: Any) -> None:
    """Update run.json with `fields` (read-modify-atomic-write)."""
    path = run_dir / "run.json"
    current: dict[str, Any] = {}
    if path.exists():
        try:
            current = json.loads(path.read_text())
        except ValueError:
            current = {}
    current.update(fields)
    atomic_write_text(path, json.dumps(current, indent=2, default=str))


def list_runs(project: str | Path = "runs", task: str | None = None, tag: str | None = None) -> list[RunInfo]:
    root = Path(project)
    if not root.is_dir():
        return []
    runs = []
    for run_json in root.glob("*/*/run.json"):
        info = RunInfo.read(run_json.parent)
        if info is None or (task and info.task != task) or (tag and tag not in info.tags):
            continue
        runs.append(info)
    return sorted(runs, key=lambda r: r.started, reverse=True)


def now() -> float:
    return time.time()
