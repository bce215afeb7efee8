"""Packed data sets (glancekit/data/packed.py): pack → manifest → PackedReader round trip, refusals,
corruption detection, and clock tuple targets. Fixtures are tiny and made here."""
from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from glancekit.data.packed import (FORMAT, PackedReader, _target_from_row, measure_throughput, pack, read_manifest,
                                   verify_packed)
from glancekit.data.readers import read_dataset
from glancekit.errors import GlanceError
from glancekit.tasks import get

from .conftest import render_digit


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def digit_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 PNG digits, 3 per class folder, 40x40 grey."""
    root = tmp_path_factory.mktemp("pack_digits")
    rng = np.random.default_rng(1)
    for d in range(10):
        (root / str(d)).mkdir()
        for i in range(3):
            cv2.imwrite(str(root / str(d) / f"{i}.png"), render_digit(d, rng))
    return root


@pytest.fixture(scope="module")
def digit_packed(digit_src: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 30 digits packed with 2 worker processes into shards of 8 (8, 8, 8, 6)."""
    out = tmp_path_factory.mktemp("packed") / "digits"
    pack(get("digits"), digit_src, out, shard_size=8, workers=2)
    return out


def test_pack_digits_manifest(digit_packed: Path, digit_src: Path) -> None:
    m = json.loads((digit_packed / "manifest.json").read_text())
    assert m == read_manifest(digit_packed)
    assert m["format"] == FORMAT and m["task"] == "digits" and m["count"] == 30
    assert m["reader"] == "folders" and m["source"] == str(digit_src.resolve())
    assert m["images"] == {"shape": [28, 28], "dtype": "uint8"}
    assert m["targets"] == {"shape": [], "dtype": "int64"}
    assert m["workers"] == 2 and m["created"]
    assert [s["count"] for s in m["shards"]] == [8, 8, 8, 6]
    names = {p.name for p in digit_packed.iterdir()}
    assert names == {"manifest.json"} | {s[k] for s in m["shards"] for k in ("images", "targets", "ids")}
    assert m["shards"][0]["images"] == "images-00000.npy" and m["shards"][3]["ids"] == "ids-00003.json"
    for s in m["shards"]:
        for key in ("images", "targets", "ids"):
            assert s["sha256"][key] == _sha(digit_packed / s[key])
    assert np.load(digit_packed / "images-00003.npy").shape == (6, 28, 28)
    assert verify_packed(digit_packed) == []


def test_packed_reader_round_trip(digit_packed: Path, digit_src: Path) -> None:
    task = get("digits")
    reader = PackedReader()
    assert reader.name == "packed"
    assert reader.can_read(digit_packed) and reader.can_read(digit_packed / "manifest.json")
    assert not reader.can_read(digit_src) and not PackedReader().can_read(digit_src / "0")
    raw = read_dataset(digit_src, task)
    got = reader.read(digit_packed, task)
    assert len(got) == 30 and got.source == str(digit_packed)
    assert got.ids == raw.ids
    assert got.targets == raw.targets and all(type(t) is int for t in got.targets)
    assert all(x.shape == (28, 28) and x.dtype == np.uint8 for x in got.items)
    # same pixels as packing the raw image in this process would give
    expect, _ = task.pack_image(cv2.imread(str(digit_src / raw.ids[5]), cv2.IMREAD_GRAYSCALE), raw.targets[5])
    assert np.array_equal(np.asarray(got.items[5]), expect)
    # the model's preprocessing takes the (read-only, memory-mapped) views as they are
    x = task.preprocess(got.items[0])
    assert x.shape == (1, 28, 28) and x.dtype == np.float32
    sub = got.subset([0, 9])
    assert sub.ids == [raw.ids[0], raw.ids[9]]


def test_pack_refuses_existing_output(digit_packed: Path, digit_src: Path, tmp_path: Path) -> None:
    with pytest.raises(GlanceError, match="already holds a packed data set"):
        pack(get("digits"), digit_src, digit_packed, workers=1)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(GlanceError, match="not empty"):
        pack(get("digits"), digit_src, busy, workers=1)
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]
    with pytest.raises(GlanceError, match="shard-size"):
        pack(get("digits"), digit_src, tmp_path / "x", shard_size=0)


def test_packed_for_another_task_rejected(digit_packed: Path) -> None:
    with pytest.raises(GlanceError, match="packed for task digits, not eyes"):
        PackedReader().read(digit_packed, get("eyes"))


