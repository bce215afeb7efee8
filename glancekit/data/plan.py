"""The data of one training run, composed in one place: which samples train, which select the epoch and the
thresholds, which are held out, and where each came from.

`plan_data(task, cfg)` reads the run's options and returns a `DataPlan`:

- a labelled set (`--data PATH`) is split by photo into train / val / test (or `--val-data` is the
  validation set); `--init` weights that learnt from this same set keep their split, so no image they
  learnt lands in the test part;
- `--extra LABELS` joins the training part only (never an image that is also held out);
- `--relabel REVIEW` puts a person's corrections in place of the train and val labels (test keeps its own,
  so the run is graded as runs without the corrections are);
- `--data synth` renders fresh images every epoch; `--mix REAL` splits a real set whose train part joins
  every epoch, whose val part joins validation and whose test part stays held out for `glance bench`.

`DataPlan.provenance` is what the run records (run.json and the weights' meta: `split`): enough for
`glance val --split test` and `glance bench` to cut exactly the same held-out part again.
`DataPlan.loaders(task, cfg)` turns the plan into the two DataLoaders a Trainer consumes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler

from ..errors import GlanceError
from ..progress import console
from .dataset import prepare, tensor_dataset
from .locations import located
from .readers import Samples, item_key, read_dataset
from .synth import (EpochSampler, MixedDataset, MixedSampler, SynthDataset, check_task, load_photos, parse_spec,
                    single_threaded_rendering, synth_samples)

if TYPE_CHECKING:
    from ..config import TrainConfig
    from ..tasks.base import Task


class ShardedSampler(Sampler[int]):
    """This process's share of another sampler's order, for training on several processes (DDP).

    Every process draws the same order (the samplers are seeded alike; a render's seed is its index, so
    renders do not depend on which process draws them) and keeps every world-th index from its rank on,
    the order padded with its own first indices to a multiple of the world size, so every process runs
    the same number of steps (DDP waits for all of them at every step). Rank and world size are read when
    an epoch starts, after Lightning has set up the process group; alone, it is the sampler it wraps.
    `set_epoch` is passed on, so fresh renders every epoch work as they do in one process.
    """

    def __init__(self, base: Sampler[int]) -> None:
        self.base = base

    @staticmethod
    def _world() -> tuple[int, int]:
        import torch.distributed as dist
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def __iter__(self):  # type: ignore[no-untyped-def]
        rank, world = self._world()
        if world == 1:
            yield from self.base
            return
        order = list(self.base)
        order += order[:(-len(order)) % world]
        yield from order[rank::world]

    def __len__(self) -> int:
        _, world = self._world()
        return -(-len(self.base) // world)  # type: ignore[arg-type]


class SourceBalancedSampler(Sampler[int]):
    """An epoch of as many draws as there are training samples, each source's share ∝ its size ** balance.

    balance 1: sources as large as they are (plain shuffling, but with replacement); 0: every source the
    same share, however small; 0.5 (the default) between: a source 100 times larger gets 10 times the
    share. Draws are with replacement within a source and seeded per epoch, so runs repeat.
    """

    def __init__(self, source_of: list[int], balance: float = 0.5, seed: int = 0) -> None:
        self.source_of = np.asarray(source_of)
        counts = np.bincount(self.source_of)
        share = np.where(counts > 0, counts.astype(float) ** balance, 0.0)
        share /= share.sum()
        self.p = share[self.source_of] / counts[self.source_of]
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):  # type: ignore[no-untyped-def]
        rng = np.random.default_rng([self.seed, self.epoch])
        return iter(rng.choice(len(self.p), size=len(self.p), p=self.p).tolist())

    def __len__(self) -> int:
        return len(self.p)


@dataclass
class Loaders:
    """What the Trainer consumes, and the prepared arrays the run's pictures and calibration read."""
    train: DataLoader
    val: DataLoader
    x_train: np.ndarray
    y_train: torch.Tensor
    x_val: np.ndarray
    y_val: torch.Tensor


