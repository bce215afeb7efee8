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
