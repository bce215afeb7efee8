"""Where data lives, and how a path is written down so that another machine can find it.

A run records absolute paths (they are the truth on the machine that trained it). Shipped weights and
their cards travel to users, so `portable()` rewrites what they record into names a user can find:

- under the shared data root: `$GLANCE_DATA/gestures/hands_dataset` (`GLANCE_DATA`, else the nearest
  `shared/data` folder up from the working directory);
- inside the package: `glancekit/weights/gestures.pt`;
- anything else (a run folder, a user's own data): its path from `runs/` on, else relative to the working
  directory, else its file name, marked `(on the machine that made it)`: informative, never looked up.

`located()` reads any of these back into a path on this machine, so fine-tuning (`--init shipped` keeping
the shipped weights' split) and `glance bench` (scoring only the real part training held out) work the same
with a shipped card as with a local run.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import GlanceError

if TYPE_CHECKING:
    from ..tasks.base import Task

DATA_ROOT_MARK = "$GLANCE_DATA"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
ELSEWHERE = "(on the machine that made it)"


def data_root() -> Path:
    """Where the shared real data lives: $GLANCE_DATA, else the nearest ../shared/data upwards."""
    env = os.environ.get("GLANCE_DATA")
    if env:
        return Path(env)
    for base in [Path.cwd(), *Path.cwd().parents, PACKAGE_DIR]:
        for cand in (base / "shared" / "data", base.parent / "shared" / "data"):
            if cand.is_dir():
                return cand
    return Path("../shared/data")


def default_data(task: "Task") -> Path:
    if not task.default_data:
        raise GlanceError(f"task {task.name} has no default benchmark data; pass --data")
    path = data_root() / task.default_data
    if not path.exists():
        raise GlanceError(f"benchmark data not found at {path}; pass --data or set GLANCE_DATA")
    return path


def default_backgrounds(task: "Task") -> str | None:
    """The task's background photo folder under the shared data root, if it is there."""
    bg = data_root() / task.synth_backgrounds if task.synth_backgrounds else None
    return str(bg) if bg is not None and bg.is_dir() else None


def _under(path: Path, root: Path) -> str | None:
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def portable(path: str | Path) -> str:
    """`path` as a name another machine can find (see the module docstring); relative paths and
    non-paths (`synth:test:2000`) are returned as they are."""
    text = str(path)
    if not text.startswith("/"):
        return text
    p = Path(text)
    if (rel := _under(p, data_root())) is not None:
        return f"{DATA_ROOT_MARK}/{rel}" if rel != "." else DATA_ROOT_MARK
    if (rel := _under(p, PACKAGE_DIR)) is not None:
        return f"{PACKAGE_DIR.name}/{rel}"
    parts = p.parts
    tail = ("/".join(parts[len(parts) - 1 - parts[::-1].index("runs"):]) if "runs" in parts
            else _under(p, Path.cwd()) or p.name)
    return f"{tail} {ELSEWHERE}"


def portable_record(value: Any) -> Any:
    """`portable` applied to every absolute path inside a JSON-like record (dicts, lists, strings)."""
    if isinstance(value, dict):
        return {k: portable_record(v) for k, v in value.items()}
    if isinstance(value, list):
        return [portable_record(v) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        return portable(value)
    return value


def located(recorded: str | Path) -> Path:
    """A recorded path (absolute, relative, `$GLANCE_DATA/...` or `glancekit/...`) as a path here."""
    text = str(recorded)
    if text == DATA_ROOT_MARK or text.startswith(DATA_ROOT_MARK + "/"):
        return data_root() / text[len(DATA_ROOT_MARK):].lstrip("/")
    if text.startswith(f"{PACKAGE_DIR.name}/") and not Path(text).exists():
        return PACKAGE_DIR.parent / text
    return Path(text)