@dataclass
class DataPlan:
    """A run's samples and their provenance.

    For synthetic training `train` is a preview (the first renders of epoch 0, for the pictures and the
    label distribution): the loader renders fresh images every epoch from `photos`, plus `mix_train`.
    """
    train: Samples
    val: Samples
    test: Samples
    provenance: dict[str, Any]
    photos: list[np.ndarray] = field(default_factory=list)
    mix_train: Samples | None = None
    source_of_train: list[int] | None = None  # several --data sources: which one each training sample is from

    @property
    def synthetic(self) -> bool:
        return bool(self.provenance.get("synthetic"))

    def counts(self) -> dict[str, int]:
        """Images per part (synthetic training: the renders of one epoch)."""
        return {"train": int(self.provenance["epoch_size"]) if self.synthetic else len(self.train),
                "val": len(self.val), "test": len(self.test),
                **({"real_train": len(self.mix_train)} if self.mix_train is not None else {})}

    def describe(self, cfg: "TrainConfig") -> str:
        what = f"{cfg.epoch_size} fresh synthetic images per epoch" if self.synthetic else f"train {len(self.train)}"
        if self.mix_train is not None:
            what += f" + {len(self.mix_train)} real x{cfg.mix_repeat}"
        return f"{what}, val {len(self.val)}"

    def loaders(self, task: "Task", cfg: "TrainConfig") -> Loaders:
        """Prepare the images once and wrap them (or the renderer) in DataLoaders; seeded by cfg.seed.
        Training is sharded over processes (ShardedSampler); every process validates on the whole
        validation set, so the metrics that select the epoch and fit the thresholds are those of one
        process."""
        x_tr, y_tr = prepare(task, self.train, "train")
        x_va, y_va = prepare(task, self.val, "val")
        if self.synthetic:  # fresh renders every epoch
            synth_ds = SynthDataset(task, cfg.seed, cfg.epoch_size, self.photos)
            dataset: Dataset = synth_ds
            sampler: EpochSampler = EpochSampler(cfg.epoch_size)
            if self.mix_train is not None:
                x_mix, y_mix = prepare(task, self.mix_train, "train (real)")
                dataset = MixedDataset(synth_ds, torch.from_numpy(x_mix), y_mix)
                sampler = MixedSampler(cfg.epoch_size, len(x_mix), cfg.mix_repeat, cfg.seed)
            train_dl = DataLoader(dataset, batch_size=cfg.batch, sampler=ShardedSampler(sampler),
                                  num_workers=cfg.workers, drop_last=len(sampler) > cfg.batch, persistent_workers=False)
            if cfg.workers:
                single_threaded_rendering()
        else:
            train_ds = tensor_dataset(x_tr, y_tr)
            order = (RandomSampler(train_ds, generator=torch.Generator().manual_seed(cfg.seed))
                     if self.source_of_train is None else
                     SourceBalancedSampler(self.source_of_train, cfg.source_balance, cfg.seed))
            train_dl = DataLoader(train_ds, batch_size=cfg.batch, sampler=ShardedSampler(order),
                                  num_workers=cfg.workers, drop_last=len(x_tr) > cfg.batch)
        val_dl = DataLoader(tensor_dataset(x_va, y_va), batch_size=max(cfg.batch, 256), num_workers=cfg.workers)
        return Loaders(train_dl, val_dl, x_tr, y_tr, x_va, y_va)


def plan_data(task: "Task", cfg: "TrainConfig") -> DataPlan:
    """The run's data as `cfg` says (see the module docstring); errors are one GlanceError line."""
    if not cfg.data:
        raise GlanceError("no training data: pass --data PATH (or data: in the config file)")
    if isinstance(cfg.data, list):
        plan = _sources_plan(task, cfg)
    elif parse_spec(cfg.data) is not None:
        return _synth_plan(task, cfg)
    else:
        plan = _real_plan(task, cfg)
    if cfg.relabel:
        fixed, plan.provenance["relabel"] = apply_relabel(task, {"train": plan.train, "val": plan.val}, plan.test,
                                                          cfg.relabel)
        plan.train, plan.val = fixed["train"], fixed["val"]
    if cfg.max_samples and len(plan.train) > cfg.max_samples:
        pick = np.random.default_rng(cfg.seed).choice(len(plan.train), cfg.max_samples, replace=False)
        plan.train = plan.train.subset(np.sort(pick))
    if len(plan.train) == 0 or len(plan.val) == 0:
        raise GlanceError(f"{cfg.data} has too few images to split into train ({len(plan.train)}) and "
                          f"validation ({len(plan.val)}); add images or pass --val-data")
    return plan


