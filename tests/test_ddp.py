"""Training on several processes (DDP): one run, one writer, every process its share of each epoch."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from glancekit.data.plan import ShardedSampler
from glancekit.data.synth import EpochSampler, MixedSampler


@pytest.mark.parametrize("base", [EpochSampler(10), MixedSampler(7, 3, repeat=2, seed=1), list(range(9))])
def test_each_process_takes_its_share_of_the_same_order(base, monkeypatch):
    if hasattr(base, "set_epoch"):
        base.set_epoch(2)
    whole = list(base)
    shards = []
    for rank in range(3):
        monkeypatch.setattr(ShardedSampler, "_world", staticmethod(lambda rank=rank: (rank, 3)))
        s = ShardedSampler(base)
        s.set_epoch(2)
        shards.append(list(s))
        assert len(s) == len(shards[-1])
    assert len({len(s) for s in shards}) == 1  # every process runs as many steps
    from collections import Counter
    flat = Counter(i for s in shards for i in s)
    assert not Counter(whole) - flat  # every index of the epoch is trained on
    assert sum((flat - Counter(whole)).values()) < 3  # twice only to pad up to a multiple of the world size
    monkeypatch.setattr(ShardedSampler, "_world", staticmethod(lambda: (0, 1)))
    alone = ShardedSampler(base)
    alone.set_epoch(2)
    assert list(alone) == whole  # one process: the order as it was


def test_epoch_moves_the_renders_under_sharding(monkeypatch):
    monkeypatch.setattr(ShardedSampler, "_world", staticmethod(lambda: (1, 2)))
    s = ShardedSampler(EpochSampler(4))
    s.set_epoch(0)
    first = list(s)
    s.set_epoch(1)
    assert first == [1, 3] and list(s) == [5, 7]  # fresh renders each epoch, the other half on rank 0


def test_ddp_on_two_cpu_processes_makes_one_run(tmp_path: Path, digit_folder: Path):
    """`--accelerator cpu --devices 2 --strategy ddp` (gloo): one run folder, one set of weights written by
    one process, epoch lines printed once, status done, and the selected epoch's validation figure is what
    the weights give when validated again."""
    project = tmp_path / "runs"
    config = tmp_path / "tiny.yaml"
    config.write_text("model: {widths: [8, 16, 32]}\n")
    cmd = [sys.executable, "-m", "glancekit.cli", "train", "digits", "--data", str(digit_folder), "--epochs", "2",
           "--batch", "32", "--lr", "5e-3", "--config", str(config), "--accelerator", "cpu", "--devices", "2",
           "--strategy", "ddp", "--project", str(project), "--name", "ddp"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=420, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert [p.name for p in (project / "digits").iterdir()] == ["ddp"]
    run = project / "digits" / "ddp"
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "done" and info["processes"] == 2
    assert sorted(p.name for p in (run / "weights").iterdir()) == ["best.pt", "last.pt"]
    out = r.stdout + r.stderr
    assert out.count("epoch 1/2") == 1 and out.count("epoch 2/2") == 1 and out.count("glance train digits") == 1
    assert len((run / "metrics.csv").read_text().strip().splitlines()) == 3  # header + one row per epoch
    from glancekit.engine.evaluate import validate
    from glancekit.tasks import get
    _, metrics = validate(get("digits"), run / "weights" / "best.pt", digit_folder, "val", 0, str(tmp_path / "v"))
    assert metrics[info["select_metric"].removeprefix("val_")] == pytest.approx(info["best"], abs=1e-6)


def test_options_that_cannot_run_on_several_processes_say_so(digit_folder: Path, capsys):
    from glancekit.cli import main
    assert main(["train", "digits", "--data", str(digit_folder), "--lr", "auto", "--devices", "2",
                 "--accelerator", "cpu", "--strategy", "ddp"]) == 2
    assert "--lr auto (the LR finder) runs in one process" in capsys.readouterr().err
    assert main(["train", "digits", "--data", str(digit_folder), "--devices", "2", "--strategy", "ddp_spawn"]) == 2
    assert "--strategy ddp_spawn is not supported: use --strategy ddp" in capsys.readouterr().err
