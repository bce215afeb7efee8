"""Batched augmentation on preprocessed tensors (B, C, H, W), shared by the tasks.

Done on whole batches with affine_grid/grid_sample instead of per-image PIL/OpenCV calls: on two CPU
cores that is what keeps augmentation from costing more than the training step.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _uniform(n: int, limit: float, device: torch.device) -> torch.Tensor:
    return (torch.rand(n, device=device) * 2 - 1) * limit


def random_affine_theta(x: torch.Tensor, degrees: float = 0.0, scale: float = 0.0, shear: float = 0.0,
                        shift_px: float = 0.0, hflip: float = 0.0) -> torch.Tensor:
    """Per-image random affine matrices (B, 2, 3) in affine_grid's convention (output → input, in
    normalised coordinates): rotation ±degrees, scale 1±scale, shear ±shear, shift ±shift_px, flip."""
    b, dev = x.shape[0], x.device
    ang = _uniform(b, math.radians(degrees), dev)
    sc = 1 + _uniform(b, scale, dev)
    sh = _uniform(b, shear, dev)
    tx = _uniform(b, shift_px * 2 / x.shape[-1], dev)
    ty = _uniform(b, shift_px * 2 / x.shape[-2], dev)
    flip = torch.where(torch.rand(b, device=dev) < hflip, -1.0, 1.0)
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    return torch.stack([torch.stack([cos * flip, -sin + sh * cos, tx], 1),
                        torch.stack([sin * flip, cos + sh * sin, ty], 1)], 1)


def random_affine_grid(x: torch.Tensor, degrees: float = 0.0, scale: float = 0.0, shear: float = 0.0,
                       shift_px: float = 0.0, hflip: float = 0.0) -> torch.Tensor:
    """A sampling grid for per-image random rotation (±degrees), scale (1±scale), shear (±shear),
    shift (±shift_px pixels) and horizontal flip (with probability hflip)."""
    theta = random_affine_theta(x, degrees, scale, shear, shift_px, hflip)
    return F.affine_grid(theta, list(x.shape), align_corners=False)


def map_points(theta: torch.Tensor, points: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Where pixel positions (B, K, 2) of the input land in the output sampled with `theta`: the
    inverse of theta's output → input map, so keypoints move exactly with their image."""
    u = (2 * points[..., 0] + 1) / width - 1
    v = (2 * points[..., 1] + 1) / height - 1
    a, t = theta[:, :, :2], theta[:, :, 2]
    inv = torch.linalg.inv(a)
    d = torch.stack([u, v], -1) - t[:, None, :]
    out = torch.einsum("bij,bkj->bki", inv, d)
    return torch.stack([((out[..., 0] + 1) * width - 1) / 2, ((out[..., 1] + 1) * height - 1) / 2], -1)


def elastic(grid: torch.Tensor, prob: float, strength: float, coarse: int = 4) -> torch.Tensor:
    """Add a smooth random displacement field (coarse noise, upsampled) to `grid` for a share of images."""
    b = grid.shape[0]
    noise = torch.randn(b, 2, coarse, coarse, device=grid.device) * strength
    noise = noise * (torch.rand(b, 1, 1, 1, device=grid.device) < prob)
    field = F.interpolate(noise, size=grid.shape[1:3], mode="bicubic", align_corners=False)
    return grid + field.permute(0, 2, 3, 1)


def sample(x: torch.Tensor, grid: torch.Tensor, padding: str = "zeros") -> torch.Tensor:
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=False)


def per_image(b: int, prob: float, device: torch.device) -> torch.Tensor:
    """A (B, 1, 1, 1) boolean mask: which images get an optional change."""
    return torch.rand(b, 1, 1, 1, device=device) < prob


def degrade(x: torch.Tensor, prob: float) -> torch.Tensor:
    """What cheap cameras and dim rooms do to a picture, each change to a share `prob` of the images of a
    (B, 3, H, W) batch in [-1, 1]: greyscale, darkening (gamma 1.2–2.5), blur (3x3 box) and sensor noise.
    Real sources differ from renders and from each other in these (a dark room, 128 px greyscale
    frames); the change is applied after the geometric ones, so points and boxes are untouched."""
    b, dev = x.shape[0], x.device
    if prob <= 0:
        return x
    grey = x.mean(1, keepdim=True).expand_as(x)
    x = torch.where(per_image(b, prob * 0.5, dev), grey, x)
    gamma = 1.2 + 1.3 * torch.rand(b, 1, 1, 1, device=dev)
    dark = ((x + 1) / 2).clamp(0, 1) ** gamma * 2 - 1
    x = torch.where(per_image(b, prob, dev), dark, x)
    blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    x = torch.where(per_image(b, prob, dev), blurred, x)
    noise = torch.randn_like(x) * (0.02 + 0.08 * torch.rand(b, 1, 1, 1, device=dev))
    x = torch.where(per_image(b, prob, dev), x + noise, x)
    return x.clamp(-1, 1)
