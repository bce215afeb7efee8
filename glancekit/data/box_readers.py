"""Readers for box-labelled photos (detection tasks): every layout becomes one sample per photo, the whole
photo as the item and all its boxes as the target (`DetectionTask.make_target`).

- `BoxTableReader`: a CSV with one row per box, `file,xmin,ymin,xmax,ymax` in pixels, optional `label` and
  `box_source` (the HANDS layout, and the `gestures/web` sources). A photo any of whose rows has
  `box_source=image` is left out: there the box is the whole image because no hand was found, so the photo
  holds an object without a box, and training it as "nothing here" would teach the detector to miss it.
- `YoloReader`: `images/` + `labels/` with one `STEM.txt` per image, rows `class cx cy w h` normalised to
  [0, 1]; class names from `classes.txt` (one per line) or `data.yaml`'s `names`; an image without a txt
  has no objects.
- `VocReader`: Pascal VOC, `Annotations/*.xml` (`<object><name>`, `<bndbox>`), images in `JPEGImages/`
  or beside the xml.
- `HaGRIDBoxReader`: HaGRID's `annotations/**/*.json`, `{image_id: {"bboxes": [[x, y, w, h] normalised],
  "labels": [...]}}`, full frames anywhere below as `image_id.jpg`.
The generic CSV reader also works: `file,boxes` with `boxes` a JSON list (what `glance synth` writes).
Boxes whose label a task does not have are skipped and counted (`skipped_boxes` in the samples' meta).
"""
from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from ..errors import GlanceError
from .images import IMAGE_EXTENSIONS
from .readers import Samples

if TYPE_CHECKING:
    from ..tasks.detection import DetectionTask

BOX_COLUMNS = ("xmin", "ymin", "xmax", "ymax")


def _samples(task: "DetectionTask", photos: dict[Path, list[tuple[float, float, float, float, str]]], root: Path,
             source: str, where: str) -> Samples:
    """Photos with their (x0, y0, x1, y1, label) boxes → Samples (labels the task lacks skipped, counted)."""
    items, targets, ids, skipped = [], [], [], 0
    for img, boxes in photos.items():
        kept = []
        for x0, y0, x1, y1, label in boxes:
            c = task.class_index(label)
            if c is None:
                skipped += 1
            else:
                kept.append((x0, y0, x1, y1, c))
        items.append(img)
        targets.append(task.make_target(kept, f"{where}: {img.name}"))
        try:
            ids.append(str(img.relative_to(root)))
        except ValueError:
            ids.append(img.name)
    return Samples(items, targets, ids, source, {"skipped_boxes": skipped})


def _float(v: Any, where: str) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        raise GlanceError(f"{where}: box coordinates must be numbers, got {v!r}") from None


def _image_index(root: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(root.rglob("*")) if p.suffix.lower() in IMAGE_EXTENSIONS}


