"""Every bad-input message in docs/errors.md, run as written: exit code 2, exactly that one line, and the
folder it ran in unchanged (no half-written output)."""
from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from glancekit.cli import main

from .conftest import render_digit

ROW = re.compile(r"^\| `glance (?P<args>[^`]+)` \| (?P<message>.+) \|$")
TABLE = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
CASES = [(m["args"], m["message"]) for line in TABLE.read_text().splitlines() if (m := ROW.match(line))]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from glancekit.engine.checkpoint import shipped_weights
    root = tmp_path_factory.mktemp("bad_input")
    rng = np.random.default_rng(0)
    cv2.imwrite(str(root / "seven.png"), render_digit(7, rng))
    (root / "corrupt.png").write_bytes(b"\x89PNG broken")
    (root / "notes.txt").write_text("not weights\n")
    (root / "empty").mkdir()
    for d in range(3):
        (root / "digits" / str(d)).mkdir(parents=True)
        for i in range(6):
            cv2.imwrite(str(root / "digits" / str(d) / f"{i}.png"), render_digit(d, rng, size=28))
    (root / "pool").mkdir()
    for i in range(4):
        cv2.imwrite(str(root / "pool" / f"p{i}.png"), render_digit(i, rng, size=28))
    shutil.copy(shipped_weights("digits"), root / "digits.pt")
    return root


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_table_covers_every_command():
    commands = {args.split()[0] for args, _ in CASES}
    from glancekit.cli import COMMANDS
    assert commands == set(COMMANDS)  # every command, each with at least one row
    assert len(CASES) >= 60


@pytest.mark.parametrize("args, message", CASES, ids=[a for a, _ in CASES])
def test_bad_input_gets_its_one_line(args: str, message: str, workdir: Path, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("GLANCE_RUN_DIR", raising=False)
    before = _snapshot(workdir)
    code = main(shlex.split(args))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [f"glance: error: {message}"]
    assert _snapshot(workdir) == before
