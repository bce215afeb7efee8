"""Train → runs folder → val / export / bench / predict, on a tiny run the tests train themselves."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import glancekit
from glancekit.config import TrainConfig
from glancekit.engine.checkpoint import load_checkpoint
from glancekit.engine.export import export
from glancekit.errors import GlanceError
from glancekit.runs.store import list_runs, new_run_dir
from glancekit.tasks import get

from .conftest import render_digit


def test_run_folder_holds_everything(tiny_run: Path):
    for name in ("config.yaml", "metrics.csv", "run.json", "report.html", "curves.png", "confusion.png",
                 "per_class.png", "labels.png", "train_samples.png", "val_predictions.png", "non_digits.png",
                 "weights/best.pt", "weights/last.pt"):
        assert (tiny_run / name).is_file(), name
    run = json.loads((tiny_run / "run.json").read_text())
    assert run["status"] == "done" and run["tags"] == ["test_run"] and run["best"] is not None
    rows = list(csv.DictReader(open(tiny_run / "metrics.csv")))
    assert [int(float(r["epoch"])) for r in rows] == list(range(1, 11))
    assert {"train_loss", "val_loss", "val_accuracy", "val_weighted_f1", "lr"} <= set(rows[0])
    best = max(float(r["val_accuracy"]) for r in rows)
    assert run["best"] == pytest.approx(best)
    html = (tiny_run / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 8 and "http://" not in html and "https://" not in html


def test_best_weights_carry_calibration(tiny_run: Path):
    ckpt = load_checkpoint(tiny_run / "weights" / "best.pt", get("digits"))
    assert 0 < ckpt["meta"]["threshold"] < 1
    assert ckpt["meta"]["split"]["sizes"]["test"] > 0
    with pytest.raises(GlanceError, match="not a glancekit weights file"):
        bad = tiny_run / "bad.pt"
        torch.save({"x": torch.zeros(1)}, bad)
        load_checkpoint(bad)


def test_learning_happens(tiny_run: Path, digit_folder: Path):
    """On the 30 images the run held out (never trained on, never selected on), well above chance."""
    from glancekit.engine.evaluate import load_eval_samples
    pred = glancekit.load("digits", weights=tiny_run / "weights" / "best.pt", backend="torch")
    held_out = load_eval_samples(get("digits"), digit_folder, "test", 0)
    files = [Path(f) for f in held_out.items]
    trained = {str(Path(f).resolve()) for f in load_eval_samples(get("digits"), digit_folder, "train", 0).items}
    assert len(files) == 30 and not {str(f.resolve()) for f in files} & trained
    preds = pred.predict(files)
    truth = [int(f.parent.name) for f in files]
    top = [p.top[0][0] for p in preds]
    assert np.mean([int(t) == y for t, y in zip(top, truth)]) > 0.3  # chance is 0.1


def test_runs_never_overwrite(tmp_path: Path):
    a = new_run_dir(tmp_path, "digits", "exp")
    b = new_run_dir(tmp_path, "digits", "exp")
    assert a.name == "exp" and b.name == "exp-2"


def test_list_runs_filters_by_tag(tiny_run: Path):
    project = tiny_run.parent.parent
    assert [r.name for r in list_runs(project, "digits", "test_run")] == ["tiny"]
    assert list_runs(project, "digits", "valid_run") == []


def test_config_file_and_flags(tmp_path: Path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("epochs: 7\nbatch: 16\nlr: 0.01\n")
    cfg = TrainConfig.resolve({"epochs": 3, "optimizer": "sgd"}, cfg_file, {"batch": 8, "epochs": None})
    assert (cfg.epochs, cfg.batch, cfg.lr, cfg.optimizer) == (7, 8, 0.01, "sgd")
    cfg_file.write_text("epochz: 7\n")
    with pytest.raises(GlanceError, match="unknown config option"):
        TrainConfig.resolve({}, cfg_file, {})
    with pytest.raises(GlanceError, match="lr must be"):
        TrainConfig.resolve({}, None, {"lr": "fast"})


def test_failed_run_is_marked_and_leaves_others(tiny_run: Path, digit_folder: Path, monkeypatch):
    from glancekit.engine import train as train_mod
    project = tiny_run.parent.parent
    before = (tiny_run / "weights" / "best.pt").read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(train_mod.TaskModule, "training_step", boom)
    cfg = TrainConfig.resolve({"epochs": 1, "batch": 32}, None,
                              {"data": str(digit_folder), "project": str(project), "name": "tiny"})
    with pytest.raises(RuntimeError):
        train_mod.train("digits", cfg)
    failed = json.loads((project / "digits" / "tiny-2" / "run.json").read_text())
    assert failed["status"] == "failed" and "disk on fire" in failed["error"]
    assert (tiny_run / "weights" / "best.pt").read_bytes() == before


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_matches_torch(tiny_run: Path, tmp_path: Path, fmt: str):
    path, diff = export(get("digits"), tiny_run / "weights" / "best.pt", fmt, tmp_path / f"m.{fmt}")
    assert path.is_file() and diff < 1e-4


def test_predictor_uses_matching_onnx_only(tiny_run: Path, tmp_path: Path):
    import shutil
    w = tmp_path / "w.pt"
    shutil.copy(tiny_run / "weights" / "best.pt", w)
    torch_pred = glancekit.load("digits", weights=w)
    assert torch_pred.backend == "torch"
    export(get("digits"), w, "onnx")
    onnx_pred = glancekit.load("digits", weights=w)
    assert onnx_pred.backend == "onnx"
    img = render_digit(5, np.random.default_rng(3), 60)
    a, b = torch_pred.predict(img), onnx_pred.predict(img)
    assert a.label == b.label and abs(a.confidence - b.confidence) < 1e-4
    # Weights changed after export → the stale ONNX file is ignored.
    ckpt = torch.load(w, weights_only=True)
    ckpt["meta"]["note"] = "retrained"
    torch.save(ckpt, w)
    assert glancekit.load("digits", weights=w).backend == "torch"


def test_predict_accepts_paths_pil_arrays_and_lists(tiny_run: Path, tmp_path: Path):
    p = glancekit.load("digits", weights=tiny_run / "weights" / "best.pt")
    img = render_digit(2, np.random.default_rng(4), 50)
    f = tmp_path / "x.png"
    Image.fromarray(img).save(f)
    one = p.predict(f)
    assert one.label == p.predict(Image.fromarray(img)).label == p.predict(img).label
    many = p.predict([f, img, Image.fromarray(img)])
    assert len(many) == 3 and all(m.label == one.label for m in many)
    assert p.predict([]) == []


def test_training_seed_leaves_the_split_alone(digit_folder: Path):
    """Runs that differ only in --seed are scored on the same held-out images; --split-seed moves the cut."""
    from glancekit.data.readers import read_dataset
    from glancekit.data.plan import split_set
    task = get("digits")
    samples = read_dataset(digit_folder, task)
    cut = {}
    for seed, split_seed in ((1, None), (2, None), (1, 3)):
        cfg = TrainConfig.resolve({}, None, {"data": str(digit_folder), "seed": seed, "split_seed": split_seed})
        parts, info = split_set(task, samples, cfg)
        cut[(seed, split_seed)] = (info["seed"], sorted(parts["test"].ids))
    assert cut[(1, None)] == cut[(2, None)] and cut[(1, None)][0] == 0
    assert cut[(1, 3)][0] == 3 and cut[(1, 3)][1] != cut[(1, None)][1]


def test_init_fine_tunes_from_weights(tiny_run: Path, digit_folder: Path, tmp_path: Path):
    """`--init W` starts from W's weights and architecture: after one epoch at a tiny learning rate the
    model is still (nearly) the one it started from, and a `model` option that contradicts W is refused.
    On W's own data it keeps W's split whatever --split-seed says: a new split would test on images W learnt."""
    from glancekit.engine.train import train
    start = load_checkpoint(tiny_run / "weights" / "best.pt")
    cfg = TrainConfig.resolve({"epochs": 1, "batch": 32, "lr": 1e-9}, None,
                              {"data": str(digit_folder), "project": str(tmp_path), "name": "ft", "seed": 7,
                               "split_seed": 5, "init": str(tiny_run / "weights" / "best.pt")})
    run = train("digits", cfg)
    split, parent = (json.loads((r / "run.json").read_text())["split"] for r in (run, tiny_run))
    assert split["seed"] == parent["seed"] == 0 and split["sizes"] == parent["sizes"]
    assert split["kept_from"] == str((tiny_run / "weights" / "best.pt").resolve())
    tuned = load_checkpoint(run / "weights" / "last.pt")
    assert tuned["model_kwargs"] == start["model_kwargs"]
    conv = next(k for k, v in start["state_dict"].items() if v.ndim == 4)
    assert torch.allclose(tuned["state_dict"][conv], start["state_dict"][conv], atol=1e-5)
    fresh = get("digits").build_model(**start["model_kwargs"]).state_dict()[conv]
    assert not torch.allclose(fresh, start["state_dict"][conv], atol=1e-3)
    bad = TrainConfig.resolve({"epochs": 1, "model": {"widths": [4, 8, 16]}}, None,
                              {"data": str(digit_folder), "project": str(tmp_path),
                               "init": str(tiny_run / "weights" / "best.pt")})
    with pytest.raises(GlanceError, match="config asks for"):
        train("digits", bad)


def test_ema_averages_the_weights_and_is_what_validation_scores():
    """--ema keeps a frozen moving average beside the trained weights: each optimiser step moves it by
    (1 - decay) towards them (decay warmed up as (1+n)/(10+n)), the optimiser never sees it, and it is
    what validation scores and the checkpoints save."""
    from glancekit.engine.module import TaskModule
    task = get("digits")
    cfg = TrainConfig.resolve({"model": {"widths": [4, 8, 16]}}, None, {"ema": 0.9})
    module = TaskModule(task, cfg, steps_per_epoch=1)
    ema = module.eval_model
    assert ema is not module.model and not any(p is q for p in ema.parameters() for q in module.parameters())
    start = {k: v.clone() for k, v in module.model.state_dict().items()}
    with torch.no_grad():
        for p in module.model.parameters():
            p.add_(1.0)
    module.update_ema()
    decay = min(0.9, 2 / 11)
    for k, v in ema.state_dict().items():
        if v.dtype.is_floating_point and k in dict(module.model.named_parameters()):
            assert torch.allclose(v, start[k] + (1 - decay)), k
    x = torch.rand(5, 1, 28, 28)
    module.validation_step((x, torch.zeros(5, dtype=torch.long)), 0)
    assert torch.allclose(module._val_out[-1], ema(x)) and not torch.allclose(ema(x), module.model.eval()(x))
    module.reset_ema()
    assert all(torch.equal(a, b) for a, b in zip(module.eval_model.state_dict().values(),
                                                 module.model.state_dict().values()))
    plain = TaskModule(task, TrainConfig.resolve({"model": {"widths": [4, 8, 16]}}, None, {}), 1)
    assert plain.eval_model is plain.model
    with pytest.raises(GlanceError, match="ema must be in"):
        TrainConfig.resolve({}, None, {"ema": 1.0})


def test_training_with_ema_saves_the_average(digit_folder: Path, tmp_path: Path, monkeypatch):
    """With --ema, the weights saved (last.pt, best.pt) are the moving average, not the optimiser's."""
    import glancekit.engine.train as train_module
    from glancekit.engine.checkpoint import load_checkpoint
    from glancekit.engine.module import TaskModule
    modules: list[TaskModule] = []

    class Recorded(TaskModule):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            modules.append(self)
    monkeypatch.setattr(train_module, "TaskModule", Recorded)
    cfg = TrainConfig.resolve({"epochs": 2, "batch": 32, "lr": 5e-3, "model": {"widths": [8, 16, 32]}}, None,
                              {"data": str(digit_folder), "project": str(tmp_path), "name": "ema", "ema": 0.95})
    run = train_module.train("digits", cfg)
    assert "ema: 0.95" in (run / "config.yaml").read_text()
    (module,) = modules
    saved = load_checkpoint(run / "weights" / "last.pt")["state_dict"]
    average, raw = module._ema[0].state_dict(), module.model.state_dict()
    weights = [k for k, v in saved.items() if v.dtype.is_floating_point]
    assert all(torch.equal(saved[k], average[k]) for k in weights)
    assert not all(torch.equal(saved[k], raw[k]) for k in weights)
    pred = glancekit.load("digits", weights=run / "weights" / "best.pt", backend="torch")
    assert pred.predict(sorted(digit_folder.glob("*/*.png"))[0]).label in [str(d) for d in range(10)] + ["not_a_digit"]


