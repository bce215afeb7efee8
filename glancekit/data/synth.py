"""Synthetic data as a data source: `--data synth` (train on fresh renders) or `synth:SPLIT:N` (a fixed set).

A task that can render its own labelled images defines `Task.synthesize(rng, split, photos)`. Then:

- training with `--data synth` draws *new* images every epoch (`epoch_size` of them): image number i of
  epoch e is rendered from the seed (seed, e * epoch_size + i), so runs are repeatable and DataLoader
  workers need no coordination (Lightning calls `set_epoch` on the sampler);
- `synth:val:N` / `synth:test:N` are fixed in-memory sets for validation and benchmarks. `test` uses the
  task's held-out style families and a seed stream training never touches.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..errors import GlanceError
from ..progress import progress
from .readers import Samples

if TYPE_CHECKING:
    from ..tasks.base import Task

SPLITS = ("train", "val", "test")
# Separate seed streams: training renders (seed, i); validation (seed + VAL_OFFSET, i); the benchmark
# always (TEST_SEED, i), whatever seed training used.
VAL_OFFSET = 1_000_003
TEST_SEED = 20_261_124


@dataclass
class SynthSpec:
    split: str
    n: int | None


def parse_spec(data: str | Path | None) -> SynthSpec | None:
    """`synth` / `synth:SPLIT` / `synth:SPLIT:N` → SynthSpec; anything else → None (a path)."""
    if data is None:
        return None
    text = str(data)
    if text != "synth" and not text.startswith("synth:"):
        return None
    parts = text.split(":")[1:]
    split = parts[0] if parts else "train"
    if split not in SPLITS:
        raise GlanceError(f"'{text}': the split after synth: must be one of {', '.join(SPLITS)}")
    n = None
    if len(parts) > 1:
        try:
            n = int(parts[1])
        except ValueError:
            raise GlanceError(f"'{text}': the count after synth:{split}: must be a whole number") from None
        if n < 1:
            raise GlanceError(f"'{text}': the count must be at least 1")
    return SynthSpec(split, n)


def check_task(task: "Task") -> None:
    if not task.can_synthesize:
        raise GlanceError(f"task {task.name} has no synthetic data generator; pass a data folder or file")


def load_photos(folder: str | Path | None, limit: int = 400, side: int = 256) -> list[np.ndarray]:
    """Background photos: images under `folder` (recursively), short side resized to `side` px, RGB."""
    if not folder:
        return []
    import cv2

    from .images import IMAGE_EXTENSIONS
    root = Path(folder)
    if not root.is_dir():
        raise GlanceError(f"no such backgrounds folder: {root}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)[:limit]
    out = []
    for p in files:
        im = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if im is None:
            continue
        h, w = im.shape[:2]
        s = side / min(h, w)
        im = cv2.resize(im, (max(side, round(w * s)), max(side, round(h * s))), interpolation=cv2.INTER_AREA)
        out.append(cv2.cvtColor(im, cv2.COLOR_BGR2RGB))
    if not out:
        raise GlanceError(f"no readable images in backgrounds folder {root}")
    return out


def render(task: "Task", split: str, index: int, seed: int, photos: Sequence[np.ndarray]) -> tuple[np.ndarray, Any]:
    base = {"train": seed, "val": seed + VAL_OFFSET, "test": TEST_SEED}[split]
    return task.synthesize(np.random.default_rng([base, index]), split, photos)


def synth_samples(task: "Task", split: str, n: int, seed: int = 0, photos: Sequence[np.ndarray] = ()) -> Samples:
    """A fixed in-memory set of `n` rendered images (raw uint8 images; preprocessing comes later)."""
    check_task(task)
    items, targets = [], []
    with progress() as bar:
        job = bar.add_task(f"rendering {n} synthetic {split} images", total=n)
        for i in range(n):
            img, target = render(task, split, i, seed, photos)
            items.append(img)
            targets.append(target)
            bar.advance(job)
    return Samples(items, targets, [f"synth-{split}-{i}" for i in range(n)], f"synth:{split}:{n}",
                   {"reader": "synth", "synth_seed": seed if split != "test" else TEST_SEED})


def single_threaded_rendering() -> None:
    """Call before DataLoader workers fork: they then render with one OpenCV thread each (the workers are
    the parallelism; a thread pool per worker on a many-core machine only makes them fight over the
    cores). It must be the parent: cv2.setNumThreads in a forked child, after the parent's pool has run,
    hangs the child."""
    import cv2
    cv2.setNumThreads(1)


class SynthDataset(Dataset):
    """Item i = a fresh render from seed (seed, i), preprocessed; any i ≥ 0 is valid."""

    def __init__(self, task: "Task", seed: int, epoch_size: int, photos: Sequence[np.ndarray] = ()) -> None:
        check_task(task)
        self.task, self.seed, self.epoch_size, self.photos = task, seed, epoch_size, list(photos)

    def __len__(self) -> int:
        return self.epoch_size

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        img, target = render(self.task, "train", int(i), self.seed, self.photos)
        x, target = self.task.preprocess_sample(img, target)
        return torch.from_numpy(x), self.task.collate_targets([target])[0]


class EpochSampler(Sampler[int]):
    """Indices e*n … (e+1)*n-1 for epoch e: every epoch sees images no earlier epoch saw."""

    def __init__(self, n: int) -> None:
        self.n, self.epoch = n, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.epoch * self.n, (self.epoch + 1) * self.n))

    def __len__(self) -> int:
        return self.n


class MixedDataset(Dataset):
    """Renders and real images in one epoch: index i ≥ 0 is render i (as SynthDataset), index -1-j is
    real image j (already preprocessed; the task's batched augmentation applies to both)."""

    def __init__(self, synth: SynthDataset, x_real: torch.Tensor, y_real: torch.Tensor) -> None:
        self.synth, self.x_real, self.y_real = synth, x_real, y_real

    def __len__(self) -> int:
        return len(self.synth) + len(self.x_real)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.synth[i] if i >= 0 else (self.x_real[-1 - i], self.y_real[-1 - i])


class MixedSampler(EpochSampler):
    """Epoch e: renders e*n … (e+1)*n-1 and every real image `repeat` times, shuffled together (seeded)."""

    def __init__(self, n: int, n_real: int, repeat: int = 1, seed: int = 0) -> None:
        super().__init__(n)
        self.n_real, self.repeat, self.seed = n_real, repeat, seed

    def __iter__(self) -> Iterator[int]:
        idx = np.concatenate([np.arange(self.epoch * self.n, (self.epoch + 1) * self.n),
                              np.tile(-1 - np.arange(self.n_real), self.repeat)])
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(idx).tolist())

    def __len__(self) -> int:
        return self.n + self.n_real * self.repeat


