"""Whole photos: find each hand, then read it (engine/pipeline.py), through the API, the CLI and the web app."""
from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import glancekit
from glancekit.cli import main
from glancekit.data.images import load_image
from glancekit.engine.pipeline import FramePrediction, Pipeline
from glancekit.synth import hands as sh
from glancekit.tasks.detection import DetectionPrediction


def scene_with_two_hands() -> tuple[np.ndarray, list[list[float]]]:
    """A 240x320 grey photo with two rendered hands pasted at known places."""
    img = np.full((240, 320, 3), 110, np.uint8)
    boxes = []
    for (x, y), seed in (((20, 40), 0), ((180, 90), 1)):
        s = sh.render_hand(np.random.default_rng(seed), 100, gesture="five")
        img[y:y + 100, x:x + 100] = np.where(s.mask[..., None], s.image, img[y:y + 100, x:x + 100])
        lo, hi = s.keypoints[:, :2].min(0), s.keypoints[:, :2].max(0)
        boxes.append([float(x + lo[0]), float(y + lo[1]), float(x + hi[0]), float(y + hi[1])])
    return img, boxes


def stub_detector(pipe: Pipeline, boxes_per_image: list[list[list[float]]]) -> None:
    """Make the pipeline's detector find exactly these boxes (so the test checks the pipeline, not a model)."""
    answers = iter(boxes_per_image)

    def predict(images):
        out = []
        for _ in images:
            boxes = next(answers)
            out.append(DetectionPrediction(f"{len(boxes)} hands", 0.9 if boxes else 0.0,
                                           [{"box": b, "score": 0.9, "label": "hand"} for b in boxes]))
        return out
    pipe.detector.predict = predict  # type: ignore[method-assign]


def test_pipeline_reads_each_found_hand_in_the_photos_pixels(tiny_hands):
    pipe = glancekit.load("gestures", crop=False)
    assert isinstance(pipe, Pipeline)
    pipe = Pipeline("gestures", detector_weights=tiny_hands / "weights" / "best.pt")
    img, boxes = scene_with_two_hands()
    stub_detector(pipe, [boxes, []])
    with_hands, empty = pipe.predict([img, np.full((50, 60, 3), 200, np.uint8)])
    assert isinstance(with_hands, FramePrediction) and len(with_hands.hands) == 2
    assert empty.hands == [] and empty.label == "0 hands" and empty.rows()[0]["prediction"] == "no hands"
    for o, (x0, y0, x1, y1) in zip(with_hands.hands, boxes):
        assert o.box == [x0, y0, x1, y1] and o.label in (*pipe.task.labels, "no_gesture")
        pts = np.asarray(o.keypoints)
        assert pts.shape == (21, 3)
        # keypoints come back in the photo's pixels: near their own hand's box, not in the crop's frame
        side = max(x1 - x0, y1 - y0) * 1.4
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        assert (np.abs(pts[:, 0] - cx) <= side / 2 + 1).all() and (np.abs(pts[:, 1] - cy) <= side / 2 + 1).all()
    d = with_hands.to_dict()
    assert set(d) == {"label", "confidence", "hands"} and set(d["hands"][0]) >= {"box", "score", "label", "confidence",
                                                                                 "keypoints"}
    assert len(with_hands.rows()) == 2 and with_hands.label.startswith("2 hands")
    drawn = pipe.visualize(img, with_hands)
    assert drawn.shape == img.shape and (drawn != img).any()


