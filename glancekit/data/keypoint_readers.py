"""Readers for hand keypoint data sets: GANerated Hands, CMU Panoptic hand_labels, generic tables.

Every reader hands the task one raw dict per hand, ``{"keypoints": json.dumps(points)}`` with
``points`` 21 ``[x, y, v]`` in image pixels (joint order: 0 wrist; 1-4 thumb CMC, MCP, IP, tip;
5-8 index MCP, PIP, DIP, tip; 9-12 middle; 13-16 ring; 17-20 little) and ``v`` 1 for a visible /
labelled point, 0 for one that is not; ``Task.parse_target`` turns it into the (21, 3) target.
Readers check the point count themselves, so a bad file is reported with its name (and line or
entry) whatever the task does.

Items are image paths, except where the source gives a box per hand (see `KeypointTableReader`):
then each item is the decoded crop of that hand (uint8 numpy array) and its keypoints are moved
into the crop's pixels.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from ..errors import GlanceError
from .images import IMAGE_EXTENSIONS, load_image
from .readers import Reader, Samples, photo_groups

if TYPE_CHECKING:
    from ..tasks.base import Task

N_POINTS = 21
BOX_COLUMNS = ("xmin", "ymin", "xmax", "ymax")


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise GlanceError(f"{where}: expected a number, got {v!r}")
    try:
        f = float(v)
    except ValueError:
        raise GlanceError(f"{where}: expected a number, got {v!r}") from None
    if not math.isfinite(f):
        raise GlanceError(f"{where}: coordinates must be finite, got {v!r}")
    return f


def _visibility(v: Any, where: str) -> float:
    """0/1, a bool, or any number (COCO's 2 = visible, 1 = labelled but occluded: both count as 1)."""
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    return 1.0 if _number(v, where) > 0 else 0.0


def _points(raw: Any, where: str) -> list[list[float]]:
    """21 [x, y] / [x, y, v] (a `null` point = not labelled) → 21 [x, y, v] floats, or GlanceError."""
    if not isinstance(raw, (list, tuple)) or len(raw) != N_POINTS:
        n = len(raw) if isinstance(raw, (list, tuple)) else type(raw).__name__
        raise GlanceError(f"{where}: expected {N_POINTS} keypoints, got {n}")
    out = []
    for i, p in enumerate(raw):
        if p is None:
            out.append([0.0, 0.0, 0.0])
            continue
        if not isinstance(p, (list, tuple)) or len(p) not in (2, 3):
            raise GlanceError(f"{where}: keypoint {i} must be [x, y] or [x, y, visible], got {p!r}")
        v = _visibility(p[2], f"{where}: keypoint {i}") if len(p) == 3 else 1.0
        out.append([_number(p[0], f"{where}: keypoint {i}"), _number(p[1], f"{where}: keypoint {i}"), v])
    return out


def _raw(points: list[list[float]], **extra: str) -> dict[str, str]:
    return {"keypoints": json.dumps(points), **extra}


def _load_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError) as e:
        raise GlanceError(f"cannot read {path}: {e}") from None
    except json.JSONDecodeError as e:
        raise GlanceError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None


def _find_image(rel: str, bases: Iterable[Path]) -> Path | None:
    return next((b / rel for b in bases if rel and (b / rel).is_file()), None)


# ----------------------------------------------------------------------------- GANerated Hands

def _ganerated_image(txt: Path) -> Path:
    return txt.with_name(txt.name[: -len("_joint2D.txt")] + "_color_composed.png")


class GANeratedReader:
    """GANerated Hands (Mueller et al. 2018): folders, nested at any depth (``data/noObject/0001/``),
    of ``NNNN_color_composed.png`` + ``NNNN_joint2D.txt``.

    The txt holds 42 comma-separated numbers, x1, y1, ..., x21, y21, the 21 joints in the standard
    order in image pixels. The data set has no visibility, so every point is visible (v = 1).
    A txt without its image next to it, or with another count than 42 numbers, is an error.
    """

    name = "ganerated"

    def can_read(self, path: Path) -> bool:
        return path.is_dir() and next(path.rglob("*_joint2D.txt"), None) is not None

    def read(self, path: Path, task: "Task") -> Samples:
        items, targets, ids = [], [], []
        for txt in sorted(path.rglob("*_joint2D.txt")):
            img = _ganerated_image(txt)
            if not img.is_file():
                raise GlanceError(f"{txt}: image {img.name} not found next to it")
            try:
                text = txt.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise GlanceError(f"cannot read {txt}: {e}") from None
            cells = text.replace(",", " ").split()
            if len(cells) != 2 * N_POINTS:
                raise GlanceError(f"{txt}: expected {2 * N_POINTS} comma-separated numbers "
                                  f"(x, y of {N_POINTS} joints), got {len(cells)}")
            vals = [_number(c, str(txt)) for c in cells]
            pts = [[vals[2 * i], vals[2 * i + 1], 1.0] for i in range(N_POINTS)]
            items.append(img)
            targets.append(task.parse_target(_raw(pts), where=str(txt)))
            ids.append(str(img.relative_to(path)))
        return Samples(items, targets, ids, str(path))


