"""gestures: label names from other data sets, HaGRID and HANDS-style readers (tiny fixtures), crops,
synthetic renders with outliers, the no_gesture threshold, and a tiny end-to-end run."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from glancekit.cli import main
from glancekit.data.readers import read_dataset
from glancekit.data.synth import synth_samples
from glancekit.errors import GlanceError
from glancekit.tasks import get
from glancekit.tasks.gestures import crop_box

from .conftest import SHARED


def frame(h: int = 120, w: int = 160) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :, 1] = np.arange(w, dtype=np.uint8)[None, :]  # a horizontal ramp: crops are recognisable
    return img


def test_label_names_of_other_data_sets():
    task = get("gestures")
    for raw, ours in (("palm", "five"), ("two_up", "two"), ("peace", "two"), ("3-hand", "three"), ("like", "like"),
                      ("FIST", "fist")):
        assert task.labels[task.parse_target({"label": raw})] == ours
    with pytest.raises(GlanceError, match="unknown label 'rock'"):
        task.parse_target({"label": "rock"}, where="x.csv:3")


def test_crop_box_is_square_with_margin_and_clamped():
    img = frame()
    c = crop_box(img, (40, 30, 80, 90), margin=0.2)  # 40x60 box → 84 px square around (60, 60)
    assert c.shape[:2] == (84, 84)
    assert int(c[0, 0, 1]) == 18  # starts at x = 60 - 42
    edge = crop_box(img, (0, 0, 30, 30), margin=0.5)
    assert edge.shape[:2] == (45, 45)  # clamped at the image corner
    with pytest.raises(GlanceError, match="outside"):
        crop_box(img, (500, 500, 600, 600))


def test_hagrid_reader_maps_names_and_ignores_others(tmp_path):
    (tmp_path / "annotations" / "train").mkdir(parents=True)
    (tmp_path / "palm").mkdir()
    (tmp_path / "call").mkdir()
    cv2.imwrite(str(tmp_path / "palm" / "a1.jpg"), frame())
    cv2.imwrite(str(tmp_path / "call" / "b2.jpg"), frame())
    (tmp_path / "annotations" / "train" / "palm.json").write_text(json.dumps({
        "a1": {"bboxes": [[0.25, 0.25, 0.25, 0.5], [0.6, 0.1, 0.2, 0.3]], "labels": ["palm", "no_gesture"]}}))
    (tmp_path / "annotations" / "train" / "call.json").write_text(json.dumps({
        "b2": {"bboxes": [[0.1, 0.1, 0.3, 0.3]], "labels": ["call"]}}))
    s = read_dataset(tmp_path, get("gestures"))
    assert s.meta["reader"] == "hagrid" and len(s) == 1
    assert get("gestures").labels[s.targets[0]] == "five"
    side = round(max(0.25 * 160, 0.5 * 120) * 1.4)
    assert s.items[0].shape[:2] == (side, side)


def test_hands_box_reader(tmp_path):
    cv2.imwrite(str(tmp_path / "p.jpg"), frame())
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "width", "height", "label", "xmin", "ymin", "xmax", "ymax"])
        w.writerow(["p.jpg", 160, 120, "three", 10, 10, 50, 60])
        w.writerow(["p.jpg", 160, 120, "rock", 60, 10, 100, 60])
        w.writerow(["p.jpg", 160, 120, "fist", 100, 50, 150, 110])
    s = read_dataset(tmp_path, get("gestures"))
    assert [get("gestures").labels[t] for t in s.targets] == ["three", "fist"] and s.meta["skipped_rows"] == 1
    with open(tmp_path / "labels.csv", "a", newline="") as f:
        csv.writer(f).writerow(["gone.jpg", 160, 120, "one", 1, 1, 20, 20])
    with pytest.raises(GlanceError, match="labels.csv:5: image 'gone.jpg' not found"):
        read_dataset(tmp_path, get("gestures"))


@pytest.mark.skipif(not (SHARED / "gestures" / "hands_dataset").is_dir(), reason="shared gestures data absent")
def test_real_hands_dataset_reads_every_box():
    s = read_dataset(SHARED / "gestures" / "hands_dataset", get("gestures"))
    assert len(s) == 1381
    assert {get("gestures").labels[t] for t in s.targets} == {"fist", "one", "two", "three", "four", "five"}


def test_synthetic_gestures_and_outliers():
    task = get("gestures")
    train = synth_samples(task, "train", 60, seed=0)
    test = synth_samples(task, "test", 30)
    assert -1 in train.targets and all(0 <= t < 9 for t in test.targets)
    assert train.items[0].shape == (96, 96, 3)


def test_no_gesture_below_the_threshold():
    task = get("gestures")
    out = np.array([[5.0] + [0.0] * 8, [0.3, 0.2] + [0.0] * 7])
    preds = task.decode(out, {"threshold": 0.5})
    assert preds[0].label == "one" and preds[1].label == "no_gesture"
    cal = task.calibrate(np.eye(9)[np.arange(9) % 9] * 4, np.arange(9))
    assert 0 < cal["threshold"] < 1


def hands_box_set(root: Path, n: int = 40, per_photo: int = 1) -> Path:
    """A HANDS-style labels.csv with n boxes, `per_photo` boxes on each tiny frame, labels cycling
    through six gestures."""
    root.mkdir(parents=True, exist_ok=True)
    names = ("fist", "one", "two", "three", "four", "five")
    with open(root / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "width", "height", "label", "xmin", "ymin", "xmax", "ymax"])
        for i in range(n):
            if i % per_photo == 0:
                cv2.imwrite(str(root / f"{i // per_photo}.jpg"), frame())
            x = 10 + 70 * (i % per_photo)
            w.writerow([f"{i // per_photo}.jpg", 160, 120, names[i % 6], x, 20, x + 60, 100])
    return root


def test_split_keeps_the_boxes_of_one_photo_together(tmp_path):
    from glancekit.engine.evaluate import split_samples
    task = get("gestures")
    s = read_dataset(hands_box_set(tmp_path, 120, per_photo=2), task)
    assert s.groups is not None and len(set(s.groups)) == 60
    parts = split_samples(task, s, seed=1)
    photos = {k: set(p.groups or []) for k, p in parts.items()}
    assert sum(len(p) for p in parts.values()) == 120 and min(len(p) for p in parts.values()) > 0
    assert not (photos["train"] & photos["test"]) and not (photos["train"] & photos["val"])
    assert not (photos["val"] & photos["test"])
    # runs made before grouping split per box: grouped=False cuts exactly that split again
    per_box = split_samples(task, s, seed=1, grouped=False)
    assert {k: p.ids for k, p in per_box.items()} != {k: p.ids for k, p in parts.items()}
    assert (set(per_box["train"].groups or []) & set(per_box["test"].groups or []))


def test_mixed_sampler_puts_every_real_image_in_every_epoch():
    from glancekit.data.synth import MixedSampler
    s = MixedSampler(10, 4, repeat=2, seed=0)
    for epoch in (0, 3):
        s.set_epoch(epoch)
        idx = list(s)
        assert len(idx) == len(s) == 18
        assert sorted(i for i in idx if i >= 0) == list(range(epoch * 10, epoch * 10 + 10))
        assert sorted(i for i in idx if i < 0) == [-4, -4, -3, -3, -2, -2, -1, -1]
    s.set_epoch(0)
    assert list(s) != sorted(s) and list(s) == list(s)  # shuffled, and the same again for the same epoch


def test_tiny_run_predicts_a_gesture(tmp_path, monkeypatch):
    project = tmp_path / "runs"
    real = hands_box_set(tmp_path / "data" / "gestures" / "hands_dataset", 80, per_photo=2)
    monkeypatch.setenv("GLANCE_DATA", str(tmp_path / "data"))
    assert main(["train", "gestures", "--data", "synth", "--epochs", "1", "--epoch-size", "64", "--val-size", "27",
                 "--batch", "32", "--project", str(project), "--name", "t", "--mix", str(real),
                 "--mix-repeat", "2"]) == 0
    run = project / "gestures" / "t"
    assert "val_weighted_f1" in (run / "metrics.csv").read_text() and (run / "confusion.png").is_file()
    info = json.loads((run / "run.json").read_text())["split"]
    sizes = info["mix"]["sizes"]
    assert sum(sizes.values()) == 80 and min(sizes.values()) > 0 and info["mix"]["grouped"] is True
    assert info["val_size"] == 27 + sizes["val"]  # real validation images join the rendered ones
    assert main(["train", "gestures", "--data", str(real), "--mix", str(real), "--project", str(project)]) == 2
    # bench scores the real set beside the renders, only on the part training held out
    assert main(["bench", "gestures", "--weights", str(run / "weights" / "best.pt"), "--repeats", "2",
                 "--out", str(tmp_path / "bench.json")]) == 0
    bench = json.loads((tmp_path / "bench.json").read_text())
    real_block = bench["sources"]["gestures/hands_dataset"]
    assert real_block["images"] == sizes["test"] and "held out" in real_block["part"]
    assert bench["worst_source"] == {"name": "gestures/hands_dataset", "metric": "weighted_f1",
                                     "value": real_block["metrics"]["weighted_f1"],
                                     "interval": real_block["metrics_ci95"]["weighted_f1"], "among": "all sources"}
    # a synthetic spec of the user's own keeps the real block; a real folder of theirs is the benchmark
    assert main(["bench", "gestures", "--weights", str(run / "weights" / "best.pt"), "--repeats", "2",
                 "--data", "synth:test:18", "--out", str(tmp_path / "b2.json")]) == 0
    b2 = json.loads((tmp_path / "b2.json").read_text())
    assert b2["images"] == 18 and b2["sources"]["gestures/hands_dataset"]["images"] == sizes["test"]
    assert main(["bench", "gestures", "--weights", str(run / "weights" / "best.pt"), "--repeats", "2",
                 "--data", str(real), "--split", "all", "--out", str(tmp_path / "b3.json")]) == 0
    b3 = json.loads((tmp_path / "b3.json").read_text())
    assert b3["images"] == 80 and b3["sources"] == {} and "the --data given is the benchmark" in b3["sources_note"]
    # fine-tuning keeps the real split of its --init weights: with --mix (a new --seed does not re-split)
    # and without (bench must still leave out what the first run learnt)
    for extra, name in ((["--mix", str(real), "--seed", "3"], "ft"), ([], "ft2")):
        assert main(["train", "gestures", "--data", "synth", "--epochs", "1", "--epoch-size", "32", "--val-size",
                     "9", "--batch", "32", "--project", str(project), "--name", name,
                     "--init", str(run / "weights" / "best.pt"), *extra]) == 0
        mix = json.loads((project / "gestures" / name / "run.json").read_text())["split"]["mix"]
        assert (mix["seed"], mix["sizes"], mix["grouped"]) == (info["mix"]["seed"], sizes, True)
        assert mix["kept_from"] == str((run / "weights" / "best.pt").resolve())
    img = tmp_path / "hand.png"
    cv2.imwrite(str(img), synth_samples(get("gestures"), "test", 1).items[0])
    assert main(["predict", "gestures", str(img), "--weights", str(run / "weights" / "best.pt"), "--crop",
                 "--out", str(tmp_path / "p.csv")]) == 0
    label = (tmp_path / "p.csv").read_text().splitlines()[1].split(",")[1]
    assert label in (*get("gestures").labels, "no_gesture")


def write_video(path, frames: int = 30, size=(160, 120)) -> None:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    assert w.isOpened()
    for i in range(frames):
        img = frame(size[1], size[0])
        cv2.circle(img, (80, 60), 10 + i % 20, (255, 255, 255), -1)
        w.write(img)
    w.release()


def test_record_from_a_video_file_headless(tmp_path, tiny_gesture_weights):
    video = tmp_path / "clip.avi"
    write_video(video)
    out = tmp_path / "data"
    assert main(["record", "gestures", "--label", "like", "--source", str(video), "--out", str(out), "--every", "3",
                 "--box", "0.25,0.1,0.75,0.9", "--weights", str(tiny_gesture_weights), "--no-preview"]) == 0
    crops = sorted((out / "like").glob("*.jpg"))
    assert len(crops) == 10  # frames 1, 4, ..., 28
    assert cv2.imread(str(crops[0])).shape == (96, 80, 3)  # the box: 80 x 96 pixels of the 160 x 120 frame
    with open(out / "record_log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10 and rows[0]["label"] == "like" and rows[0]["model_guess"]
    # a second session adds files, never replaces them
    assert main(["record", "gestures", "--label", "like", "--source", str(video), "--out", str(out), "--max", "2",
                 "--box", "0.25,0.1,0.75,0.9", "--no-preview"]) == 0
    assert len(list((out / "like").glob("*.jpg"))) == 12
    assert main(["record", "gestures", "--label", "rock", "--source", str(video), "--out", str(out)]) == 2
    assert main(["record", "gestures", "--label", "like", "--source", str(tmp_path / "nope.mp4"), "--out", str(out)]) == 2


@pytest.fixture(scope="module")
def tiny_gesture_weights(tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("gruns")
    assert main(["train", "gestures", "--data", "synth", "--epochs", "1", "--epoch-size", "64", "--val-size", "27",
                 "--batch", "32", "--project", str(project), "--name", "w"]) == 0
    return project / "gestures" / "w" / "weights" / "best.pt"


def test_mine_names_confusions_and_ranks_the_pool(tmp_path, tiny_gesture_weights):
    from glancekit.engine.mine import confused_pairs, rank_pool
    cm = np.zeros((3, 3), int)
    cm[0, 1], cm[1, 0], cm[2, 0] = 4, 3, 1
    assert confused_pairs(cm, 2) == [(0, 1, 7), (0, 2, 1)]
    probs = np.array([[0.9, 0.02, 0.08], [0.45, 0.44, 0.11], [0.45, 0.1, 0.45]])
    score, pair = rank_pool(probs, [(0, 1, 7)])
    assert list(np.argsort(-score)) == [1, 2, 0] and list(pair) == [-1, 0, -1]

    labelled = tmp_path / "labelled"
    s = synth_samples(get("gestures"), "val", 27, seed=3)
    for i, (img, t) in enumerate(zip(s.items, s.targets)):
        (labelled / get("gestures").labels[t]).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(labelled / get("gestures").labels[t] / f"{i}.png"), img)
    pool = tmp_path / "pool"
    pool.mkdir()
    for i, img in enumerate(synth_samples(get("gestures"), "test", 12).items):
        cv2.imwrite(str(pool / f"p{i:02d}.png"), img)
    with open(pool / "labels.csv", "w", newline="") as f:  # one image a person already labelled
        f.write("file,label,source,confidence,cluster,review_rank\np00.png,ok,human,1.0,-1,-1\n")
    assert main(["mine", "gestures", "--data", str(labelled), "--pool", str(pool), "--weights",
                 str(tiny_gesture_weights), "--project", str(tmp_path / "runs")]) == 0
    with open(pool / "labels.csv", newline="") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    assert len(rows) == 12 and rows["p00.png"]["label"] == "ok" and rows["p00.png"]["source"] == "human"
    ranks = sorted(int(r["review_rank"]) for r in rows.values() if r["source"] == "proposed")
    assert len(ranks) == 11 and len(set(ranks)) == 11
    run = next((tmp_path / "runs" / "gestures").glob("mine*"))
    assert (run / "report.html").is_file() and len(json.loads((run / "to_label.json").read_text())) == 12
