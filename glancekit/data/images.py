"""Turn whatever a user hands us (path, PIL image, numpy array) into a numpy image, or say why not."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import GlanceError

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


def load_image(source: Any) -> np.ndarray:
    """Return an uint8 image, HxW (grayscale) or HxWx3 (RGB).

    Accepts a path, a PIL image or a numpy array (HxW, HxWx1, HxWx3, HxWx4; uint8 or float in [0, 1]).
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise GlanceError(f"no such file: {path}")
        if path.is_dir():
            raise GlanceError(f"expected an image file, got a folder: {path}")
        try:
            with Image.open(path) as im:
                im.load()
                return _from_pil(im)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            raise GlanceError(f"cannot read image {path}: not an image or corrupt ({e.__class__.__name__})") from None
    if isinstance(source, Image.Image):
        return _from_pil(source)
    if isinstance(source, np.ndarray):
        return _from_array(source)
    raise GlanceError(f"cannot use {type(source).__name__} as an image: pass a path, a PIL image or a numpy array")


def _from_pil(im: Image.Image) -> np.ndarray:
    # Phone photos are often stored sideways with an EXIF orientation tag: turn them upright, as viewers do.
    im = ImageOps.exif_transpose(im) or im
    if im.mode in ("L", "I;16", "I", "F", "1"):
        arr = np.asarray(im.convert("F") if im.mode in ("I;16", "I", "F") else im.convert("L"))
        return _from_array(arr)
    return np.asarray(im.convert("RGB"))


def _from_array(arr: np.ndarray) -> np.ndarray:
    if arr.size == 0:
        raise GlanceError("empty image array")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise GlanceError(f"wrong image shape {tuple(arr.shape)}: expected HxW, HxWx1, HxWx3 or HxWx4")
    if arr.dtype == np.uint8:
        return arr
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise GlanceError("image array contains NaN or infinite values")
    if arr.max() <= 1.0 and arr.min() >= 0.0:
        arr = arr * 255.0
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def to_gray(img: np.ndarray) -> np.ndarray:
    """uint8 HxW grayscale (ITU-R 601 luma, as PIL's "L")."""
    if img.ndim == 2:
        return img
    return np.rint(img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114).astype(np.uint8)


def to_rgb(img: np.ndarray) -> np.ndarray:
    """HxWx3: a grayscale HxW image with its one channel repeated; an RGB image as it is."""
    return img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=2)


def square_offsets(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(side, left, top): the square an image of `shape` is padded to, and where the image sits in it."""
    h, w = shape[:2]
    side = max(h, w)
    return side, (side - w) // 2, (side - h) // 2


def square_rgb(image: np.ndarray, size: int) -> np.ndarray:
    """Any photo → padded to a square by repeating its edge pixels (so angles and shapes stay true,
    unlike a squashing resize), resized to size x size, RGB, float32 CxHxW in [-1, 1]."""
    img = to_rgb(image)
    side, left, top = square_offsets(img.shape)
    h, w = img.shape[:2]
    if h != w:
        img = cv2.copyMakeBorder(img, top, side - h - top, left, side - w - left, cv2.BORDER_REPLICATE)
    if side != size:
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_LINEAR)
    return img.astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0


CROP_MARGIN = 0.2  # a hand crop: the box grown by this share of its size on each side


def crop_window(shape: tuple[int, ...], box: Sequence[float], margin: float = CROP_MARGIN) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the square around a box (x0, y0, x1, y1 in pixels) grown by `margin` of its size on
    each side, clamped to an image of `shape`: the crop a reader of one object (a hand) is given."""
    h, w = shape[:2]
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    a, b = int(max(0, round(cx - side / 2))), int(min(w, round(cx + side / 2)))
    c, d = int(max(0, round(cy - side / 2))), int(min(h, round(cy + side / 2)))
    if b - a < 2 or d - c < 2:
        raise GlanceError(f"box {tuple(round(v, 1) for v in box)} lies outside the {w}x{h} image")
    return a, c, b, d


def crop_box(image: np.ndarray, box: Sequence[float], margin: float = CROP_MARGIN) -> np.ndarray:
    """The image inside `crop_window` (a copy)."""
    a, c, b, d = crop_window(image.shape, box, margin)
    return image[c:d, a:b].copy()


def list_images(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders (recursively, sorted) into image files; fail clearly when none."""
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise GlanceError(f"no such file or folder: {p}")
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
            if not files:
                raise GlanceError(f"no images found in folder {p}")
            found.extend(files)
        else:
            found.append(p)
    if not found:
        raise GlanceError("no images given")
    return found