# ----------------------------------------------------------------------------- CMU Panoptic

class CMUHandReader:
    """CMU Panoptic ``hand_labels`` (manual_train / manual_test / synth*): ``NAME.jpg`` + ``NAME.json``
    with ``"hand_pts": [[x, y, visible], ...]`` (21 entries; visible 0/1 or a bool) and optionally
    ``"is_left"``.

    The folder itself or its sub-folders may hold the pairs (every ``*.json`` below is read and must
    hold ``hand_pts``). `is_left`, when given, goes to the task as raw ``handedness`` (left / right),
    next to ``keypoints``.
    """

    name = "cmu_hands"

    def _first_json(self, path: Path) -> Path | None:
        if not path.is_dir():
            return None
        here = sorted(path.glob("*.json"))
        return here[0] if here else next(path.rglob("*.json"), None)

    def can_read(self, path: Path) -> bool:
        first = self._first_json(path)
        if first is None:
            return False
        try:
            with open(first, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False
        return isinstance(data, dict) and "hand_pts" in data

    def read(self, path: Path, task: "Task") -> Samples:
        items, targets, ids = [], [], []
        for js in sorted(path.rglob("*.json")):
            data = _load_json(js)
            if not isinstance(data, dict) or "hand_pts" not in data:
                raise GlanceError(f"{js}: expected a JSON object with 'hand_pts' (CMU hand_labels layout)")
            img = next((js.with_suffix(ext) for ext in (".jpg", ".jpeg", ".png", ".JPG")
                        if js.with_suffix(ext).is_file()), None)
            if img is None:
                raise GlanceError(f"{js}: image {js.stem}.jpg not found next to it")
            pts = _points(data["hand_pts"], str(js))
            extra = {}
            if "is_left" in data and data["is_left"] is not None:
                extra["handedness"] = "left" if _visibility(data["is_left"], f"{js}: is_left") else "right"
            items.append(img)
            targets.append(task.parse_target(_raw(pts, **extra), where=str(js)))
            ids.append(str(img.relative_to(path)))
        return Samples(items, targets, ids, str(path))


# ----------------------------------------------------------------------------- generic table

def _csv_kind(fields: list[str]) -> str | None:
    """'json' (a keypoints column), 'columns' (x0, y0, ... x20, y20) or None."""
    if "file" not in fields:
        return None
    if "keypoints" in fields:
        return "json"
    if all(f"x{i}" in fields and f"y{i}" in fields for i in range(N_POINTS)):
        return "columns"
    return None


def _csv_header(path: Path) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError):
        return []


def _json_kind(data: Any) -> str | None:
    """'list' ([{"file", "keypoints" | "points", "box"?}, ...]), 'dict' ({file: keypoints}) or None."""
    if isinstance(data, list) and data and isinstance(data[0], dict) and "file" in data[0] \
            and ("keypoints" in data[0] or "points" in data[0]):
        return "list"
    if isinstance(data, dict) and data and any(Path(str(k)).suffix.lower() in IMAGE_EXTENSIONS for k in data) \
            and all(v is None or isinstance(v, list) for v in data.values()):
        return "dict"
    return None


