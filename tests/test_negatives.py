"""Hand-free patches of box-labelled photos: they never touch a box, the halves never share a photo, they
train gestures' "unsure" answer, and `glance bench` scores them per source."""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from glancekit.data.negatives import object_free_patches
from glancekit.tasks import get


def boxed_photos(root: Path, n: int = 6, full: int = 0) -> Path:
    """n blue 120x160 photos, each with one red box (boxed); the last `full` photos are all box."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "width", "height", "label", "xmin", "ymin", "xmax", "ymax"])
        for i in range(n):
            img = np.zeros((120, 160, 3), np.uint8)
            img[..., 0] = 200 + i  # BGR: blue, a little different per photo
            box = (0, 0, 160, 120) if i >= n - full else (60, 30, 110, 90)
            img[box[1]:box[3], box[0]:box[2]] = (0, 0, 255)
            cv2.imwrite(str(root / f"p{i}.png"), img)
            w.writerow([f"p{i}.png", 160, 120, "five", *box])
    return root


def test_patches_keep_clear_of_every_box(tmp_path):
    patches = object_free_patches(boxed_photos(tmp_path), "hands", 40, 24, margin=0.0)
    assert len(patches) == 40 and patches[0].shape == (24, 24, 3) and patches[0].dtype == np.uint8
    assert max(int(p[..., 0].max()) for p in patches) < 40  # RGB: no red box pixel in any patch
    assert min(int(p[..., 2].min()) for p in patches) >= 190  # all photo background


def test_the_even_and_odd_halves_share_no_photo(tmp_path):
    root = boxed_photos(tmp_path, n=6)
    shade = lambda ps: {int(p[0, 0, 2]) for p in ps}  # noqa: E731  (each photo has its own blue)
    even = shade(object_free_patches(root, "hands", 30, 8, part="even", sides=(0.1, 0.2)))
    odd = shade(object_free_patches(root, "hands", 30, 8, part="odd", sides=(0.1, 0.2)))
    assert even and odd and not (even & odd)


def test_photos_that_are_all_box_give_no_patch(tmp_path):
    assert object_free_patches(boxed_photos(tmp_path, n=3, full=3), "hands", 10, 16) == []


def test_gestures_trains_hand_free_patches_as_unsure(monkeypatch):
    task = get("gestures")
    bank = [np.full((96, 96, 3), 7, np.uint8)]
    monkeypatch.setitem(task.__dict__, "negative_bank", bank)
    monkeypatch.setattr(task, "negative_share", 0.5)
    rng = np.random.default_rng(0)
    drawn = [task.synthesize(rng, "train", []) for _ in range(200)]
    patches = [y for img, y in drawn if img is bank[0]]
    assert 60 < len(patches) < 140 and set(patches) == {-1}
    assert all(img is not bank[0] for img, _ in (task.synthesize(rng, "test", []) for _ in range(20)))


def test_bench_scores_a_sources_hand_free_photos(tmp_path):
    task = get("gestures")
    root = boxed_photos(tmp_path)
    unsure = lambda x: np.zeros((len(x), 9), np.float32)  # noqa: E731
    sure = lambda x: np.tile(np.eye(9, dtype=np.float32)[0] * 10, (len(x), 1))  # noqa: E731
    assert task.source_figures(unsure, {"threshold": 0.5}, root) == {"no_hand_rejected": 1.0}
    assert task.source_figures(sure, {"threshold": 0.5}, root) == {"no_hand_rejected": 0.0}
    assert task.source_figures(sure, {"threshold": 0.5}, tmp_path / "crops_in_folders") == {}
