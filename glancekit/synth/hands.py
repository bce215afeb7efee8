"""Synthetic hands: an articulated 3D hand, posed (randomly or into a named gesture), seen from a random
camera, rendered with shaded tapered segments over a background, with exact 2D keypoints.

There is no real keypoint data with human labels here, so the keypoint model and the gesture classifier
learn from these renders. The hand model, in its own frame (units: palm length = wrist → middle MCP):

    +y  from the wrist towards the fingers      +x  towards the thumb (right hand; mirrored for left)
    +z  the palm normal (the side the palm faces; fingers flex towards +z)

Each finger is an MCP on the palm with an abduction angle and three flexion angles (MCP, PIP, DIP);
flexion is cumulative in the plane of the finger and the palm normal. The thumb starts at its CMC with
an opposition angle (towards the palm) and flexes across the palm. Bone lengths follow typical adult
proportions; angles stay within joint limits. Keypoint order: 0 wrist; 1–4 thumb CMC, MCP, IP, tip;
5–8 index MCP, PIP, DIP, tip; 9–12 middle; 13–16 ring; 17–20 little.

Visibility: elements are painted far to near; a keypoint is visible when, at its pixel, the nearest
painted element is one that meets at that joint (so a fingertip hidden behind the palm is not).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .common import background, photometric, random_color

GESTURES = ("one", "two", "three", "four", "five", "like", "dislike", "ok", "fist")
FINGERS = ("thumb", "index", "middle", "ring", "little")
# MCP positions on the palm (x, y) and phalanx lengths (proximal, middle, distal), palm length = 1.
MCP = {"index": (0.24, 0.94), "middle": (0.0, 1.0), "ring": (-0.21, 0.95), "little": (-0.4, 0.85)}
LENGTHS = {"thumb": (0.46, 0.33, 0.27), "index": (0.45, 0.26, 0.2), "middle": (0.5, 0.3, 0.21),
           "ring": (0.47, 0.29, 0.21), "little": (0.37, 0.21, 0.19)}
WIDTH = {"thumb": 0.115, "index": 0.1, "middle": 0.1, "ring": 0.095, "little": 0.085}  # radius at the base
THUMB_CMC = (0.2, 0.22)
SKIN = np.array([[255, 224, 196], [241, 194, 167], [224, 172, 138], [198, 134, 98], [160, 104, 70],
                 [120, 76, 50], [90, 56, 38]], np.float32)
# Segments (a, b) between keypoints, and the keypoints each element touches (for visibility).
BONES = [(1, 2), (2, 3), (3, 4), (5, 6), (6, 7), (7, 8), (9, 10), (10, 11), (11, 12), (13, 14), (14, 15),
         (15, 16), (17, 18), (18, 19), (19, 20)]
SKELETON = [(0, 1), *BONES[:3], (0, 5), *BONES[3:6], (5, 9), *BONES[6:9], (9, 13), *BONES[9:12], (13, 17), (0, 17),
            *BONES[12:]]


@dataclass
class HandPose:
    """Joint angles in degrees. fingers: name → (abduction, mcp, pip, dip); thumb: (opposition, spread,
    mcp, ip)."""

    thumb: tuple[float, float, float, float]
    fingers: dict[str, tuple[float, float, float, float]]


@dataclass
class HandSample:
    image: np.ndarray        # HxWx3 uint8 RGB
    keypoints: np.ndarray    # (21, 3) float32: x, y in pixels, visibility 0/1
    gesture: str             # one of GESTURES, or "random"
    left: bool
    mask: np.ndarray | None = None  # HxW bool: the hand and its forearm (for pasting it into a scene)


# ------------------------------------------------------------------------------------------- poses

def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _extended(rng: np.random.Generator, abd: float) -> tuple[float, float, float, float]:
    return (abd + _u(rng, -4, 4), _u(rng, -5, 15), _u(rng, 0, 12), _u(rng, 0, 10))


def _curled(rng: np.random.Generator) -> tuple[float, float, float, float]:
    return (_u(rng, -3, 3), _u(rng, 70, 95), _u(rng, 85, 110), _u(rng, 40, 75))


def pose_for(gesture: str, rng: np.random.Generator) -> HandPose:
    """Joint angles for a named gesture (with natural variation), or random within joint limits."""
    spread = {"index": 8.0, "middle": 0.0, "ring": -7.0, "little": -15.0}
    tucked = (_u(rng, 20, 40), _u(rng, 15, 30), _u(rng, 35, 60), _u(rng, 30, 60))
    out = (_u(rng, 0, 20), _u(rng, 35, 55), _u(rng, 0, 15), _u(rng, 0, 15))
    ext = {"one": ("index",), "two": ("index", "middle"), "three": ("index", "middle", "ring"),
           "four": ("index", "middle", "ring", "little"), "five": ("index", "middle", "ring", "little"),
           "like": (), "dislike": (), "fist": (), "ok": ("middle", "ring", "little")}
    if gesture == "random":
        thumb = (_u(rng, 0, 70), _u(rng, 10, 55), _u(rng, 0, 50), _u(rng, 0, 70))
        fingers = {f: (s * _u(rng, 0, 1.6), _u(rng, -10, 95), _u(rng, 0, 110), _u(rng, 0, 80)) for f, s in spread.items()}
        return HandPose(thumb, fingers)
    fingers = {f: (_extended(rng, s * (1.3 if gesture == "five" else 0.6)) if f in ext[gesture] else _curled(rng))
               for f, s in spread.items()}
    if gesture in ("five", "like", "dislike"):
        thumb = out
    elif gesture == "fist":
        thumb = (_u(rng, 15, 30), _u(rng, 25, 40), _u(rng, 35, 55), _u(rng, 25, 45))
    elif gesture == "ok":
        fingers["index"] = (_u(rng, -2, 4), _u(rng, 30, 50), _u(rng, 45, 70), _u(rng, 25, 45))
        thumb = _ok_thumb(fingers, rng)
    else:
        thumb = tucked
    return HandPose(thumb, fingers)


def _ok_thumb(fingers: dict[str, tuple[float, float, float, float]], rng: np.random.Generator
              ) -> tuple[float, float, float, float]:
    """The thumb angles (from a small grid) that bring the thumb tip closest to the index tip."""
    best, best_d = None, 1e9
    index_tip = _finger_points("index", fingers["index"])[-1]
    for opp in (25, 35, 45, 55, 65):
        for spread in (20, 30, 40, 50):
            for mcp in (0, 15, 30):
                for ip in (0, 20, 40):
                    t = (opp, spread, mcp, ip)
                    d = float(np.linalg.norm(_thumb_points(t)[-1] - index_tip))
                    if d < best_d:
                        best, best_d = t, d
    assert best is not None
    return tuple(v + _u(rng, -3, 3) for v in best)  # type: ignore[return-value]


# ------------------------------------------------------------------------------------- kinematics

def _finger_points(name: str, angles: tuple[float, float, float, float]) -> np.ndarray:
    abd, *flex = angles
    base = np.array([*MCP[name], 0.0])
    a = math.radians(abd)
    d = np.array([math.sin(a), math.cos(a), 0.0])  # abduction: towards +x (thumb side) for positive
    z = np.array([0.0, 0.0, 1.0])
    pts, theta = [base], 0.0
    for length, f in zip(LENGTHS[name], flex):
        theta += math.radians(f)
        pts.append(pts[-1] + length * (d * math.cos(theta) + z * math.sin(theta)))
    return np.array(pts)


def _thumb_points(angles: tuple[float, float, float, float]) -> np.ndarray:
    opp, spread, mcp, ip = (math.radians(v) for v in angles)
    cmc = np.array([*THUMB_CMC, 0.0])
    # Rest direction: up and out (spread from +y towards +x), then opposed towards the palm side.
    rest = np.array([math.sin(spread), math.cos(spread), 0.0])
    d = rest * math.cos(opp) + np.array([0.0, 0.0, 1.0]) * math.sin(opp)
    # Flexion bends the thumb across the palm: towards -x and +z.
    across = np.array([-0.9, 0.05, 0.3])
    across -= d * float(d @ across)
    across /= np.linalg.norm(across)
    pts, theta = [cmc], 0.0
    for length, f in zip(LENGTHS["thumb"], (0.0, mcp, ip)):
        theta += f
        pts.append(pts[-1] + length * (d * math.cos(theta) + across * math.sin(theta)))
    return np.array(pts)


def hand_points(pose: HandPose, left: bool = False) -> np.ndarray:
    """21 keypoints in the hand's own frame (mirrored in x for a left hand)."""
    pts = [np.zeros(3), *_thumb_points(pose.thumb)]
    for name in FINGERS[1:]:
        pts.extend(_finger_points(name, pose.fingers[name]))
    out = np.array(pts)
    if left:
        out[:, 0] *= -1
    return out


