"""A review session over a labels file: the queue of proposals, decisions, skip and undo.

The terminal review (`glance review`) and the web Label page (`glance serve`) both drive one of these,
so they behave the same: every decision rewrites the labels file atomically before the next image is
shown (a crash, Ctrl-C or a closed tab loses nothing decided), human rows are never touched again, and
undo restores the row exactly as it was. A lock makes concurrent requests from several tabs safe.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GlanceError
from ..tasks import Task
from .propose import Row, read_labels, write_labels


@dataclass
class LabelSession:
    task: Task
    labels_path: Path
    pool: Path
    limit: int | None = None
    rows: dict[str, Row] = field(default_factory=dict)
    queue: list[Row] = field(default_factory=list)
    position: int = 0
    history: list[tuple[int, Row]] = field(default_factory=list)
    decisions: int = 0

    def __post_init__(self) -> None:
        self.labels_path, self.pool = Path(self.labels_path), Path(self.pool)
        self._lock = threading.Lock()
        self.rows = read_labels(self.labels_path)
        if not self.rows:
            raise GlanceError(f"no labels file at {self.labels_path}: run "
                              f"`glance label {self.task.name} --pool DIR` first")
        self.queue = sorted((r for r in self.rows.values() if r.source != "human"),
                            key=lambda r: (r.review_rank, r.file))
        if self.limit:
            self.queue = self.queue[:self.limit]

    @property
    def current(self) -> Row | None:
        return self.queue[self.position] if self.position < len(self.queue) else None

    @property
    def done(self) -> bool:
        return self.position >= len(self.queue)

    def decide(self, label: str | None = None, file: str | None = None) -> Row:
        """Label the current image (`label`, or None to accept the proposal) and move on.

        `file`, when given, must name the current image: a stale page cannot label the wrong one."""
        with self._lock:
            row = self._check_current(file)
            if not (label or row.label):
                raise GlanceError("no proposal to accept: give a label")
            label = self.task.label_from_text(label or row.label)
            self.history.append((self.position, self.rows[row.file]))
            new = Row(row.file, label, "human", 1.0, row.cluster, row.review_rank)
            self.rows[row.file] = new
            write_labels(self.labels_path, self.rows)  # saved before anything else happens
            self.decisions += 1
            self.position += 1
            return new

    def skip(self, file: str | None = None) -> None:
        with self._lock:
            self._check_current(file)
            self.position += 1

    def undo(self) -> Row | None:
        """Put back the row the last decision replaced; returns it (None when nothing to undo)."""
        with self._lock:
            if not self.history:
                return None
            self.position, previous = self.history.pop()
            self.rows[previous.file] = previous
            write_labels(self.labels_path, self.rows)
            self.decisions -= 1
            return previous

    def _check_current(self, file: str | None) -> Row:
        row = self.current
        if row is None:
            raise GlanceError("nothing left to review")
        if file is not None and file != row.file:
            raise GlanceError(f"'{file}' is not the image under review (that is '{row.file}'); reload")
        return row
