"""`glance train`: data → split → Lightning fit → best/last weights, calibration, report.

Everything lands in a fresh runs/TASK/NAME folder. run.json says `running` until the end, then `done`,
`interrupted` (Ctrl-C: last.pt and best.pt so far are kept) or `failed`.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import yaml
from lightning.pytorch.callbacks import Callback, EarlyStopping, RichProgressBar
from torch.utils.data import DataLoader, Dataset

from ..config import TrainConfig
from ..data.dataset import prepare, tensor_dataset
from ..data.synth import (EpochSampler, MixedDataset, MixedSampler, SynthDataset, check_task, load_photos,
                          parse_spec, single_threaded_rendering, synth_samples)
from ..data.readers import Samples, item_key, read_dataset
from ..errors import GlanceError
from ..progress import console
from ..runs import report as rp
from ..runs.store import atomic_write_csv, atomic_write_text, new_run_dir, write_run_json
from ..tasks import Task, get
from .checkpoint import build_from_checkpoint, load_checkpoint, save_checkpoint
from .evaluate import Evaluation, evaluate_arrays, split_samples, torch_infer, write_val_report
from .module import TaskModule


class RunRecorder(Callback):
    """Per epoch: a row of metrics.csv, last.pt, and best.pt when the selection metric improves."""

    def __init__(self, run_dir: Path, task: Task, cfg: TrainConfig, base_meta: dict[str, Any]) -> None:
        self.run_dir, self.task, self.cfg, self.base_meta = run_dir, task, cfg, base_meta
        self.history: list[dict[str, float]] = []
        self.best: float | None = None
        self.best_epoch = -1
        self._t0 = time.time()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._t0 = time.time()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        row: dict[str, float] = {"epoch": trainer.current_epoch + 1}
        for k, v in sorted(trainer.callback_metrics.items()):
            row[k] = float(v)
        row["lr"] = float(trainer.optimizers[0].param_groups[0]["lr"])
        row["epoch_time_s"] = round(time.time() - self._t0, 2)
        self.history.append(row)
        self._write_csv()
        assert isinstance(pl_module, TaskModule)
        key = self.task.select_metric
        value = row.get(key)
        meta = {**self.base_meta, "epoch": row["epoch"], "select_metric": key, "metrics": row}
        weights = self.run_dir / "weights"
        # eval_model: the weights validation just scored (their moving average under --ema)
        save_checkpoint(weights / "last.pt", self.task, pl_module.eval_model, pl_module.model_kwargs, meta)
        if value is not None and not math.isnan(value) and (
                self.best is None or (value > self.best if self.task.select_mode == "max" else value < self.best)):
            self.best, self.best_epoch = value, int(row["epoch"])
            save_checkpoint(weights / "best.pt", self.task, pl_module.eval_model, pl_module.model_kwargs,
                            {**meta, "best": value})
            write_run_json(self.run_dir, best=value, best_epoch=self.best_epoch)
        if not sys.stderr.isatty():  # no live bar: one line per epoch instead
            shown = {k: v for k, v in row.items() if k in ("train_loss", "val_loss", key, "lr")}
            console.print(f"epoch {int(row['epoch'])}/{trainer.max_epochs} " +
                          " ".join(f"{k}={v:.4g}" for k, v in shown.items()))

    def _write_csv(self) -> None:
        cols: list[str] = []
        for r in self.history:
            cols += [k for k in r if k not in cols]
        atomic_write_csv(self.run_dir / "metrics.csv", self.history, cols)


class TimeBudget(Callback):
    """`--time-budget MIN`: fit the number of epochs to a wall-clock budget.

    Why not Lightning's `max_time`: it stops mid-schedule, with the learning rate still high and the last
    epoch unvalidated. Here the first epoch (the warm-up) is timed, the epoch count becomes the whole
    epochs that fit (at most `--epochs`), and the cosine schedule anneals over that count, so the run
    ends as a run given that `--epochs` would. The count is fixed once, so the schedule stays smooth; if
    later epochs run slower than the first (a busy machine), the run stops before the one that would overrun.
    """

    def __init__(self, run_dir: Path, minutes: float) -> None:
        self.run_dir, self.budget_s = run_dir, minutes * 60.0
        self._t0 = time.time()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._t0 = time.time()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        done = trainer.current_epoch + 1
        elapsed = time.time() - self._t0
        per_epoch = elapsed / done
        if done == 1:
            fitted = max(1, min(int(trainer.max_epochs or 1), int(self.budget_s // per_epoch)))
            trainer.fit_loop.max_epochs = fitted
            assert isinstance(pl_module, TaskModule)
            pl_module.planned_epochs = fitted
            write_run_json(self.run_dir, time_budget_s=round(self.budget_s, 1), epochs_fitted=fitted,
                           first_epoch_s=round(per_epoch, 1))
            console.print(f"time budget {self.budget_s / 60:g} min: epoch 1 took {per_epoch:.1f} s → {fitted} epochs")
        elif done < int(trainer.max_epochs or 0) and elapsed + per_epoch > self.budget_s:
            trainer.should_stop = True
            write_run_json(self.run_dir, stopped_by_time_budget_after=done)
            console.print(f"time budget: stopping after epoch {done} (the next would overrun)")


def _loggers(cfg: TrainConfig, run_dir: Path) -> list[Any]:
    if cfg.logger is None:
        return []
    try:
        if cfg.logger == "tensorboard":
            from lightning.pytorch.loggers import TensorBoardLogger
            return [TensorBoardLogger(str(run_dir), name="tensorboard")]
        from lightning.pytorch.loggers import MLFlowLogger
        return [MLFlowLogger(experiment_name=f"glancekit-{run_dir.parent.name}", run_name=run_dir.name)]
    except (ImportError, ModuleNotFoundError) as e:
        raise GlanceError(f"--logger {cfg.logger} needs its package installed ({e})") from None


def _init_split(task: Task, cfg: TrainConfig) -> tuple[str, dict[str, Any]]:
    """Where `--init` weights come from and the split they were trained with ("", {} without --init)."""
    if not cfg.init:
        return "", {}
    from .checkpoint import resolve_weights
    path = resolve_weights(task, None if cfg.init == "shipped" else cfg.init)
    meta = load_checkpoint(path, task)["meta"]
    split = dict(meta["split"]) if isinstance(meta.get("split"), dict) else {}
    if "seed" in split and not split.get("synthetic"):  # runs before data_path: their data as given
        split.setdefault("data_path", meta.get("data"))
    return str(path.resolve()), split


def _same_path(a: Any, b: Any) -> bool:
    try:
        return a is not None and b is not None and Path(str(a)).resolve() == Path(str(b)).resolve()
    except OSError:
        return False


def _kept_split(init_split: dict[str, Any], data: str) -> dict[str, Any] | None:
    """The split the --init weights made of `data`: their own split of it, or of it as their --mix set."""
    mix = init_split.get("mix") or {}
    return (init_split if _same_path(init_split.get("data_path"), data) else
            mix if _same_path(mix.get("data"), data) else None)


def _split(task: Task, samples: Samples, cfg: TrainConfig, parent: dict[str, Any] | None = None,
           parent_path: str = "") -> tuple[dict[str, Samples], dict[str, Any]]:
    """The run's train/val/test parts of one labelled set, and what val/bench need to cut the same parts
    again: seed, fractions (the run's own, else the task's), whether photos were kept whole, sizes.

    `parent` is the split the `--init` weights made of this same set: fine-tuning keeps it (seed,
    fractions, grouping), because a fresh split would put images those weights learnt into the test part.
    """
    if parent:
        seed, vf, tf = int(parent["seed"]), float(parent["val_frac"]), float(parent["test_frac"])
        grouped = bool(parent.get("grouped", False))  # runs before grouping split per sample
        console.print(f"keeping the split of --init {parent_path} (seed {seed}, val {vf}, test {tf})")
    else:
        seed = cfg.split_seed
        vf = cfg.val_frac if cfg.val_frac is not None else task.val_frac
        tf = cfg.test_frac if cfg.test_frac is not None else task.test_frac
        grouped = True
    parts = split_samples(task, samples, seed, vf, tf, grouped)
    info = {"seed": seed, "val_frac": vf, "test_frac": tf, "grouped": grouped and samples.groups is not None,
            "sizes": {k: len(v) for k, v in parts.items()}}
    return parts, info | ({"kept_from": parent_path} if parent else {})


def _data(task: Task, cfg: TrainConfig) -> tuple[Samples, Samples, dict[str, Any]]:
    if not cfg.data:
        raise GlanceError("no training data: pass --data PATH (or data: in the config file)")
    if parse_spec(cfg.data) is not None:
        return _synth_data(task, cfg)
    samples = read_dataset(cfg.data, task)
    if cfg.val_data:
        train_s, val_s = samples, read_dataset(cfg.val_data, task)
        test_s = Samples([], [], [])
        split_info: dict[str, Any] = {"val_data": cfg.val_data}
    else:
        init_path, init_split = _init_split(task, cfg)
        parts, split_info = _split(task, samples, cfg, _kept_split(init_split, cfg.data), init_path)
        split_info["data_path"] = str(Path(cfg.data).resolve())
        train_s, val_s, test_s = parts["train"], parts["val"], parts["test"]
        if cfg.extra:
            train_s, split_info["extra"] = _with_extra(task, train_s, cfg.extra, val_s + test_s)
    if cfg.relabel:
        fixed, split_info["relabel"] = _with_relabel(task, {"train": train_s, "val": val_s}, test_s, cfg.relabel)
        train_s, val_s = fixed["train"], fixed["val"]
    if cfg.max_samples and len(train_s) > cfg.max_samples:
        pick = np.random.default_rng(cfg.seed).choice(len(train_s), cfg.max_samples, replace=False)
        train_s = train_s.subset(np.sort(pick))
    if len(train_s) == 0 or len(val_s) == 0:
        raise GlanceError(f"{cfg.data} has too few images to split into train ({len(train_s)}) and "
                          f"validation ({len(val_s)}); add images or pass --val-data")
    return train_s, val_s, split_info


def _with_extra(task: Task, train_s: Samples, extra: str, held_out: Samples) -> tuple[Samples, dict[str, Any]]:
    """The training part plus `--extra` images, less any image that is also held out (val/test) or
    already in training: a pool's proposals must never grade the model they trained."""
    more = read_dataset(extra, task)
    taken = {item_key(i) for i in held_out.items} | {item_key(i) for i in train_s.items}
    taken.discard("")
    keep = [i for i, item in enumerate(more.items) if item_key(item) not in taken]
    if not keep:
        raise GlanceError(f"--extra {extra}: every image is already in the data's train, val or test part")
    dropped = len(more) - len(keep)
    console.print(f"--extra {extra}: {len(keep)} more training images"
                  + (f" ({dropped} left out: already in the split of --data)" if dropped else ""))
    return train_s + more.subset(keep), {"data": str(Path(extra).resolve()), "images": len(keep), "left_out": dropped}