def _real_plan(task: "Task", cfg: "TrainConfig") -> DataPlan:
    samples = read_dataset(cfg.data, task)
    if cfg.val_data:
        return DataPlan(samples, read_dataset(cfg.val_data, task), Samples([], [], []), {"val_data": cfg.val_data})
    init_path, parent = init_split(task, cfg)
    parts, info = split_set(task, samples, cfg, kept_split(parent, cfg.data), init_path)
    info["data_path"] = str(Path(cfg.data).resolve())
    train_s = parts["train"]
    if cfg.extra:
        train_s, info["extra"] = add_extra(task, train_s, cfg.extra, parts["val"] + parts["test"])
    return DataPlan(train_s, parts["val"], parts["test"], info)


def _sources_plan(task: "Task", cfg: "TrainConfig") -> DataPlan:
    """Several real sets (`--data A --data B ...`), each split by photo on its own, the parts joined: every
    source is held out in the same proportion, so `glance bench` can score each source's own test part.
    Training draws each epoch with per-source weights (`source_balance`): a large source must not drown a
    small one (see `SourceBalancedSampler`)."""
    if cfg.val_data:
        raise GlanceError("--val-data with several --data sources: each source gives its own validation part")
    init_path, parent = init_split(task, cfg)
    train, val, test = Samples([], [], []), Samples([], [], []), Samples([], [], [])
    records, source_of_train = [], []
    for k, data in enumerate(cfg.data):
        samples = read_dataset(data, task)
        parts, info = split_set(task, samples, cfg, kept_split(parent, data), init_path)
        info["data_path"] = str(Path(data).resolve())
        records.append(info)
        train, val, test = train + parts["train"], val + parts["val"], test + parts["test"]
        source_of_train += [k] * len(parts["train"])
    provenance = {"sources": records, "source_balance": cfg.source_balance,
                  "sizes": {"train": len(train), "val": len(val), "test": len(test)}}
    plan = DataPlan(train, val, test, provenance)
    plan.source_of_train = source_of_train
    return plan


def _synth_plan(task: "Task", cfg: "TrainConfig") -> DataPlan:
    """`--data synth`: the training "samples" are the first renders of epoch 0 (for the pictures and the
    label distribution); the loader renders fresh images every epoch."""
    check_task(task)
    if cfg.backgrounds is None:  # the photos the benchmark renders over, when the shared data has them
        from .locations import data_root, default_backgrounds
        cfg.backgrounds = default_backgrounds(task)
        if cfg.backgrounds is None and task.synth_backgrounds:
            # Said out loud: a model trained without them is graded on renders over photos, and scores lower.
            console.print(f"[yellow]no background photos[/] at {data_root() / task.synth_backgrounds}: the renders get "
                          "procedural backgrounds only (pass --backgrounds DIR, or set GLANCE_DATA)")
    photos = load_photos(cfg.backgrounds)
    preview = synth_samples(task, "train", min(cfg.epoch_size, 600), cfg.seed, photos)
    val_s = read_dataset(cfg.val_data, task) if cfg.val_data else synth_samples(task, "val", cfg.val_size, cfg.seed,
                                                                                photos)
    info: dict[str, Any] = {"synthetic": True, "seed": cfg.seed, "epoch_size": cfg.epoch_size,
                            "val_data": cfg.val_data or "synth:val", "backgrounds": cfg.backgrounds,
                            "background_photos": len(photos)}
    init_path, parent = init_split(task, cfg)
    init_mix = parent.get("mix") or {}
    if init_mix and not (cfg.mix and same_path(init_mix.get("data"), cfg.mix)):
        # the --init weights learnt from part of a real set: keep naming it, so bench scores only its held-out part
        info["mix"] = {**init_mix, "repeat": 0, "kept_from": init_path}
    mix_train, test_s = None, Samples([], [], [])
    if cfg.mix:  # real photos: train part into every epoch, val part into validation, test part held out
        parts, mix_info = split_set(task, read_dataset(cfg.mix, task), cfg, kept_split(parent, cfg.mix), init_path)
        if len(parts["train"]) == 0:
            raise GlanceError(f"--mix {cfg.mix}: too few images to split off a training part")
        mix_train, test_s = parts["train"], parts["test"]
        val_s = val_s + parts["val"]
        info["mix"] = {"data": str(Path(cfg.mix).resolve()), "repeat": cfg.mix_repeat, **mix_info}
    info["val_size"] = len(val_s)
    return DataPlan(preview, val_s, test_s, info, photos, mix_train)


