"""SmallCNN: conv-BN-LeakyReLU blocks with pooling and a linear head — the MNIST-era classifier.

Written as a torchvision model file is: blocks first, then the network, then nothing hidden. It is
sized by `widths`/`depths` (one stage per entry, 2x2 max-pool between stages), so the
same class serves 28x28 digits and 24x24 eye crops.
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


class SmallCNN(nn.Module):
    """Stages of `depths[i]` ConvBlocks of `widths[i]` channels; max-pool between stages;
    global average pool + dropout + linear."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, widths: Sequence[int] = (32, 64, 128),
                 depths: Sequence[int] = (2, 2, 2), dropout: float = 0.2) -> None:
        super().__init__()
        if len(widths) != len(depths):
            raise ValueError("widths and depths need one entry per stage")
        layers: list[nn.Module] = []
        c = in_channels
        for i, (w, d) in enumerate(zip(widths, depths)):
            if i > 0:
                layers.append(nn.MaxPool2d(2))
            for _ in range(d):
                layers.append(ConvBlock(c, w))
                c = w
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(c, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (used for embeddings when labelling)."""
        return self.pool(self.features(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head[1:](self.forward_features(x))