def _with_relabel(task: Task, parts: dict[str, Samples], test: Samples, path: str
                  ) -> tuple[dict[str, Samples], dict[str, Any]]:
    """The train and val parts with a person's decisions in place of their own labels (label/relabel.py);
    the test part keeps the data's labels, so the run is graded as runs without the corrections are."""
    from ..label.relabel import read_decisions, relabel
    decisions = read_decisions(task, path)
    fixed, counts = relabel(parts, decisions)
    _, in_test = relabel({"test": test}, decisions)
    info: dict[str, Any] = {"file": str(Path(path).resolve()), "decisions": len(decisions),
                            "changed_train": counts["changed_train"], "changed_val": counts["changed_val"],
                            "kept_in_test": in_test["named_test"]}
    info["not_in_data"] = len(decisions) - counts["named_train"] - counts["named_val"] - info["kept_in_test"]
    console.print(f"--relabel {path}: {info['changed_train']} training and {info['changed_val']} validation labels "
                  f"changed ({len(decisions)} decisions; {info['kept_in_test']} about test images, whose labels stay)")
    return fixed, info


def _synth_data(task: Task, cfg: TrainConfig) -> tuple[Samples, Samples, dict[str, Any]]:
    """`--data synth`: the training "samples" are the first renders of epoch 0 (for the pictures and the
    label distribution); the loader renders fresh images every epoch."""
    check_task(task)
    if cfg.backgrounds is None:  # the photos the benchmark renders over, when the shared data has them
        from .bench import data_root, default_backgrounds
        cfg.backgrounds = default_backgrounds(task)
        if cfg.backgrounds is None and task.synth_backgrounds:
            # Said out loud: a model trained without them is graded on renders over photos, and scores lower.
            console.print(f"[yellow]no background photos[/] at {data_root() / task.synth_backgrounds}: the renders get "
                          "procedural backgrounds only (pass --backgrounds DIR, or set GLANCE_DATA)")
    photos = load_photos(cfg.backgrounds)
    preview = synth_samples(task, "train", min(cfg.epoch_size, 600), cfg.seed, photos)
    preview.meta["photos"] = photos
    val_s = read_dataset(cfg.val_data, task) if cfg.val_data else synth_samples(task, "val", cfg.val_size, cfg.seed,
                                                                                photos)
    info: dict[str, Any] = {"synthetic": True, "seed": cfg.seed, "epoch_size": cfg.epoch_size,
                            "val_data": cfg.val_data or "synth:val", "backgrounds": cfg.backgrounds,
                            "background_photos": len(photos)}
    init_path, init_split = _init_split(task, cfg)
    init_mix = init_split.get("mix") or {}
    if init_mix and not (cfg.mix and _same_path(init_mix.get("data"), cfg.mix)):
        # the --init weights learnt from part of a real set: keep naming it, so bench scores only its held-out part
        info["mix"] = {**init_mix, "repeat": 0, "kept_from": init_path}
    if cfg.mix:  # real photos: train part into every epoch, val part into validation, test part held out
        parts, mix_info = _split(task, read_dataset(cfg.mix, task), cfg, _kept_split(init_split, cfg.mix), init_path)
        if len(parts["train"]) == 0:
            raise GlanceError(f"--mix {cfg.mix}: too few images to split off a training part")
        preview.meta["mix_train"] = parts["train"]
        val_s = val_s + parts["val"]
        info["mix"] = {"data": str(Path(cfg.mix).resolve()), "repeat": cfg.mix_repeat, **mix_info}
    info["val_size"] = len(val_s)
    return preview, val_s, info


