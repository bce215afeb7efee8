"""`glance train`: data plan → module → trainer → finish (best/last weights, calibration, report).

The run's data (split, renders, mixes, extras, relabels) is composed in data/plan.py; this file only
trains on it. Everything lands in a fresh runs/TASK/NAME folder. run.json says `running` until the end,
then `done`, `interrupted` (Ctrl-C: last.pt and best.pt so far are kept) or `failed`.
"""
from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import yaml
from lightning.pytorch.callbacks import Callback, EarlyStopping, RichProgressBar
from torch.utils.data import DataLoader

from ..config import TrainConfig
from ..data.plan import DataPlan, Loaders, plan_data
from ..data.readers import Samples
from ..errors import GlanceError
from ..progress import console
from ..runs import report as rp
from ..runs.store import atomic_write_csv, atomic_write_text, new_run_dir, write_run_json
from ..tasks import Task, get
from .checkpoint import build_from_checkpoint, load_checkpoint, save_checkpoint
from .evaluate import Evaluation, evaluate_arrays, torch_infer, write_val_report
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
        if trainer.sanity_checking or not trainer.is_global_zero:  # one process writes the run
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
        main = trainer.is_global_zero  # the main process's clock decides for all: they must agree on the epochs
        if done == 1:
            fitted = max(1, min(int(trainer.max_epochs or 1), int(self.budget_s // per_epoch)))
            fitted = int(trainer.strategy.broadcast(fitted, src=0))
            trainer.fit_loop.max_epochs = fitted
            assert isinstance(pl_module, TaskModule)
            pl_module.planned_epochs = fitted
            if main:
                write_run_json(self.run_dir, time_budget_s=round(self.budget_s, 1), epochs_fitted=fitted,
                               first_epoch_s=round(per_epoch, 1))
                console.print(f"time budget {self.budget_s / 60:g} min: epoch 1 took {per_epoch:.1f} s → "
                              f"{fitted} epochs")
        elif trainer.strategy.broadcast(done < int(trainer.max_epochs or 0) and elapsed + per_epoch > self.budget_s,
                                        src=0):
            trainer.should_stop = True
            if main:
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


RUN_DIR_ENV = "GLANCE_RUN_DIR"  # the run folder the main process chose, handed to the processes it launches


def is_main_process() -> bool:
    """Whether this is the process that writes the run: alone, or rank 0 of a multi-process (DDP) run.
    Read from the launcher's environment, because the files are written before the process group exists."""
    return all(int(os.environ.get(k) or 0) == 0 for k in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK"))


def _check_multi_process(cfg: TrainConfig) -> None:
    """Options that cannot work across processes say so in one line, before anything starts."""
    if "spawn" in cfg.strategy or "fork" in cfg.strategy:
        raise GlanceError(f"--strategy {cfg.strategy} is not supported: use --strategy ddp (each process then "
                          "reads the data itself)")
    if cfg.lr == "auto" and _processes(cfg) > 1:
        raise GlanceError("--lr auto (the LR finder) runs in one process: find the rate with --devices 1, "
                          "then pass it with --lr")


def _processes(cfg: TrainConfig) -> int:
    """How many training processes the Trainer options ask for (WORLD_SIZE when a launcher set it)."""
    if os.environ.get("WORLD_SIZE"):
        return int(os.environ["WORLD_SIZE"])
    devices = cfg.devices
    if isinstance(devices, str) and devices.isdigit():
        devices = int(devices)
    n = len(devices) if isinstance(devices, (list, tuple)) else devices if isinstance(devices, int) and devices > 0 else 1
    return n * max(1, cfg.num_nodes)


def train(task_name: str, cfg: TrainConfig) -> Path:
    """Train `task_name` as `cfg` says; return the run folder.

    Under DDP every process runs this function; the main process alone chooses the run folder (passed to
    the processes Lightning launches through GLANCE_RUN_DIR), writes run.json, metrics, weights, pictures
    and report, and prints; the others train their share of each epoch and return after fitting."""
    _quiet_lightning()
    task = get(task_name)
    _check_multi_process(cfg)
    task.check_augment_options(cfg.augment_options)
    main = is_main_process()
    if not main:
        console.quiet = True
    plan = plan_data(task, cfg)  # every data error is raised here, before a run folder exists
    if main:
        run_dir = new_run_dir(cfg.project, task.name, cfg.name)
        os.environ[RUN_DIR_ENV] = str(run_dir.resolve())
    else:  # launched by the main process: its folder; started by an outside launcher (torchrun): writes nothing
        run_dir = Path(os.environ.get(RUN_DIR_ENV) or tempfile.mkdtemp(prefix="glance-rank-"))
    started = time.time()
    record = write_run_json if main else _no_record
    if main:
        atomic_write_text(run_dir / "config.yaml",
                          yaml.safe_dump({"task": task.name, **cfg.to_dict()}, sort_keys=False))
    record(run_dir, task=task.name, kind="train", status="running", tags=cfg.tags, started=started,
           select_metric=task.select_metric, data=cfg.data, split=plan.provenance, processes=_processes(cfg))
    console.print(f"[bold]glance train {task.name}[/] → {run_dir}  ({plan.describe(cfg)})")
    try:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        loaders = plan.loaders(task, cfg)
        module = TaskModule(task, cfg, len(loaders.train))
        recorder = RunRecorder(run_dir, task, cfg, {"data": cfg.data, "split": plan.provenance,
                                                    "input_size": list(task.input_size)})
        trainer = _trainer(cfg, run_dir, task, recorder)
        if main:
            _write_data_pictures(task, plan, loaders, run_dir, cfg.augment_options)
        if cfg.lr == "auto":
            _find_lr(trainer, module, loaders.train, loaders.val, run_dir)
        trainer.fit(module, loaders.train, loaders.val)
        if trainer.interrupted:
            raise KeyboardInterrupt
    except (KeyboardInterrupt, SystemExit):
        record(run_dir, status="interrupted", duration_s=round(time.time() - started, 1))
        console.print(f"[yellow]interrupted[/]: kept what was saved in {run_dir}")
        raise
    except BaseException as e:
        record(run_dir, status="failed", error=f"{e.__class__.__name__}: {e}",
               duration_s=round(time.time() - started, 1))
        raise
    if not trainer.is_global_zero:
        return run_dir
    train_time = time.time() - started
    if not (run_dir / "weights" / "best.pt").exists():
        write_run_json(run_dir, status="failed", error="no epoch produced a usable selection metric")
        raise GlanceError(f"training produced no usable {task.select_metric}; see {run_dir / 'metrics.csv'}")
    n_train = (len(loaders.train.sampler) * trainer.world_size * len(recorder.history)  # type: ignore[arg-type]
               if plan.synthetic else len(plan.train))
    _finish(task, run_dir, loaders.x_val, loaders.y_val.numpy(), plan.val.ids, recorder, train_time, cfg, n_train)
    write_run_json(run_dir, status="done", duration_s=round(time.time() - started, 1),
                   train_time_s=round(train_time, 1))
    return run_dir


def _no_record(run_dir: Path, **fields: Any) -> None:
    """run.json is the main process's to write."""


def _trainer(cfg: TrainConfig, run_dir: Path, task: Task, recorder: RunRecorder) -> L.Trainer:
    """The Lightning Trainer of a run: the time budget first (epoch 1's line then shows the fitted count),
    the recorder, early stopping, a live bar on a terminal; Lightning's own checkpoints off (ours are
    the recorder's)."""
    callbacks: list[Callback] = ([TimeBudget(run_dir, cfg.time_budget)] if cfg.time_budget else []) + [recorder]
    if cfg.patience > 0:
        callbacks.append(EarlyStopping(task.select_metric, patience=cfg.patience, mode=task.select_mode))
    if sys.stderr.isatty():
        callbacks.append(RichProgressBar())
    return L.Trainer(
        max_epochs=cfg.epochs, accelerator=cfg.accelerator, devices=cfg.devices, strategy=cfg.strategy,
        num_nodes=cfg.num_nodes, precision=cfg.precision, logger=_loggers(cfg, run_dir) or False,
        callbacks=callbacks, enable_checkpointing=False, enable_progress_bar=sys.stderr.isatty(),
        enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=str(run_dir),
        limit_train_batches=cfg.limit_train_batches, log_every_n_steps=10)


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


def _write_data_pictures(task: Task, plan: DataPlan, loaders: Loaders, run_dir: Path,
                         augment_options: dict[str, Any]) -> None:
    """Pictures of the label counts, of training samples, and of the same samples augmented as training
    augments them (with the run's `augment_options`)."""
    from ..tasks.base import display_image
    rp.plot_label_distribution(_label_counts(task, {"train": plan.train, "val": plan.val}), run_dir / "labels.png")
    x_tr, y_tr = loaders.x_train, loaders.y_train
    idx = np.random.default_rng(0).choice(len(x_tr), min(32, len(x_tr)), replace=False)
    xb, yb = torch.from_numpy(x_tr[idx]), y_tr[idx]
    xa, ya = task.augment(xb.clone(), yb.clone(), **augment_options)
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