def test_time_budget_fits_the_epoch_count(digit_folder: Path, tmp_path: Path):
    """--time-budget times epoch 1 and keeps the whole epochs that fit, never more than --epochs; the cosine
    schedule then anneals over that count instead of --epochs."""
    from glancekit.engine.module import TaskModule
    from glancekit.engine.train import train
    base = {"epochs": 30, "batch": 32, "lr": 5e-3, "warmup_epochs": 0.5, "model": {"widths": [4, 8, 16]}}
    tight = train("digits", TrainConfig.resolve(base, None, {"data": str(digit_folder), "project": str(tmp_path),
                                                             "name": "tight", "time_budget": 1e-4}))
    run = json.loads((tight / "run.json").read_text())
    rows = list(csv.DictReader(open(tight / "metrics.csv")))
    assert run["status"] == "done" and run["epochs_fitted"] == 1 and len(rows) == 1
    roomy = train("digits", TrainConfig.resolve({**base, "epochs": 2}, None,
                                                {"data": str(digit_folder), "project": str(tmp_path),
                                                 "name": "roomy", "time_budget": 600}))
    assert json.loads((roomy / "run.json").read_text())["epochs_fitted"] == 2
    assert len(list(csv.DictReader(open(roomy / "metrics.csv")))) == 2
    module = TaskModule(get("digits"), TrainConfig.resolve(base, None, {}), steps_per_epoch=10)
    sched = module.configure_optimizers()["lr_scheduler"]["scheduler"]
    module.planned_epochs = 4  # what the budget callback sets after epoch 1
    for _ in range(40):
        sched.optimizer.step()
        sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(5e-3 * 0.01)  # the floor, reached at epoch 4 of the 30 asked
    with pytest.raises(GlanceError, match="time_budget must be a positive"):
        TrainConfig.resolve({}, None, {"time_budget": 0})


