"""The eyes task: preprocessing of any crop, EER selection/threshold, decoding, openEyeCheck, labelling."""
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import glancekit
from glancekit.data.readers import read_dataset
from glancekit.label.propose import propose, read_labels
from glancekit.label.review import review
from glancekit.tasks import get

from .conftest import SHARED


def eye(open_: bool, rng: np.random.Generator, size: int = 24) -> np.ndarray:
    """A toy eye: skin, with a dark iris disc when open or a dark lid line when closed."""
    img = np.full((size, size), int(rng.integers(150, 200)), np.uint8)
    c = (size // 2 + int(rng.integers(-2, 3)), size // 2 + int(rng.integers(-2, 3)))
    if open_:
        cv2.ellipse(img, c, (size // 3, size // 5), 0, 0, 360, 235, -1)
        cv2.circle(img, c, size // 6, int(rng.integers(10, 60)), -1)
    else:
        cv2.ellipse(img, c, (size // 3, size // 10), 0, 0, 180, int(rng.integers(30, 80)), 2)
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def eye_pool(tmp_path_factory) -> tuple[Path, list[int]]:
    root = tmp_path_factory.mktemp("eyes_pool")
    rng = np.random.default_rng(0)
    truth = []
    for i in range(60):
        is_open = int(i % 2 == 0)
        cv2.imwrite(str(root / f"{i:03d}.png"), eye(bool(is_open), rng))
        truth.append(is_open)
    return root, truth


def test_preprocess_any_size_and_colour():
    task = get("eyes")
    rng = np.random.default_rng(1)
    small = eye(True, rng)
    big = cv2.resize(small, (97, 61))
    colour = cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)
    for img in (small, big, colour):
        x = task.preprocess(img)
        assert x.shape == (1, 24, 24) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert np.abs(task.preprocess(big) - task.preprocess(colour)).max() < 0.02


def test_eer_metrics_and_threshold_decoding():
    task = get("eyes")
    t = np.array([0, 0, 0, 1, 1, 1])
    p_open = np.array([0.1, 0.2, 0.7, 0.4, 0.6, 0.9])
    logits = np.stack([np.zeros(6), np.log(p_open / (1 - p_open))], 1)
    m = task.evaluate(logits, t)
    assert m["eer"] == pytest.approx(1 / 3) and m["auc"] == pytest.approx(7 / 9)
    cal = task.calibrate(logits, t)
    assert cal["threshold"] == pytest.approx(0.6)
    preds = task.decode(logits, cal)
    assert [p.is_open for p in preds] == [0, 0, 1, 0, 1, 1]
    assert preds[3].label == "closed" and preds[3].open_prob == pytest.approx(0.4)


def test_augment_shapes():
    x, y = get("eyes").augment(torch.rand(16, 1, 24, 24), torch.randint(0, 2, (16,)))
    assert x.shape == (16, 1, 24, 24) and 0 <= x.min() and x.max() <= 1 and len(y) == 16


def test_flip_average_model_answers_the_same_for_a_mirrored_crop(tmp_path):
    from glancekit.engine.checkpoint import build_from_checkpoint, load_checkpoint, save_checkpoint
    task = get("eyes")
    model = task.build_model(arch="cnn", widths=(8, 16, 32), flip_average=True).eval()
    x = torch.rand(4, 1, 24, 24)
    with torch.no_grad():
        assert torch.allclose(model(x), model(x.flip(-1)), atol=1e-5)
        plain = task.build_model(arch="cnn", widths=(8, 16, 32)).eval()
        assert not torch.allclose(plain(x), plain(x.flip(-1)), atol=1e-5)
    save_checkpoint(tmp_path / "w.pt", task, model, {"arch": "cnn", "widths": [8, 16, 32], "flip_average": True}, {})
    _, again = build_from_checkpoint(load_checkpoint(tmp_path / "w.pt", task))
    with torch.no_grad():
        assert torch.allclose(again(x), model(x))


def test_open_eye_check_uses_shipped_model(eye_pool):
    if not SHIPPED_EYES:
        pytest.skip("no shipped eyes weights")
    """openEyeCheck answers 1 exactly where the shipped model's open-probability reaches the threshold
    shipped with it, for every crop of the pool."""
    from glancekit.engine.checkpoint import load_checkpoint, shipped_weights
    root, truth = eye_pool
    threshold = load_checkpoint(shipped_weights("eyes"))["meta"]["threshold"]
    model = glancekit.load("eyes")
    for f in sorted(root.glob("*.png"))[:20]:
        p = model.predict(f)
        answer = glancekit.openEyeCheck(str(f))
        assert type(answer) is int and answer == int(p.to_dict()["open_prob"] >= threshold)


SHIPPED_EYES = (Path(glancekit.__file__).parent / "weights" / "eyes.pt").is_file()


@pytest.mark.skipif(not (SHARED / "eyes").is_dir(), reason="shared eyes data not present")
@pytest.mark.skipif(not SHIPPED_EYES, reason="no shipped eyes weights")
def test_open_eye_check_on_real_crops():
    import csv
    rows = list(csv.DictReader(open(SHARED / "eyes" / "labels.csv")))[:40]
    got = [glancekit.openEyeCheck(str(SHARED / "eyes" / "images" / r["file"])) for r in rows if r["label"]]
    want = [int(r["label"] == "open") for r in rows if r["label"]]
    assert np.mean(np.array(got) == np.array(want)) >= 0.85


def test_label_from_zero_labels_then_review_with_keys(eye_pool, tmp_path):
    root, truth = eye_pool
    labels = tmp_path / "labels.csv"
    # No model, no labels: PCA + k-means; clusters are unnamed, so their central images come first.
    rows = propose(get("eyes"), root, labels, weights=tmp_path / "none.pt", clusters=4)
    assert len(rows) == 60 and all(r.source == "proposed" and r.label == "" for r in rows.values())
    first = sorted(rows.values(), key=lambda r: r.review_rank)[:4]
    assert sorted(r.cluster for r in first) == [0, 1, 2, 3]  # one representative per cluster
    # A person answers the first four with keys (truth from the file index), with an undo in between.
    answers = iter(["o" if truth[int(Path(r.file).stem)] else "c" for r in first[:2]] + ["u"] +
                   ["o" if truth[int(Path(r.file).stem)] else "c" for r in first[1:4]] + ["q"])
    n = review(get("eyes"), labels, root, ask=lambda _: next(answers), show=lambda _: None)
    assert n == 4
    saved = read_labels(labels)
    humans = {f: r.label for f, r in saved.items() if r.source == "human"}
    assert len(humans) == 4
    assert all(lab == ("open" if truth[int(Path(f).stem)] else "closed") for f, lab in humans.items())
    # Re-proposing names every cluster from those labels and never touches the human rows.
    again = propose(get("eyes"), root, labels, weights=tmp_path / "none.pt", clusters=4)
    assert {f: r.label for f, r in again.items() if r.source == "human"} == humans
    proposed = [(truth[int(Path(f).stem)], r.label) for f, r in again.items() if r.source == "proposed"]
    assert all(lab in ("open", "closed") for _, lab in proposed)
    acc = np.mean([(t == 1) == (lab == "open") for t, lab in proposed])
    assert acc >= 0.8  # toy eyes cluster cleanly by state


def test_train_extra_joins_training_only(eye_pool, tmp_path):
    """`--extra` (e.g. a pool's labels.csv from `glance label`) adds to the training part only: rows naming
    an image of the data's own split are left out, unlabelled rows are skipped."""
    import csv
    import json

    from glancekit.config import TrainConfig
    from glancekit.engine.train import train
    root, truth = eye_pool
    labelled = tmp_path / "labelled.csv"
    with open(labelled, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label"])
        w.writerows([[str(root / f"{i:03d}.png"), "open" if truth[i] else "closed"] for i in range(40)])
    pool = tmp_path / "pool.csv"
    with open(pool, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "source", "confidence"])
        w.writerows([[str(root / f"{i:03d}.png"), "open" if truth[i] else "closed", "proposed", 0.9]
                     for i in range(30, 58)])  # 30-39 are in the labelled set already
        w.writerows([[str(root / f"{i:03d}.png"), "", "proposed", 0.0] for i in (58, 59)])  # not named yet
    cfg = TrainConfig.resolve({"epochs": 1, "batch": 16, "model": {"arch": "cnn", "widths": [8, 8, 8]}}, None,
                              {"data": str(labelled), "extra": str(pool), "project": str(tmp_path / "runs"),
                               "name": "extra"})
    run = train("eyes", cfg)
    split = json.loads((run / "run.json").read_text())["split"]
    assert split["extra"]["images"] == 18 and split["extra"]["left_out"] == 10
    assert split["sizes"]["train"] + split["sizes"]["val"] + split["sizes"]["test"] == 40
    with pytest.raises(glancekit.GlanceError, match="--extra"):
        TrainConfig.resolve({}, None, {"data": "synth", "extra": str(pool)})


def test_train_relabel_changes_training_labels_only(eye_pool, tmp_path):
    """`--relabel` (the review.csv of `glance audit` after a person's review): human rows replace the labels
    of train and val images; proposals are ignored; test images keep the data's own labels."""
    import csv
    import json

    from glancekit.config import TrainConfig
    from glancekit.engine.evaluate import split_samples
    from glancekit.data.plan import apply_relabel
    from glancekit.engine.train import train
    from glancekit.data.readers import read_dataset
    root, truth = eye_pool
    labelled = tmp_path / "labelled.csv"
    name = {1: "open", 0: "closed"}
    with open(labelled, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label"])
        w.writerows([[str(root / f"{i:03d}.png"), name[truth[i]]] for i in range(40)])
    task = get("eyes")
    parts = split_samples(task, read_dataset(labelled, task), seed=0)
    train_files = [Path(p).name for p in parts["train"].items]
    test_file = Path(parts["test"].items[0]).name
    val_file = Path(parts["val"].items[0]).name
    audit_dir = tmp_path / "audit"
    audit_dir.mkdir()
    (audit_dir / "review_root.txt").write_text(os.path.relpath(root, audit_dir) + "\n")  # relative: from its folder
    review = audit_dir / "review.csv"
    flip = {f: name[1 - truth[int(f[:3])]] for f in train_files[:3]}
    with open(review, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "source", "confidence", "cluster", "review_rank"])
        w.writerows([[f, lab, "human", 1.0, -1, 0] for f, lab in flip.items()])
        w.writerows([[f, name[truth[int(f[:3])]], "human", 1.0, -1, 0] for f in train_files[3:5]])  # confirmed
        w.writerow([test_file, name[1 - truth[int(test_file[:3])]], "human", 1.0, -1, 0])  # a test image
        w.writerow([val_file, name[1 - truth[int(val_file[:3])]], "human", 1.0, -1, 0])
        w.writerow([train_files[5], name[1 - truth[int(train_files[5][:3])]], "proposed", 0.9, -1, 1])
    fixed, info = apply_relabel(task, {"train": parts["train"], "val": parts["val"]}, parts["test"], str(review))
    assert info == {"file": str(review.resolve()), "decisions": 7, "changed_train": 3, "changed_val": 1,
                    "kept_in_test": 1, "not_in_data": 0}
    for item, t_old, t_new in zip(parts["train"].items, parts["train"].targets, fixed["train"].targets):
        expected = task.labels.index(flip[Path(item).name]) if Path(item).name in flip else t_old
        assert t_new == expected
    assert fixed["val"].targets[0] == 1 - parts["val"].targets[0]
    assert fixed["val"].targets[1:] == parts["val"].targets[1:]
    cfg = TrainConfig.resolve({"epochs": 1, "batch": 16, "model": {"arch": "cnn", "widths": [8, 8, 8]}}, None,
                              {"data": str(labelled), "relabel": str(review), "project": str(tmp_path / "runs"),
                               "name": "relabel"})
    run = train("eyes", cfg)
    split = json.loads((run / "run.json").read_text())["split"]
    assert split["relabel"]["changed_train"] == 3 and split["sizes"] == {k: len(v) for k, v in parts.items()}
    # `glance val --relabel` grades against the corrections: here the one about a test image
    from glancekit.cli import main
    assert main(["val", "eyes", "--data", str(labelled), "--weights", str(run / "weights" / "best.pt"), "--split",
                 "test", "--relabel", str(review), "--project", str(tmp_path / "runs"), "--name", "v"]) == 0
    val_run = json.loads((tmp_path / "runs" / "eyes" / "v" / "run.json").read_text())
    assert val_run["labels_changed"] == 1 and val_run["relabel"] == str(review.resolve())
    with pytest.raises(glancekit.GlanceError, match="--relabel"):
        TrainConfig.resolve({}, None, {"data": "synth", "relabel": str(review)})
    with pytest.raises(glancekit.GlanceError, match="no such labels file"):
        apply_relabel(task, parts, parts["test"], str(tmp_path / "missing.csv"))


def test_bench_scores_the_held_out_crops_against_a_second_labelling(tmp_path):
    """labels_cew.csv beside labels.csv: the crops scored are scored against it too, matched by file."""
    task = get("eyes")
    rng = np.random.default_rng(1)
    first, second = ["file,label"], ["file,label"]
    for i in range(8):
        cv2.imwrite(str(tmp_path / f"{i}.png"), eye(i % 2 == 0, rng))
        first.append(f"{i}.png,{'open' if i % 2 == 0 else 'closed'}")
        # the second reading calls crop 0 closed: one disagreement among the crops scored
        second.append(f"{i}.png,{'open' if i % 2 == 0 and i != 0 else 'closed'}")
    (tmp_path / "labels.csv").write_text("\n".join(first) + "\n")
    samples = read_dataset(tmp_path, task)
    scored = samples.subset([0, 1, 2, 3])
    outputs = np.array([[0.0, 5.0] if t == 1 else [5.0, 0.0] for t in scored.targets], np.float32)  # agrees with labels.csv
    assert task.source_figures(None, {"threshold": 0.5}, tmp_path, scored, outputs) == {}
    (tmp_path / "labels_cew.csv").write_text("\n".join(second) + "\n")
    figures = task.source_figures(None, {"threshold": 0.5}, tmp_path, scored, outputs)
    assert figures["labellings_disagree"] == 0.25
    assert figures["second_labels_accuracy"] == 0.75
