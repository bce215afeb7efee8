"""Synthetic analog clocks: a labelled photo-like clock image from a seeded random style.

Why so much variety: a clock reader trained on one look fails on real photos (the task's origin
scored 97.7% on its synthetic validation but 44% on 27 real photos). Every image draws a *style*
(dial shape, numerals, hand shape: the style family, see `FAMILIES`) and then everything else at
random: colours, bezel, ticks, second hand, logo text, glare, shadow, perspective tilt up to 45°,
in-plane rotation, occlusion, blur, noise, JPEG, and a procedural or photographic background.

Style families can be held out whole (`HELD_OUT_FAMILIES`): training never draws them, the bench
renders only them, so "unseen style" accuracy is measured rather than claimed.

Everything is numpy + OpenCV, one image ≈ 1–2 ms at 128 px, fast enough to render on the fly.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .common import background as _background
from .common import photometric as _photometric
from .common import random_color as _color

DIALS = ("round", "square", "octagon")
NUMERALS = ("arabic", "roman", "ticks", "bare")  # ticks: marks only; bare: a few dots or nothing
HANDS = ("baton", "arrow", "leaf", "skeleton", "tapered")
FAMILIES: tuple[tuple[str, str, str], ...] = tuple(itertools.product(DIALS, NUMERALS, HANDS))
# Twelve of the sixty (dial, numerals, hands) combinations never appear in training. Every single
# value still appears in training in other combinations: the test is of new *combinations* of parts,
# plus unseen colours, seeds and backgrounds.
HELD_OUT_FAMILIES: frozenset[tuple[str, str, str]] = frozenset({
    ("round", "roman", "leaf"), ("round", "bare", "skeleton"), ("round", "ticks", "tapered"),
    ("square", "arabic", "skeleton"), ("square", "roman", "arrow"), ("square", "bare", "baton"),
    ("octagon", "arabic", "leaf"), ("octagon", "ticks", "arrow"), ("octagon", "roman", "tapered"),
    ("round", "arabic", "arrow"), ("square", "ticks", "leaf"), ("octagon", "bare", "baton"),
})
TRAIN_FAMILIES = tuple(f for f in FAMILIES if f not in HELD_OUT_FAMILIES)
TEST_FAMILIES = tuple(f for f in FAMILIES if f in HELD_OUT_FAMILIES)

ROMAN = ("XII", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI")
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
         cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_COMPLEX_SMALL)
SPINE_POINTS = 25      # points sampled along each hand to judge what an occluder hides
MAX_HIDDEN = 1 / 3     # the most of a hand's length an occluder may cover (its tip never)
OCCLUDER_TRIES = 8
MAX_TURN = 25.0     # degrees a clock that shows "up" may be turned in a photo (the benchmark's range)
UPRIGHT_TURN = 8.0  # degrees for one that does not: it hangs upright, as on a real wall
WORDS = ("QUARTZ", "SWISS", "TIME", "OFFICE", "IKEA", "SEIKO", "CITIZEN", "ACME", "MADE IN", "1984", "KIENZLE")


@dataclass
class ClockSample:
    image: np.ndarray  # HxWx3 uint8 RGB
    hour: int          # 0..11 (0 is 12 o'clock)
    minute: int        # 0..59
    family: tuple[str, str, str]
    # What the occluder did: "none" (no occluder drawn), "kept" (its first place leaves the hands
    # readable), "moved" (placed again until it did), "dropped" (no readable place found).
    occluder: str = "none"
    mask: np.ndarray | None = None  # HxW bool: the clock's dial (for pasting it into a scene)


# ------------------------------------------------------------------------------------------- the face

def _dial_polygon(shape: str, c: float, r: float, rot: float) -> np.ndarray | None:
    if shape == "round":
        return None
    n = 4 if shape == "square" else 8
    start = math.pi / 4 if shape == "square" else math.pi / 8
    rr = r / math.cos(math.pi / n) if shape == "square" else r / math.cos(math.pi / n)
    pts = [(c + rr * math.cos(start + rot + 2 * math.pi * i / n), c + rr * math.sin(start + rot + 2 * math.pi * i / n))
           for i in range(n)]
    return np.array(pts, np.float32)


def _fill_dial(img: np.ndarray, mask: np.ndarray, shape: str, c: float, r: float, color: tuple[int, int, int],
               rounded: bool) -> None:
    poly = _dial_polygon(shape, c, r, 0.0)
    sh = 4  # fixed-point shift for sub-pixel drawing
    if poly is None:
        cv2.circle(img, (int(c * 16), int(c * 16)), int(r * 16), color, -1, cv2.LINE_AA, sh)
        cv2.circle(mask, (int(c * 16), int(c * 16)), int(r * 16), 255, -1, cv2.LINE_AA, sh)
        return
    p = (poly * 16).astype(np.int32)
    cv2.fillPoly(img, [p], color, cv2.LINE_AA, sh)
    cv2.fillPoly(mask, [p], 255, cv2.LINE_AA, sh)
    if rounded:
        k = max(3, int(r * 0.15) | 1)
        mask[:] = cv2.GaussianBlur(mask, (k, k), 0)
        mask[:] = np.where(mask > 127, 255, 0).astype(np.uint8)
        mask[:] = cv2.GaussianBlur(mask, (3, 3), 0)


def _hand_polygon(kind: str, c: float, angle: float, length: float, width: float, tail: float) -> np.ndarray:
    """Outline of a hand pointing at `angle` (radians, 0 = 12 o'clock, clockwise) in face pixels."""
    d = np.array([math.sin(angle), -math.cos(angle)])  # direction of the tip (y grows downwards)
    n = np.array([d[1], -d[0]])                        # sideways
    o = np.array([c, c])
    w = width / 2
    if kind == "baton":
        pts = [o - d * tail + n * w, o + d * length + n * w, o + d * length - n * w, o - d * tail - n * w]
    elif kind == "arrow":
        shaft = length * 0.78
        pts = [o - d * tail + n * w * 0.6, o + d * shaft + n * w * 0.6, o + d * shaft + n * w * 2.0, o + d * length,
               o + d * shaft - n * w * 2.0, o + d * shaft - n * w * 0.6, o - d * tail - n * w * 0.6]
    elif kind == "leaf":
        ts = np.linspace(0, 1, 9)
        side = [o + d * (t * length) + n * (w * 1.4 * math.sin(math.pi * t ** 0.8)) for t in ts]
        other = [o + d * (t * length) - n * (w * 1.4 * math.sin(math.pi * t ** 0.8)) for t in ts[::-1]]
        pts = [o - d * tail, *side, *other]
    else:  # tapered (skeleton uses the same outline, drawn unfilled)
        pts = [o - d * tail + n * w * 1.4, o + d * length + n * w * 0.15, o + d * length - n * w * 0.15,
               o - d * tail - n * w * 1.4]
    return np.array(pts, np.float32)


def _draw_hand(img: np.ndarray, kind: str, c: float, angle: float, length: float, width: float, tail: float,
               color: tuple[int, int, int], outline: tuple[int, int, int] | None) -> None:
    shape = "leaf" if kind == "skeleton" else kind
    poly = (_hand_polygon(shape, c, angle, length, max(width, 1.5) * (1.3 if kind == "skeleton" else 1.0), tail)
            * 16).astype(np.int32)
    if kind == "skeleton":  # open outline with a thin spine
        cv2.polylines(img, [poly], True, color, max(1, int(round(width * 0.45))), cv2.LINE_AA, 4)
        return
    cv2.fillPoly(img, [poly], color, cv2.LINE_AA, 4)
    if outline is not None:
        cv2.polylines(img, [poly], True, outline, 1, cv2.LINE_AA, 4)


def _put_text_centered(img: np.ndarray, text: str, center: tuple[float, float], font: int, scale: float,
                       color: tuple[int, int, int], thick: int) -> None:
    (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
    org = (int(round(center[0] - tw / 2)), int(round(center[1] + th / 2)))
    cv2.putText(img, text, org, font, scale, color, thick, cv2.LINE_AA)


def _marks_show_up(family: tuple[str, str, str]) -> bool:
    """Whether the dial itself shows which way is up, logo aside: numerals do, and so does a square or
    octagonal outline with marks (a square repeats every 90°; an octagon every 45°, but with marks every
    30° the pair repeats every 90°). Far more than any turn drawn here; unmarked dials stay upright."""
    dial, numerals, _ = family
    return numerals in ("arabic", "roman") or dial != "round"


def _face(rng: np.random.Generator, size: int, hour: int, minute: int, second: float,
          family: tuple[str, str, str]) -> tuple[np.ndarray, np.ndarray, bool, np.ndarray]:
    """An upright clock face (RGB), its alpha mask, whether the face itself shows which way is up, and
    points along the hour and minute hands, pivot to tip ((2, SPINE_POINTS, 2), face pixels).

    A round dial with only ticks (or dots) looks the same turned by 30°: unless numerals or a logo
    mark "up", its rotation in a photo cannot be read from the face, and `render_clock` keeps it upright.
    """
    dial, numerals, hands = family
    img = np.zeros((size, size, 3), np.uint8)
    mask = np.zeros((size, size), np.uint8)
    c = size / 2
    r = size * 0.48
    dark_face = rng.random() < 0.18
    face_col = _color(rng, light=not dark_face)
    ink = _color(rng, light=dark_face)
    bezel_w = rng.uniform(0, 0.12) * r if rng.random() < 0.75 else 0.0
    rounded = dial != "round" and rng.random() < 0.5
    if bezel_w > 0:  # bezel colour first, the face drawn over it
        _fill_dial(img, mask, dial, c, r, _color(rng), rounded)
        _fill_dial(img, np.zeros_like(mask), dial, c, r - bezel_w, face_col, False)
    else:
        _fill_dial(img, mask, dial, c, r, face_col, rounded)
    r_in = r - bezel_w
    if rng.random() < 0.25:  # an inner ring line
        cv2.circle(img, (int(c * 16), int(c * 16)), int(r_in * rng.uniform(0.7, 0.97) * 16), ink, 1, cv2.LINE_AA, 4)

    # Marks. For square/octagon dials the marks sit on a circle or follow the outline.
    hug = dial != "round" and rng.random() < 0.5

    def rim(frac_angle: float, frac_r: float) -> tuple[float, float]:
        a = 2 * math.pi * frac_angle
        rr = r_in * frac_r
        if hug:  # push marks out towards the polygon edge
            n = 4 if dial == "square" else 8
            start = math.pi / 4 if dial == "square" else math.pi / 8
            phi = (a - math.pi / 2 - start) % (2 * math.pi / n) - math.pi / n
            rr = rr / max(0.7, math.cos(phi)) * math.cos(math.pi / n)
        return c + rr * math.sin(a), c - rr * math.cos(a)

    tick_style = numerals if numerals in ("ticks", "bare") else rng.choice(["ticks", "none", "dots"], p=[0.6, 0.25, 0.15])
    if tick_style == "ticks":
        minute_ticks = rng.random() < 0.6
        long_len = rng.uniform(0.06, 0.18)
        lw = max(1, int(round(r_in * rng.uniform(0.015, 0.06))))
        for i in range(60 if minute_ticks else 12):
            major = i % 5 == 0 if minute_ticks else True
            if not major and not minute_ticks:
                continue
            f = i / (60 if minute_ticks else 12)
            l_in = 0.92 - (long_len if major else long_len * 0.35)
            p0, p1 = rim(f, l_in), rim(f, 0.92)
            cv2.line(img, (int(p0[0] * 16), int(p0[1] * 16)), (int(p1[0] * 16), int(p1[1] * 16)), ink,
                     lw if major else max(1, lw // 2), cv2.LINE_AA, 4)
    elif tick_style in ("dots", "bare"):
        if tick_style == "dots" or rng.random() < 0.6:
            every = 1 if rng.random() < 0.5 else 3  # bare dials may show only the quarters
            rad = r_in * rng.uniform(0.02, 0.05)
            for i in range(0, 12, every):
                p = rim(i / 12, 0.86)
                cv2.circle(img, (int(p[0] * 16), int(p[1] * 16)), max(16, int(rad * 16)), ink, -1, cv2.LINE_AA, 4)
    if numerals in ("arabic", "roman"):
        font = int(rng.choice(FONTS))
        quarters = rng.random() < 0.2
        frac_r = rng.uniform(0.62, 0.78)
        target_h = r_in * rng.uniform(0.13, 0.22)
        scale = target_h / max(1, cv2.getTextSize("8", font, 1.0, 1)[0][1])
        thick = max(1, int(round(scale * rng.uniform(1, 2.5))))
        for i in range(12):
            if quarters and i % 3:
                continue
            text = (str(12 if i == 0 else i)) if numerals == "arabic" else ROMAN[i]
            s = scale * (0.75 if numerals == "roman" and len(text) > 2 else 1.0)
            _put_text_centered(img, text, rim(i / 12, frac_r), font, s, ink, thick)
    logo = rng.random() < 0.4
    if logo:  # brand text: on a numeral-less face it is what shows which way is up
        word = str(rng.choice(WORDS))
        font = int(rng.choice(FONTS))
        s = r_in * 0.09 / max(1, cv2.getTextSize("A", font, 1.0, 1)[0][1])
        _put_text_centered(img, word, (c, c + r_in * rng.choice([-0.35, 0.4])), font, s, ink, 1)

    # Hands: hour shorter and wider than minute (as on nearly every real clock).
    hand_col = ink if rng.random() < 0.8 else _color(rng, light=dark_face)
    outline = _color(rng) if rng.random() < 0.15 else None
    m_len = r_in * rng.uniform(0.68, 0.92)
    h_len = m_len * rng.uniform(0.52, 0.72)
    m_w = r_in * rng.uniform(0.025, 0.07)
    h_w = m_w * rng.uniform(1.1, 1.8)
    tail = r_in * rng.uniform(0.0, 0.2)
    # The label is the minute mark the minute hand is nearest to, as people read a clock: `second` is in
    # [-30, 30), so 10:10 is drawn anywhere from 10:09:30 to 10:10:29.
    a_min = 2 * math.pi * (minute + second / 60) / 60
    a_hour = 2 * math.pi * ((hour % 12) + (minute + second / 60) / 60) / 12
    _draw_hand(img, hands, c, a_hour, h_len, h_w, tail, hand_col, outline)
    _draw_hand(img, hands, c, a_min, m_len, m_w, tail, hand_col, outline)
    if rng.random() < 0.45:  # second hand: thin, long, often red, with a counterweight tail
        sec_col = (int(rng.integers(170, 256)), int(rng.integers(0, 60)), int(rng.integers(0, 60))) \
            if rng.random() < 0.7 else _color(rng)
        a_sec = 2 * math.pi * second / 60
        p0 = (c - math.sin(a_sec) * r_in * 0.2, c + math.cos(a_sec) * r_in * 0.2)
        p1 = (c + math.sin(a_sec) * r_in * rng.uniform(0.8, 0.95), c - math.cos(a_sec) * r_in * rng.uniform(0.8, 0.95))
        cv2.line(img, (int(p0[0] * 16), int(p0[1] * 16)), (int(p1[0] * 16), int(p1[1] * 16)), sec_col,
                 max(1, int(r_in * 0.012)), cv2.LINE_AA, 4)
    cap = r_in * rng.uniform(0.02, 0.08)
    cv2.circle(img, (int(c * 16), int(c * 16)), int(cap * 16), hand_col, -1, cv2.LINE_AA, 4)
    # Square and octagonal outlines repeat every 90° / 45°, which a 25° turn never reaches.
    shows_up = logo or _marks_show_up(family)
    t = np.linspace(0, 1, SPINE_POINTS)[:, None]
    spines = np.stack([c + t * length * np.array([math.sin(a), -math.cos(a)])
                       for a, length in ((a_hour, h_len), (a_min, m_len))]).astype(np.float32)
    return img, mask, shows_up, spines


# ------------------------------------------------------------------------------------------- geometry

def _tilt_homography(rng: np.random.Generator, size: int, max_tilt: float, max_rot: float,
                     scale: float, center: tuple[float, float]) -> np.ndarray:
    """Face canvas → image: in-plane rotation, 3D tilt (perspective) and placement."""
    c = size / 2
    tilt = math.radians(rng.uniform(0, max_tilt))
    axis = rng.uniform(0, 2 * math.pi)
    rot = math.radians(rng.uniform(-max_rot, max_rot))
    # Rodrigues rotation about an in-plane axis, then rotation about the view axis.
    k = np.array([math.cos(axis), math.sin(axis), 0.0])
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    r_tilt = np.eye(3) + math.sin(tilt) * kx + (1 - math.cos(tilt)) * kx @ kx
    r_z = np.array([[math.cos(rot), -math.sin(rot), 0], [math.sin(rot), math.cos(rot), 0], [0, 0, 1]])
    rmat = r_z @ r_tilt
    src = np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float32)
    f = size * rng.uniform(1.5, 4.0)  # focal length; the face sits at distance f
    dst = []
    for x, y in src:
        p = rmat @ np.array([x - c, y - c, 0.0])
        z = f + p[2]
        dst.append([p[0] * f / z, p[1] * f / z])
    d = np.array(dst, np.float32) * scale
    d += np.array(center, np.float32)
    return cv2.getPerspectiveTransform(src, d.astype(np.float32))


# ----------------------------------------------------------------------------------------- the render

def render_clock(rng: np.random.Generator, size: int = 128, hour: int | None = None, minute: int | None = None,
                 family: tuple[str, str, str] | None = None, families: Sequence[tuple[str, str, str]] = TRAIN_FAMILIES,
                 photos: Sequence[np.ndarray] = (), max_tilt: float = 45.0, max_turn: float = MAX_TURN) -> ClockSample:
    """One clock photo. Unset hour/minute/family are drawn at random (family from `families`).
    `max_turn`: the most a clock whose face shows "up" is turned in the photo, in degrees."""
    hour = int(rng.integers(12)) if hour is None else hour % 12
    minute = int(rng.integers(60)) if minute is None else minute
    family = families[int(rng.integers(len(families)))] if family is None else family
    second = float(rng.uniform(-30, 30))  # seconds past the labelled minute mark (see _face)
    face_px = 2 * size  # draw the face at twice the output size: the warp then antialiases it
    face, mask, shows_up, spines = _face(rng, face_px, hour, minute, second, family)
    has_marks = family[1] != "bare"
    # Where the face does not show "up" (no marks at all, or a round dial whose marks repeat every 30°),
    # only the photo's orientation does: such clocks stay nearly upright, as they hang on real walls.
    # A 25° turn of a round ticks-only dial would read the same as -5°: a label no one could see.
    # A turn past MAX_TURN is only drawn where numerals or a polygon outline show "up": where a small logo
    # word is the only sign, ticks every 30° would make 35° look like 5°, and the net learns to doubt
    # every ticks-only dial (measured 2026-11-28: trained to 35° on all of them, upright ones fell from 96.5% to 83%).
    if not (has_marks and shows_up):
        max_rot = UPRIGHT_TURN
    elif _marks_show_up(family):
        max_rot = max_turn
    else:
        max_rot = min(max_turn, MAX_TURN)
    diam = size * rng.uniform(0.6, 0.98)
    scale = diam / face_px
    margin = (size - diam) / 2
    center = (size / 2 + rng.uniform(-margin, margin) * 0.8, size / 2 + rng.uniform(-margin, margin) * 0.8)
    hmat = _tilt_homography(rng, face_px, max_tilt, max_rot, scale, center)
    bg = _background(rng, size, photos)
    if rng.random() < 0.5:  # drop shadow: the mask, offset and blurred, darkens the background
        sh = cv2.warpPerspective(mask, hmat, (size, size)).astype(np.float32) / 255
        dx, dy = rng.integers(-6, 7, 2)
        sh = np.roll(sh, (int(dy), int(dx)), axis=(0, 1))
        sh = cv2.GaussianBlur(sh, (0, 0), rng.uniform(1, 4))
        bg = (bg * (1 - 0.6 * rng.uniform(0.3, 1) * sh[..., None])).astype(np.uint8)
    warped = cv2.warpPerspective(face, hmat, (size, size), flags=cv2.INTER_AREA if scale < 0.5 else cv2.INTER_LINEAR)
    alpha = cv2.warpPerspective(mask, hmat, (size, size), flags=cv2.INTER_LINEAR).astype(np.float32)[..., None] / 255
    img = warped * alpha + bg * (1 - alpha)
    if rng.random() < 0.4:  # glare: a soft bright ellipse over the glass
        g = np.zeros((size, size), np.float32)
        cxy = (int(rng.integers(0, size)), int(rng.integers(0, size)))
        axes = (int(rng.integers(size // 10, size // 2)), int(rng.integers(size // 20, size // 4)))
        cv2.ellipse(g, cxy, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        g = cv2.GaussianBlur(g, (0, 0), size / 15) * alpha[..., 0]
        img = img + g[..., None] * rng.uniform(60, 200)
    occluder = "none"
    if rng.random() < 0.25:  # partial occlusion by some object in front, never hiding the time
        hands = cv2.perspectiveTransform(spines.reshape(1, -1, 2), hmat).reshape(spines.shape)
        occluder = _occlude(rng, img, hands)
    img = _photometric(rng, np.clip(img, 0, 255).astype(np.float32))
    return ClockSample(img, hour, minute, family, occluder, alpha[..., 0] > 0.5)


def _occlude(rng: np.random.Generator, img: np.ndarray, hands: np.ndarray) -> str:
    """Draw one occluding blob where it leaves both hands readable: each hand's tip visible and at
    most MAX_HIDDEN of its length covered. A clock whose minute hand is hidden has a label no one could
    read (and with its tip hidden, the minute hand looks as short as the hour hand), so such renders
    only teach noise and cap any benchmark below what a person could score. Up to OCCLUDER_TRIES places
    are drawn; the first try consumes the random stream as the renderer always did."""
    size = img.shape[0]
    occ = _color(rng)
    for attempt in range(OCCLUDER_TRIES):
        p = rng.integers(0, size, 2)
        s = rng.integers(size // 10, size // 4, 2)
        if rng.random() < 0.5:
            def draw(target: np.ndarray, color: tuple) -> None:
                cv2.rectangle(target, (int(p[0]), int(p[1])), (int(p[0] + s[0]), int(p[1] + s[1])), color, -1)
        else:
            angle = float(rng.uniform(0, 180))

            def draw(target: np.ndarray, color: tuple) -> None:
                cv2.ellipse(target, (int(p[0]), int(p[1])), (int(s[0]), int(s[1] // 2)), angle, 0, 360, color, -1,
                            cv2.LINE_AA)
        blob = np.zeros(img.shape[:2], np.uint8)
        draw(blob, (255,))
        if hands_readable(blob > 127, hands):
            draw(img, occ)
            return "kept" if attempt == 0 else "moved"
    return "dropped"


def hands_readable(blob: np.ndarray, hands: np.ndarray) -> bool:
    """Whether a person could still read both hands past an occluder `blob` (HxW bool, True = covered):
    `hands` holds points along each hand, pivot to tip, in image pixels."""
    h, w = blob.shape
    for spine in hands:
        xy = np.round(spine).astype(int)
        inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
        covered = np.zeros(len(xy), bool)
        covered[inside] = blob[xy[inside, 1], xy[inside, 0]]
        if covered[-1] or covered.mean() > MAX_HIDDEN:
            return False
    return True


def time_str(hour: int, minute: int) -> str:
    """12-hour clock text: hour 0 is shown as 12."""
    return f"{12 if hour % 12 == 0 else hour % 12}:{minute:02d}"
