"""hand_keypoints: the 3D hand generator (poses, gestures, visibility), heatmap coding, coordinate
round trips, augmentation that moves keypoints with the image, and a tiny end-to-end run via the CLI."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from glancekit.cli import main
from glancekit.data.readers import read_dataset
from glancekit.synth import hands as sh
from glancekit.tasks import get
from glancekit.tasks.hand_keypoints import decode_heatmaps, heatmaps_for


def reach(points: np.ndarray, finger: int) -> float:
    """Tip-to-MCP distance over the finger's length: ~1 extended, small when curled."""
    base, tip = (1, 4) if finger == 0 else (1 + 4 * finger, 4 + 4 * finger)
    name = sh.FINGERS[finger]
    return float(np.linalg.norm(points[tip] - points[base]) / sum(sh.LENGTHS[name][(1 if finger == 0 else 0):]))


@pytest.mark.parametrize("gesture,extended", [("one", {1}), ("two", {1, 2}), ("three", {1, 2, 3}),
                                              ("four", {1, 2, 3, 4}), ("five", {1, 2, 3, 4}), ("fist", set()),
                                              ("like", set()), ("ok", {2, 3, 4})])
def test_gesture_poses_extend_the_right_fingers(gesture, extended):
    for seed in range(5):
        p = sh.hand_points(sh.pose_for(gesture, np.random.default_rng(seed)))
        for f in range(1, 5):
            r = reach(p, f)
            if gesture == "ok" and f == 1:  # the index bends to meet the thumb: half curled
                assert 0.4 < r < 0.9
                continue
            assert (r > 0.9) if f in extended else (r < 0.6), (gesture, sh.FINGERS[f], r)


def test_ok_closes_the_ring_and_left_mirrors_right():
    pose = sh.pose_for("ok", np.random.default_rng(0))
    p = sh.hand_points(pose)
    assert np.linalg.norm(p[4] - p[8]) < 0.2  # thumb tip meets index tip
    left = sh.hand_points(pose, left=True)
    assert np.allclose(left[:, 0], -p[:, 0]) and np.allclose(left[:, 1:], p[:, 1:])


def test_render_is_seeded_and_points_are_on_the_hand():
    a = sh.render_hand(np.random.default_rng(1), 96)
    b = sh.render_hand(np.random.default_rng(1), 96)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.keypoints, b.keypoints)
    assert a.image.shape == (96, 96, 3) and a.keypoints.shape == (21, 3)
    vis = []
    for seed in range(30):
        s = sh.render_hand(np.random.default_rng(seed), 96)
        assert (s.keypoints[:, :2] > -5).all() and (s.keypoints[:, :2] < 101).all()  # the hand fits the crop
        vis.append(s.keypoints[:, 2].mean())
    assert 0.45 < np.mean(vis) < 0.98  # some joints hidden, most seen


@pytest.mark.parametrize("gesture,sign", [("like", -1), ("dislike", 1)])
def test_thumb_points_up_for_like_and_down_for_dislike(gesture, sign):
    for seed in range(8):
        s = sh.render_hand(np.random.default_rng(seed), 128, gesture=gesture)
        d = s.keypoints[4, :2] - s.keypoints[2, :2]
        assert np.sign(d[1]) == sign and abs(d[1]) > abs(d[0]) * 0.5


def test_heatmaps_decode_to_sub_pixel_positions():
    pts = torch.tensor([[[10.3, 20.7, 1.0]] * 21, [[100.0, 5.2, 1.0]] * 21])
    hm = heatmaps_for(pts).numpy()
    assert hm.shape == (2, 21, 32, 32) and hm.max() <= 1.0
    dec = decode_heatmaps(hm)
    assert np.abs(dec[..., :2] - pts[..., :2].numpy()).max() < 0.35
    assert (dec[..., 2] > 0.8).all()


