"""The detection machinery (tasks/detection.py, metrics/detection.py, box readers, scenes) and the hands task."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from glancekit.cli import main
from glancekit.data.readers import read_dataset
from glancekit.errors import GlanceError
from glancekit.metrics import detection as dm
from glancekit.models.centernet import STRIDE
from glancekit.tasks import get
from glancekit.tasks.detection import MAX_BOXES, boxes_in_model, boxes_in_photo, truth_rows

from .conftest import SHARED


def test_iou_nms_and_average_precision_by_hand():
    a = np.array([[0, 0, 10, 10]])
    assert dm.iou_matrix(a, np.array([[5, 0, 15, 10], [20, 20, 30, 30]])).round(4).tolist() == [[0.3333, 0.0]]
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], float)
    assert dm.nms(boxes, np.array([0.9, 0.8, 0.7]), 0.5).tolist() == [0, 2]
    truth = [np.array([[0, 0, 10, 10, 0]], float), np.array([[0, 0, 10, 10, 0]], float)]
    # image 0: a false box scored above the true one; image 1: found. Ranked: F(0.9) T(0.8) T(0.7)
    preds = [np.array([[30, 30, 40, 40, 0.9, 0], [0, 0, 10, 10, 0.8, 0]]), np.array([[0, 0, 10, 10, 0.7, 0]])]
    _, tp, n, _ = dm.match(preds, truth, 0.5)
    assert tp.tolist() == [False, True, True] and n == 2
    # precision at recall 0.5 is 1/2, at recall 1 it is 2/3: interpolated AP = 0.5 * 2/3 + 0.5 * 2/3
    assert dm.average_precision(tp, n)[0] == pytest.approx(2 / 3)
    rep = dm.detection_report(preds, truth, threshold=0.75, image_side=100)
    assert rep["recall"] == 0.5 and rep["false_per_image"] == 0.5 and rep["recall_medium"] == 0.5 and "recall_small" not in rep
    assert dm.best_f1_threshold(preds, truth) == pytest.approx(0.7)


def _perfect_outputs(targets: torch.Tensor, grid: int) -> torch.Tensor:
    out = torch.full((len(targets), 5, grid, grid), -10.0)
    out[:, 1:] = 0
    for i, t in enumerate(targets):
        for x0, y0, x1, y1, c in t.tolist():
            if c < 0:
                continue
            cx, cy = (x0 + x1) / 2 / STRIDE - 0.5, (y0 + y1) / 2 / STRIDE - 0.5
            ix, iy = round(cx), round(cy)
            out[i, :, iy, ix] = torch.tensor([10, np.log((x1 - x0) / STRIDE), np.log((y1 - y0) / STRIDE), cx - ix, cy - iy])
    return out


def test_renders_have_exact_boxes_that_decode_back_and_the_loss_prefers_them():
    from glancekit.data.synth import synth_samples
    task = get("hands")
    s = synth_samples(task, "val", 24, seed=1)
    pairs = [task.preprocess_sample(i, t) for i, t in zip(s.items, s.targets)]
    y = torch.as_tensor(np.stack([t for _, t in pairs]))
    counts = (y[..., 4] >= 0).sum(1)
    assert counts.max() >= 2 and y.shape[1:] == (MAX_BOXES, 5)
    perfect = _perfect_outputs(y, task.size // STRIDE)
    m = task.evaluate(perfect.numpy(), y.numpy())
    assert m["ap50"] == 1.0 and m["recall"] == 1.0 and m["false_per_image"] == 0.0 and m["ap"] > 0.9
    assert task.loss(perfect, y) < 0.01 < task.loss(torch.zeros_like(perfect) - 2.19, y)
    # the mapping into the model's square and back is exact
    shape = (240, 320, 3)
    b = np.array([[10.0, 20.0, 110.0, 200.0]])
    assert np.allclose(boxes_in_photo(boxes_in_model(b, shape, 192), shape, 192), b, atol=1e-4)


def test_augmentation_moves_boxes_with_the_image():
    task = get("hands")
    torch.manual_seed(0)
    x = torch.zeros((16, 3, 192, 192))  # grey, as the padding zoom-out adds
    y = torch.full((16, MAX_BOXES, 5), -1.0)
    x[:, :, 60:120, 50:90] = 1.0
    y[:, 0] = torch.tensor([50.0, 60.0, 90.0, 120.0, 0.0])
    xa, ya = task.augment(x, y)
    checked = 0
    for i in range(16):
        bright = xa[i].mean(0) > xa[i].mean(0).min() + 0.5 * (xa[i].mean(0).max() - xa[i].mean(0).min())
        rows = truth_rows(ya[i:i + 1].numpy())[0]
        if not len(rows) or not bright.any():
            continue
        ys, xs = np.nonzero(bright.numpy())
        seen = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], float)
        assert dm.iou_matrix(seen, rows[:, :4])[0, 0] > 0.7
        checked += 1
    assert checked >= 8


def _photo(path: Path, w: int = 64, h: int = 48) -> None:
    cv2.imwrite(str(path), np.full((h, w, 3), 128, np.uint8))


def test_box_readers_read_every_layout(tmp_path):
    task = get("hands")
    # HANDS layout: one row per box; a photo whose box is the whole image (nothing found) is left out
    (tmp_path / "t" / "images").mkdir(parents=True)
    for n in ("a.jpg", "b.jpg", "c.jpg"):
        _photo(tmp_path / "t" / "images" / n)
    (tmp_path / "t" / "labels.csv").write_text(
        "file,width,height,label,xmin,ymin,xmax,ymax,box_source\n"
        "a.jpg,64,48,five,1,2,11,12,mediapipe\na.jpg,64,48,like,20,20,40,40,mediapipe\n"
        "b.jpg,64,48,fist,0,0,64,48,image\nc.jpg,64,48,ok,5,5,25,30,\n")
    s = read_dataset(tmp_path / "t", task)
    assert s.meta["reader"] == "box-table" and s.meta["photos_without_box"] == 1
    assert [len(truth_rows(t[None])[0]) for t in s.targets] == [2, 1]
    # YOLO: images/ + labels/ (normalised centre and size); an image without a txt has nothing in it
    (tmp_path / "y" / "images").mkdir(parents=True)
    (tmp_path / "y" / "labels").mkdir()
    _photo(tmp_path / "y" / "images" / "p.jpg", 100, 50)
    _photo(tmp_path / "y" / "images" / "q.jpg", 100, 50)
    (tmp_path / "y" / "labels" / "p.txt").write_text("0 0.5 0.5 0.2 0.4\n")
    s = read_dataset(tmp_path / "y", task)
    assert s.meta["reader"] == "yolo" and truth_rows(s.targets[0][None])[0][:, :4].tolist() == [[40, 15, 60, 35]]
    assert len(truth_rows(s.targets[1][None])[0]) == 0
    # Pascal VOC
    (tmp_path / "v" / "Annotations").mkdir(parents=True)
    (tmp_path / "v" / "JPEGImages").mkdir()
    _photo(tmp_path / "v" / "JPEGImages" / "r.jpg")
    (tmp_path / "v" / "Annotations" / "r.xml").write_text(
        "<annotation><filename>r.jpg</filename><object><name>hand</name><bndbox><xmin>3</xmin><ymin>4</ymin>"
        "<xmax>30</xmax><ymax>40</ymax></bndbox></object></annotation>")
    s = read_dataset(tmp_path / "v", task)
    assert s.meta["reader"] == "voc" and truth_rows(s.targets[0][None])[0][:, :4].tolist() == [[3, 4, 30, 40]]
    # HaGRID: normalised x, y, w, h; every box is a hand for the one-class task, no_gesture ones too
    (tmp_path / "h" / "annotations").mkdir(parents=True)
    _photo(tmp_path / "h" / "img1.jpg", 200, 100)
    (tmp_path / "h" / "annotations" / "like.json").write_text(json.dumps(
        {"img1": {"bboxes": [[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.1, 0.1]], "labels": ["like", "no_gesture"]}}))
    s = read_dataset(tmp_path / "h", task)
    assert s.meta["reader"] == "hagrid-boxes"
    assert np.allclose(truth_rows(s.targets[0][None])[0][:, :4], [[20, 20, 80, 60], [100, 50, 120, 60]])
    # what `glance synth hands` writes reads back as it was
    assert main(["synth", "hands", "--out", str(tmp_path / "s"), "--n", "4", "--seed", "3"]) == 0
    s = read_dataset(tmp_path / "s", task)
    from glancekit.data.synth import render
    img, target = render(task, "train", 0, 3, [])
    assert np.allclose(s.targets[0], target, atol=0.06)


@pytest.mark.parametrize("csv_text, message", [
    ("file,xmin,ymin,xmax,ymax\na.jpg,1,2,x,4\n", "box coordinates must be numbers, got 'x'"),
    ("file,xmin,ymin,xmax,ymax\na.jpg,10,2,5,4\n", "has no area"),
    ("file,boxes\na.jpg,[[1 2]]\n", "boxes must be JSON"),
    ("file,xmin,ymin,xmax,ymax,box_source\na.jpg,0,0,64,48,image\n", "no photo with boxes"),
])
def test_bad_box_files_give_one_clear_line(tmp_path, csv_text, message):
    _photo(tmp_path / "a.jpg")
    (tmp_path / "labels.csv").write_text(csv_text)
    with pytest.raises(GlanceError, match=message):
        read_dataset(tmp_path, get("hands"))


def test_train_calibrate_report_export_and_predict(tiny_hands, tmp_path):
    run = tiny_hands
    assert (run / "report.html").is_file() and (run / "pr_curve.png").is_file() and (run / "val_detections.png").is_file()
    assert "val_ap50" in (run / "metrics.csv").read_text()
    w = run / "weights" / "best.pt"
    meta = torch.load(w, weights_only=False)["meta"]
    assert 0.05 <= meta["threshold"] <= 1 and "F1" in meta["threshold_rule"]
    assert main(["export", "hands", "--weights", str(w)]) == 0
    img = tmp_path / "scene.png"
    cv2.imwrite(str(img), np.full((120, 160, 3), 90, np.uint8))
    assert main(["predict", "hands", str(img), "--weights", str(w), "--out", str(tmp_path / "p.json"),
                 "--save-vis", str(tmp_path / "vis")]) == 0
    pred = json.loads((tmp_path / "p.json").read_text())[0]
    assert set(pred) >= {"path", "label", "objects"}
    for o in pred["objects"]:  # boxes in the photo's pixels
        x0, y0, x1, y1 = o["box"]
        assert 0 <= x0 < x1 <= 160 and 0 <= y0 < y1 <= 120
    assert cv2.imread(str(tmp_path / "vis" / "scene.png")).shape == (120, 160, 3)


@pytest.mark.skipif(not (SHARED / "gestures" / "hands_dataset").is_dir(), reason="shared data absent")
def test_real_sources_read_as_whole_photos():
    task = get("hands")
    s = read_dataset(SHARED / "gestures" / "hands_dataset", task)
    assert len(s) == 1245 and sum(len(truth_rows(t[None])[0]) for t in s.targets) == 1381
    web = read_dataset(SHARED / "gestures" / "web" / "itzrahuldas+Gesture_proj", task)
    assert web.meta["photos_without_box"] == 599 and len(web) == 23
