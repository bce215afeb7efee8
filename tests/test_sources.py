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