def _label_counts(task: Task, parts: dict[str, Samples]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for name, s in parts.items():
        c: dict[str, int] = {}
        for t in s.targets:
            key = task.distribution_key(t)
            c[key] = c.get(key, 0) + 1
        counts[name] = dict(sorted(c.items()))
    return counts


def _quiet_lightning() -> None:
    """Keep the console for our own lines: Lightning's banners and tips say nothing about the run."""
    import logging
    import warnings
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module=r"lightning.*")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")


def train(task_name: str, cfg: TrainConfig) -> Path:
    """Train `task_name` as `cfg` says; return the run folder."""
    _quiet_lightning()
    task = get(task_name)
    train_s, val_s, split_info = _data(task, cfg)
    run_dir = new_run_dir(cfg.project, task.name, cfg.name)
    started = time.time()
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump({"task": task.name, **cfg.to_dict()}, sort_keys=False))
    write_run_json(run_dir, task=task.name, kind="train", status="running", tags=cfg.tags, started=started,
                   select_metric=task.select_metric, data=cfg.data, split=split_info)
    what = (f"{cfg.epoch_size} fresh synthetic images per epoch" if split_info.get("synthetic")
            else f"train {len(train_s)}")
    if cfg.mix and "mix" in split_info:
        what += f" + {split_info['mix']['sizes']['train']} real x{cfg.mix_repeat}"
    console.print(f"[bold]glance train {task.name}[/] → {run_dir}  ({what}, val {len(val_s)})")
    try:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        x_tr, y_tr = prepare(task, train_s, "train")
        x_va, y_va = prepare(task, val_s, "val")
        gen = torch.Generator().manual_seed(cfg.seed)
        if split_info.get("synthetic"):  # fresh renders every epoch
            synth_ds = SynthDataset(task, cfg.seed, cfg.epoch_size, train_s.meta["photos"])
            dataset: Dataset = synth_ds
            sampler: EpochSampler = EpochSampler(cfg.epoch_size)
            if "mix_train" in train_s.meta:
                x_mix, y_mix = prepare(task, train_s.meta["mix_train"], "train (real)")
                dataset = MixedDataset(synth_ds, torch.from_numpy(x_mix), y_mix)
                sampler = MixedSampler(cfg.epoch_size, len(x_mix), cfg.mix_repeat, cfg.seed)
            train_dl = DataLoader(dataset, batch_size=cfg.batch, sampler=sampler, num_workers=cfg.workers,
                                  drop_last=len(sampler) > cfg.batch, persistent_workers=False)
            if cfg.workers:
                single_threaded_rendering()
        else:
            train_dl = DataLoader(tensor_dataset(x_tr, y_tr), batch_size=cfg.batch, shuffle=True, generator=gen,
                                  num_workers=cfg.workers, drop_last=len(x_tr) > cfg.batch)
        val_dl = DataLoader(tensor_dataset(x_va, y_va), batch_size=max(cfg.batch, 256), num_workers=cfg.workers)
        module = TaskModule(task, cfg, len(train_dl))
        base_meta = {"data": cfg.data, "split": split_info, "input_size": list(task.input_size)}
        recorder = RunRecorder(run_dir, task, cfg, base_meta)
        # the budget first: epoch 1's line then shows the fitted count
        callbacks: list[Callback] = ([TimeBudget(run_dir, cfg.time_budget)] if cfg.time_budget else []) + [recorder]
        if cfg.patience > 0:
            callbacks.append(EarlyStopping(task.select_metric, patience=cfg.patience, mode=task.select_mode))
        if sys.stderr.isatty():
            callbacks.append(RichProgressBar())
        trainer = L.Trainer(
            max_epochs=cfg.epochs, accelerator=cfg.accelerator, devices=cfg.devices, strategy=cfg.strategy,
            num_nodes=cfg.num_nodes, precision=cfg.precision, logger=_loggers(cfg, run_dir) or False,
            callbacks=callbacks, enable_checkpointing=False, enable_progress_bar=sys.stderr.isatty(),
            enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=str(run_dir),
            limit_train_batches=cfg.limit_train_batches, log_every_n_steps=10)
        _write_data_pictures(task, train_s, val_s, x_tr, y_tr, run_dir)
        if cfg.lr == "auto":
            _find_lr(trainer, module, train_dl, val_dl, run_dir)
        trainer.fit(module, train_dl, val_dl)
        if trainer.interrupted:
            raise KeyboardInterrupt
    except (KeyboardInterrupt, SystemExit):
        write_run_json(run_dir, status="interrupted", duration_s=round(time.time() - started, 1))
        console.print(f"[yellow]interrupted[/]: kept what was saved in {run_dir}")
        raise
    except BaseException as e:
        write_run_json(run_dir, status="failed", error=f"{e.__class__.__name__}: {e}",
                       duration_s=round(time.time() - started, 1))
        raise
    train_time = time.time() - started
    if not (run_dir / "weights" / "best.pt").exists():
        write_run_json(run_dir, status="failed", error="no epoch produced a usable selection metric")
        raise GlanceError(f"training produced no usable {task.select_metric}; see {run_dir / 'metrics.csv'}")
    n_train = (len(train_dl.sampler) * len(recorder.history) if split_info.get("synthetic")  # type: ignore[arg-type]
               else len(train_s))
    _finish(task, run_dir, x_va, y_va.numpy(), val_s.ids, recorder, train_time, cfg, n_train)
    write_run_json(run_dir, status="done", duration_s=round(time.time() - started, 1),
                   train_time_s=round(train_time, 1))
    return run_dir


