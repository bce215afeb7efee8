"""A run's data plan (data/plan.py) and how shipped files name paths (data/locations.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from glancekit.config import TrainConfig
from glancekit.data.locations import PACKAGE_DIR, located, portable, portable_record
from glancekit.data.plan import plan_data, same_path
from glancekit.tasks import get


def test_portable_names_and_located_reads_them_back(tmp_path, monkeypatch):
    root = tmp_path / "shared" / "data"
    (root / "gestures" / "hands_dataset").mkdir(parents=True)
    monkeypatch.setenv("GLANCE_DATA", str(root))
    data = root / "gestures" / "hands_dataset"
    assert portable(data) == "$GLANCE_DATA/gestures/hands_dataset"
    assert located("$GLANCE_DATA/gestures/hands_dataset") == data
    shipped = PACKAGE_DIR / "weights" / "gestures.pt"
    assert portable(shipped) == "glancekit/weights/gestures.pt"
    monkeypatch.chdir(tmp_path)  # from anywhere, the package's own files are found
    assert located("glancekit/weights/gestures.pt") == shipped
    assert portable("/elsewhere/x/runs/hand_keypoints/hkm/weights/best.pt") == \
        "runs/hand_keypoints/hkm/weights/best.pt (on the machine that made it)"
    assert portable("/home/someone/mine.csv") == "mine.csv (on the machine that made it)"
    assert portable("synth:test:2000") == "synth:test:2000" and portable("../shared/data/mnist") == "../shared/data/mnist"
    record = {"a": [str(data), {"b": str(shipped)}], "n": 3, "s": "synth:val"}
    assert portable_record(record) == {"a": ["$GLANCE_DATA/gestures/hands_dataset",
                                             {"b": "glancekit/weights/gestures.pt"}], "n": 3, "s": "synth:val"}
    assert same_path("$GLANCE_DATA/gestures/hands_dataset", str(data))
    assert not same_path("runs/x/best.pt (on the machine that made it)", str(data))
    # a folder given to --data and the labels file in it that a task's source list names are one data set
    labels = tmp_path / "web" / "x" / "keypoints_mediapipe.json"
    labels.parent.mkdir(parents=True)
    labels.write_text("[]")
    assert same_path(str(labels.parent), str(labels)) and same_path(str(labels), str(labels.parent))
    assert not same_path(str(labels.parent.parent), str(labels))


def _cfg(**options) -> TrainConfig:
    return TrainConfig.resolve(get("digits").train_defaults, None, options)


def test_plan_splits_a_set_into_disjoint_parts_and_records_them(digit_folder: Path):
    plan = plan_data(get("digits"), _cfg(data=str(digit_folder)))
    parts = {"train": plan.train, "val": plan.val, "test": plan.test}
    ids = {k: set(v.items) for k, v in parts.items()}
    assert not (ids["train"] & ids["val"]) and not (ids["train"] & ids["test"]) and not (ids["val"] & ids["test"])
    assert sum(len(v) for v in ids.values()) == 240
    assert plan.counts() == plan.provenance["sizes"] == {k: len(v) for k, v in parts.items()}
    assert plan.provenance["data_path"] == str(digit_folder.resolve()) and not plan.synthetic
    assert plan.describe(_cfg()) == f"train {len(plan.train)}, val {len(plan.val)}"


def test_plan_extra_joins_training_only(digit_folder: Path, tmp_path: Path):
    base = plan_data(get("digits"), _cfg(data=str(digit_folder)))
    extra = tmp_path / "extra.csv"
    held = [str(p) for p in base.test.items[:2]]  # images already held out must not teach
    new = [str(p) for p in base.train.items[:1]]   # nor images already in training be counted twice
    extra.write_text("file,label\n" + "".join(f"{p},{Path(p).parent.name}\n" for p in held + new))
    with pytest.raises(Exception, match="every image is already in the data's train, val or test part"):
        plan_data(get("digits"), _cfg(data=str(digit_folder), extra=str(extra)))
    other = tmp_path / "other"
    other.mkdir()
    import shutil
    shutil.copy(held[0], other / "copy.png")
    extra.write_text("file,label\n" + f"{other / 'copy.png'},{Path(held[0]).parent.name}\n" + f"{held[1]},0\n")
    plan = plan_data(get("digits"), _cfg(data=str(digit_folder), extra=str(extra)))
    assert len(plan.train) == len(base.train) + 1 and plan.test.items == base.test.items
    assert plan.provenance["extra"]["images"] == 1 and plan.provenance["extra"]["left_out"] == 1


def test_plan_refuses_no_data_and_too_little(tmp_path: Path):
    with pytest.raises(Exception, match="no training data: pass --data"):
        plan_data(get("digits"), _cfg())
    one = tmp_path / "one" / "3"
    one.mkdir(parents=True)
    import cv2
    import numpy as np
    cv2.imwrite(str(one / "a.png"), np.zeros((28, 28), np.uint8) + 255)
    with pytest.raises(Exception, match="too few images to split"):
        plan_data(get("digits"), _cfg(data=str(tmp_path / "one")))


def test_ship_writes_weights_export_and_a_card_naming_no_machine_path(tiny_run: Path, digit_folder: Path,
                                                                      tmp_path: Path, monkeypatch):
    """`glance ship` into a package weights folder (here a temporary one): the weights' meta and the card
    name only what a user can find; the ONNX export is of exactly these weights; the card has the bench."""
    import glancekit.engine.bench as bench
    from glancekit.cli import main
    from glancekit.engine.checkpoint import file_sha256, load_checkpoint
    from glancekit.engine.predict import onnx_source_sha
    weights_dir = tmp_path / "pkg" / "weights"
    weights_dir.mkdir(parents=True)
    monkeypatch.setattr(bench, "WEIGHTS_DIR", weights_dir)
    monkeypatch.setenv("GLANCE_DATA", str(digit_folder.parent))
    assert main(["ship", "digits", "--weights", str(tiny_run / "weights" / "best.pt"), "--data", str(digit_folder)]) == 0
    pt, card_path = weights_dir / "digits.pt", weights_dir / "digits.json"
    assert onnx_source_sha(weights_dir / "digits.onnx") == file_sha256(pt)
    meta = load_checkpoint(pt)["meta"]
    card = json.loads(card_path.read_text())

    def strings(x):
        return ([s for v in x.values() for s in strings(v)] if isinstance(x, dict) else
                [s for v in x for s in strings(v)] if isinstance(x, list) else [x] if isinstance(x, str) else [])
    assert not [s for s in strings(meta) + strings(card) if s.startswith("/")]
    assert meta["split"]["data_path"] == f"$GLANCE_DATA/{digit_folder.name}" == card["trained_on"]["split"]["data_path"]
    assert card["bench"]["images"] == meta["split"]["sizes"]["test"] and card["bench"]["metrics"]["accuracy"] > 0.2
    # the portable names still work: a bench of the shipped weights cuts the same held-out part again
    assert located(meta["split"]["data_path"]).resolve() == digit_folder.resolve()


def _labelled_source(folder: Path, n: int, seed: int) -> Path:
    import cv2
    import numpy as np

    from .conftest import render_digit
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True)
    rows = ["file,label"]
    for i in range(n):
        cv2.imwrite(str(folder / "images" / f"{i}.png"), render_digit(i % 10, rng, dark_on_light=False))
        rows.append(f"{i}.png,{i % 10}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_plan_of_several_sources_splits_each_and_balances_them(digit_folder: Path, tmp_path: Path):
    import numpy as np

    from glancekit.data.plan import SourceBalancedSampler
    small = _labelled_source(tmp_path / "small", 80, 1)
    plan = plan_data(get("digits"), _cfg(data=[str(digit_folder), str(small)]))
    big_rec, small_rec = plan.provenance["sources"]
    assert big_rec["data_path"] == str(digit_folder.resolve()) and small_rec["data_path"] == str(small.resolve())
    assert sum(big_rec["sizes"].values()) == 240 and sum(small_rec["sizes"].values()) == 80
    assert small_rec["sizes"]["test"] > 0  # every source keeps a held-out part of its own
    assert plan.source_of_train == [0] * big_rec["sizes"]["train"] + [1] * small_rec["sizes"]["train"]
    assert not set(map(str, plan.train.items)) & set(map(str, plan.test.items))
    draws = {b: np.bincount(np.asarray(plan.source_of_train)[list(SourceBalancedSampler(plan.source_of_train, b, 0))],
                            minlength=2) for b in (0.0, 0.5, 1.0)}
    n_big, n_small = big_rec["sizes"]["train"], small_rec["sizes"]["train"]
    share = {b: d[1] / d.sum() for b, d in draws.items()}
    assert abs(share[0.0] - 0.5) < 0.08  # equal shares
    assert abs(share[1.0] - n_small / (n_big + n_small)) < 0.06  # by size
    expected = n_small ** 0.5 / (n_small ** 0.5 + n_big ** 0.5)
    assert abs(share[0.5] - expected) < 0.07 and share[1.0] < share[0.5] < share[0.0]
    s = SourceBalancedSampler(plan.source_of_train, 0.5, 3)
    s.set_epoch(1)
    first = list(s)
    assert first == list(s) and first != (s.set_epoch(2) or list(s))  # seeded per epoch


def test_training_on_several_sources_benches_each_on_its_own_test_part(digit_folder: Path, tmp_path: Path,
                                                                       monkeypatch):
    from glancekit.engine.train import train
    root = tmp_path / "data"
    (root / "digits_other").mkdir(parents=True)
    (root / "mnist").symlink_to(digit_folder)
    small = _labelled_source(root / "digits_other" / "x+small", 80, 1)
    _labelled_source(root / "digits_other" / "y+unseen", 20, 2)
    monkeypatch.setenv("GLANCE_DATA", str(root))
    cfg = TrainConfig.resolve({"epochs": 1, "batch": 32, "model": {"widths": [8, 16, 32]}}, None,
                              {"data": [str(root / "mnist"), str(small)], "project": str(tmp_path / "runs")})
    run = train("digits", cfg)
    from glancekit.cli import main
    assert main(["bench", "digits", "--weights", str(run / "weights" / "best.pt"), "--repeats", "2",
                 "--out", str(tmp_path / "b.json")]) == 0
    sources = json.loads((tmp_path / "b.json").read_text())["sources"]
    info = json.loads((run / "run.json").read_text())["split"]["sources"]
    assert sources["mnist"]["images"] == info[0]["sizes"]["test"] and "held out" in sources["mnist"]["part"]
    assert sources["digits_other/x+small"]["images"] == info[1]["sizes"]["test"]
    assert sources["digits_other/y+unseen"]["images"] == 20 and "never trained on" in sources["digits_other/y+unseen"]["part"]
