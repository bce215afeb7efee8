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


# Digits that fonts draw unlike hands (serifed 1, closed-top 4) are drawn as pen strokes instead,
# as a user would on the drawing canvas: polylines in unit coordinates.
STROKES = {
    "1": [[(0.5, 0.17), (0.56, 0.1), (0.52, 0.5), (0.48, 0.9)]],
    "4": [[(0.55, 0.1), (0.22, 0.62), (0.8, 0.6)], [(0.62, 0.32), (0.6, 0.92)]],
}


def draw_strokes(ch: str, look: str, rng: np.random.Generator, size: tuple[int, int] = (160, 130)) -> np.ndarray:
    h, w = size
    dark_on_light = look != "canvas"
    paper, ink = (int(rng.integers(200, 245)), int(rng.integers(10, 70))) if dark_on_light else (0, 255)
    img = np.full((h, w), paper, np.uint8)
    thick = {"pen": 5, "marker": 12, "canvas": 9, "photo": 6}[look]
    for line in STROKES[ch]:
        pts = np.array([(x * w + rng.normal(0, 2), y * h + rng.normal(0, 2)) for x, y in line], np.int32)
        cv2.polylines(img, [pts], False, ink, thick, cv2.LINE_AA)
    img = img.astype(np.float32)
    if dark_on_light:
        img += rng.normal(0, 3, (h, w))
    return np.clip(img, 0, 255).astype(np.uint8)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    looks = ["pen", "marker", "canvas", "photo"]
    for d in range(10):
        for look in (looks[d % 4], looks[(d + 1) % 4]):
            draw = draw_strokes if str(d) in STROKES else render
            cv2.imwrite(str(OUT / f"{d}_{look}.png"), draw(str(d), look, rng))
    blank = np.full((150, 120), 235, np.uint8) + rng.normal(0, 2, (150, 120)).clip(-5, 5).astype(np.uint8)
    cv2.imwrite(str(OUT / "not_a_digit_blank.png"), blank)
    cv2.imwrite(str(OUT / "not_a_digit_letter_A.png"), render("A", "marker", rng))
    cv2.imwrite(str(OUT / "not_a_digit_letter_K.png"), render("K", "pen", rng))
    print(f"wrote {len(list(OUT.glob('*.png')))} images to {OUT}")


if __name__ == "__main__":
    main()
