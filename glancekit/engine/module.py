"""TaskModule: the one LightningModule, for every task.

It owns the model, the optimiser and the schedule; the task supplies augmentation, loss and metrics.
Data stays outside (Lightning's separation): the trainer hands it DataLoaders.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from ..config import TrainConfig
from ..errors import GlanceError
from ..progress import console
from ..tasks import Task
from .checkpoint import build_from_checkpoint, load_checkpoint, resolve_weights


def initial_model(task: Task, init: str, model_kwargs: dict[str, Any]) -> tuple[dict[str, Any], torch.nn.Module]:
    """The model of a weights file to fine-tune (`init: shipped` = the package's weights). Its own
    architecture wins; a `model` option that says otherwise is a mistake worth one clear line."""
    path = resolve_weights(task, None if init == "shipped" else init)
    ckpt, note = task.trainable_checkpoint(load_checkpoint(path, task))
    if note:
        console.print(note)
    clash = {k: v for k, v in model_kwargs.items() if ckpt["model_kwargs"].get(k, v) != v}
    if clash:
        raise GlanceError(f"--init {path} is a {ckpt['model_kwargs']} model; the config asks for {clash}")
    _, model = build_from_checkpoint(ckpt)
    model.train()
    return dict(ckpt["model_kwargs"]), model


class Teacher:
    """A frozen teacher for distillation (`--distill`): the model of a weights file (`shipped` = the
    package's), in eval mode with no gradients. It may be more than the student (e.g. mirror-averaged) but
    must give outputs of the same layout (checked on every batch). On a CPU it runs as its ONNX export on
    onnxruntime, as the shipped models do: 2-3x faster than eager torch there, which is most of the cost
    distillation adds to a training step."""

    def __init__(self, task: Task, weights: str) -> None:
        if type(task).distill_loss is Task.distill_loss:
            raise GlanceError(f"task {task.name} has no distillation loss; --distill is for tasks that define one")
        self.task = task
        self.path = resolve_weights(task, None if weights == "shipped" else weights)
        _, self.model = build_from_checkpoint(load_checkpoint(self.path, task))
        self.model.eval().requires_grad_(False)
        self._run_onnx: Any = None  # numpy -> numpy, set by .to(cpu)
        console.print(f"distilling from {self.path}")

    def to(self, device: torch.device) -> "Teacher":
        self.model.to(device)
        if device.type == "cpu" and self._run_onnx is None:
            import tempfile

            from .export import _onnx, _run_onnx
            with tempfile.TemporaryDirectory() as tmp:  # the session holds the graph; the file can go
                out = Path(tmp) / "teacher.onnx"
                _onnx(self.model, self.task, out, "")
                self._run_onnx = _run_onnx(out, threads=torch.get_num_threads())
        return self

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._run_onnx is not None and x.device.type == "cpu":
            return torch.from_numpy(self._run_onnx(np.ascontiguousarray(x.numpy(), np.float32)))
        return self.model(x)


class TaskModule(L.LightningModule):
    def __init__(self, task: Task, cfg: TrainConfig, steps_per_epoch: int) -> None:
        super().__init__()
        self.task = task
        self.cfg = cfg
        if cfg.init:
            self.model_kwargs, self.model = initial_model(task, cfg.init, cfg.model)
        else:
            self.model_kwargs = dict(cfg.model)
            self.model = task.build_model(**self.model_kwargs)
        self.lr = float(cfg.lr) if cfg.lr != "auto" else 1e-3  # Lightning's LR finder sets .lr
        self.steps_per_epoch = max(1, steps_per_epoch)
        # The epochs the cosine schedule anneals over: cfg.epochs, unless --time-budget refits it after epoch 1.
        self.planned_epochs = cfg.epochs
        self._val_out: list[torch.Tensor] = []
        self._val_tgt: list[torch.Tensor] = []
        self.last_val: tuple[np.ndarray, np.ndarray] | None = None
        # The moving average of the weights (cfg.ema > 0): a frozen copy, validated and saved in place of
        # the model the optimiser moves. Kept out of self's submodules, so the optimiser never sees it.
        self._ema: list[torch.nn.Module] = []
        self.reset_ema()
        # The frozen teacher of `cfg.distill`, likewise kept out of self's submodules: the optimiser never
        # sees it, the run's weights never hold it, and Lightning's .train() never takes it out of eval mode.
        self._teacher: list[Teacher] = [Teacher(task, cfg.distill)] if cfg.distill else []

    def reset_ema(self) -> None:
        """Start the average afresh from the current weights (at the start, and after the LR finder,
        whose trial steps must not leak into it)."""
        self._ema.clear()
        self._ema_steps = 0
        if self.cfg.ema > 0:
            ema = copy.deepcopy(self.model).eval()
            ema.requires_grad_(False)
            self._ema.append(ema)

    def on_fit_start(self) -> None:
        for frozen in [*self._ema, *self._teacher]:
            frozen.to(self.device)

    def on_train_start(self) -> None:
        # This process's steps per epoch: its share of the data when training runs on several processes.
        steps = self.trainer.train_dataloader
        if steps is not None and hasattr(steps, "__len__") and self.trainer.world_size > 1:
            self.steps_per_epoch = max(1, len(steps))

    @property
    def eval_model(self) -> torch.nn.Module:
        """The weights that are validated and saved: the moving average when there is one."""
        return self._ema[0] if self._ema else self.model

    @torch.no_grad()
    def update_ema(self) -> None:
        """One EMA step. Early on the decay is lower ((1+n)/(10+n), as timm's ModelEma), so the average
        is not dominated by the starting weights on short runs. Floating buffers (BatchNorm statistics)
        are averaged too; integer ones (batch counters) are copied."""
        if not self._ema:
            return
        ema = self._ema[0]
        self._ema_steps += 1
        decay = min(self.cfg.ema, (1 + self._ema_steps) / (10 + self._ema_steps))
        src = self.model.state_dict()
        for k, v in ema.state_dict().items():
            if v.dtype.is_floating_point:
                v.lerp_(src[k].detach(), 1 - decay)
            else:
                v.copy_(src[k])

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.update_ema()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        if self.cfg.augment:
            x, y = self.task.augment(x, y, **self.cfg.augment_options)
        out = self.model(x)
        loss = self.task.loss(out, y)
        if self._teacher:
            teacher_out = self._teacher[0](x)
            if teacher_out.shape != out.shape:
                raise GlanceError(f"the --distill teacher gives outputs of shape {tuple(teacher_out.shape[1:])}, "
                                  f"the model {tuple(out.shape[1:])}: not the same task head")
            distill = self.task.distill_loss(out, teacher_out, y)
            self.log("train_distill", distill, on_step=False, on_epoch=True, batch_size=len(x))
            w = self.cfg.distill_weight
            loss = (1 - w) * loss + w * distill
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(x))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        out = self.eval_model(x)
        self.log("val_loss", self.task.loss(out, y), on_step=False, on_epoch=True, prog_bar=True, batch_size=len(x))
        self._val_out.append(out.detach().float().cpu())
        self._val_tgt.append(y.detach().cpu())

    def on_validation_epoch_end(self) -> None:
        if not self._val_out:
            return
        out = torch.cat(self._val_out).numpy()
        tgt = torch.cat(self._val_tgt).numpy()
        self._val_out.clear()
        self._val_tgt.clear()
        self.last_val = (out, tgt)
        for k, v in self.task.evaluate(out, tgt).items():
            self.log(f"val_{k}", float(v), prog_bar=k in ("acc", "accuracy"))

    def configure_optimizers(self) -> Any:
        cfg = self.cfg
        # No weight decay on norms and biases: decaying them only hurts small nets.
        decay = [p for n, p in self.model.named_parameters() if p.ndim > 1]
        no_decay = [p for n, p in self.model.named_parameters() if p.ndim <= 1]
        groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        if cfg.optimizer == "sgd":
            opt = torch.optim.SGD(groups, lr=self.lr, momentum=cfg.momentum, nesterov=True)
        else:
            opt = torch.optim.AdamW(groups, lr=self.lr)
        if cfg.schedule == "cosine":
            def factor(step: int) -> float:
                # read each step: a time budget may refit the epochs, and under DDP the steps per epoch are
                # this process's share, known once training starts (on_train_start)
                warm = int(cfg.warmup_epochs * self.steps_per_epoch)
                if step < warm:
                    return (step + 1) / warm
                total = self.planned_epochs * self.steps_per_epoch
                t = (step - warm) / max(1, total - warm)
                return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

            sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
        if cfg.schedule == "plateau":
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode=self.task.select_mode, factor=0.3,
                                                               patience=max(1, cfg.epochs // 10))
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "monitor": self.task.select_metric,
                                                       "interval": "epoch"}}
        return opt