class KeypointTableReader:
    """Keypoints listed in one CSV or JSON file; images relative to its folder or its ``images/``.

    * CSV with a ``file`` column and either ``x0, y0, ..., x20, y20`` (optional ``v0..v20``; an empty
      x/y pair is an unlabelled point, v = 0) or one ``keypoints`` column holding JSON
      ``[[x, y], ...]`` / ``[[x, y, v], ...]``. Other columns go to the task as they are.
    * JSON: a list of ``{"file": ..., "keypoints": [[x, y(, v)], ...]}`` (``"points"`` works as well,
      as in the MediaPipe labels of the gestures hands_dataset; a ``"visible"`` list of 21 flags beside
      them, as mmpose writes, marks the points not placed), or an object ``{file: keypoints}``.
      A string ``label`` of an entry goes to the task as raw ``label``.

    Points without v are visible (v = 1); v > 0 (1, 2 or true) counts as visible. Rows or entries
    without keypoints (empty cell, ``null`` or ``[]``) are skipped.

    Boxes: where a row has ``xmin, ymin, xmax, ymax`` (CSV) or an entry a ``"box": [xmin, ymin, xmax,
    ymax]`` (JSON), the item is not the image path but the hand cut out of the decoded image (uint8
    numpy array, `load_image`'s RGB): the box grown by ``crop_margin`` × its longer side on every
    side, clamped to the image, with the keypoints shifted into the crop's pixels. Points that then
    fall outside the crop (e.g. MediaPipe's guesses beyond the image border) become v = 0. Each image
    is decoded once however many boxes it has; the id is ``FILE#N`` (N-th box of that file).

    Given a folder: its ``labels.csv`` when that has keypoint columns, else the first ``*.json`` in it
    (sorted by name, ``keypoints*.json`` first) holding keypoints in one of the shapes above.
    """

    name = "keypoint_table"

    def __init__(self, crop_margin: float = 0.25) -> None:
        self.crop_margin = crop_margin

    # ---- finding the file ------------------------------------------------------------------
    def _find(self, path: Path) -> Path | None:
        if path.is_file():
            if path.suffix.lower() == ".csv":
                return path if _csv_kind(_csv_header(path)) else None
            if path.suffix.lower() == ".json":
                return path if self._json_ok(path) else None
            return None
        if not path.is_dir():
            return None
        if (path / "labels.csv").is_file() and _csv_kind(_csv_header(path / "labels.csv")):
            return path / "labels.csv"
        jsons = sorted(path.glob("*.json"), key=lambda p: (not p.name.lower().startswith("keypoints"), p.name))
        return next((j for j in jsons if self._json_ok(j)), None)

    @staticmethod
    def _json_ok(path: Path) -> bool:
        try:
            with open(path, encoding="utf-8") as f:
                return _json_kind(json.load(f)) is not None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False

    def can_read(self, path: Path) -> bool:
        return self._find(path) is not None

    # ---- reading ---------------------------------------------------------------------------
    def read(self, path: Path, task: "Task") -> Samples:
        src = self._find(path)
        if src is None:
            raise GlanceError(f"{path}: no keypoint CSV (file + keypoints or x0..y20 columns) or JSON found")
        rows = self._csv_rows(src) if src.suffix.lower() == ".csv" else self._json_rows(src)
        bases = [src.parent, src.parent / "images"]
        items: list[Any] = []
        targets, ids = [], []
        box_rows: list[tuple[int, Path, list[float], list[list[float]], dict[str, str], str]] = []
        for rel, pts, box, extra, where in rows:
            img = _find_image(rel, bases)
            if img is None:
                raise GlanceError(f"{where}: image '{rel}' not found next to {src.name} or in images/")
            if box is None:
                items.append(img)
                targets.append(task.parse_target(_raw(pts, **extra), where=where))
                ids.append(rel)
            else:
                items.append(None)  # filled in below, one decode per image
                targets.append(None)
                ids.append(rel)
                box_rows.append((len(items) - 1, img, box, pts, extra, where))
        decoded: dict[Path, np.ndarray] = {}
        count: dict[str, int] = {}
        # grouped by file (stable, so a file's boxes keep their order): each image is decoded once and
        # only one decoded image is held at a time
        for slot, img, box, pts, extra, where in sorted(box_rows, key=lambda r: str(r[1])):
            if img not in decoded:
                decoded.clear()
                decoded[img] = load_image(img)
            crop, shifted = self.crop(decoded[img], box, pts)
            items[slot] = crop
            targets[slot] = task.parse_target(_raw(shifted, **extra), where=where)
            n = count[ids[slot]] = count.get(ids[slot], 0) + 1
            ids[slot] = f"{ids[slot]}#{n}"
        # boxes cut from one photo share its name as their group, so a split keeps the photo whole
        return Samples(items, targets, ids, str(src), groups=photo_groups(ids) if box_rows else None)

    def crop_window(self, box: list[float], width: int, height: int) -> tuple[int, int, int, int]:
        """Integer crop (x0, y0, x1, y1), end exclusive: the box grown by `crop_margin` × its longer
        side on every side, rounded outwards and clamped to the image."""
        xmin, ymin, xmax, ymax = box
        m = self.crop_margin * max(xmax - xmin, ymax - ymin)
        x0, y0 = max(0, int(math.floor(xmin - m))), max(0, int(math.floor(ymin - m)))
        x1, y1 = min(width, int(math.ceil(xmax + m))), min(height, int(math.ceil(ymax + m)))
        return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)

    def crop(self, image: np.ndarray, box: list[float], pts: list[list[float]]
             ) -> tuple[np.ndarray, list[list[float]]]:
        """The hand crop of `image` and `pts` moved into it (points outside the crop get v = 0)."""
        h, w = image.shape[:2]
        x0, y0, x1, y1 = self.crop_window(box, w, h)
        cw, ch = x1 - x0, y1 - y0
        out = []
        for x, y, v in pts:
            x, y = x - x0, y - y0
            inside = 0.0 <= x <= cw - 1 and 0.0 <= y <= ch - 1
            out.append([x, y, v if inside else 0.0])
        return np.ascontiguousarray(image[y0:y1, x0:x1]), out

    def _csv_rows(self, src: Path) -> Iterable[tuple[str, list[list[float]], list[float] | None, dict[str, str], str]]:
        try:
            with open(src, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        except (OSError, UnicodeDecodeError) as e:
            raise GlanceError(f"cannot read {src}: {e}") from None
        fields = list(rows[0].keys()) if rows else _csv_header(src)
        kind = _csv_kind(fields)
        if kind is None:
            raise GlanceError(f"{src}: expected a 'file' column and a 'keypoints' column or x0, y0, ..., x20, y20")
        has_box = all(c in fields for c in BOX_COLUMNS)
        coord_cols = {f"{a}{i}" for i in range(N_POINTS) for a in "xyv"}
        for line, row in enumerate(rows, start=2):
            where = f"{src.name}:{line}"
            row = {k: (v or "").strip() for k, v in row.items() if k is not None}
            if kind == "json":
                cell = row.get("keypoints", "")
                if cell in ("", "null", "[]"):
                    continue
                try:
                    parsed = json.loads(cell)
                except json.JSONDecodeError:
                    raise GlanceError(f"{where}: keypoints must be JSON [[x, y(, v)], ...]") from None
                if parsed is None or parsed == []:
                    continue
                pts = _points(parsed, where)
            else:
                if all(row.get(f"{a}{i}", "") == "" for i in range(N_POINTS) for a in "xy"):
                    continue
                pts = []
                for i in range(N_POINTS):
                    xs, ys, vs = row.get(f"x{i}", ""), row.get(f"y{i}", ""), row.get(f"v{i}", "")
                    if xs == "" or ys == "":
                        pts.append([0.0, 0.0, 0.0])
                        continue
                    v = 1.0 if vs == "" else _visibility(vs, f"{where}: v{i}")
                    pts.append([_number(xs, f"{where}: x{i}"), _number(ys, f"{where}: y{i}"), v])
            box = None
            if has_box and any(row[c] != "" for c in BOX_COLUMNS):
                box = [_number(row[c], f"{where}: {c}") for c in BOX_COLUMNS]
                self._check_box(box, where)
            extra = {k: v for k, v in row.items() if k not in ("file", "keypoints") and k not in coord_cols}
            yield row.get("file", ""), pts, box, extra, where

    def _json_rows(self, src: Path) -> Iterable[tuple[str, list[list[float]], list[float] | None, dict[str, str], str]]:
        data = _load_json(src)
        kind = _json_kind(data)
        if kind == "dict":
            for rel, kp in data.items():
                if kp is None or kp == []:
                    continue
                where = f"{src.name}[{rel!r}]"
                yield str(rel), _points(kp, where), None, {}, where
            return
        if kind is None:
            raise GlanceError(f"{src}: expected a list of {{\"file\", \"keypoints\"}} entries or {{file: keypoints}}")
        for i, e in enumerate(data):
            where = f"{src.name}[{i}]"
            if not isinstance(e, dict) or not isinstance(e.get("file"), str):
                raise GlanceError(f"{where}: expected an object with a 'file' string")
            kp = e.get("keypoints", e.get("points"))
            if kp is None or kp == []:
                continue
            pts = _points(kp, where)
            visible = e.get("visible")  # a separate list of 21 flags (mmpose's layout): [0, 0] with 0 = not placed
            if visible is not None:
                if not isinstance(visible, (list, tuple)) or len(visible) != N_POINTS:
                    raise GlanceError(f"{where}: visible must list {N_POINTS} flags, got {visible!r}")
                pts = [[x, y, v * _visibility(f, f"{where}: visible")] for (x, y, v), f in zip(pts, visible)]
            box = None
            if e.get("box") is not None:
                b = e["box"]
                if not isinstance(b, (list, tuple)) or len(b) != 4:
                    raise GlanceError(f"{where}: box must be [xmin, ymin, xmax, ymax], got {b!r}")
                box = [_number(v, f"{where}: box") for v in b]
                self._check_box(box, where)
            extra = {"label": e["label"]} if isinstance(e.get("label"), str) else {}
            yield e["file"], pts, box, extra, where

    @staticmethod
    def _check_box(box: list[float], where: str) -> None:
        if not (box[2] > box[0] and box[3] > box[1]):
            raise GlanceError(f"{where}: box must have xmax > xmin and ymax > ymin, got {box}")


KEYPOINT_READERS: list[Reader] = [GANeratedReader(), CMUHandReader(), KeypointTableReader()]