def write_synth(task: "Task", out: Path, n: int, seed: int = 0, split: str = "train",
                backgrounds: str | Path | None = None) -> tuple[Path, float]:
    """`glance synth TASK`: render n images into out/images/ and write out/labels.csv.

    Refuses a folder that already holds a labels.csv (never overwrite someone's data). Returns the
    folder and the measured rendering rate (images/s, rendering only, not counting PNG encoding)."""
    import time

    import cv2

    from ..runs.store import atomic_write_csv
    check_task(task)
    if n < 1:
        raise GlanceError("--n must be at least 1")
    if (out / "labels.csv").exists():
        raise GlanceError(f"{out / 'labels.csv'} already exists; pick a new --out folder")
    photos = load_photos(backgrounds)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    render_s = 0.0
    with progress() as bar:
        job = bar.add_task(f"rendering {n} {task.name} images", total=n)
        for i in range(n):
            t = time.perf_counter()
            img, target = render(task, split, i, seed, photos)
            render_s += time.perf_counter() - t
            name = f"{i:06d}.png"
            cv2.imwrite(str(out / "images" / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img)
            rows.append({"file": name, **task.target_columns_dict(target)})
            bar.advance(job)
    atomic_write_csv(out / "labels.csv", rows, list(rows[0]))
    return out, n / max(render_s, 1e-9)