class BoxTableReader:
    name = "box-table"

    @staticmethod
    def _csv(path: Path) -> Path | None:
        c = path / "labels.csv" if path.is_dir() else path
        return c if c.is_file() and c.suffix.lower() == ".csv" else None

    def can_read(self, path: Path) -> bool:
        c = self._csv(path)
        if c is None:
            return False
        with open(c, encoding="utf-8") as f:
            header = [h.strip() for h in f.readline().strip().split(",")]
        return {"file", *BOX_COLUMNS} <= set(header)

    def read(self, path: Path, task: "DetectionTask") -> Samples:
        csv_path = self._csv(path)
        assert csv_path is not None
        with open(csv_path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        photos: dict[Path, list[tuple[float, float, float, float, str]]] = {}
        unboxed: set[Path] = set()
        for line, r in enumerate(rows, start=2):
            rel = (r.get("file") or "").strip()
            img = next((b / rel for b in (csv_path.parent, csv_path.parent / "images") if rel and (b / rel).is_file()),
                       None)
            if img is None:
                raise GlanceError(f"{csv_path}:{line}: image '{rel}' not found next to the CSV or in images/")
            if (r.get("box_source") or "").strip() == "image":
                unboxed.add(img)
                continue
            where = f"{csv_path}:{line}"
            box = tuple(_float(r.get(k), where) for k in BOX_COLUMNS)
            photos.setdefault(img, []).append((*box, (r.get("label") or "").strip()))  # type: ignore[arg-type]
        for img in unboxed:
            photos.pop(img, None)
        if not photos:
            raise GlanceError(f"{csv_path}: no photo with boxes (rows with box_source=image are not boxes)")
        samples = _samples(task, photos, csv_path.parent, str(csv_path), str(csv_path))
        samples.meta["photos_without_box"] = len(unboxed)
        return samples


class YoloReader:
    name = "yolo"

    def can_read(self, path: Path) -> bool:
        return path.is_dir() and (path / "labels").is_dir() and (path / "images").is_dir()

    @staticmethod
    def _names(path: Path) -> list[str]:
        if (path / "classes.txt").is_file():
            return [n.strip() for n in (path / "classes.txt").read_text(encoding="utf-8").splitlines() if n.strip()]
        if (path / "data.yaml").is_file():
            import yaml
            names = (yaml.safe_load((path / "data.yaml").read_text(encoding="utf-8")) or {}).get("names", [])
            return list(names.values()) if isinstance(names, dict) else [str(n) for n in names]
        return []

    def read(self, path: Path, task: "DetectionTask") -> Samples:
        from PIL import Image
        names = self._names(path)
        photos: dict[Path, list[tuple[float, float, float, float, str]]] = {}
        for img in sorted(_image_index(path / "images").values()):
            txt = path / "labels" / img.relative_to(path / "images").with_suffix(".txt")
            boxes: list[tuple[float, float, float, float, str]] = []
            if txt.is_file():
                with Image.open(img) as im:
                    w, h = im.size
                for n, line in enumerate(txt.read_text(encoding="utf-8").splitlines(), start=1):
                    cells = line.split()
                    if not cells:
                        continue
                    where = f"{txt}:{n}"
                    if len(cells) < 5:
                        raise GlanceError(f"{where}: expected 'class cx cy w h', got {line.strip()!r}")
                    k = int(_float(cells[0], where))
                    cx, cy, bw, bh = (_float(c, where) for c in cells[1:5])
                    label = names[k] if k < len(names) else str(k)
                    boxes.append(((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h, label))
            photos[img] = boxes
        return _samples(task, photos, path, str(path), str(path))


class VocReader:
    name = "voc"

    @staticmethod
    def _folder(path: Path) -> Path | None:
        if path.is_dir() and (path / "Annotations").is_dir():
            return path / "Annotations"
        return None

    def can_read(self, path: Path) -> bool:
        return self._folder(path) is not None

    def read(self, path: Path, task: "DetectionTask") -> Samples:
        ann = self._folder(path)
        assert ann is not None
        index = _image_index(path)
        photos: dict[Path, list[tuple[float, float, float, float, str]]] = {}
        for xml in sorted(ann.glob("*.xml")):
            try:
                root = ET.parse(xml).getroot()
            except ET.ParseError as e:
                raise GlanceError(f"{xml}: not valid XML ({e})") from None
            name = (root.findtext("filename") or xml.stem).strip()
            img = index.get(Path(name).stem)
            if img is None:
                raise GlanceError(f"{xml}: image '{name}' not found under {path}")
            boxes = []
            for obj in root.iter("object"):
                bb = obj.find("bndbox")
                if bb is None:
                    raise GlanceError(f"{xml}: an object without <bndbox>")
                box = tuple(_float(bb.findtext(k), f"{xml}: {k}") for k in BOX_COLUMNS)
                boxes.append((*box, (obj.findtext("name") or "").strip()))
            photos[img] = boxes  # type: ignore[assignment]
        return _samples(task, photos, path, str(path), str(path))


def hagrid_jsons(path: Path) -> list[Path]:
    """HaGRID's annotation files: `path` itself (one JSON), or every JSON under its annotations folder."""
    if path.is_file() and path.suffix == ".json":
        return [path]
    for sub in ("annotations", "ann_train_val", "ann_subsample", "ann_test"):
        if path.is_dir() and (path / sub).is_dir():
            return sorted((path / sub).rglob("*.json"))
    return []


def looks_like_hagrid(path: Path) -> bool:
    """The first annotation file maps image ids to dicts with "bboxes" (HaGRID's layout)."""
    files = hagrid_jsons(path)
    if not files:
        return False
    try:
        first = json.loads(files[0].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(first, dict) and any(isinstance(v, dict) and "bboxes" in v for v in list(first.values())[:5])


class HaGRIDBoxReader:
    name = "hagrid-boxes"

    def can_read(self, path: Path) -> bool:
        return looks_like_hagrid(path)

    def read(self, path: Path, task: "DetectionTask") -> Samples:
        from PIL import Image
        root = path if path.is_dir() else path.parent
        index = _image_index(root)
        photos: dict[Path, list[tuple[float, float, float, float, str]]] = {}
        for jf in hagrid_jsons(path):
            try:
                ann = json.loads(jf.read_text(encoding="utf-8"))
            except ValueError as e:
                raise GlanceError(f"{jf}: not valid JSON ({e})") from None
            for image_id, a in ann.items():
                img = index.get(image_id)
                if img is None:
                    raise GlanceError(f"{jf}: image '{image_id}' not found under {root}")
                with Image.open(img) as im:
                    w, h = im.size
                boxes = photos.setdefault(img, [])
                for b, label in zip(a.get("bboxes", []), a.get("labels", [])):
                    x, y, bw, bh = (_float(v, str(jf)) for v in b)
                    boxes.append((x * w, y * h, (x + bw) * w, (y + bh) * h, str(label)))
        return _samples(task, photos, root, str(path), str(path))


BOX_READERS: list[Any] = [HaGRIDBoxReader(), VocReader(), YoloReader(), BoxTableReader()]
