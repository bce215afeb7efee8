"""Render the example images under examples/digits/ (reproducible: `python examples/make_digit_examples.py`).

Digits written with OpenCV's Hershey script fonts in several looks a user meets: pen on paper (dark
on light, with paper texture), marker, a drawing canvas (light on dark), a tilted phone photo with
uneven light and noise; plus a few things that are not digits. The expected label is the first part
of each file name (`7_pen.png` → 7, `not_a_digit_*.png` → not_a_digit).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

OUT = Path(__file__).resolve().parent / "digits"


def render(ch: str, look: str, rng: np.random.Generator, size: tuple[int, int] = (160, 130)) -> np.ndarray:
    h, w = size
    dark_on_light = look != "canvas"
    paper, ink = (int(rng.integers(200, 245)), int(rng.integers(10, 70))) if dark_on_light else (0, 255)
    img = np.full((h, w), paper, np.uint8)
    font = {"pen": cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, "marker": cv2.FONT_HERSHEY_SIMPLEX,
            "canvas": cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, "photo": cv2.FONT_HERSHEY_SCRIPT_COMPLEX}[look]
    thick = {"pen": 5, "marker": 12, "canvas": 9, "photo": 6}[look]
    scale = 4.0
    (tw, th), _ = cv2.getTextSize(ch, font, scale, thick)
    cv2.putText(img, ch, ((w - tw) // 2, (h + th) // 2), font, scale, ink, thick, cv2.LINE_AA)
    angle = float(rng.uniform(-12, 12))
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    img = cv2.warpAffine(img, m, (w, h), borderValue=paper).astype(np.float32)
    if look == "photo":  # uneven light and sensor noise
        yy, xx = np.mgrid[0:h, 0:w]
        img = img * (0.75 + 0.25 * xx / w) + rng.normal(0, 6, (h, w))
    if dark_on_light:
        img += rng.normal(0, 3, (h, w))
    img = np.clip(img, 0, 255).astype(np.uint8)
    if look == "photo":
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return img


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    looks = ["pen", "marker", "canvas", "photo"]
    for d in range(10):
        for look in (looks[d % 4], looks[(d + 1) % 4]):
            cv2.imwrite(str(OUT / f"{d}_{look}.png"), render(str(d), look, rng))
    blank = np.full((150, 120), 235, np.uint8) + rng.normal(0, 2, (150, 120)).clip(-5, 5).astype(np.uint8)
    cv2.imwrite(str(OUT / "not_a_digit_blank.png"), blank)
    cv2.imwrite(str(OUT / "not_a_digit_letter_A.png"), render("A", "marker", rng))
    cv2.imwrite(str(OUT / "not_a_digit_letter_K.png"), render("K", "pen", rng))
    print(f"wrote {len(list(OUT.glob('*.png')))} images to {OUT}")


if __name__ == "__main__":
    main()
