"""Figures per real source (engine/sources.py): each source scored on its own, the part held out of a source
the weights trained on, all of any other, and the worst one named."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from glancekit.cli import main
from glancekit.engine.sources import MIN_IMAGES_FOR_WORST, pick_worst, task_sources, trained_split
from glancekit.tasks import get

from .conftest import render_digit


def _other_source(folder: Path, seed: int, dark_on_light: bool) -> None:
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True)
    rows = ["file,label"]
    for i in range(20):
        d = i % 10
        cv2.imwrite(str(folder / "images" / f"{i}.png"), render_digit(d, rng, dark_on_light=dark_on_light))
        rows.append(f"{i}.png,{d}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")


def test_bench_scores_every_source_and_names_the_worst(tmp_path: Path, tiny_run: Path, digit_folder: Path,
                                                       monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    (root / "mnist").symlink_to(digit_folder)  # the set the tiny run trained on, as the task's first source
    _other_source(root / "digits_other" / "b+scans", 1, True)
    _other_source(root / "digits_other" / "a+canvas", 2, False)
    monkeypatch.setenv("GLANCE_DATA", str(root))
    assert [s.name for s in task_sources(get("digits"))] == ["mnist", "digits_other/a+canvas", "digits_other/b+scans"]
    weights = tiny_run / "weights" / "best.pt"
    meta = __import__("torch").load(weights, weights_only=True)["meta"]
    assert trained_split(meta, root / "mnist")["seed"] == 0 and trained_split(meta, root / "digits_other") is None
    out = tmp_path / "bench.json"
    assert main(["bench", "digits", "--weights", str(weights), "--repeats", "2", "--out", str(out)]) == 0
    b = json.loads(out.read_text())
    sources = b["sources"]
    assert list(sources) == ["mnist", "digits_other/a+canvas", "digits_other/b+scans"]
    assert sources["mnist"]["images"] == 30 and sources["mnist"]["part"] == "the test part training held out"
    assert sources["mnist"]["metrics"]["accuracy"] == b["metrics"]["accuracy"]  # the benchmark's own test part
    for name in ("digits_other/a+canvas", "digits_other/b+scans"):
        assert sources[name]["images"] == 20 and sources[name]["part"] == "all (never trained on)"
    acc = {n: s["metrics"]["answered_right"] for n, s in sources.items()}  # digits: "unsure" counts as wrong
    worst = min(("digits_other/a+canvas", "digits_other/b+scans"), key=acc.get)  # the headline is never trained on
    assert b["worst_source"]["name"] == worst and b["worst_source"]["value"] == acc[worst]
    assert b["worst_source"]["among"].startswith("sources never trained on")
    lo, hi = b["worst_source"]["interval"]
    assert lo <= acc[worst] <= hi
    # a source folder that is gone is simply not listed
    shutil.rmtree(root / "digits_other" / "b+scans")
    assert [s.name for s in task_sources(get("digits"))] == ["mnist", "digits_other/a+canvas"]


def test_the_headline_is_the_worst_source_never_trained_on_with_enough_images():
    big, small = MIN_IMAGES_FOR_WORST, MIN_IMAGES_FOR_WORST - 1
    values = {"trained, held-out part": 0.1, "unseen tiny": 0.2, "unseen a": 0.6, "unseen b": 0.5}
    sizes = {"trained, held-out part": big, "unseen tiny": small, "unseen a": big, "unseen b": big}
    unseen = {"unseen tiny", "unseen a", "unseen b"}
    assert pick_worst(values, sizes, unseen, "max")[0] == "unseen b"
    assert pick_worst(values, sizes, unseen, "min")[0] == "unseen a"  # lower is better: the highest is worst
    # no unseen source big enough: any big enough one; none big enough: all of them
    assert pick_worst(values, sizes, {"unseen tiny"}, "max") == ("trained, held-out part",
                                                                 f"sources with at least {big} images")
    assert pick_worst(values, dict.fromkeys(values, 1), set(), "max") == ("trained, held-out part", "all sources")
    assert pick_worst({}, {}, set(), "max") is None


def _audit_run(folder: Path, status: str = "done", task: str = "digits") -> Path:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"task": task, "kind": "audit_by_source", "status": status,
                                                 "epochs": 3}))
    figures = {name: {"images": n, "metrics": {"answered_right": v, "accuracy": v + 0.01},
                      "metrics_ci95": {"answered_right": [v - 0.05, v + 0.05]}}
               for name, n, v in (("mnist", 30, 0.9), ("digits_other/a+scans", 20, 0.8), ("digits_other/tiny", 5, 0.1))}
    (folder / "by_source.json").write_text(json.dumps(figures))
    return folder


def test_a_card_carries_the_leave_one_source_out_figures_of_its_weights(tmp_path: Path, tiny_run: Path):
    import pytest
    import torch

    from glancekit.engine.bench import held_out_figures, write_card
    from glancekit.errors import GlanceError
    task = get("digits")
    held = held_out_figures(task, _audit_run(tmp_path / "audit"))["held_out_sources"]
    # the worst source with enough images to mean something; the 5-image one does not count
    assert held["metric"] == "answered_right" and held["worst"]["name"] == "digits_other/a+scans"
    assert held["worst"]["answered_right"] == 0.8 and held["sources"]["mnist"]["images"] == 30
    assert "3 epochs" in held["what"]
    for bad in (_audit_run(tmp_path / "running", status="running"), _audit_run(tmp_path / "clock", task="clock"),
                tmp_path / "nothing"):
        with pytest.raises(GlanceError, match="--audit"):
            held_out_figures(task, bad)
    weights = tmp_path / "w" / "digits.pt"
    weights.parent.mkdir()
    shutil.copy(tiny_run / "weights" / "best.pt", weights)
    from glancekit.engine.checkpoint import file_sha256
    write_card(task, weights, {"held_out_sources": {**held, "weights_sha256": file_sha256(weights)}})
    assert json.loads(weights.with_suffix(".json").read_text())["held_out_sources"]["worst"]["answered_right"] == 0.8
    write_card(task, weights, {})  # the same weights benched again: the audit stays theirs
    assert "held_out_sources" in json.loads(weights.with_suffix(".json").read_text())
    ckpt = torch.load(weights, weights_only=False)
    ckpt["meta"]["epoch"] = 99  # other weights in the same place: the audit was of another recipe's weights
    torch.save(ckpt, weights)
    write_card(task, weights, {})
    assert "held_out_sources" not in json.loads(weights.with_suffix(".json").read_text())
