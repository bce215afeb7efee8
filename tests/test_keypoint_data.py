"""Hand keypoint data: the GANerated / CMU / table readers on tiny layouts written here (exact
coordinates, visibility, crops, clear errors), the real gestures hands_dataset when it is there, and
the keypoint metrics against cases worked out by hand."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from glancekit.data.images import load_image
from glancekit.data.keypoint_readers import (KEYPOINT_READERS, CMUHandReader, GANeratedReader,
                                             KeypointTableReader)
from glancekit.errors import GlanceError
from glancekit.metrics import keypoints as km

HANDS_DATASET = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gestures" / "hands_dataset"


class StubTask:
    """Stands in for the hand_keypoints task: raw {"keypoints": JSON} → (21, 3) float32, v = 1 if absent."""

    name = "hand_keypoints"

    def __init__(self) -> None:
        self.raws: list[dict] = []

    def parse_target(self, raw, where=""):
        self.raws.append(dict(raw))
        pts = np.asarray(json.loads(raw["keypoints"]), np.float32)
        if pts.shape[1] == 2:
            pts = np.concatenate([pts, np.ones((len(pts), 1), np.float32)], 1)
        assert pts.shape == (21, 3), where
        return pts


def points(seed: float, v=None) -> np.ndarray:
    """21 distinct [x, y, v] with fractional coordinates."""
    i = np.arange(21, dtype=np.float64)
    vis = np.ones(21) if v is None else np.asarray(v, np.float64)
    return np.stack([seed + 1.25 * i, 2 * seed + 0.5 * i, vis], 1)


def image(path: Path, h: int = 16, w: int = 20) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    cv2.imwrite(str(path), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


# ---- GANerated ---------------------------------------------------------------------------------
def ganerated(root: Path, name: str, pts: np.ndarray, with_image: bool = True) -> Path:
    txt = root / f"{name}_joint2D.txt"
    txt.parent.mkdir(parents=True, exist_ok=True)
    txt.write_text(",".join(repr(float(v)) for v in pts[:, :2].ravel()) + "\n")
    if with_image:
        image(root / f"{name}_color_composed.png")
    return txt


def test_ganerated_reads_nested_folders(tmp_path):
    a, b = points(3.5), points(7.25)
    ganerated(tmp_path / "data" / "noObject" / "0001", "0001", a)
    ganerated(tmp_path / "data" / "withObject" / "0002", "0007", b)
    r = GANeratedReader()
    assert r.can_read(tmp_path) and r.can_read(tmp_path / "data")
    assert not r.can_read(tmp_path / "data" / "noObject" / "0001" / "0001_joint2D.txt")
    s = r.read(tmp_path, StubTask())
    assert s.ids == ["data/noObject/0001/0001_color_composed.png", "data/withObject/0002/0007_color_composed.png"]
    assert all(isinstance(p, Path) and p.is_file() for p in s.items)
    np.testing.assert_array_equal(s.targets[0], a.astype(np.float32))   # x, y as written, v = 1
    np.testing.assert_array_equal(s.targets[1], b.astype(np.float32))
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    assert not r.can_read(empty)


def test_ganerated_errors_name_the_file(tmp_path):
    txt = ganerated(tmp_path / "a", "0001", points(1.0))
    txt.write_text(",".join(["1.5"] * 40))
    with pytest.raises(GlanceError, match=r"0001_joint2D\.txt: expected 42 .* got 40"):
        GANeratedReader().read(tmp_path, StubTask())
    txt.write_text(",".join(["1.5"] * 41 + ["oops"]))
    with pytest.raises(GlanceError, match=r"0001_joint2D\.txt.*'oops'"):
        GANeratedReader().read(tmp_path, StubTask())
    other = tmp_path / "b"
    ganerated(other, "0009", points(1.0), with_image=False)
    with pytest.raises(GlanceError, match=r"0009_joint2D\.txt: image 0009_color_composed\.png not found"):
        GANeratedReader().read(other, StubTask())


# ---- CMU Panoptic ------------------------------------------------------------------------------
def cmu(root: Path, name: str, hand_pts: list, **extra) -> Path:
    image(root / f"{name}.jpg")
    js = root / f"{name}.json"
    js.write_text(json.dumps({"hand_pts": hand_pts, "head_size": 40.0, **extra}))
    return js


def test_cmu_reads_visibility_and_handedness(tmp_path):
    a = points(10.5, v=[1, 0] * 10 + [1])
    b = points(4.0)
    cmu(tmp_path, "Ricki_unit_8.flv_000003_l", a.tolist(), is_left=1)
    # visibility as bools, no is_left
    cmu(tmp_path, "Z_000001_r", [[x, y, bool(i % 3)] for i, (x, y, _) in enumerate(b.tolist())])
    r = CMUHandReader()
    assert r.can_read(tmp_path)
    task = StubTask()
    s = r.read(tmp_path, task)
    assert s.ids == ["Ricki_unit_8.flv_000003_l.jpg", "Z_000001_r.jpg"]
    np.testing.assert_array_equal(s.targets[0], a.astype(np.float32))
    np.testing.assert_array_equal(s.targets[1][:, :2], b[:, :2].astype(np.float32))
    assert s.targets[1][:, 2].tolist() == [float(i % 3 > 0) for i in range(21)]
    assert task.raws[0]["handedness"] == "left" and "handedness" not in task.raws[1]


def test_cmu_can_read_checks_the_first_json_only(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"root": []}))
    cmu(tmp_path, "b", points(1.0).tolist())
    assert not CMUHandReader().can_read(tmp_path)
    assert not CMUHandReader().can_read(tmp_path / "b.json")


def test_cmu_errors_name_the_file(tmp_path):
    cmu(tmp_path, "short", points(1.0).tolist()[:20])
    with pytest.raises(GlanceError, match=r"short\.json: expected 21 keypoints, got 20"):
        CMUHandReader().read(tmp_path, StubTask())
    d2 = tmp_path / "noimg"
    d2.mkdir()
    (d2 / "lonely.json").write_text(json.dumps({"hand_pts": points(1.0).tolist()}))
    with pytest.raises(GlanceError, match=r"lonely\.json: image lonely\.jpg not found"):
        CMUHandReader().read(d2, StubTask())
    d3 = tmp_path / "broken"
    cmu(d3, "a", points(1.0).tolist())
    (d3 / "b.json").write_text('{"hand_pts": [[1, 2, 1],')
    with pytest.raises(GlanceError, match=r"b\.json: not valid JSON"):
        CMUHandReader().read(d3, StubTask())
    d4 = tmp_path / "badpoint"
    cmu(d4, "a", [[1, 2, 1]] * 20 + [[1, "x", 1]])
    with pytest.raises(GlanceError, match=r"a\.json: keypoint 20"):
        CMUHandReader().read(d4, StubTask())


# ---- table: CSV --------------------------------------------------------------------------------
def test_csv_with_coordinate_columns(tmp_path):
    a, b = points(2.0, v=[1] * 20 + [0]), points(5.5)
    image(tmp_path / "images" / "a.png")
    image(tmp_path / "b.png")
    image(tmp_path / "images" / "c.png")
    header = ["file", "label"] + [f"{c}{i}" for i in range(21) for c in "xy"] + [f"v{i}" for i in range(21)]
    rows = [["a.png", "five"] + [repr(float(v)) for v in a[:, :2].ravel()] + [str(int(v)) for v in a[:, 2]],
            ["b.png", "fist"] + [repr(float(v)) for v in b[:, :2].ravel()] + [""] * 21,   # no v: visible
            ["c.png", "one"] + [""] * 63]                                                  # unlabelled: skipped
    (tmp_path / "labels.csv").write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    r = KeypointTableReader()
    assert r.can_read(tmp_path) and r.can_read(tmp_path / "labels.csv")
    task = StubTask()
    s = r.read(tmp_path, task)
    assert s.ids == ["a.png", "b.png"] and s.items == [tmp_path / "images" / "a.png", tmp_path / "b.png"]
    np.testing.assert_array_equal(s.targets[0], a.astype(np.float32))
    np.testing.assert_array_equal(s.targets[1], b.astype(np.float32))
    assert task.raws[0]["label"] == "five"   # other columns go to the task as CsvReader does


def test_csv_with_keypoints_column_and_errors(tmp_path):
    a = points(1.0)
    image(tmp_path / "a.png")
    csv_path = tmp_path / "hands.csv"
    csv_path.write_text("file,keypoints\n"
                        f"a.png,\"{json.dumps(a[:, :2].tolist())}\"\n"
                        "a.png,\n"
                        "a.png,null\n")
    s = KeypointTableReader().read(csv_path, StubTask())
    assert len(s) == 1 and s.items == [tmp_path / "a.png"]
    np.testing.assert_array_equal(s.targets[0], a.astype(np.float32))
    csv_path.write_text("file,keypoints\n"
                        f"a.png,\"{json.dumps(a.tolist())}\"\n"
                        "a.png,\"[[1, 2], [3\"\n")
    with pytest.raises(GlanceError, match=r"hands\.csv:3: keypoints must be JSON"):
        KeypointTableReader().read(csv_path, StubTask())
    csv_path.write_text(f"file,keypoints\nmissing.png,\"{json.dumps(a.tolist())}\"\n")
    with pytest.raises(GlanceError, match=r"hands\.csv:2: image 'missing\.png' not found"):
        KeypointTableReader().read(csv_path, StubTask())
    csv_path.write_text(f"file,keypoints\na.png,\"{json.dumps(a.tolist()[:5])}\"\n")
    with pytest.raises(GlanceError, match=r"hands\.csv:2: expected 21 keypoints, got 5"):
        KeypointTableReader().read(csv_path, StubTask())


def test_table_leaves_other_layouts_alone(tmp_path):
    (tmp_path / "labels.csv").write_text("file,label\na.png,five\n")
    (tmp_path / "manifest.json").write_text(json.dumps({"task": "digits", "shards": [{"file": "x.npy"}]}))
    (tmp_path / "notes.json").write_text("not json")
    assert not any(r.can_read(tmp_path) for r in KEYPOINT_READERS)
    assert [type(r) for r in KEYPOINT_READERS] == [GANeratedReader, CMUHandReader, KeypointTableReader]


# ---- table: JSON -------------------------------------------------------------------------------
def test_json_list_and_dict_forms(tmp_path):
    a, b = points(3.0, v=[0] + [1] * 20), points(6.0)
    image(tmp_path / "images" / "a.jpg")
    image(tmp_path / "b.jpg")
    entries = [{"file": "a.jpg", "keypoints": a.tolist()}, {"file": "b.jpg", "keypoints": b[:, :2].tolist()},
               {"file": "b.jpg", "keypoints": None}, {"file": "a.jpg", "keypoints": []}]
    (tmp_path / "hands.json").write_text(json.dumps(entries))
    r = KeypointTableReader()
    assert r.can_read(tmp_path)
    s = r.read(tmp_path, StubTask())
    assert s.ids == ["a.jpg", "b.jpg"] and s.items == [tmp_path / "images" / "a.jpg", tmp_path / "b.jpg"]
    np.testing.assert_array_equal(s.targets[0], a.astype(np.float32))
    np.testing.assert_array_equal(s.targets[1], b.astype(np.float32))
    d = tmp_path / "dict"
    image(d / "b.jpg")
    (d / "kp.json").write_text(json.dumps({"b.jpg": b.tolist(), "c.jpg": None}))
    s = r.read(d, StubTask())
    assert s.ids == ["b.jpg"]
    np.testing.assert_array_equal(s.targets[0], b.astype(np.float32))
    (d / "kp.json").write_text(json.dumps({"b.jpg": b.tolist()[:3]}))
    with pytest.raises(GlanceError, match=r"kp\.json\['b\.jpg'\]: expected 21 keypoints, got 3"):
        r.read(d, StubTask())


def test_json_visible_list_marks_points_not_placed(tmp_path):
    """mmpose's layout: "points" as [x, y] with a separate "visible" list; a [0, 0] point with 0 is not a
    point at the image corner but one nobody placed."""
    a = points(3.0)
    image(tmp_path / "a.jpg")
    flags = [1] * 19 + [0, 2]
    pts = a[:, :2].tolist()
    pts[19] = [0, 0]
    (tmp_path / "keypoints.json").write_text(json.dumps([{"file": "a.jpg", "points": pts, "visible": flags}]))
    s = KeypointTableReader().read(tmp_path, StubTask())
    assert s.targets[0][:, 2].tolist() == [1.0] * 19 + [0.0, 1.0]
    (tmp_path / "keypoints.json").write_text(json.dumps([{"file": "a.jpg", "points": pts, "visible": [1, 0]}]))
    with pytest.raises(GlanceError, match=r"keypoints\.json\[0\]: visible must list 21 flags, got \[1, 0\]"):
        KeypointTableReader().read(tmp_path, StubTask())


def test_json_boxes_give_crops_with_shifted_keypoints(tmp_path):
    """MediaPipe shape: {"file", "box": [xmin, ymin, xmax, ymax], "label", "points": [[x, y], ...] | null}."""
    image(tmp_path / "images" / "p.jpg", h=60, w=80)
    full = load_image(tmp_path / "images" / "p.jpg")
    # box 30x20 at (20, 10): margin 0.25 * 30 = 7.5 -> [12.5, 2.5, 57.5, 37.5] -> ints [12, 2, 58, 38)
    pts1 = np.stack([np.linspace(21.5, 49.5, 21), np.linspace(11.0, 29.0, 21)], 1)
    pts1[20] = [70.0, 5.0]       # beyond the crop: kept, but hidden (v = 0)
    # box near the corner: 8x8 at (74, 54), margin 2 -> [72, 52, 84, 64] clamped to [72, 52, 80, 60)
    pts2 = np.stack([np.linspace(74.25, 79.0, 21), np.linspace(54.5, 59.0, 21)], 1)
    entries = [{"file": "p.jpg", "box": [20, 10, 50, 30], "label": "five", "points": pts1.tolist()},
               {"file": "p.jpg", "box": [40, 40, 50, 50], "label": "fist", "points": None},
               {"file": "p.jpg", "box": [74, 54, 82, 62], "label": "one", "points": pts2.tolist()}]
    (tmp_path / "keypoints_mediapipe.json").write_text(json.dumps(entries))
    r = KeypointTableReader()
    assert r.crop_margin == 0.25 and r.can_read(tmp_path)
    task = StubTask()
    s = r.read(tmp_path, task)
    assert s.ids == ["p.jpg#1", "p.jpg#2"] and [t["label"] for t in task.raws] == ["five", "one"]
    c1, c2 = s.items
    assert isinstance(c1, np.ndarray) and c1.dtype == np.uint8
    np.testing.assert_array_equal(c1, full[2:38, 12:58])
    np.testing.assert_array_equal(c2, full[52:60, 72:80])
    np.testing.assert_allclose(s.targets[0][:, :2], pts1 - [12, 2], atol=1e-5)
    assert s.targets[0][:, 2].tolist() == [1.0] * 20 + [0.0]
    np.testing.assert_allclose(s.targets[1][:, :2], pts2 - [72, 52], atol=1e-5)
    assert s.targets[1][:, 2].tolist() == [1.0] * 21
    tight = KeypointTableReader(crop_margin=0.0).read(tmp_path, StubTask())
    np.testing.assert_array_equal(tight.items[0], full[10:30, 20:50])
    entries[0]["box"] = [50, 10, 20, 30]
    (tmp_path / "keypoints_mediapipe.json").write_text(json.dumps(entries))
    with pytest.raises(GlanceError, match=r"keypoints_mediapipe\.json\[0\]: box must have xmax > xmin"):
        r.read(tmp_path, StubTask())


def test_csv_boxes_give_crops(tmp_path):
    image(tmp_path / "h.png", h=40, w=40)
    pts = np.stack([np.linspace(12, 20, 21), np.linspace(14, 22, 21)], 1)
    (tmp_path / "labels.csv").write_text(
        "file,xmin,ymin,xmax,ymax,keypoints\n"
        f"h.png,10,12,22,24,\"{json.dumps(pts.tolist())}\"\n")
    s = KeypointTableReader().read(tmp_path, StubTask())
    # margin 0.25 * 12 = 3 -> [7, 9, 25, 27)
    np.testing.assert_array_equal(s.items[0], load_image(tmp_path / "h.png")[9:27, 7:25])
    np.testing.assert_allclose(s.targets[0][:, :2], pts - [7, 9], atol=1e-5)
    assert s.ids == ["h.png#1"]


# ---- the real gestures hands_dataset -----------------------------------------------------------
@pytest.mark.skipif(not (HANDS_DATASET / "keypoints_mediapipe.json").is_file(), reason="hands_dataset not present")
def test_real_hands_dataset():
    entries = json.loads((HANDS_DATASET / "keypoints_mediapipe.json").read_text())
    assert len(entries) == 1381 and sum(e["points"] is None for e in entries) == 27
    r = KeypointTableReader()
    assert r.can_read(HANDS_DATASET)
    s = r.read(HANDS_DATASET, StubTask())
    assert len(s) == 1354 and len(set(s.ids)) == 1354
    hidden = 0
    for crop, t in zip(s.items, s.targets):
        h, w = crop.shape[:2]
        assert crop.ndim == 3 and crop.dtype == np.uint8 and h >= 40 and w >= 40
        inside = (t[:, 0] >= 0) & (t[:, 0] <= w - 1) & (t[:, 1] >= 0) & (t[:, 1] <= h - 1)
        vis = t[:, 2] > 0
        assert inside[vis].all()            # every visible keypoint lies inside its crop
        assert not inside[~vis].any()       # hidden ones are exactly those MediaPipe put outside
        hidden += int((~vis).sum())
    assert hidden < 0.01 * 21 * len(s)      # only points beyond the photo's border (31 of 28,434)


# ---- metrics -----------------------------------------------------------------------------------
# Three samples:
#   s0: 21 visible points, x = 5i (0..100), y = 20 + 3i (20..80) -> box 100. Prediction off along x by
#       wrist 0, thumb 5.5, index 15.5, middle 25.5, ring 0, little 40.5 px
#       -> normalised 0, .055, .155, .255, 0, .405
#   s1: points 0..10 visible, x = 5i (0..50), y = 7 + 2i -> box 50 (hidden points far away do not
#       count, not even for the box); every visible point off along y by 4.25 px -> .085;
#       hidden points off by 500 px (ignored)
#   s2: no visible point -> left out entirely (off by 300 px)
# 21 + 11 = 32 points count.
def metric_case() -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(21, dtype=np.float64)
    gt = np.zeros((3, 21, 3))
    gt[0] = np.stack([5 * i, 20 + 3 * i, np.ones(21)], 1)
    gt[1] = np.stack([5 * i, 7 + 2 * i, (i <= 10).astype(float)], 1)
    gt[1, 11:, :2] = [[1000 + k, -500] for k in range(10)]
    gt[2] = np.stack([i, i, np.zeros(21)], 1)
    pred = gt[..., :2].copy()
    off = np.array([0] + [5.5] * 4 + [15.5] * 4 + [25.5] * 4 + [0] * 4 + [40.5] * 4)
    pred[0, :, 0] += off
    pred[1, :11, 1] += 4.25
    pred[1, 11:, 0] += 500
    pred[2] += 300
    return pred, gt


def test_box_size_by_hand():
    _, gt = metric_case()
    assert km.box_size(gt).tolist() == [100.0, 50.0, 0.0]


def test_pck_epe_auc_by_hand():
    pred, gt = metric_case()
    # PCK@0.2: s0 wrist 1 + thumb 4 + index 4 + ring 4 = 13, s1 11 -> 24/32
    assert km.pck(pred, gt, 0.2) == pytest.approx(24 / 32)
    # PCK@0.1: s0 wrist 1 + thumb 4 + ring 4 = 9, s1 11 -> 20/32
    assert km.pck(pred, gt, 0.1) == pytest.approx(20 / 32)
    assert km.pck(pred, gt) == pytest.approx(24 / 32)
    # AUC over 0, 0.01, ..., 0.5 (trapezoids): every error sits midway between two thresholds, so a
    # point with error e contributes exactly (0.5 - e) / 0.5:
    #   5 * 1 + 4 * .89 + 4 * .69 + 4 * .49 + 4 * .19 + 11 * .83 = 23.17 -> 23.17 / 32
    assert km.pck_auc(pred, gt) == pytest.approx(23.17 / 32)
    thr, curve = km.pck_curve(pred, gt)
    assert len(thr) == len(curve) == 51 and thr[0] == 0 and thr[-1] == pytest.approx(0.5)
    assert curve[0] == pytest.approx(5 / 32) and curve[-1] == 1.0 and (np.diff(curve) >= 0).all()
    assert curve[20] == pytest.approx(24 / 32)   # threshold 0.2
    # the sample without visible points changes nothing
    assert km.pck(pred[:2], gt[:2]) == km.pck(pred, gt)
    assert km.pck_auc(pred[:2], gt[:2]) == pytest.approx(km.pck_auc(pred, gt))
    # a third coordinate in pred (a confidence) is ignored
    assert km.pck(np.concatenate([pred, np.zeros((3, 21, 1))], 2), gt) == km.pck(pred, gt)


def test_keypoint_report_and_per_finger_by_hand():
    pred, gt = metric_case()
    r = km.keypoint_report(pred, gt)
    fingers = ["wrist", "thumb", "index", "middle", "ring", "little"]
    assert set(r) == {"pck@0.2", "pck@0.1", "epe_px", "epe_norm", "auc_0_0.5"} | {f"pck@0.2_{f}" for f in fingers}
    assert all(isinstance(v, float) for v in r.values())
    # EPE px = (4 * 5.5 + 4 * 15.5 + 4 * 25.5 + 4 * 40.5 + 11 * 4.25) / 32 = 394.75 / 32
    # EPE norm = (4 * .055 + 4 * .155 + 4 * .255 + 4 * .405 + 11 * .085) / 32 = 4.415 / 32
    assert r["epe_px"] == pytest.approx(394.75 / 32)
    assert r["epe_norm"] == pytest.approx(4.415 / 32)
    assert r["pck@0.2"] == pytest.approx(0.75) and r["pck@0.1"] == pytest.approx(0.625)
    assert r["auc_0_0.5"] == pytest.approx(23.17 / 32)
    # per finger (s1 sees wrist, thumb, index and middle 9, 10):
    #   wrist  s0 0 px, s1 4.25         -> pck 2/2, epe 4.25 / 2
    #   thumb  s0 4 x 5.5, s1 4 x 4.25  -> pck 8/8, epe 39 / 8
    #   index  s0 4 x 15.5, s1 4 x 4.25 -> pck 8/8, epe 79 / 8
    #   middle s0 4 x 25.5 (.255 > .2), s1 2 x 4.25 -> pck 2/6, epe 110.5 / 6
    #   ring   s0 4 x 0                 -> pck 1, epe 0
    #   little s0 4 x 40.5              -> pck 0, epe 40.5
    expected = {"wrist": (1.0, 2.125), "thumb": (1.0, 4.875), "index": (1.0, 9.875),
                "middle": (1 / 3, 110.5 / 6), "ring": (1.0, 0.0), "little": (0.0, 40.5)}
    pf = km.per_finger(pred, gt)
    assert list(pf) == fingers
    for name, (p, e) in expected.items():
        assert pf[name]["pck"] == pytest.approx(p), name
        assert pf[name]["epe"] == pytest.approx(e), name
        assert r[f"pck@0.2_{name}"] == pytest.approx(p), name
    # a looser threshold lets the middle finger of s0 in: 6/6
    assert km.per_finger(pred, gt, thr=0.3)["middle"]["pck"] == pytest.approx(1.0)


def test_metrics_empty_and_errors():
    assert km.keypoint_report(np.zeros((0, 21, 2)), np.zeros((0, 21, 3))) == {}
    shapes = r"expected pred \(N, K, 2\) and gt \(N, K, 3\), got "
    with pytest.raises(ValueError, match=shapes + r"\(2, 21, 2\) and \(3, 21, 3\)"):
        km.keypoint_report(np.zeros((2, 21, 2)), np.zeros((3, 21, 3)))
    with pytest.raises(ValueError, match=shapes + r"\(2, 20, 2\) and \(2, 21, 3\)"):
        km.pck(np.zeros((2, 20, 2)), np.zeros((2, 21, 3)))
    with pytest.raises(ValueError, match=shapes + r"\(2, 21, 2\) and \(2, 21, 2\)"):
        km.per_finger(np.zeros((2, 21, 2)), np.zeros((2, 21, 2)))   # gt without visibility
    # heatmap MSE: one map of 2x2, differences 1, 0, 0, 3 -> (1 + 9) / 4
    a = np.array([[[1.0, 0.0], [0.0, 3.0]]])
    assert km.heatmap_mse(a, np.zeros_like(a)) == pytest.approx(2.5)
    assert km.heatmap_mse(a, a) == 0.0
    with pytest.raises(ValueError, match=r"heatmap shapes differ: \(1, 2, 2\) vs \(1, 2, 3\)"):
        km.heatmap_mse(a, np.zeros((1, 2, 3)))