def test_preprocess_sample_and_finalize_are_inverse():
    task = get("hand_keypoints")
    img = np.zeros((300, 200, 3), np.uint8)
    kp = np.stack([np.linspace(10, 190, 21), np.linspace(5, 290, 21), np.ones(21)], 1).astype(np.float32)
    x, t = task.preprocess_sample(img, kp)
    assert x.shape == (3, 128, 128) and (t[:, :2] >= 0).all() and (t[:, :2] <= 127).all()
    from glancekit.tasks.hand_keypoints import KeypointPrediction
    back = task.finalize(KeypointPrediction("hand", 1.0, t.tolist()), img.shape)
    assert np.abs(np.asarray(back.keypoints)[:, :2] - kp[:, :2]).max() < 1e-3


def test_augment_moves_keypoints_with_the_image():
    task = get("hand_keypoints")
    torch.manual_seed(0)
    x = -torch.ones(4, 3, 128, 128)
    y = torch.zeros(4, 21, 3)
    y[:, :, 2] = 1
    y[:, 0, :2] = torch.tensor([40.0, 70.0])  # one bright dot, at keypoint 0
    x[:, :, 70, 40] = 1.0
    xa, ya = task.augment(x, y)
    for i in range(4):
        if ya[i, 0, 2] < 0.5:
            continue  # moved out of the picture
        bright = (xa[i].mean(0) == xa[i].mean(0).max()).nonzero()[0].float()
        assert torch.dist(bright.flip(0), ya[i, 0, :2]) < 1.6


def test_any_rotation_keeps_the_skeleton_and_unknown_options_are_refused():
    """`augment_options: {degrees: 180}` turns hands anywhere in the plane (real hands point down and
    across); the points turn about the centre, so their distances to it are kept up to the scale change."""
    from glancekit.errors import GlanceError
    task = get("hand_keypoints")
    torch.manual_seed(1)
    x = torch.zeros(64, 3, 128, 128)
    y = torch.zeros(64, 21, 3)
    y[:, :, 2] = 1
    y[:, :, 0] = 63.5
    y[:, :, 1] = torch.linspace(30, 60, 21)  # a vertical line of points above the centre
    _, ya = task.augment(x, y, degrees=180, scale=0.0, shift_px=0.0)
    r0 = torch.linalg.norm(y[..., :2] - 63.5, dim=-1)
    assert torch.allclose(torch.linalg.norm(ya[..., :2] - 63.5, dim=-1), r0, atol=1e-2)
    angle = torch.atan2(ya[:, 0, 1] - 63.5, ya[:, 0, 0] - 63.5)
    assert (angle > 0).any() and (angle.abs() < 1.0).any()  # pointing down and sideways, not only up ±30°
    task.check_augment_options({"degrees": 180})
    with pytest.raises(GlanceError, match="does not take colour"):
        task.check_augment_options({"colour": 1})


def test_degrade_changes_the_picture_not_the_points():
    """`augment_options: {degrade: p}` makes a share of the crops greyscale, dark, blurred or noisy; the
    points are those of the same crops without it."""
    from glancekit.data.augment import degrade
    task = get("hand_keypoints")
    img = sh.render_hand(np.random.default_rng(0), 128).image
    x = torch.from_numpy(img).permute(2, 0, 1).float().div(127.5).sub(1)[None].repeat(64, 1, 1, 1)
    y = torch.zeros(64, 21, 3)
    y[..., :2], y[..., 2] = 64.0, 1.0
    torch.manual_seed(2)
    plain, yp = task.augment(x, y)
    torch.manual_seed(2)
    worse, yd = task.augment(x, y, degrade=1.0)
    assert torch.equal(yp, yd)
    changed = (worse - plain).abs().flatten(1).mean(1) > 1e-3
    assert changed.float().mean() > 0.8 and worse.min() >= -1 and worse.max() <= 1
    assert (worse.flatten(1).mean(1) < plain.flatten(1).mean(1)).float().mean() > 0.9  # darker (gamma > 1)
    assert torch.equal(degrade(x, 0.0), x)
    task.check_augment_options({"degrees": 180, "degrade": 0.5})


