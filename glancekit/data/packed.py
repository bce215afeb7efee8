"""Packed data sets: decode every image once, keep it as memory-mapped uint8 shards.

`glance pack TASK --data SRC --out DIR` reads SRC with any reader, decodes each image in parallel
(one process per core), makes it small with `Task.pack_image` (the model's input size) and writes

    DIR/images-00000.npy    uint8, N x H x W (or N x H x W x C)
    DIR/targets-00000.npy   the targets of those images, stacked (ints, (h, m) rows, keypoint arrays, ...)
    DIR/ids-00000.json      their ids (file names in SRC)
    ...
    DIR/manifest.json       written last: format, task, counts, shapes, the sha256 of every file

Every file is written to a temporary name and renamed into place, and the manifest comes after all
shards, so a folder without manifest.json is an unfinished pack and nothing reads it as data.

`PackedReader` reads such a folder back without decoding anything: the images are views into the
memory-mapped shards, which `load_image` takes as they are.

Import note: this module imports nothing from glancekit but `errors` at load time (readers, tasks,
images, progress and runs.store are imported inside the functions), so `data/readers.py` can import
`PackedReader` from here in any order without an import cycle.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from ..errors import GlanceError

if TYPE_CHECKING:
    from ..tasks.base import Task
    from .readers import Samples

FORMAT = "glancekit-packed/1"
MANIFEST = "manifest.json"


def shard_names(k: int) -> dict[str, str]:
    """The file names of shard k."""
    return {"images": f"images-{k:05d}.npy", "targets": f"targets-{k:05d}.npy", "ids": f"ids-{k:05d}.json"}


# ----------------------------------------------------------------------------- writing

class _HashingWriter:
    """A file-like object that hashes what passes through it on the way to the real file."""

    def __init__(self, f: BinaryIO, digest: Any) -> None:
        self.f, self.digest = f, digest

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.f.write(data)


def _write_atomic(path: Path, write: Any) -> str:
    """Write `path` through `write(fileobj)` into a temporary file, fsync, rename; return its sha256."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    digest = hashlib.sha256()
    try:
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            write(_HashingWriter(f, digest))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return digest.hexdigest()


def _save_npy(path: Path, arr: np.ndarray) -> str:
    return _write_atomic(path, lambda f: np.lib.format.write_array(f, np.ascontiguousarray(arr), allow_pickle=False))


def _save_bytes(path: Path, data: bytes) -> str:
    return _write_atomic(path, lambda f: f.write(data))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fit_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """One layout per task, so every image of a set stacks: HxW for 1-channel tasks, HxWx3 for colour
    ones (grey repeated, as the colour tasks' `preprocess` does with a grey image)."""
    from .images import to_gray
    if channels == 1 and image.ndim == 3:
        return to_gray(image)
    if channels == 3 and image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    return image


def _pack_items(task: "Task", items: list[Any], targets: list[Any], ids: list[str]) -> tuple[list[np.ndarray], list[Any]]:
    """Decode and shrink a few images (in a worker process or in this one)."""
    from .images import load_image
    images, out_targets = [], []
    for item, target, ident in zip(items, targets, ids):
        image, t = task.pack_image(load_image(item), target)
        image = np.asarray(image)
        if image.dtype != np.uint8:
            raise GlanceError(f"{task.name}.pack_image gave {image.dtype} for {ident}; packed images must be uint8")
        images.append(np.ascontiguousarray(_fit_channels(image, task.channels)))
        out_targets.append(t)
    return images, out_targets


def _init_worker() -> None:
    # One thread per process: the pool already uses every core.
    try:
        import cv2
        cv2.setNumThreads(1)
    except Exception:  # pragma: no cover - cv2 is a dependency, this is belt and braces
        pass


def _pack_chunk(task_name: str, items: list[Any], targets: list[Any], ids: list[str]) -> tuple[list[np.ndarray], list[Any]]:
    """Worker entry point: the task is looked up by name in the worker (tasks are not pickled)."""
    from ..tasks import get
    return _pack_items(get(task_name), items, targets, ids)