def test_predict_command_on_whole_photos_and_crops(tiny_hands, tmp_path):
    img, _ = scene_with_two_hands()
    photo = tmp_path / "room.jpg"
    cv2.imwrite(str(photo), img[..., ::-1])
    det = str(tiny_hands / "weights" / "best.pt")
    assert main(["predict", "gestures", str(photo), "--detector-weights", det, "--box-threshold", "0.05",
                 "--out", str(tmp_path / "p.json"), "--save-vis", str(tmp_path / "vis")]) == 0
    pred = json.loads((tmp_path / "p.json").read_text())[0]
    assert pred["path"] == str(photo) and isinstance(pred["hands"], list)
    assert cv2.imread(str(tmp_path / "vis" / "room.png")).shape == (240, 320, 3)
    assert main(["predict", "hand_keypoints", str(photo), "--detector-weights", det, "--box-threshold", "0.05",
                 "--out", str(tmp_path / "p.csv")]) == 0
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == max(1, len(pred["hands"])) and rows[0]["path"] == str(photo)
    # --crop: the photo is one hand; one answer
    assert main(["predict", "gestures", str(photo), "--crop", "--out", str(tmp_path / "c.csv")]) == 0
    with open(tmp_path / "c.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and "hands" not in rows[0]


def test_phone_photos_stored_sideways_are_read_upright(tmp_path):
    im = Image.fromarray(np.zeros((20, 40, 3), np.uint8))
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    im.save(tmp_path / "phone.jpg", exif=exif.tobytes())
    assert load_image(tmp_path / "phone.jpg").shape == (40, 20, 3)
    with Image.open(tmp_path / "phone.jpg") as opened:
        assert load_image(opened).shape == (40, 20, 3)


def test_web_app_finds_hands_in_uploads(tiny_hands):
    from glancekit.serve.app import ServeConfig, create_app
    client = TestClient(create_app(ServeConfig(weights={"hands": str(tiny_hands / "weights" / "best.pt")})))
    img, _ = scene_with_two_hands()
    ok, buf = cv2.imencode(".jpg", img)
    r = client.post("/api/predict/gestures", files={"image": ("room.jpg", buf.tobytes(), "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["objects_key"] == "hands" and isinstance(body["prediction"]["hands"], list)
    assert body["image_size"] == [320, 240]
    r = client.post("/api/predict/gestures?crop=true", files={"image": ("room.jpg", buf.tobytes(), "image/jpeg")})
    assert r.status_code == 200 and "top" in r.json()["prediction"] and "objects_key" not in r.json()


class _StubPipe:
    """A pipeline stand-in: finds the magenta pixels of a photo as one object that reads `label` (+ details)."""

    def __init__(self, task_name: str, label: str, answer=None) -> None:
        from glancekit.tasks import Prediction, get
        self.task = get(task_name)
        self.label, self.answer = label, answer or Prediction(label, 0.8)

    def predict(self, image):
        from glancekit.engine.pipeline import FoundObject
        img = load_image(image)
        ys, xs = np.nonzero((img[..., 0] == 255) & (img[..., 1] == 0) & (img[..., 2] == 255))
        objs = [FoundObject([float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)], 0.9,
                            self.label, 0.8, answer=self.answer)] if len(xs) else []
        return FramePrediction(f"{len(objs)} objects", 0.8 if objs else 0.0, objs, "objects")


def test_photo_bench_matches_found_objects_to_true_boxes():
    from glancekit.engine.photo_bench import score_photos
    from glancekit.tasks import get
    hands = get("hands")
    img = np.zeros((100, 100, 3), np.uint8)
    img[10:50, 10:50] = (255, 0, 255)
    blank = np.zeros((100, 100, 3), np.uint8)
    five = get("gestures").labels.index("five")
    targets = [hands.make_target([(10, 10, 50, 50, five), (60, 60, 90, 90, five)]),  # one found, one missed
               hands.make_target([])]                                              # nothing there, nothing found
    r = score_photos(_StubPipe("gestures", "five"), [img, blank], targets)  # type: ignore[arg-type]
    assert (r["found"], r["found_right"], r["false_per_photo"], r["objects"]) == (0.5, 0.5, 0.0, 2)
    r = score_photos(_StubPipe("gestures", "like"), [img], [hands.make_target([(60, 60, 90, 90, five)])])  # type: ignore[arg-type]
    assert (r["found"], r["found_right"], r["false_per_photo"]) == (0.0, 0.0, 1.0)


def test_a_peer_detector_is_matched_to_the_same_true_boxes():
    from glancekit.engine.photo_bench import match_boxes, score_peer_boxes
    from glancekit.tasks import get
    hands = get("hands")
    truth = hands.make_target([(10, 10, 50, 50, 0), (60, 60, 90, 90, 0)])
    # most confident first: a hit, a second box on the same hand (false), a box on nothing (false)
    assert match_boxes(np.array([[12, 10, 50, 52], [10, 12, 48, 50], [0, 60, 20, 90]]), truth[truth[:, 4] >= 0]) \
        == [0, -1, -1]

    def peer(images):
        return [np.array([[62, 60, 90, 91, 0.9]]), np.zeros((0, 5))][:len(images)], 3.0
    r = score_peer_boxes(peer, [np.zeros((100, 100, 3), np.uint8)] * 2, [truth, hands.make_target([])])
    assert r == {"found": 0.5, "false_per_photo": 0.0, "ms_per_photo": 3.0}


def test_one_object_photos_are_scored_as_photographed_and_pasted_into_scenes():
    from glancekit.engine.photo_bench import score_one_object_photos
    clock_photo = np.full((120, 90, 3), (255, 0, 255), np.uint8)
    from glancekit.tasks.clock import ClockPrediction
    pipe = _StubPipe("clock", "10:10", ClockPrediction("10:10", 0.8, 10, 10))
    r = score_one_object_photos(pipe, [clock_photo, clock_photo], [(10, 10), (10, 30)], seed=1)  # type: ignore[arg-type]
    assert r["photo"] == {"found": 1.0, "false_per_photo": 0.0, "exact": 0.5, "within1": 0.5, "within5": 0.5, "hour": 1.0,
                          "confidence_ece": pytest.approx(0.3)}  # said 80% sure, right half of the time
    assert r["scenes"] == pytest.approx(r["photo"]) and r["scenes_per_photo"] == 4


def test_record_crops_each_frames_hand_found_by_the_detector(tmp_path, capsys):
    """Without --box, `glance record` crops the hand the shipped detector finds in each frame; a clip with no
    hand in it says so instead of saving empty crops."""
    img, boxes = scene_with_two_hands()
    video = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for _ in range(6):
        w.write(np.ascontiguousarray(img[..., ::-1]))
    w.release()
    out = tmp_path / "rec"
    assert main(["record", "gestures", "--label", "five", "--source", str(video), "--out", str(out), "--every", "2",
                 "--no-preview"]) == 0
    assert "crops from the hand finder" in capsys.readouterr().out
    crops = sorted((out / "five").glob("*.jpg"))
    assert len(crops) == 3
    h, w_ = cv2.imread(str(crops[0])).shape[:2]
    assert abs(h - w_) <= 2 and 60 <= h <= 200  # a square around one of the ~70-100 px hands, not the frame
    blank = tmp_path / "blank.avi"
    w = cv2.VideoWriter(str(blank), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for _ in range(4):
        w.write(np.full((240, 320, 3), 120, np.uint8))
    w.release()
    assert main(["record", "gestures", "--label", "five", "--source", str(blank), "--out", str(out),
                 "--no-preview"]) == 2
    assert "no hand found" in capsys.readouterr().err


def test_predict_clock_finds_a_small_clock_in_a_room_and_reads_it(tmp_path):
    """The shipped clock finder and reader on a 640x480 photo with one clock at about a quarter of its width:
    the clock's box, its time in the photo's JSON, one CSV row per clock; an empty room gives no clocks."""
    from glancekit.synth import clock as sc
    s = sc.render_clock(np.random.default_rng(4), 160, hour=10, minute=10, family=sc.TRAIN_FAMILIES[0])
    room = np.full((480, 640, 3), (150, 140, 120), np.uint8)
    room[200:360, 300:460] = np.where(s.mask[..., None], s.image, room[200:360, 300:460])
    cv2.imwrite(str(tmp_path / "room.jpg"), room[..., ::-1])
    cv2.imwrite(str(tmp_path / "empty.jpg"), np.full((480, 640, 3), (150, 140, 120), np.uint8))
    assert main(["predict", "clock", str(tmp_path / "room.jpg"), str(tmp_path / "empty.jpg"),
                 "--out", str(tmp_path / "p.json")]) == 0
    room_pred, empty_pred = json.loads((tmp_path / "p.json").read_text())
    assert empty_pred["clocks"] == []
    (clock,) = room_pred["clocks"]
    ys, xs = np.nonzero(s.mask)
    from glancekit.metrics.detection import iou_matrix
    assert iou_matrix(np.asarray([clock["box"]]), np.asarray([[300 + xs.min(), 200 + ys.min(), 301 + xs.max(),
                                                               201 + ys.max()]]))[0, 0] >= 0.5
    assert {"box", "score", "time", "hour", "minute", "confidence"} <= set(clock)
    assert clock["time"] == f"{clock['hour']}:{clock['minute']:02d}"
    assert abs((clock["hour"] % 12) * 60 + clock["minute"] - 610) <= 1  # 10:10, read to within a minute
    assert main(["predict", "clock", str(tmp_path / "room.jpg"), "--out", str(tmp_path / "p.csv")]) == 0
    with open(tmp_path / "p.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["prediction"] == clock["time"] and row["box"]


def test_bench_photos_runs_end_to_end_on_a_boxed_source(tmp_path, monkeypatch, capsys):
    """`glance bench gestures --photos` on a data root holding one HANDS-style source (a labels.csv with one row
    per box): each source read with the reader's labels, scored through the shipped pipeline, written out."""
    root = tmp_path / "data"
    src = root / "gestures" / "web" / "someone+photos"  # a source the shipped finder never trained on
    (src / "images").mkdir(parents=True)
    img, boxes = scene_with_two_hands()
    rows = []
    for k in range(2):
        cv2.imwrite(str(src / "images" / f"p{k}.jpg"), img[..., ::-1])
        rows += [{"file": f"images/p{k}.jpg", "width": 320, "height": 240, "label": "five",
                  "xmin": b[0], "ymin": b[1], "xmax": b[2], "ymax": b[3]} for b in boxes]
    with open(src / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    monkeypatch.setenv("GLANCE_DATA", str(root))
    assert main(["bench", "gestures", "--photos", "--out", str(tmp_path / "b.json")]) == 0
    r = json.loads((tmp_path / "b.json").read_text())
    s = r["sources"]["gestures/web/someone+photos"]
    assert s["kind"] == "boxes" and s["photos"] == 2 and s["objects"] == 4
    assert 0 <= s["found_right"] <= s["found"] <= 1 and s["ms_per_photo"] > 0
    assert r["worst_source"]["name"] == "gestures/web/someone+photos"
    assert "someone+photos" in capsys.readouterr().out