def test_synth_train_predict_visualise_export(tmp_path, capsys):
    out = tmp_path / "hands"
    assert main(["synth", "hand_keypoints", "--out", str(out), "--n", "5", "--seed", "2"]) == 0
    s = read_dataset(out, get("hand_keypoints"))
    assert len(s) == 5 and s.targets[0].shape == (21, 3)
    project = tmp_path / "runs"
    assert main(["train", "hand_keypoints", "--data", "synth", "--epochs", "1", "--epoch-size", "32",
                 "--val-size", "16", "--batch", "16", "--project", str(project), "--name", "t"]) == 0
    run = project / "hand_keypoints" / "t"
    assert (run / "report.html").is_file() and (run / "val_keypoints.png").is_file()
    assert "val_pck" in (run / "metrics.csv").read_text()
    w = run / "weights" / "best.pt"
    big = tmp_path / "hand.jpg"
    cv2.imwrite(str(big), cv2.resize(cv2.imread(str(out / "images" / "000000.png")), (300, 240)))
    assert main(["predict", "hand_keypoints", str(big), "--weights", str(w), "--crop", "--out",
                 str(tmp_path / "kp.json"), "--save-vis", str(tmp_path / "vis")]) == 0
    kp = json.loads((tmp_path / "kp.json").read_text())[0]["keypoints"]
    assert len(kp) == 21 and all(len(p) == 3 for p in kp)
    # in the image's own pixels: within the square the 300x240 image was padded to (30 px above and below)
    assert all(-1 <= p[0] <= 301 and -31 <= p[1] <= 271 for p in kp)
    assert cv2.imread(str(tmp_path / "vis" / "hand.png")).shape == (240, 300, 3)
    assert main(["export", "hand_keypoints", "--weights", str(w)]) == 0


def test_mirror_averaged_heatmaps_are_flip_equivariant_and_added_without_retraining(tmp_path):
    """flip_average on a heatmap model flips the mirror's maps back: the averaged model's maps of a
    mirrored hand are the mirrored maps; a trained checkpoint gets it with no retraining."""
    from glancekit.engine.checkpoint import build_from_checkpoint, load_checkpoint, save_checkpoint
    from glancekit.models import flip_averaged, without_flip_average
    task = get("hand_keypoints")
    torch.manual_seed(0)
    net = task.build_model()
    save_checkpoint(tmp_path / "w.pt", task, net, {}, {})
    ckpt = flip_averaged(load_checkpoint(tmp_path / "w.pt"))
    assert ckpt["model_kwargs"] == {"flip_average": True}
    _, model = build_from_checkpoint(ckpt)
    net.eval()
    x = torch.rand(2, *task.preprocess(np.zeros((40, 40, 3), np.uint8)).shape)
    with torch.no_grad():
        both = model(x)
        assert torch.allclose(model(x.flip(-1)), both.flip(-1), atol=1e-5)
        assert torch.allclose(both, (net(x) + net(x.flip(-1)).flip(-1)) / 2, atol=1e-5)
        assert (both - net(x)).abs().max() > 1e-5  # not the bare net (float noise is ~1e-7)
    back = without_flip_average(ckpt)
    assert back["model_kwargs"] == {} and back["state_dict"].keys() == net.state_dict().keys()
    # `train --init` of mirror-averaged weights fine-tunes the bare net (half the work per step).
    from glancekit.engine.module import initial_model
    save_checkpoint(tmp_path / "flip.pt", task, model, ckpt["model_kwargs"], {})
    kw, bare = initial_model(task, str(tmp_path / "flip.pt"), {})
    assert kw == {} and type(bare) is type(net)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in bare.state_dict().items())


def test_synthetic_training_says_when_the_background_photos_are_missing(tmp_path, monkeypatch, capsys):
    """Without the shared photos the renders fall back to procedural backgrounds: the run says so (it is
    graded on renders over photos), and records that it had none."""
    from glancekit.config import TrainConfig
    from glancekit.data.plan import plan_data
    monkeypatch.setenv("GLANCE_DATA", str(tmp_path / "nothing"))
    cfg = TrainConfig.resolve(get("hand_keypoints").train_defaults, None,
                              {"data": "synth", "epoch_size": 4, "val_size": 2})
    info = plan_data(get("hand_keypoints"), cfg).provenance
    assert info["background_photos"] == 0 and info["backgrounds"] is None
    assert "no background photos" in capsys.readouterr().err
