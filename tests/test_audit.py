"""glance audit: cross-fitted models find labels that were flipped on purpose."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from glancekit.cli import main
from glancekit.engine.audit import find_suspects, fold_ids
from glancekit.errors import GlanceError


def test_find_suspects_uses_per_class_thresholds():
    labels = np.array([0, 0, 0, 1, 1, 1])
    probs = np.array([[0.9, 0.1],   # fine
                      [0.8, 0.2],   # fine
                      [0.1, 0.9],   # labelled 0, the models say 1 as surely as a typical 1: suspect
                      [0.3, 0.7],
                      [0.2, 0.8],
                      [0.45, 0.55]])  # labelled 1 and believed more than 0: fine
    suspect, suggested = find_suspects(probs, labels)
    assert suspect.tolist() == [False, False, True, False, False, False]
    assert suggested[2] == 1
    # a mild doubt is not enough: 0.6 for class 1 is below class 1's typical 0.7
    probs[2] = [0.4, 0.6]
    assert not find_suspects(probs, labels)[0][2]


def test_folds_are_stratified_and_keep_groups_together():
    targets = [0] * 20 + [1] * 20
    folds = fold_ids(targets, None, 4, seed=0)
    for k in range(4):
        held = folds == k
        assert held.sum() == 10 and np.asarray(targets)[held].sum() == 5
    groups = [f"photo{i // 2}" for i in range(40)]  # two boxes per photo
    folds = fold_ids(targets, groups, 4, seed=0)
    for i in range(0, 40, 2):
        assert folds[i] == folds[i + 1]
    with pytest.raises(GlanceError, match="too few"):
        fold_ids([0, 0, 1, 1, 1, 1], None, 3, seed=0)
    with pytest.raises(GlanceError, match="at least 2"):
        fold_ids(targets, None, 1, seed=0)


def test_audit_finds_flipped_labels(digit_folder: Path, tmp_path: Path):
    """Six images get another digit's label; the audit must rank most of them among few suspects, and
    write its files without touching the data."""
    rng = np.random.default_rng(1)
    files = sorted(digit_folder.rglob("*.png"))
    flipped = {str(f): str((int(f.parent.name) + 5) % 10) for f in rng.choice(files, 6, replace=False)}
    data = tmp_path / "data.csv"
    with open(data, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label"])
        for f in files:
            w.writerow([str(f), flipped.get(str(f), f.parent.name)])
    before = data.read_text()
    config = tmp_path / "tiny.yaml"
    config.write_text("batch: 16\nlr: 0.005\naugment: false\nmodel: {widths: [8, 16, 32]}\n")
    assert main(["audit", "digits", "--data", str(data), "--folds", "3", "--epochs", "12", "--config", str(config),
                 "--project", str(tmp_path / "runs"), "--name", "a"]) == 0
    run = tmp_path / "runs" / "digits" / "a"
    with open(run / "suspects.csv", newline="") as fh:
        suspects = list(csv.DictReader(fh))
    found = {r["file"] for r in suspects} & set(flipped)
    assert len(found) >= 4, (len(found), len(suspects))
    assert len(suspects) <= 12
    for r in suspects:
        if r["file"] in flipped:  # the suggestion is the digit the image shows
            assert r["suggested"] == Path(r["file"]).parent.name or float(r["p_label"]) < 0.5
    with open(run / "oof.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(files)
    summary = json.loads((run / "audit.json").read_text())
    assert summary["images"] == len(files) and summary["suspects"] == len(suspects)
    # The recipe's own out-of-fold score: the task's metrics on the pooled answers, with an interval.
    oof = summary["oof_metrics"]
    assert oof["accuracy"] == pytest.approx(summary["out-of-fold accuracy"], abs=1e-4)
    lo, hi = summary["oof_intervals"]["accuracy"]
    assert lo <= oof["accuracy"] <= hi and hi - lo > 0
    assert (run / "report.html").stat().st_size > 10_000 and (run / "suspects.png").is_file()
    assert (run / "disagreements.png").is_file()
    with open(run / "review.csv", newline="") as fh:  # proposals `glance review` walks, worst first
        review = list(csv.DictReader(fh))
    assert len(review) == len(suspects) and {r["source"] for r in review} == {"proposed"}
    root = Path((run / "review_root.txt").read_text().strip())
    assert all((root / r["file"]).is_file() for r in review)
    assert data.read_text() == before


def test_audit_rejects_bad_input(tmp_path: Path, capsys):
    assert main(["audit", "clock", "--data", str(tmp_path)]) == 2
    assert "classification" in capsys.readouterr().err
    assert main(["audit", "digits", "--data", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["audit", "digits", "--data", "synth:val:50"]) == 2
    assert "exact labels" in capsys.readouterr().err


def test_audit_by_source_scores_each_source_with_a_model_that_never_saw_it(tmp_path, capsys):
    """Three sources: three folds, each trained on the other two and scored on all of the one held out."""
    import cv2

    from glancekit.cli import main
    from .conftest import render_digit
    rng = np.random.default_rng(0)
    sources = []
    for k, dark in enumerate((True, False, True)):
        src = tmp_path / f"src{k}"
        for d in range(10):
            (src / str(d)).mkdir(parents=True)
            for i in range(8):
                cv2.imwrite(str(src / str(d) / f"{i}.png"), render_digit(d, rng, dark_on_light=dark))
        sources.append(src)
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("model: {widths: [8, 16, 32]}\nbatch: 32\n")
    args = ["audit", "digits", "--by-source", "--epochs", "1", "--config", str(cfg), "--project", str(tmp_path / "runs")]
    assert main(args + sum((["--data", str(s)] for s in sources), [])) == 0
    run = tmp_path / "runs" / "digits" / "by_source"
    result = json.loads((run / "by_source.json").read_text())
    assert list(result) == ["src0", "src1", "src2"]
    for k, (name, r) in enumerate(result.items()):
        assert r["images"] == 80 and name not in [Path(p).name for p in r["trained_on"]] and len(r["trained_on"]) == 2
        fold = json.loads((Path(r["fold_run"]) / "run.json").read_text())
        assert fold["status"] == "done" and [Path(s["data_path"]).name for s in fold["split"]["sources"]] == \
            [f"src{j}" for j in range(3) if j != k]
    info = json.loads((run / "run.json").read_text())
    acc = {n: r["metrics"]["accuracy"] for n, r in result.items()}
    assert info["status"] == "done" and info["worst_source"] == min(acc, key=acc.get)
    assert f"worst held-out source: {info['worst_source']}" in capsys.readouterr().out
    assert main(["audit", "digits", "--by-source", "--data", str(sources[0])]) == 2
    assert "--by-source needs at least two sources" in capsys.readouterr().err
    assert main(["audit", "digits", "--data", str(sources[0]), "--data", str(sources[1])]) == 2
    assert "audit needs one labelled set" in capsys.readouterr().err
