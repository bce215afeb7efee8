"""MobileNetV2-style network in plain torch: inverted residual blocks (expand 1x1 → depthwise 3x3 →
project 1x1, residual when shapes allow). Few parameters and few multiply-adds per pixel, which is
what sub-millisecond CPU latency needs. Sized by a list of stages, so one class serves 24x24 eye crops
and (as an encoder) larger hand images."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class ConvBNAct(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, k: int = 3, stride: int = 1, groups: int = 1, act: bool = True) -> None:
        layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
                                   nn.BatchNorm2d(c_out)]
        if act:
            layers.append(nn.ReLU6(inplace=True))
        super().__init__(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        self.use_res = stride == 1 and c_in == c_out
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNAct(c_in, hidden, 1))
        layers += [ConvBNAct(hidden, hidden, 3, stride, groups=hidden), ConvBNAct(hidden, c_out, 1, act=False)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.use_res else self.block(x)


class MobileNetV2(nn.Module):
    """stem → stages of (expand, channels, repeats, stride) inverted residuals → 1x1 head → classifier."""

    def __init__(self, in_channels: int = 1, num_classes: int = 2, stem: int = 16,
                 stages: Sequence[Sequence[int]] = ((1, 16, 1, 1), (4, 24, 2, 2), (4, 32, 2, 2), (4, 64, 2, 2)),
                 head: int = 128, dropout: float = 0.2, stem_stride: int = 1) -> None:
        super().__init__()
        # stem_stride 2 halves larger inputs (hand crops) before the first block, as MobileNetV2 does.
        layers: list[nn.Module] = [ConvBNAct(in_channels, stem, 3, stem_stride)]
        c = stem
        for t, ch, n, s in stages:
            for i in range(n):
                layers.append(InvertedResidual(c, ch, s if i == 0 else 1, t))
                c = ch
        layers.append(ConvBNAct(c, head, 1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(head, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features: the embedding used to cluster and propose labels."""
        return self.pool(self.features(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head[1:](self.forward_features(x))
