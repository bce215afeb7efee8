"""SmallCNN: conv-BN-LeakyReLU blocks with pooling and a linear head — the MNIST-era classifier.

Written as a torchvision model file is: blocks first, then the network, then nothing hidden. It is
sized by `widths`/`depths` (one stage per entry, 2x2 max-pool between stages), so the
same class serves 28x28 digits and 24x24 eye crops. For larger inputs a stride-2 `stem` halves the
resolution first, and `pool_grid` > 1 keeps a coarse g x g layout of the last features instead of one
global average: reading a clock needs to know *where* a hand points, which a global pool throws away.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class ConvBlock(nn.Sequential):
    """3x3 conv (no bias: BN follows) → BatchNorm → LeakyReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.LeakyReLU(0.1, inplace=True),
        )


class GridPool(nn.Module):
    """Average-pool a feature map to g x g cells exactly as nn.AdaptiveAvgPool2d does, but as two small
    matrix products, so ONNX export works when g does not divide the map size (7 → 4 here)."""

    def __init__(self, g: int) -> None:
        super().__init__()
        self.g = g

    @staticmethod
    def _matrix(n: int, g: int, like: torch.Tensor) -> torch.Tensor:
        m = torch.zeros(g, n, dtype=like.dtype, device=like.device)
        for i in range(g):  # AdaptiveAvgPool2d's bins: [floor(i*n/g), ceil((i+1)*n/g))
            a, b = (i * n) // g, -(-((i + 1) * n) // g)
            m[i, a:b] = 1.0 / (b - a)
        return m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = int(x.shape[-2]), int(x.shape[-1])
        return torch.einsum("gh,nchw,kw->ncgk", self._matrix(h, self.g, x), x, self._matrix(w, self.g, x))


class SmallCNN(nn.Module):
    """Stages of `depths[i]` ConvBlocks of `widths[i]` channels; max-pool between stages;
    global average pool + dropout + linear."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, widths: Sequence[int] = (32, 64, 128),
                 depths: Sequence[int] = (2, 2, 2), dropout: float = 0.2, stem: int = 0, pool_grid: int = 1,
                 hidden: int = 0) -> None:
        super().__init__()
        if len(widths) != len(depths):
            raise ValueError("widths and depths need one entry per stage")
        layers: list[nn.Module] = []
        c = in_channels
        if stem:
            layers.append(ConvBlock(c, stem, stride=2))
            c = stem
        for i, (w, d) in enumerate(zip(widths, depths)):
            if i > 0:
                layers.append(nn.MaxPool2d(2))
            for _ in range(d):
                layers.append(ConvBlock(c, w))
                c = w
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1) if pool_grid == 1 else GridPool(pool_grid)
        feat = c * pool_grid * pool_grid
        mlp: list[nn.Module] = [nn.Linear(feat, hidden), nn.LeakyReLU(0.1, inplace=True), nn.Dropout(dropout)] \
            if hidden else []
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), *mlp, nn.Linear(hidden or feat, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (used for embeddings when labelling)."""
        return self.pool(self.features(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head[1:](self.forward_features(x))
