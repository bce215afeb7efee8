"""Dataset readers: every on-disk layout becomes one `Samples` (images + targets).

A reader only finds images and raw labels; the task turns a raw label into its own target
(`Task.parse_target`), so the same CSV or folder reader serves classes, clock times or keypoints.
Tasks add their own readers (HaGRID, GANerated, ...) by listing them in `Task.readers()`.
"""
from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

import numpy as np

from ..errors import GlanceError
from .images import IMAGE_EXTENSIONS

if TYPE_CHECKING:
    from ..tasks.base import Task


@dataclass
class Samples:
    """Images (paths or in-memory arrays), their targets, and a short id each for reports.

    `groups` names the photo each sample was cut from, where one photo gives several samples (two
    hands in one frame): a split keeps a group on one side, so no photo is both trained and tested on.
    """

    items: list[Any]
    targets: list[Any]
    ids: list[str]
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    groups: list[str] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def subset(self, idx: np.ndarray | list[int]) -> "Samples":
        idx = [int(i) for i in idx]
        return Samples([self.items[i] for i in idx], [self.targets[i] for i in idx],
                       [self.ids[i] for i in idx], self.source, dict(self.meta),
                       None if self.groups is None else [self.groups[i] for i in idx])

    def __add__(self, other: "Samples") -> "Samples":
        groups = None
        if self.groups is not None or other.groups is not None:  # a sample without a group is its own
            groups = (self.groups or list(self.ids)) + (other.groups or list(other.ids))
        return Samples(self.items + other.items, self.targets + other.targets, self.ids + other.ids,
                       f"{self.source} + {other.source}", {**other.meta, **self.meta}, groups)


def item_key(item: Any) -> str:
    """The resolved path of an image file item ("" for in-memory images): how an image in one set is
    recognised in another (a labels file, a held-out part)."""
    return str(Path(item).resolve()) if isinstance(item, (str, Path)) else ""


def photo_groups(ids: list[str]) -> list[str]:
    """Groups for samples whose ids are `PHOTO#N` (the N-th box cut from PHOTO): the photo's name."""
    return [i.rsplit("#", 1)[0] for i in ids]


class Reader(Protocol):
    """Something that recognises a layout on disk and reads it."""

    name: str

    def can_read(self, path: Path) -> bool: ...

    def read(self, path: Path, task: "Task") -> Samples: ...


# ----------------------------------------------------------------------------- IDX (MNIST)

def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (raw or .gz): magic 0x0000TTDD, big-endian dims, then the data."""
    opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise GlanceError(f"cannot read IDX file {path}: {e}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise GlanceError(f"{path} is not an IDX file (bad magic number)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtypes:
        raise GlanceError(f"{path}: unknown IDX data type 0x{data[2]:02x}")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    dtype = np.dtype(dtypes[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - offset < expected:
        raise GlanceError(f"{path}: truncated IDX file ({len(data) - offset} of {expected} data bytes)")
    return np.frombuffer(data, dtype=dtype, count=int(np.prod(dims)), offset=offset).reshape(dims).astype(dtype.newbyteorder("="))


def _idx_pair(path: Path) -> tuple[Path, Path] | None:
    if path.is_dir():
        imgs = sorted(path.glob("*idx3-ubyte*"))
        labs = sorted(path.glob("*idx1-ubyte*"))
        if len(imgs) == 1 and len(labs) == 1:
            return imgs[0], labs[0]
        return None
    if "idx3-ubyte" in path.name:
        lab = path.with_name(path.name.replace("images", "labels").replace("idx3", "idx1"))
        return (path, lab) if lab.exists() else None
    return None


class IdxReader:
    """MNIST's IDX pair: a folder holding one `*idx3-ubyte[.gz]` and one `*idx1-ubyte[.gz]`."""

    name = "idx"

    def can_read(self, path: Path) -> bool:
        return _idx_pair(path) is not None

    def read(self, path: Path, task: "Task") -> Samples:
        pair = _idx_pair(path)
        assert pair is not None
        images, labels = read_idx(pair[0]), read_idx(pair[1])
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise GlanceError(f"IDX files in {path} disagree: images {images.shape}, labels {labels.shape}")
        targets = [task.parse_target({"label": str(int(v))}, where=f"{pair[1].name}[{i}]") for i, v in enumerate(labels)]
        return Samples(list(images), targets, [f"{pair[0].name}#{i}" for i in range(len(images))], str(path))


# ----------------------------------------------------------------------------- CSV

def _find_csv(path: Path) -> Path | None:
    if path.is_file() and path.suffix.lower() == ".csv":
        return path
    if path.is_dir() and (path / "labels.csv").is_file():
        return path / "labels.csv"
    return None