def test_distillation_learns_a_frozen_teacher(tiny_run: Path, digit_folder: Path, tmp_path: Path):
    """--distill: the teacher answers every training batch as its weights do (on a CPU through its ONNX
    export), stays frozen and out of the optimiser, and with --distill-weight 1 it alone is the loss. The
    teacher here is the tiny run with its answers moved one digit on (it says 4 where the run says 3), so a
    student that learns the teacher, not the labels, gives the moved answers. A task with no distillation
    loss, or a teacher of another task, is one clear error."""
    from glancekit.engine.checkpoint import build_from_checkpoint, save_checkpoint
    from glancekit.engine.module import TaskModule
    from glancekit.engine.train import train
    task = get("digits")
    ckpt = load_checkpoint(tiny_run / "weights" / "best.pt")
    _, net = build_from_checkpoint(ckpt)
    with torch.no_grad():  # output d of the moved teacher is output d-1 of the run
        last = net.head[-1]
        last.weight.copy_(last.weight.roll(1, 0))
        last.bias.copy_(last.bias.roll(1, 0))
    teacher_w = tmp_path / "moved.pt"
    save_checkpoint(teacher_w, task, net, ckpt["model_kwargs"], ckpt["meta"])

    base = {"epochs": 10, "batch": 32, "lr": 5e-3, "model": {"widths": [8, 16, 32]}}
    cfg = TrainConfig.resolve(base, None, {"distill": str(teacher_w), "distill_weight": 1.0, "augment": False})
    module = TaskModule(task, cfg, steps_per_epoch=1)
    module.model.eval()  # no dropout: the same student outputs twice
    module.on_fit_start()
    teacher = module._teacher[0]
    assert not any(p is q for p in teacher.model.parameters() for q in module.parameters())
    x = torch.rand(7, 1, 28, 28)
    y = torch.randint(0, 10, (7,))
    with torch.no_grad():
        ref = teacher.model(x)
    assert torch.allclose(teacher(x), ref, atol=1e-4)
    module.log = lambda *a, **k: None  # outside a Trainer
    loss = module.training_step((x, y), 0)
    assert torch.allclose(loss, task.distill_loss(module.model(x), ref, y), atol=1e-4)

    run = train("digits", TrainConfig.resolve(base, None, {"data": str(digit_folder), "project": str(tmp_path),
                                                           "name": "kd", "distill": str(teacher_w),
                                                           "distill_weight": 1.0, "seed": 3}))
    assert f"distill: {teacher_w}" in (run / "config.yaml").read_text()
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert float(rows[-1]["train_distill"]) < float(rows[0]["train_distill"])
    images = sorted(digit_folder.glob("*/*.png"))
    truth = np.array([int(p.parent.name) for p in images])
    x = np.stack([task.preprocess(np.asarray(Image.open(p))) for p in images])
    said = glancekit.load("digits", weights=run / "weights" / "last.pt", backend="torch").infer(x).argmax(1)
    taught = glancekit.load("digits", weights=teacher_w, backend="torch").infer(x).argmax(1)
    # the tiny teacher itself is right about 57% of the time; a student of the labels would agree with the
    # moved teacher about never, one of the teacher far more often than chance (10%) and with the labels less
    assert np.mean(said == taught) > 0.4 and np.mean(said == truth) < 0.1

    with pytest.raises(GlanceError, match="has no distillation loss"):
        TaskModule(get("hand_keypoints"), TrainConfig.resolve({}, None, {"distill": str(teacher_w)}), 1)
    with pytest.raises(GlanceError, match="holds weights for task 'digits'"):
        TaskModule(get("eyes"), TrainConfig.resolve({}, None, {"distill": str(teacher_w)}), 1)
    with pytest.raises(GlanceError, match="distill_weight must be in"):
        TrainConfig.resolve({}, None, {"distill": str(teacher_w), "distill_weight": 0})


def test_every_augment_call_gets_the_runs_options(digit_folder: Path, tmp_path: Path, monkeypatch):
    """The picture of augmented training samples is made the way training augments: with the run's
    `augment_options`, not the task's defaults (it once showed the defaults, and cached a default bank)."""
    from glancekit.engine.train import train
    task = get("digits")
    seen: list[dict] = []
    original = task.augment

    def spy(x, y, styles: float = 0.5, outliers: float = 0.1):  # the options check reads this signature
        seen.append({"styles": styles, "outliers": outliers})
        return original(x, y, styles=styles, outliers=outliers)
    monkeypatch.setattr(task, "augment", spy)
    cfg = TrainConfig.resolve({"epochs": 1, "batch": 32, "model": {"widths": [4, 8, 16]},
                               "augment_options": {"styles": 0.0, "outliers": 0.25}}, None,
                              {"data": str(digit_folder), "project": str(tmp_path), "name": "aug"})
    run = train("digits", cfg)
    assert (run / "train_augmented.png").exists()
    assert len(seen) >= 2 and all(o == {"styles": 0.0, "outliers": 0.25} for o in seen)