def _find_lr(trainer: L.Trainer, module: TaskModule, train_dl: DataLoader, val_dl: DataLoader, run_dir: Path) -> None:
    """Lightning's LR range test on a throw-away Trainer (the real one's epoch limit would cut the
    sweep short on small data); the model weights are restored afterwards by Lightning."""
    from lightning.pytorch.tuner import Tuner
    finder_trainer = L.Trainer(max_epochs=10_000, accelerator=trainer.accelerator, devices=1, logger=False,
                               enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                               num_sanity_val_steps=0, default_root_dir=str(run_dir))
    finder = Tuner(finder_trainer).lr_find(module, train_dataloaders=train_dl, val_dataloaders=val_dl,
                                           min_lr=1e-5, max_lr=1.0, num_training=100, early_stop_threshold=None,
                                           update_attr=False)
    suggestion = finder.suggestion() if finder is not None else None
    if suggestion is None or not np.isfinite(suggestion):
        raise GlanceError("the LR finder found no usable learning rate; pass --lr explicitly")
    module.lr = float(suggestion)
    module.reset_ema()  # the sweep's trial steps moved the average; the weights themselves were restored
    fig = finder.plot(suggest=True)
    fig.savefig(run_dir / "lr_find.png", dpi=100)
    import matplotlib.pyplot as plt
    plt.close(fig)
    write_run_json(run_dir, lr_found=module.lr)
    console.print(f"LR finder suggests lr={module.lr:.3g}")