def test_corrupted_shard_detected(digit_packed: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(digit_packed, bad)
    shard = bad / "images-00001.npy"
    data = bytearray(shard.read_bytes())
    data[-10] ^= 0xFF  # one pixel changed: same shape, only the hash can tell
    shard.write_bytes(bytes(data))
    problems = verify_packed(bad)
    assert len(problems) == 1 and "images-00001.npy" in problems[0] and "sha256" in problems[0]
    PackedReader().read(bad, get("digits"))  # structure is intact: the default (no hashing) read works
    with pytest.raises(GlanceError, match="damaged: images-00001.npy"):
        PackedReader(verify=True).read(bad, get("digits"))
    # a truncated shard is caught by the structural checks, even without hashing
    (bad / "targets-00002.npy").write_bytes((bad / "targets-00002.npy").read_bytes()[:-16])
    assert any("targets-00002.npy" in p for p in verify_packed(bad, hashes=False))
    with pytest.raises(GlanceError, match="targets-00002.npy"):
        PackedReader().read(bad, get("digits"))
    (bad / "ids-00000.json").unlink()
    assert any("ids-00000.json: missing" in p for p in verify_packed(bad))


def test_failed_pack_leaves_nothing(digit_src: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(digit_src, src)
    (src / "9" / "z_broken.png").write_bytes(b"not a png")  # last image: two shards are written first
    out = tmp_path / "out"
    with pytest.raises(GlanceError, match="z_broken.png"):
        pack(get("digits"), src, out, shard_size=8, workers=1)
    assert not out.exists()
    assert not PackedReader().can_read(out)


def test_pack_clock_csv_keeps_tuple_targets(tmp_path: Path) -> None:
    src = tmp_path / "clocks"
    (src / "images").mkdir(parents=True)
    rng = np.random.default_rng(2)
    times = [(12, 0), (3, 15), (9, 59), (6, 30), (1, 1), (11, 45), (7, 5)]
    with open(src / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "hour", "minute"])
        for i, (h, m) in enumerate(times):
            img = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
            cv2.circle(img, (40, 30), 25, (255, 255, 255), -1)
            cv2.imwrite(str(src / "images" / f"c{i}.png"), img)
            w.writerow([f"c{i}.png", h, m])
    task = get("clock")
    size_h, size_w = task.input_size
    out = tmp_path / "packed"
    m = pack(task, src, out, shard_size=4, workers=1)
    assert m["count"] == 7 and m["reader"] == "csv" and [s["count"] for s in m["shards"]] == [4, 3]
    assert m["images"] == {"shape": [size_h, size_w, 3], "dtype": "uint8"}
    assert m["targets"] == {"shape": [2], "dtype": "int64"}
    raw = read_dataset(src, task)
    got = PackedReader().read(out, task)
    assert got.targets == raw.targets == [(h % 12, mm) for h, mm in times]
    assert all(type(t) is tuple and all(type(v) is int for v in t) for t in got.targets)
    assert got.ids == raw.ids == [f"c{i}.png" for i in range(7)]
    assert all(x.shape == (size_h, size_w, 3) for x in got.items)
    assert task.preprocess(got.items[0]).shape == (3, size_h, size_w)
    assert verify_packed(out) == []
    t = measure_throughput(task, out, limit=5)
    assert t["raw"]["images"] == t["packed"]["images"] == 5 and t["packed"]["reader"] == "packed"
    assert t["raw"]["reader"] == "csv"
    assert t["speedup"] == pytest.approx(t["packed"]["images_per_s"] / t["raw"]["images_per_s"])


def test_target_from_row() -> None:
    assert _target_from_row(np.int64(7)) == 7 and type(_target_from_row(np.asarray([3, 4])[0])) is int
    assert _target_from_row(np.array([10, 35])) == (10, 35)
    assert type(_target_from_row(np.array([10, 35], dtype=np.int64))[0]) is int
    kp = _target_from_row(np.arange(63, dtype=np.float64).reshape(21, 3))
    assert kp.dtype == np.float32 and kp.shape == (21, 3)
    assert _target_from_row(np.float32(0.5)) == 0.5 and _target_from_row(np.bool_(True)) is True
    stacked = np.asarray([np.ones((21, 3), np.float32), np.zeros((21, 3), np.float32)])
    assert [_target_from_row(r).shape for r in stacked] == [(21, 3), (21, 3)]


def test_packed_module_has_no_import_cycle() -> None:
    """readers.py may import PackedReader from packed.py at any point: packed.py must not need
    readers or tasks at import time."""
    code = ("import sys, glancekit.data.packed as p; "
            "assert 'glancekit.data.readers' not in sys.modules and 'glancekit.tasks' not in sys.modules; "
            "print(p.PackedReader.name)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "packed"