class CsvReader:
    """A CSV whose `file` column names images (relative to the CSV, or its `images/` folder).

    The other columns go to the task (`label` for classes; `hour,minute` for clocks, ...).
    Rows whose target columns (`Task.target_columns`) are empty are unlabelled and skipped.
    """

    name = "csv"

    def can_read(self, path: Path) -> bool:
        return _find_csv(path) is not None

    def read(self, path: Path, task: "Task") -> Samples:
        csv_path = _find_csv(path)
        assert csv_path is not None
        with open(csv_path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        if not rows or "file" not in rows[0]:
            raise GlanceError(f"{csv_path}: expected a header with a 'file' column and at least one row")
        items, targets, ids = [], [], []
        bases = [csv_path.parent, csv_path.parent / "images"]
        for line, row in enumerate(rows, start=2):
            raw = {k: (v or "").strip() for k, v in row.items() if k != "file" and k is not None}
            if all(raw.get(c, "") == "" for c in task.target_columns):
                continue
            rel = (row["file"] or "").strip()
            img = next((b / rel for b in bases if (b / rel).is_file()), None)
            if img is None:
                raise GlanceError(f"{csv_path}:{line}: image '{rel}' not found next to the CSV or in images/")
            items.append(img)
            targets.append(task.parse_target(raw, where=f"{csv_path.name}:{line}"))
            ids.append(rel)
        return Samples(items, targets, ids, str(csv_path))


# ----------------------------------------------------------------------------- image folder per class

class ClassFolderReader:
    """One sub-folder per label (`data/cat/*.jpg`, `data/dog/*.jpg`); the folder name is the label."""

    name = "folders"

    def can_read(self, path: Path) -> bool:
        return path.is_dir() and any(p.is_dir() for p in path.iterdir())

    def read(self, path: Path, task: "Task") -> Samples:
        items, targets, ids = [], [], []
        for sub in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
            files = sorted(f for f in sub.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
            if not files:
                continue
            target = task.parse_target({"label": sub.name}, where=f"folder {sub}")
            for f in files:
                items.append(f)
                targets.append(target)
                ids.append(str(f.relative_to(path)))
        return Samples(items, targets, ids, str(path))


def _packed_reader() -> Reader:
    from .packed import PackedReader  # packed.py imports this module: import lazily
    return PackedReader()


DEFAULT_READERS: list[Reader] = [_packed_reader(), IdxReader(), CsvReader(), ClassFolderReader()]


def read_dataset(path: str | Path, task: "Task", photos: Any = ()) -> Samples:
    """Read `path` with the first reader (task-specific ones first) that recognises it.

    `synth:SPLIT:N` renders N images with the task's generator instead (see data/synth.py)."""
    from .synth import parse_spec, synth_samples
    spec = parse_spec(path)
    if spec is not None:
        return synth_samples(task, spec.split, spec.n or 1000, 0, photos)
    path = Path(path)
    if not path.exists():
        raise GlanceError(f"no such data file or folder: {path}")
    for reader in [*task.readers(), *DEFAULT_READERS]:
        if reader.can_read(path):
            samples = reader.read(path, task)
            if len(samples) == 0:
                raise GlanceError(f"no labelled images found in {path} (read as {reader.name})")
            samples.meta.setdefault("reader", reader.name)
            return samples
    if path.is_dir() and not any(path.iterdir()):
        raise GlanceError(f"data folder is empty: {path}")
    raise GlanceError(
        f"cannot read {path} as {task.name} data: expected an IDX pair, a CSV with a 'file' column "
        f"(or a folder holding labels.csv), or one sub-folder per label"
    )


def split_indices(targets: list[Any], val_frac: float, test_frac: float, seed: int,
                  strata: list[Any] | None = None, groups: list[Any] | None = None) -> dict[str, np.ndarray]:
    """A seeded (stratified where `strata` are given) train/val/test split of indices.

    The same data, fractions and seed always give the same split, so `glance val --split test` and
    `glance bench` evaluate exactly the images training never saw. With `groups`, whole groups are
    split (all boxes of one photo land in one part), stratified by each group's first member.
    """
    n = len(targets)
    members: dict[Any, list[int]] = {}  # unit of splitting → its indices (one index per unit without groups)
    for i, g in enumerate(groups if groups is not None else range(n)):
        members.setdefault(g, []).append(i)
    units = list(members.values())
    unit_strata = [strata[u[0]] for u in units] if strata is not None else [0] * len(units)
    rng = np.random.default_rng(seed)
    by_stratum: dict[Any, list[int]] = {}
    for k, s in enumerate(unit_strata):
        by_stratum.setdefault(s, []).append(k)
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for key in sorted(by_stratum, key=str):
        idx = np.array(by_stratum[key])
        rng.shuffle(idx)
        n_test = int(round(len(idx) * test_frac))
        n_val = int(round(len(idx) * val_frac))
        for part, chosen in (("test", idx[:n_test]), ("val", idx[n_test:n_test + n_val]),
                             ("train", idx[n_test + n_val:])):
            parts[part].extend(i for k in chosen for i in units[k])
    return {k: np.array(sorted(v), dtype=np.int64) for k, v in parts.items()}