def _rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = math.cos(rx), math.sin(rx), math.cos(ry), math.sin(ry), math.cos(rz), math.sin(rz)
    rxm = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rym = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rzm = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rzm @ rxm @ rym


# -------------------------------------------------------------------------------------- rendering

def render_hand(rng: np.random.Generator, size: int = 128, gesture: str | None = None,
                gestures: Sequence[str] = (*GESTURES, "random"), photos: Sequence[np.ndarray] = (),
                left: bool | None = None, facing: float | None = None) -> HandSample:
    """One hand crop: the hand fills most of the image (as a detector's crop would).

    `facing`: None = any view, edge-on included (keypoints must cope with those); a number = the palm or
    the back of the hand turned at most that many degrees away from the camera, and tilted at most
    two thirds of it. A gesture is shown to a camera that way; seen edge-on, a "four" and a "five" or a
    "two" and a "three" are the same picture, and no label could be right."""
    gesture = gesture or str(gestures[int(rng.integers(len(gestures)))])
    left = bool(rng.random() < 0.5) if left is None else left
    pose = pose_for(gesture, rng)
    local = hand_points(pose, left)
    # Camera orientation. Image y grows downwards, so "fingers up" means the hand's +y maps to image -y.
    # Palm towards or away from the camera (ry), tilt (rx), and in-plane roll (rz).
    if facing is None:
        ry = math.radians(_u(rng, -180, 180))
        rx = math.radians(_u(rng, -50, 50))
    else:
        ry = math.radians(_u(rng, -facing, facing) + (180 if rng.random() < 0.5 else 0))
        rx = math.radians(_u(rng, -facing, facing) * 2 / 3)
    if gesture in ("like", "dislike"):
        rz = 0.0  # set below from the thumb's direction
    elif gesture == "random":
        rz = math.radians(_u(rng, -180, 180))
    else:
        rz = math.radians(_u(rng, -40, 40))
    flip_y = np.diag([1.0, -1.0, -1.0])  # hand frame (+y up, +z to camera) → camera frame (+y down, +z away)
    rot = flip_y @ _rotation(rx, ry, rz)
    if gesture in ("like", "dislike"):
        tdir = rot @ (local[4] - local[2])
        want = -math.pi / 2 if gesture == "like" else math.pi / 2  # image angle of "up" / "down"
        roll = want - math.atan2(tdir[1], tdir[0]) + math.radians(_u(rng, -25, 25))
        rot = _rotation(0, 0, roll) @ rot
    cam = local @ rot.T
    dist = _u(rng, 4.0, 9.0)
    cam[:, 2] += dist
    # Geometry of everything that gets drawn, in camera space: the palm polygon, the forearm, the bones.
    wrist_w = 0.27
    palm_local = np.array([[wrist_w, 0, 0], [THUMB_CMC[0] + 0.08, THUMB_CMC[1] + 0.05, 0],
                           [MCP["index"][0] + 0.06, MCP["index"][1] - 0.02, 0], [*MCP["middle"], 0],
                           [*MCP["ring"], 0], [MCP["little"][0] - 0.05, MCP["little"][1] - 0.04, 0],
                           [-wrist_w - 0.02, 0.05, 0]], dtype=np.float64)
    arm_len = _u(rng, 1.2, 2.2)
    arm_local = np.array([[wrist_w * 0.95, 0.05, 0], [-wrist_w * 0.95, 0.05, 0], [-wrist_w * 1.2, -arm_len, 0],
                          [wrist_w * 1.2, -arm_len, 0]])
    if left:
        palm_local[:, 0] *= -1
        arm_local[:, 0] *= -1
    palm_cam = palm_local @ rot.T + np.array([0, 0, dist])
    arm_cam = arm_local @ rot.T + np.array([0, 0, dist])
    f = 1.0

    def project(p: np.ndarray) -> np.ndarray:
        return f * p[..., :2] / p[..., 2:3]

    kp2 = project(cam)
    # Fit the hand (keypoints plus a finger's width) into the crop with a random margin and offset.
    lo, hi = kp2.min(0), kp2.max(0)
    extent = float((hi - lo).max()) + 0.25 / dist
    scale = size * _u(rng, 0.62, 0.88) / extent
    centre = (lo + hi) / 2
    shift = rng.uniform(-0.08, 0.08, 2) * size
    to_img = lambda p: (p - centre) * scale + size / 2 + shift  # noqa: E731
    kp_img = to_img(kp2)
    palm_img, arm_img = to_img(project(palm_cam)), to_img(project(arm_cam))

    img = background(rng, size, photos).astype(np.float32)
    skin = SKIN[int(rng.integers(len(SKIN)))] * rng.uniform(0.9, 1.08, 3)
    light = rng.normal(size=3)
    light[2] = -abs(light[2]) - 0.5  # light comes from the camera's side
    light /= np.linalg.norm(light)
    ids = np.zeros((size, size), np.uint16)
    elements: list[tuple[float, str, object, tuple[int, ...]]] = []  # depth, kind, geometry, touched keypoints
    palm_normal = rot @ np.array([0, 0, 1.0])
    facing = float(-palm_normal[2])  # > 0: palm towards the camera
    elements.append((float(palm_cam[:, 2].mean()) + 0.02, "palm", palm_img, (0, 1, 5, 9, 13, 17)))
    sleeve = rng.random() < 0.7
    elements.append((float(arm_cam[:, 2].mean()) + 0.05, "arm", arm_img, (0,)))
    for a, b in BONES:
        name = FINGERS[(a - 1) // 4]
        k = (a - 1) % 4  # 0 = base segment
        r0 = WIDTH[name] * (1 - 0.12 * k)
        elements.append((float((cam[a, 2] + cam[b, 2]) / 2), "bone", (a, b, r0, r0 * 0.9), (a, b)))
    sleeve_col = np.array(random_color(rng), np.float32)
    order = sorted(elements, key=lambda e: -e[0])  # far to near: painter's algorithm
    for eid, (_, kind, geom, _) in enumerate(order, start=1):
        if kind == "palm":
            poly = (np.asarray(geom) * 16).astype(np.int32)
            col = skin * (0.78 + 0.22 * abs(facing)) * (1.0 if facing > 0 else 0.93)
            _fill(img, ids, [poly], col, eid)
        elif kind == "arm":
            poly = (np.asarray(geom) * 16).astype(np.int32)
            col = sleeve_col if sleeve else skin * 0.9
            _fill(img, ids, [poly], col, eid)
        elif kind == "bone":
            a, b, r0, r1 = geom  # type: ignore[misc]
            d3 = cam[b] - cam[a]
            shade = float(np.clip(-(np.cross(d3, [0, 0, 1.0]) @ light), -1, 1)) * 0.15
            pa, pb = kp_img[a], kp_img[b]
            ra, rb = r0 * scale * f / cam[a, 2], r1 * scale * f / cam[b, 2]
            _capsule(img, ids, pa, pb, ra, rb, skin * (0.62 + shade), eid, outline=True)
            _capsule(img, ids, pa, pb, ra * 0.8, rb * 0.8, skin * (0.92 + shade), eid, outline=False)
    # Visibility: the element on top at a keypoint's pixel must be one that touches that keypoint.
    vis = np.zeros(21, np.float32)
    touching: dict[int, set[int]] = {i: set() for i in range(21)}
    for eid, (_, _, _, touched) in enumerate(order, start=1):
        for k in touched:
            touching[k].add(eid)
    for k in range(21):
        x, y = int(round(kp_img[k, 0])), int(round(kp_img[k, 1]))
        if 0 <= x < size and 0 <= y < size:
            patch = ids[max(0, y - 1):y + 2, max(0, x - 1):x + 2]
            vis[k] = float(bool(touching[k] & set(int(v) for v in patch.ravel())))
    img = np.clip(img + rng.normal(0, 3, img.shape).astype(np.float32), 0, 255)
    out = photometric(rng, img)
    kps = np.concatenate([kp_img.astype(np.float32), vis[:, None]], 1)
    return HandSample(out, kps, gesture, left, ids > 0)


def _fill(img: np.ndarray, ids: np.ndarray, polys: list[np.ndarray], col: np.ndarray, eid: int) -> None:
    cv2.fillPoly(img, polys, tuple(float(c) for c in col), cv2.LINE_AA, 4)
    cv2.fillPoly(ids, polys, eid, cv2.LINE_8, 4)


def _capsule(img: np.ndarray, ids: np.ndarray, pa: np.ndarray, pb: np.ndarray, ra: float, rb: float,
             col: np.ndarray, eid: int, outline: bool) -> None:
    """A tapered segment: two discs joined by their tangent quadrilateral."""
    d = pb - pa
    n = np.array([-d[1], d[0]]) / max(1e-6, float(np.linalg.norm(d)))
    quad = np.array([pa + n * ra, pb + n * rb, pb - n * rb, pa - n * ra])
    c = tuple(float(v) for v in col)
    pts = [(quad * 16).astype(np.int32)]
    cv2.fillPoly(img, pts, c, cv2.LINE_AA, 4)
    for p, r in ((pa, ra), (pb, rb)):
        cv2.circle(img, (int(p[0] * 16), int(p[1] * 16)), max(16, int(r * 16)), c, -1, cv2.LINE_AA, 4)
    if outline:
        cv2.fillPoly(ids, pts, eid, cv2.LINE_8, 4)
        for p, r in ((pa, ra), (pb, rb)):
            cv2.circle(ids, (int(p[0] * 16), int(p[1] * 16)), max(16, int(r * 16)), eid, -1, cv2.LINE_8, 4)


def draw_skeleton(image: np.ndarray, keypoints: np.ndarray, radius: int = 2) -> np.ndarray:
    """The 21 points and their bones drawn on a copy of `image` (visible points filled, hidden hollow)."""
    out = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    colors = [(255, 255, 255), (255, 80, 80), (255, 200, 0), (80, 220, 80), (0, 180, 255), (200, 80, 255)]
    for a, b in SKELETON:
        c = colors[0 if a == 0 and b in (1, 5, 17) else 1 + (b - 1) // 4]
        pa, pb = keypoints[a, :2], keypoints[b, :2]
        cv2.line(out, (int(pa[0] * 16), int(pa[1] * 16)), (int(pb[0] * 16), int(pb[1] * 16)), c, 1, cv2.LINE_AA, 4)
    for k in range(21):
        c = colors[0 if k == 0 else 1 + (k - 1) // 4]
        visible = keypoints.shape[1] < 3 or keypoints[k, 2] > 0.5
        cv2.circle(out, (int(keypoints[k, 0] * 16), int(keypoints[k, 1] * 16)), radius * 16, c,
                   -1 if visible else 1, cv2.LINE_AA, 4)
    return out