def _registered(task: "Task") -> bool:
    """True when worker processes can find this very task by name."""
    from ..tasks import get
    try:
        return type(get(task.name)) is type(task)
    except GlanceError:
        return False


def _stack_targets(targets: list[Any], task_name: str, like: np.ndarray | None) -> np.ndarray:
    try:
        arr = np.asarray(targets)
    except ValueError as e:
        raise GlanceError(f"targets of task {task_name} cannot be packed: they do not all have one shape ({e})") from None
    if arr.dtype.kind not in "biuf":
        raise GlanceError(f"targets of task {task_name} cannot be packed: expected numbers or fixed-shape "
                          f"number arrays, got {arr.dtype} values")
    if like is not None:
        if arr.shape[1:] != like.shape[1:]:
            raise GlanceError(f"targets of task {task_name} change shape across the set: "
                              f"{like.shape[1:]} then {arr.shape[1:]}")
        if arr.dtype != like.dtype:
            arr = arr.astype(like.dtype)
    return arr


def pack(task: "Task | str", src: str | Path, out: Path, shard_size: int = 4096,
         workers: int | None = None) -> dict[str, Any]:
    """Read `src` (any layout `read_dataset` understands), decode and shrink every image in parallel and
    write the shards and, last, manifest.json into `out` (new or empty). Returns the manifest."""
    from ..progress import progress
    from ..runs.store import atomic_write_text
    from ..tasks import get
    from .readers import read_dataset

    task = get(task) if isinstance(task, str) else task
    out = Path(out)
    if shard_size < 1:
        raise GlanceError(f"--shard-size must be at least 1, got {shard_size}")
    if workers is not None and workers < 1:
        raise GlanceError(f"--workers must be at least 1, got {workers}")
    if (out / MANIFEST).exists():
        raise GlanceError(f"{out} already holds a packed data set ({MANIFEST}); pick a new --out folder")
    if out.exists() and not out.is_dir():
        raise GlanceError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        raise GlanceError(f"output folder {out} is not empty; pick a new or empty --out folder")

    samples = read_dataset(src, task)
    n = len(samples)
    workers = max(1, min(workers or os.cpu_count() or 1, n))
    # Chunks small enough to spread over the workers and keep the bar moving, big enough to be cheap.
    chunk = max(1, min(64, -(-n // (workers * 4))))
    starts = list(range(0, n, chunk))
    use_pool = workers > 1 and len(starts) > 1 and _registered(task)

    created_dir = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    shards: list[dict[str, Any]] = []
    image_like: np.ndarray | None = None
    target_like: np.ndarray | None = None
    buf_images: list[np.ndarray] = []
    buf_targets: list[Any] = []
    buf_ids: list[str] = []

    def flush() -> None:
        nonlocal image_like, target_like
        k = len(shards)
        names = shard_names(k)
        imgs = np.stack(buf_images)
        tg = _stack_targets(buf_targets, task.name, target_like)
        image_like = image_like if image_like is not None else imgs[:0]
        target_like = target_like if target_like is not None else tg[:0]
        hashes = {}
        for key, write in (("images", lambda p: _save_npy(p, imgs)), ("targets", lambda p: _save_npy(p, tg)),
                           ("ids", lambda p: _save_bytes(p, json.dumps(buf_ids).encode("utf-8")))):
            path = out / names[key]
            written.append(path)
            hashes[key] = write(path)
        shards.append({**names, "count": len(buf_ids), "sha256": hashes})
        buf_images.clear()
        buf_targets.clear()
        buf_ids.clear()

    def take(start: int, images: list[np.ndarray], targets: list[Any]) -> None:
        for j, (image, target) in enumerate(zip(images, targets)):
            ident = samples.ids[start + j]
            first = buf_images[0].shape if buf_images else image_like.shape[1:] if image_like is not None else None
            if first is not None and image.shape != first:
                raise GlanceError(f"{task.name}.pack_image gave {ident} the shape {image.shape}, "
                                  f"other images {first}; packed images must all have one shape")
            buf_images.append(image)
            buf_targets.append(target)
            buf_ids.append(ident)
            if len(buf_images) == shard_size:
                flush()

    def part(s: int) -> tuple[list[Any], list[Any], list[str]]:
        return samples.items[s:s + chunk], samples.targets[s:s + chunk], samples.ids[s:s + chunk]

    t0 = time.perf_counter()
    try:
        with progress() as bar:
            job = bar.add_task(f"packing {n} {task.name} images", total=n)
            if use_pool:
                import multiprocessing as mp
                from concurrent.futures import ProcessPoolExecutor
                # spawn: fresh workers, safe whatever threads (torch, OpenCV, rich) this process runs.
                with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                                         initializer=_init_worker) as pool:
                    pending: deque[tuple[int, Any]] = deque()
                    todo = iter(starts)
                    try:
                        for s in todo:  # keep a bounded window in flight; results are taken in order
                            pending.append((s, pool.submit(_pack_chunk, task.name, *part(s))))
                            if len(pending) >= workers * 4:
                                s0, fut = pending.popleft()
                                take(s0, *fut.result())
                                bar.advance(job, len(samples.items[s0:s0 + chunk]))
                        while pending:
                            s0, fut = pending.popleft()
                            take(s0, *fut.result())
                            bar.advance(job, len(samples.items[s0:s0 + chunk]))
                    except BaseException:
                        for _, fut in pending:
                            fut.cancel()
                        raise
            else:
                for s in starts:
                    take(s, *_pack_items(task, *part(s)))
                    bar.advance(job, len(samples.items[s:s + chunk]))
            if buf_images:
                flush()
        assert image_like is not None and target_like is not None
        _fsync_dir(out)
        manifest = {
            "format": FORMAT,
            "task": task.name,
            "count": n,
            "images": {"shape": list(image_like.shape[1:]), "dtype": str(image_like.dtype)},
            "targets": {"shape": list(target_like.shape[1:]), "dtype": str(target_like.dtype)},
            "shard_size": shard_size,
            "shards": shards,
            "source": str(Path(src).resolve()) if Path(str(src)).exists() else str(src),
            "reader": samples.meta.get("reader", ""),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "pack_seconds": round(time.perf_counter() - t0, 2),
            "workers": workers if use_pool else 1,
            **({"groups": samples.groups} if samples.groups is not None else {}),  # photo of each box, for splits
        }
        atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
        _fsync_dir(out)
    except BaseException:
        # Leave no half pack behind: remove what this call wrote (and the folder if it made it).
        for path in written:
            path.unlink(missing_ok=True)
        if created_dir:
            try:
                out.rmdir()
            except OSError:
                pass
        raise
    return manifest


# ----------------------------------------------------------------------------- reading

def _manifest_path(path: Path) -> Path:
    path = Path(path)
    return path if path.name == MANIFEST and path.is_file() else path / MANIFEST


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a packed folder (or of its manifest.json), or a GlanceError saying why not."""
    mpath = _manifest_path(Path(path))
    if not mpath.is_file():
        raise GlanceError(f"{path} is not a packed data set (no {MANIFEST}; an unfinished pack has none)")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GlanceError(f"{mpath}: unreadable manifest ({e.__class__.__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        fmt = manifest.get("format") if isinstance(manifest, dict) else None
        raise GlanceError(f"{mpath}: format {fmt!r} is not {FORMAT}")
    for key in ("task", "count", "images", "targets", "shards"):
        if key not in manifest:
            raise GlanceError(f"{mpath}: manifest lacks '{key}'")
    return manifest


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_shard(root: Path, manifest: dict[str, Any], shard: dict[str, Any]
                 ) -> tuple[list[str], np.ndarray | None, np.ndarray | None, list[str] | None]:
    """Cheap structural checks of one shard (headers only, via mmap): problems and the opened arrays."""
    problems: list[str] = []
    count = int(shard.get("count", -1))
    opened: dict[str, Any] = {}
    for key, spec in (("images", manifest["images"]), ("targets", manifest["targets"])):
        path = root / str(shard.get(key, ""))
        if not path.is_file():
            problems.append(f"{path.name or key}: missing")
            continue
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            problems.append(f"{path.name}: unreadable ({e.__class__.__name__}: {e})")
            continue
        want = (count, *spec["shape"])
        if arr.shape != want or str(arr.dtype) != spec["dtype"]:
            problems.append(f"{path.name}: {arr.shape} {arr.dtype}, manifest says {want} {spec['dtype']}")
            continue
        opened[key] = arr
    path = root / str(shard.get("ids", ""))
    try:
        ids = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(ids, list) or len(ids) != count:
            problems.append(f"{path.name}: {len(ids) if isinstance(ids, list) else 'no'} ids, manifest says {count}")
        else:
            opened["ids"] = [str(i) for i in ids]
    except FileNotFoundError:
        problems.append(f"{path.name or 'ids'}: missing")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        problems.append(f"{path.name}: unreadable ({e.__class__.__name__})")
    return problems, opened.get("images"), opened.get("targets"), opened.get("ids")


def verify_packed(path: str | Path, hashes: bool = True) -> list[str]:
    """Everything wrong with a packed folder, one line each (empty when it is sound): the manifest,
    every shard's presence, shape, dtype and count, and (with `hashes`) every file's sha256."""
    try:
        manifest = read_manifest(path)
    except GlanceError as e:
        return [str(e)]
    root = _manifest_path(Path(path)).parent
    problems: list[str] = []
    total = 0
    for shard in manifest["shards"]:
        found, _, _, _ = _check_shard(root, manifest, shard)
        problems += found
        total += int(shard.get("count", 0))
        if hashes:
            for key, want in shard.get("sha256", {}).items():
                p = root / str(shard.get(key, ""))
                if p.is_file() and _sha256_file(p) != want:
                    problems.append(f"{p.name}: sha256 differs from the manifest (file changed or corrupt)")
    if total != int(manifest["count"]):
        problems.append(f"shards hold {total} images, manifest says {manifest['count']}")
    return problems


def _target_from_row(row: Any) -> Any:
    """One stored target row back in the Python form tasks' `parse_target` gives: a 0-d integer → int
    (class index), a 1-d integer row → tuple of ints ((hour, minute)), anything floating → a float32
    array (keypoints), a 0-d float → float, bools likewise."""
    a = np.asarray(row)
    kind = a.dtype.kind
    if a.ndim == 0:
        if kind == "b":
            return bool(a)
        if kind in "iu":
            return int(a)
        if kind == "f":
            return float(a)
        return a.item()
    if a.ndim == 1 and kind in "iu":
        return tuple(int(v) for v in a)
    if a.ndim == 1 and kind == "b":
        return tuple(bool(v) for v in a)
    if kind == "f":
        return np.array(a, dtype=np.float32)
    return np.array(a)


class PackedReader:
    """A folder written by `pack` (`glance pack`): manifest.json + memory-mapped uint8 shards.

    Images come back as read-only views into the shards (no decoding), targets in the task's own form.
    With `verify=True` every file's sha256 is checked first (reads everything once)."""

    name = "packed"

    def __init__(self, verify: bool = False) -> None:
        self.verify = verify

    def can_read(self, path: Path) -> bool:
        mpath = _manifest_path(Path(path))
        if not mpath.is_file():
            return False
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False
        return isinstance(manifest, dict) and manifest.get("format") == FORMAT

    def read(self, path: Path, task: "Task") -> "Samples":
        from .readers import Samples
        manifest = read_manifest(path)
        root = _manifest_path(Path(path)).parent
        if manifest["task"] != task.name:
            raise GlanceError(f"{root} was packed for task {manifest['task']}, not {task.name}; "
                              f"pack it again with: glance pack {task.name} --data {manifest.get('source', 'SRC')} --out NEW_DIR")
        if self.verify:
            problems = verify_packed(root)
            if problems:
                raise GlanceError(f"packed data set {root} is damaged: {problems[0]}"
                                  + (f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""))
        items: list[Any] = []
        targets: list[Any] = []
        ids: list[str] = []
        for shard in manifest["shards"]:
            problems, images, tg, shard_ids = _check_shard(root, manifest, shard)
            if problems:
                raise GlanceError(f"packed data set {root} is damaged: {problems[0]}")
            assert images is not None and tg is not None and shard_ids is not None
            items.extend(images[i] for i in range(len(images)))
            targets.extend(_target_from_row(r) for r in tg)
            ids.extend(shard_ids)
        if len(items) != int(manifest["count"]):
            raise GlanceError(f"packed data set {root} is damaged: shards hold {len(items)} images, "
                              f"manifest says {manifest['count']}")
        meta = {"packed": {k: manifest.get(k) for k in ("source", "reader", "created", "images", "targets")}}
        groups = manifest.get("groups")
        return Samples(items, targets, ids, str(root), meta,
                       [str(g) for g in groups] if isinstance(groups, list) and len(groups) == len(items) else None)


# ----------------------------------------------------------------------------- measuring

def _time_source(task: "Task", path: str | Path, limit: int) -> dict[str, Any]:
    from .images import load_image
    from .readers import read_dataset
    t0 = time.perf_counter()
    packed = PackedReader()
    samples = packed.read(Path(path), task) if packed.can_read(Path(path)) else read_dataset(path, task)
    t1 = time.perf_counter()
    n = min(max(1, limit), len(samples))
    prep = getattr(task, "preprocess_sample", None)
    for item, target in zip(samples.items[:n], samples.targets[:n]):
        image = load_image(item)
        if prep is not None:
            prep(image, target)
        else:
            task.preprocess(image)
    t2 = time.perf_counter()
    return {"path": str(path), "reader": "packed" if samples.meta.get("packed") else samples.meta.get("reader", ""),
            "images": n, "open_s": round(t1 - t0, 4), "load_preprocess_s": round(t2 - t1, 4),
            "images_per_s": n / max(t2 - t1, 1e-9), "images_per_s_with_open": n / max(t2 - t0, 1e-9)}


def measure_throughput(task: "Task | str", path: str | Path, limit: int = 2000,
                       raw: str | Path | None = None) -> dict[str, Any]:
    """Images per second of reading + decoding + `preprocess` for the first `limit` images, one core.

    `path` is a packed folder: it is timed, and so is the raw source it was packed from (`raw`, else the
    manifest's `source` while it still exists). `path` may also be any unpacked data set (only `raw` is
    then timed). Returns {"packed": {...}, "raw": {...}, "speedup": packed/raw images per second}; an
    entry that could not be timed is None. The raw set is timed first, so both read warm files."""
    from ..tasks import get
    task = get(task) if isinstance(task, str) else task
    result: dict[str, Any] = {"packed": None, "raw": None, "speedup": None}
    if PackedReader().can_read(Path(path)):
        if raw is None:
            source = read_manifest(path).get("source")
            raw = source if source and Path(source).exists() else None
        if raw is not None:
            result["raw"] = _time_source(task, raw, limit)
        result["packed"] = _time_source(task, path, limit)
    else:
        result["raw"] = _time_source(task, path, limit)
    if result["raw"] and result["packed"]:
        result["speedup"] = result["packed"]["images_per_s"] / result["raw"]["images_per_s"]
    return result


def summary_lines(manifest: dict[str, Any], out: str | Path, throughput: dict[str, Any] | None = None) -> list[str]:
    """What `glance pack` prints: counts, sizes, and the measured throughput packed vs raw."""
    size = sum((Path(out) / s[k]).stat().st_size for s in manifest["shards"] for k in ("images", "targets", "ids"))
    img = manifest["images"]
    lines = [f"packed {manifest['count']} {manifest['task']} images ({manifest['reader'] or 'unknown'} layout) "
             f"into {len(manifest['shards'])} shard(s) in {out}: images {'x'.join(map(str, img['shape']))} "
             f"{img['dtype']}, {size / 1e6:.1f} MB, {manifest.get('pack_seconds', 0):.1f} s "
             f"with {manifest.get('workers', 1)} process(es)"]
    if throughput:
        for key in ("raw", "packed"):
            t = throughput.get(key)
            if t:
                lines.append(f"  {key:6s} {t['images_per_s']:8.0f} images/s  (read + decode + preprocess, "
                             f"{t['images']} images, one core; opening the set {t['open_s']:.2f} s)")
        if throughput.get("speedup"):
            lines.append(f"  packed is {throughput['speedup']:.1f}x faster than raw")
    return lines
