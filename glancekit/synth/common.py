"""Pieces every synthetic generator shares: random colours, backgrounds (procedural or photos) and the
camera/lighting degradations (colour cast, contrast, gamma, blur, noise, JPEG) that make renders look
like photos. All randomness comes from the caller's `rng`, so a render is a function of its seed.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np


def random_color(rng: np.random.Generator, light: bool | None = None) -> tuple[int, int, int]:
    if light is None:
        return tuple(int(v) for v in rng.integers(0, 256, 3))  # type: ignore[return-value]
    base = rng.integers(170, 256) if light else rng.integers(0, 90)
    tint = rng.integers(-25, 26, 3)
    return tuple(int(np.clip(base + t, 0, 255)) for t in tint)  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------- backgrounds

def background(rng: np.random.Generator, size: int, photos: Sequence[np.ndarray]) -> np.ndarray:
    kind = rng.choice(["photo", "noise", "gradient", "stripes", "clutter", "flat"],
                      p=[0.35, 0.2, 0.15, 0.1, 0.1, 0.1] if photos else [0, 0.35, 0.25, 0.15, 0.15, 0.1])
    if kind == "photo":
        img = photos[int(rng.integers(len(photos)))]
        h, w = img.shape[:2]
        s = int(rng.integers(min(h, w) // 3, min(h, w) + 1))
        y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        bg = cv2.resize(img[y:y + s, x:x + s], (size, size), interpolation=cv2.INTER_AREA)
        return bg.copy()
    if kind == "noise":  # smooth coloured texture: low-res noise blown up
        k = int(rng.integers(2, 16))
        small = rng.integers(0, 256, (k, k, 3)).astype(np.uint8)
        bg = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
        fine = rng.normal(0, rng.uniform(0, 20), (size, size, 1))
        return np.clip(bg + fine, 0, 255).astype(np.uint8)
    if kind == "gradient":
        a, b = np.array(random_color(rng), np.float32), np.array(random_color(rng), np.float32)
        t = np.linspace(0, 1, size, dtype=np.float32)
        ang = rng.uniform(0, 2 * np.pi)
        tt = (np.cos(ang) * t[None, :] + np.sin(ang) * t[:, None])
        tt = (tt - tt.min()) / max(1e-6, float(np.ptp(tt)))
        return (a + (b - a) * tt[..., None]).astype(np.uint8)
    bg = np.full((size, size, 3), random_color(rng), np.uint8)
    if kind == "stripes":
        period = int(rng.integers(4, 24))
        c = random_color(rng)
        for i in range(-size, 2 * size, period):
            cv2.line(bg, (i, 0), (i + int(rng.integers(-size, size)), size), c, max(1, period // 3))
    elif kind == "clutter":
        for _ in range(int(rng.integers(3, 12))):
            c = random_color(rng)
            p = rng.integers(0, size, 4)
            if rng.random() < 0.5:
                cv2.rectangle(bg, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), c, -1)
            else:
                cv2.line(bg, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), c, int(rng.integers(1, 6)), cv2.LINE_AA)
    return bg


def photometric(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    size = img.shape[0]
    f32 = np.float32
    # Lighting: colour cast, brightness, contrast, gamma, a brightness gradient across the picture.
    img = img * rng.uniform(0.8, 1.2, 3).astype(f32)[None, None, :]
    img = (img - f32(128)) * f32(rng.uniform(0.6, 1.3)) + f32(128 + rng.uniform(-40, 40))
    if rng.random() < 0.4:
        t = np.linspace(-1, 1, size, dtype=np.float32)
        a = rng.uniform(0, 2 * np.pi)
        img = img * (1 + f32(rng.uniform(0, 0.35)) * (f32(np.cos(a)) * t[None, :, None] + f32(np.sin(a)) * t[:, None, None]))
    img = np.clip(img, 0, 255)
    img = cv2.pow(img * f32(1 / 255), float(rng.uniform(0.7, 1.4))) * f32(255)
    # Optics and sensor: defocus or motion blur, noise, JPEG.
    u = rng.random()
    if u < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.5))
    elif u < 0.4:
        k = int(rng.integers(3, 7))
        kern = np.zeros((k, k), np.float32)
        kern[k // 2, :] = 1 / k
        rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), float(rng.uniform(0, 180)), 1)
        kern = cv2.warpAffine(kern, rot, (k, k))
        img = cv2.filter2D(img, -1, kern / max(kern.sum(), 1e-6))
    if rng.random() < 0.5:
        noise = np.empty(img.shape, f32)
        cv2.setRNGSeed(int(rng.integers(2**31)))  # keep the image a function of `rng` alone
        cv2.randn(noise, 0, float(rng.uniform(2, 12)))
        img = img + noise
    out = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.4:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 90))])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if rng.random() < 0.1:
        g = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)
        out = np.repeat(g[..., None], 3, axis=2)
    return out


