"""gestures_kp: keypoint features that ignore position, size and rotation (but keep the rotation as two
features), mirroring, and a tiny end-to-end run on top of a tiny hand_keypoints model."""
from __future__ import annotations

import math

import numpy as np
import torch

from glancekit.cli import main
from glancekit.engine.checkpoint import load_checkpoint
from glancekit.synth import hands as sh
from glancekit.tasks import get
from glancekit.tasks.gestures_kp import N_FEATURES, keypoint_features

def pose2d(gesture: str, seed: int = 0) -> np.ndarray:
    p = sh.hand_points(sh.pose_for(gesture, np.random.default_rng(seed)))
    return np.concatenate([p[:, :2] * [1, -1], np.ones((21, 1))], 1)  # image y grows downwards


def transform(points: np.ndarray, angle: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    xy = points[:, :2] @ np.array([[c, -s], [s, c]]).T * scale + shift
    return np.concatenate([xy, points[:, 2:]], 1)


def test_features_ignore_position_size_and_rotation_but_keep_the_angle():
    p = pose2d("like")
    f0 = keypoint_features(p)
    f1 = keypoint_features(transform(p, 0.0, 3.5, (100, 40)))
    assert f0.shape == (N_FEATURES,) and np.allclose(f0, f1, atol=1e-5)
    f2 = keypoint_features(transform(p, math.pi, 2.0, (5, 5)))  # upside down: a "dislike"
    assert np.allclose(f0[:42], f2[:42], atol=1e-5)                # same hand shape
    assert np.allclose(f0[63:65], -f2[63:65], atol=1e-5)          # opposite rotation features
    assert not np.allclose(keypoint_features(pose2d("one")), keypoint_features(pose2d("five")), atol=0.1)


def test_mirror_augmentation_flips_x_and_the_rotation_sine():
    task = get("gestures_kp")
    p = pose2d("two")
    f = torch.from_numpy(keypoint_features(transform(p, 0.4, 1, (0, 0))))[None, None, None, :]
    mirrored = p.copy()
    mirrored[:, 0] *= -1
    g = torch.from_numpy(keypoint_features(transform(mirrored, -0.4, 1, (0, 0))))
    torch.manual_seed(1)
    xs, _ = task.augment(f.repeat(64, 1, 1, 1), torch.zeros(64, dtype=torch.long))
    flipped = xs[:, 0, 0, 2] * f[0, 0, 0, 2] < 0  # feature 2: x of the thumb base (the wrist is 0)
    assert flipped.any() and (~flipped).any()
    assert torch.allclose(xs[flipped][0, 0, 0, 42:], g[42:], atol=1e-5)


def test_tiny_keypoint_gesture_run(tmp_path, monkeypatch, capsys):
    project = tmp_path / "runs"
    assert main(["train", "hand_keypoints", "--data", "synth", "--epochs", "1", "--epoch-size", "32",
                 "--val-size", "8", "--batch", "16", "--project", str(project), "--name", "kp"]) == 0
    task = get("gestures_kp")
    monkeypatch.setattr(task, "keypoint_weights", str(project / "hand_keypoints" / "kp" / "weights" / "best.pt"))
    monkeypatch.setattr(task, "_keypoints", None)
    assert main(["train", "gestures_kp", "--data", "synth", "--epochs", "2", "--epoch-size", "64", "--val-size", "27",
                 "--project", str(project), "--name", "g"]) == 0
    assert "val_weighted_f1" in (project / "gestures_kp" / "g" / "metrics.csv").read_text()
    assert main(["export", "gestures_kp", "--weights", str(project / "gestures_kp" / "g" / "weights" / "best.pt")]) == 0

    # glance fuse gestures fuses an image classifier with these two into one gestures model.
    assert main(["train", "gestures", "--data", "synth", "--epochs", "1", "--epoch-size", "64", "--val-size", "27",
                 "--batch", "32", "--project", str(project), "--name", "img"]) == 0
    fused = tmp_path / "fused.pt"
    capsys.readouterr()
    assert main(["fuse", "gestures", "--image", str(project / "gestures" / "img" / "weights" / "best.pt"),
                 "--keypoints", task.keypoint_weights, "--reader", str(project / "gestures_kp" / "g" / "weights" / "best.pt"),
                 "--n", "18", "--val", "18", "--out", str(fused)]) == 0
    table = [line.split() for line in capsys.readouterr().out.splitlines() if line.strip()[:1].isdigit()]
    assert [float(r[0]) for r in table] == [round(0.1 * i, 1) for i in range(11)]
    val_f1 = [float(r[1]) for r in table]
    picked = [float(r[0]) for r in table if "picked" in " ".join(r)]
    ckpt = load_checkpoint(fused, get("gestures"))
    assert picked == [ckpt["model_kwargs"]["fuse"]["weight"]] and val_f1[int(round(picked[0] * 10))] == max(val_f1)
    assert "threshold" in ckpt["meta"] and ckpt["meta"]["assembled_from"]["weight"] == picked[0]
    assert set(ckpt["meta"]["assembled_from"]["sha256"]) == {"gestures", "hand_keypoints", "gestures_kp"}
    assert main(["export", "gestures", "--weights", str(fused), "--atol", "1e-2"]) == 0  # untrained: see the next test

    # A fused model as --image (the shipped one, whose image run is gone): its image classifier is fused again.
    again = tmp_path / "again.pt"
    assert main(["fuse", "gestures", "--image", str(fused), "--keypoints", task.keypoint_weights,
                 "--reader", str(project / "gestures_kp" / "g" / "weights" / "best.pt"), "--n", "18", "--val", "18",
                 "--out", str(again)]) == 0
    refused = load_checkpoint(again, get("gestures"))
    image_keys = [k for k in ckpt["state_dict"] if k.startswith("image_net.")]
    assert image_keys and all(torch.equal(refused["state_dict"][k], ckpt["state_dict"][k]) for k in image_keys)
    assert refused["meta"]["assembled_from"]["parts"]["gestures"].endswith("(its image classifier)")


def test_fused_model_is_both_readers_in_one_graph(tmp_path):
    """FusedGestures' torch graph gives what the two shipped paths give (the image classifier; keypoints
    decoded and turned into features in numpy, then the reader), mixed by its weight, and exports."""
    from glancekit.engine.checkpoint import save_checkpoint
    from glancekit.engine.export import export
    from glancekit.tasks.gestures_kp import FusedGestures
    from glancekit.tasks.hand_keypoints import decode_heatmaps
    torch.manual_seed(0)
    task = get("gestures")
    kwargs = {"fuse": {"weight": 0.3, "keypoints": {}, "reader": {}}}
    fused = task.build_model(**kwargs)
    assert isinstance(fused, FusedGestures)
    fused.eval()
    x = torch.rand(5, 3, 96, 96) * 2 - 1
    with torch.inference_mode():
        pixels = torch.log_softmax(fused.image_net(x), 1)
        up = torch.nn.functional.interpolate(x, size=(128, 128), mode="bilinear", align_corners=False)
        pts = decode_heatmaps(fused.keypoint_net(up).numpy())
        feats = torch.from_numpy(np.stack([keypoint_features(p) for p in pts]))[:, None, None, :]
        points = torch.log_softmax(fused.reader(feats), 1)
        assert torch.allclose(fused(x), 0.7 * pixels + 0.3 * points, atol=1e-4)
    path = tmp_path / "fused.pt"
    save_checkpoint(path, task, fused, kwargs, {"threshold": 0.0})
    # Untrained heatmaps are almost flat, so float rounding can move a peak: a looser bar than trained
    # weights need (the shipped fused model exports within 1e-5). Batches of 1 and 7 must both run.
    out, diff = export(task, path, "onnx", tmp_path / "fused.onnx", atol=1e-2)
    assert out.is_file() and diff < 1e-2
    # `train --init` of a fused model fine-tunes its image classifier alone, from its weights.
    from glancekit.engine.module import initial_model
    kw, image_net = initial_model(task, str(path), {})
    assert "fuse" not in kw and not isinstance(image_net, FusedGestures)
    assert all(torch.equal(v, fused.image_net.state_dict()[k]) for k, v in image_net.state_dict().items())
    # Mirror-averaged (as shipped): the mean of the fused answers for x and its mirror image, and
    # `--init` of it still fine-tunes the bare image classifier.
    from glancekit.engine.checkpoint import build_from_checkpoint, load_checkpoint
    from glancekit.models import FlipAverage, flip_averaged
    mirrored = tmp_path / "fused_flip.pt"
    flip_ckpt = flip_averaged(load_checkpoint(path))
    _, both = build_from_checkpoint(flip_ckpt)
    assert isinstance(both, FlipAverage)
    with torch.inference_mode():
        assert torch.allclose(both(x), (fused(x) + fused(x.flip(-1))) / 2, atol=1e-4)
    save_checkpoint(mirrored, task, both, flip_ckpt["model_kwargs"], {"threshold": 0.0})
    kw, image_net = initial_model(task, str(mirrored), {})
    assert kw == {k: v for k, v in kwargs.items() if k not in ("fuse", "flip_average")}
    assert all(torch.equal(v, fused.image_net.state_dict()[k]) for k, v in image_net.state_dict().items())
    import cv2
    hand = sh.render_hand(np.random.default_rng(0), 120, gesture="five").image
    cv2.imwrite(str(tmp_path / "hand.png"), hand[..., ::-1])
    for weights in (path, mirrored):
        assert main(["predict", "gestures", "--crop", "--weights", str(weights), str(tmp_path / "hand.png")]) == 0
