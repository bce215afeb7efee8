"""Training configuration: one dataclass, filled from task defaults < YAML file < CLI flags.

The resolved config is written into every run (config.yaml), so a run can be repeated exactly.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import GlanceError


@dataclass
class TrainConfig:
    data: str | list[str] | None = None  # training data (any readable layout); several = several sources
    # With several sources: each source's share of an epoch ∝ its size ** source_balance (1: by size,
    # 0: equal shares, 0.5: a source 100 times larger gets 10 times the share).
    source_balance: float = 0.5
    val_data: str | None = None      # optional separate validation set; else split from `data`
    epochs: int = 20
    # Minutes of wall clock for training (None = no limit): after the first epoch the run sets its epoch
    # count to what fits (never more than `epochs`) and the cosine schedule anneals over that count, so
    # one command uses a fast machine fully and still ends on a slow one with a finished schedule.
    time_budget: float | None = None
    batch: int = 64
    lr: float | str = 1e-3           # a number, or "auto" for Lightning's LR finder
    optimizer: str = "adamw"         # adamw | sgd
    weight_decay: float = 1e-4
    momentum: float = 0.9            # sgd only
    schedule: str = "cosine"         # cosine | plateau | none
    warmup_epochs: float = 1.0       # linear warm-up before cosine
    patience: int = 0                # early stopping on the selection metric; 0 = off
    # Decay of an exponential moving average of the weights, updated after every optimiser step; 0 = off.
    # With it on, validation, best.pt and last.pt all use the averaged weights: on small, noisy sets the
    # average is steadier than the weights of any one step (0.99 ≈ the last 100 steps).
    ema: float = 0.0
    augment: bool = True
    # Keyword options of the task's augmentation, where it takes any (e.g. hand_keypoints `degrees: 180`
    # for any in-plane rotation); unknown names are refused before training starts.
    augment_options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0                    # weights, augmentation, batch order (and renders, for synth data)
    # The train/val/test cut of a real set. Apart from `seed` so that runs with different seeds are scored
    # on the same held-out images (and `glance val/bench --seed` default to the same cut).
    split_seed: int = 0
    val_frac: float | None = None    # None: the task's own split fractions
    test_frac: float | None = None
    workers: int = 0                 # DataLoader workers
    name: str | None = None          # run name (made unique under runs/TASK/)
    project: str = "runs"            # root folder of runs
    tags: list[str] = field(default_factory=list)
    logger: str | None = None        # mlflow | tensorboard (optional extras)
    model: dict[str, Any] = field(default_factory=dict)  # kwargs for task.build_model
    # Start from these weights instead of random ones (fine-tuning): a weights file, or "shipped" for the
    # package's own. The architecture then comes from that file, and `model` must not contradict it.
    init: str | None = None
    # Passed straight to lightning.Trainer: multi-GPU / multi-node runs need nothing else.
    accelerator: str = "auto"
    devices: str | int = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str = "32-true"
    limit_train_batches: float | int = 1.0
    max_samples: int | None = None   # cap on training samples (quick experiments and tests)
    # Synthetic data (`data: synth`): fresh renders per epoch, a fixed rendered validation set, and an
    # optional folder of photos to use as backgrounds.
    epoch_size: int = 10000
    val_size: int = 1000
    backgrounds: str | None = None
    # Real photos next to the renders (`data: synth` only): a labelled set split as any data set is; its
    # train part joins every epoch (each image `mix_repeat` times), its val part joins validation, and its
    # test part stays held out for `glance bench`.
    mix: str | None = None
    mix_repeat: int = 1
    # Labelled images that join the training part only, never validation or test: e.g. the labels.csv
    # `glance label` wrote for a pool (its proposals and a person's decisions alike), so a model can learn
    # from a pool without the pool's machine labels grading it. Images that are also in the val/test part
    # of `data` are left out of it.
    extra: str | None = None
    # A labels file of a person's corrections (the review.csv of `glance audit` after `glance review`): its
    # human rows replace the labels of those images in the train and val parts (they teach and select);
    # the test part keeps the data's own labels, so the run is graded exactly as runs without them are.
    relabel: str | None = None
    # Distillation: a teacher's weights file (or "shipped"), frozen; each training batch it reads is also
    # graded against the teacher's outputs (`Task.distill_loss`), with this share of the loss. The point
    # is a teacher that costs more at run time than the student may: e.g. the same net mirror-averaged
    # (`glance flip`), whose two-view answer the one-view student learns to give in one pass.
    distill: str | None = None
    distill_weight: float = 0.5

    @classmethod
    def resolve(cls, task_defaults: dict[str, Any], config_file: str | Path | None,
                overrides: dict[str, Any]) -> "TrainConfig":
        """Merge task defaults, then the YAML file, then explicit CLI values (None = not given)."""
        values: dict[str, Any] = dict(task_defaults)
        if config_file:
            path = Path(config_file)
            if not path.is_file():
                raise GlanceError(f"no such config file: {path}")
            try:
                loaded = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as e:
                raise GlanceError(f"cannot parse config {path}: {str(e).splitlines()[0]}") from None
            if not isinstance(loaded, dict):
                raise GlanceError(f"config {path} must be a mapping of option: value")
            values.update(loaded)
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise GlanceError(f"unknown config option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        cfg = cls(**values)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.epochs < 1:
            raise GlanceError("epochs must be at least 1")
        if self.batch < 1:
            raise GlanceError("batch must be at least 1")
        if isinstance(self.lr, str) and self.lr != "auto":
            try:
                self.lr = float(self.lr)
            except ValueError:
                raise GlanceError(f"lr must be a number or 'auto', got '{self.lr}'") from None
        if not isinstance(self.lr, str) and not self.lr > 0:
            raise GlanceError("lr must be positive")
        if self.optimizer not in ("adamw", "sgd"):
            raise GlanceError(f"optimizer must be adamw or sgd, got '{self.optimizer}'")
        if self.schedule not in ("cosine", "plateau", "none"):
            raise GlanceError(f"schedule must be cosine, plateau or none, got '{self.schedule}'")
        if self.epoch_size < 1 or self.val_size < 1:
            raise GlanceError("epoch_size and val_size must be at least 1")
        if self.mix_repeat < 1:
            raise GlanceError("mix_repeat must be at least 1")
        if self.time_budget is not None and not self.time_budget > 0:
            raise GlanceError(f"time_budget must be a positive number of minutes, got {self.time_budget}")
        for name in ("val_frac", "test_frac"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < 1:
                raise GlanceError(f"{name} must be in [0, 1) (a share of the data), got {value}")
        if (self.val_frac or 0) + (self.test_frac or 0) >= 1:
            raise GlanceError(f"val_frac + test_frac must leave a training part, got {self.val_frac} + {self.test_frac}")
        if self.patience < 0:
            raise GlanceError(f"patience must be 0 (off) or a number of epochs, got {self.patience}")
        if self.workers < 0:
            raise GlanceError(f"workers must be 0 or more, got {self.workers}")
        if not 0 <= self.ema < 1:
            raise GlanceError(f"ema must be in [0, 1) (0 = off), got {self.ema}")
        if isinstance(self.data, list):
            from .data.synth import parse_spec
            if len(self.data) == 1:
                self.data = self.data[0]
            elif any(parse_spec(d) is not None for d in self.data):
                raise GlanceError("several --data sources must all be labelled sets; renders go with --data synth --mix")
        if not 0 <= self.source_balance <= 1:
            raise GlanceError(f"source_balance must be in [0, 1], got {self.source_balance}")
        if self.mix and self.data != "synth":
            raise GlanceError("--mix adds real images to synthetic training; it needs --data synth")
        if self.extra and self.data == "synth":
            raise GlanceError("--extra adds labelled images to a real set's training part; with --data synth use --mix")
        if self.relabel and self.data == "synth":
            raise GlanceError("--relabel corrects a real set's labels; synthetic renders have exact ones")
        if not 0 < self.distill_weight <= 1:
            raise GlanceError(f"distill_weight must be in (0, 1] (the teacher's share of the loss), got {self.distill_weight}")
        if self.logger not in (None, "mlflow", "tensorboard"):
            raise GlanceError(f"logger must be mlflow or tensorboard, got '{self.logger}'")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
