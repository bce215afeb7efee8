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


def paste_boxes(x: torch.Tensor, y: torch.Tensor, share: float, scale: tuple[float, float] = (0.5, 1.5),
                tries: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Copy-paste for detectors: a `share` of the batch's images each get one object cut from another image
    of the batch (its box, under a feathered ellipse, resized by `scale`) at a free place, and its box.

    `y`: (B, M, 5) boxes x0, y0, x1, y1, class in the pixels of x (class -1 = padding). The object keeps a
    little of its own photo around it, softened at the edge; the place overlaps no box of the image by more
    than a tenth of either. Why: a detector trained on a few rooms learns the rooms (it scores the hands of
    an unseen room low and its backgrounds high); a hand of one source in another's room breaks that tie.
    """
    b, _, h, w = x.shape
    real = y[..., 4] >= 0
    donors = torch.nonzero(real)
    if share <= 0 or len(donors) == 0:
        return x, y
    x, y = x.clone(), y.clone()
    for i in torch.nonzero(torch.rand(b) < share).flatten().tolist():
        pool = donors[donors[:, 0] != i]
        free = torch.nonzero(y[i, :, 4] < 0).flatten()
        if len(pool) == 0 or len(free) == 0:
            continue
        j, k = pool[int(torch.randint(len(pool), (1,)))].tolist()
        x0, y0, x1, y1 = (int(round(float(v))) for v in y[j, k, :4])
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 - x0 < 6 or y1 - y0 < 6:
            continue
        f = scale[0] + float(torch.rand(1)) * (scale[1] - scale[0])
        f = min(f, 0.7 * w / (x1 - x0), 0.7 * h / (y1 - y0))
        nw, nh = max(6, int(round((x1 - x0) * f))), max(6, int(round((y1 - y0) * f)))
        patch = F.interpolate(x[j:j + 1, :, y0:y1, x0:x1], size=(nh, nw), mode="bilinear", align_corners=False)[0]
        gy = (torch.arange(nh, dtype=x.dtype, device=x.device)[:, None] + 0.5) / nh * 2 - 1
        gx = (torch.arange(nw, dtype=x.dtype, device=x.device)[None, :] + 0.5) / nw * 2 - 1
        mask = ((1.15 - (gx ** 2 + gy ** 2).sqrt()) / 0.3).clamp(0, 1)  # 1 inside, fading out past the ellipse
        others = y[i, real[i]][:, :4]
        for _ in range(tries):
            px, py = int(torch.randint(0, w - nw + 1, (1,))), int(torch.randint(0, h - nh + 1, (1,)))
            if len(others):
                ix = (others[:, 2].clamp(max=px + nw) - others[:, 0].clamp(min=px)).clamp(min=0)
                iy = (others[:, 3].clamp(max=py + nh) - others[:, 1].clamp(min=py)).clamp(min=0)
                inter = ix * iy
                own = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
                if bool((inter > 0.1 * torch.minimum(own, torch.tensor(float(nw * nh)))).any()):
                    continue
            region = x[i, :, py:py + nh, px:px + nw]
            x[i, :, py:py + nh, px:px + nw] = mask * patch + (1 - mask) * region
            y[i, int(free[0])] = torch.tensor([px, py, px + nw, py + nh, float(y[j, k, 4])], dtype=y.dtype)
            break
    return x, y