def _write_data_pictures(task: Task, train_s: Samples, val_s: Samples, x_tr: np.ndarray, y_tr: torch.Tensor,
                         run_dir: Path) -> None:
    from ..tasks.base import display_image
    rp.plot_label_distribution(_label_counts(task, {"train": train_s, "val": val_s}), run_dir / "labels.png")
    idx = np.random.default_rng(0).choice(len(x_tr), min(32, len(x_tr)), replace=False)
    xb, yb = torch.from_numpy(x_tr[idx]), y_tr[idx]
    xa, ya = task.augment(xb.clone(), yb.clone())
    rp.image_grid([display_image(a) for a in xb.numpy()], [task.target_str(t) for t in yb.tolist()],
                  run_dir / "train_samples.png")
    rp.image_grid([display_image(a) for a in xa.numpy()],
                  [task.target_str(t) if int(np.asarray(t).ravel()[0]) >= 0 else "outlier" for t in ya.tolist()],
                  run_dir / "train_augmented.png")


def _finish(task: Task, run_dir: Path, x_va: np.ndarray, y_va: np.ndarray, val_ids: list[str],
            recorder: RunRecorder, train_time: float, cfg: TrainConfig, n_train: int) -> Evaluation:
    """Reload the best epoch, calibrate on validation, store it with the weights, write the report."""
    best_path = run_dir / "weights" / "best.pt"
    ckpt = load_checkpoint(best_path, task)
    _, model = build_from_checkpoint(ckpt)
    infer = torch_infer(model)
    outputs = infer(x_va)
    calibration = task.calibrate(outputs, y_va)
    meta = {**ckpt["meta"], **calibration, "train_time_s": round(train_time, 1)}
    save_checkpoint(best_path, task, model, ckpt["model_kwargs"], meta)
    last_path = run_dir / "weights" / "last.pt"
    if calibration and last_path.is_file():  # last.pt can be shipped or fine-tuned too: fit its own values
        last = load_checkpoint(last_path, task)
        _, last_model = build_from_checkpoint(last)
        fitted = (calibration if last["meta"].get("epoch") == ckpt["meta"].get("epoch")
                  else task.calibrate(torch_infer(last_model)(x_va), y_va))
        save_checkpoint(last_path, task, last_model, last["model_kwargs"], {**last["meta"], **fitted})
    ev = evaluate_arrays(task, infer, x_va, y_va, meta)
    atomic_write_text(run_dir / "calibration.json", json.dumps(calibration, indent=2))
    curves = rp.plot_curves(recorder.history, run_dir / "curves.png")
    summary = {"task": task.name, "best epoch": recorder.best_epoch, task.select_metric: recorder.best,
               "epochs run": len(recorder.history), "train time (s)": round(train_time, 1),
               "train / val images": f"{n_train} / {len(x_va)}"}
    pictures = [p for p in (run_dir / "labels.png", run_dir / "train_samples.png",
                            run_dir / "train_augmented.png", run_dir / "lr_find.png") if p.exists()]
    write_val_report(task, ev, val_ids, meta, run_dir, infer, f"glance train {task.name}: {run_dir.name}",
                     extra_sections=[("Run", [summary, rp.html_table([{"option": k, "value": str(v)}
                                                                         for k, v in cfg.to_dict().items()])]),
                                     ("Training curves", [curves]),
                                     ("Data: label distribution, training samples, augmented samples", pictures)])
    console.print(f"best {task.select_metric}={recorder.best:.4f} at epoch {recorder.best_epoch}; "
                  f"report: {run_dir / 'report.html'}")
    return ev