def init_split(task: "Task", cfg: "TrainConfig") -> tuple[str, dict[str, Any]]:
    """Where `--init` weights come from and the split they were trained with ("", {} without --init)."""
    if not cfg.init:
        return "", {}
    from ..engine.checkpoint import load_checkpoint, resolve_weights
    path = resolve_weights(task, None if cfg.init == "shipped" else cfg.init)
    return str(path.resolve()), recorded_split(load_checkpoint(path, task)["meta"])


def recorded_split(meta: dict[str, Any]) -> dict[str, Any]:
    """The split a weights file records (a copy; {} when it has none), naming the data it cut."""
    split = dict(meta["split"]) if isinstance(meta.get("split"), dict) else {}
    if "seed" in split and not split.get("synthetic"):  # runs before data_path: their data as given
        split.setdefault("data_path", meta.get("data"))
    return split


def same_path(a: Any, b: Any) -> bool:
    """Whether two recorded paths name one data set (a shipped card's `$GLANCE_DATA/...` included): the same
    file or folder, or a folder and a labels file in it (`--data web/X` reads `web/X/keypoints_mediapipe.json`,
    which is how the task's source list names it). Erring towards "the same" is the safe side: the source
    is then scored on its held-out part only."""
    if a is None or b is None:
        return False
    try:
        pa, pb = located(a).resolve(), located(b).resolve()
    except OSError:
        return False
    return pa == pb or (pa.is_file() and pa.parent == pb) or (pb.is_file() and pb.parent == pa)


def kept_split(parent: dict[str, Any], data: str | Path) -> dict[str, Any] | None:
    """The split weights made of `data` (`parent`: their `recorded_split`): their own split of it, of it as
    their --mix set, or as one of their several --data sources; None when they never trained on it."""
    mix = parent.get("mix") or {}
    if same_path(parent.get("data_path"), data):
        return parent
    if same_path(mix.get("data"), data):
        return mix
    return next((s for s in parent.get("sources") or [] if same_path(s.get("data_path"), data)), None)


def split_set(task: "Task", samples: Samples, cfg: "TrainConfig", parent: dict[str, Any] | None = None,
              parent_path: str = "") -> tuple[dict[str, Samples], dict[str, Any]]:
    """The run's train/val/test parts of one labelled set, and what val/bench need to cut the same parts
    again: seed, fractions (the run's own, else the task's), whether photos were kept whole, sizes.

    `parent` is the split the `--init` weights made of this same set: fine-tuning keeps it (seed,
    fractions, grouping), because a fresh split would put images those weights learnt into the test part.
    """
    from ..engine.evaluate import split_samples
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


def add_extra(task: "Task", train_s: Samples, extra: str, held_out: Samples) -> tuple[Samples, dict[str, Any]]:
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


def apply_relabel(task: "Task", parts: dict[str, Samples], test: Samples, path: str
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
