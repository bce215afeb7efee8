"""Heatmap U-Net: a MobileNetV2-style encoder (inverted residuals, plain torch) with a light decoder that
upsamples and merges the encoder's skip features, ending in one heatmap per keypoint.

    input 128 → stem /2 → /4 (skip) → /8 (skip) → /16 → decoder: up + skip /8 → up + skip /4 → heatmaps

Output resolution is input/4 (32x32 for a 128 px crop); sub-pixel decoding recovers the rest. The
encoder's cost dominates and stays MobileNet-small, which is what keeps batch-1 CPU latency low.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .mobilenet import ConvBNAct, InvertedResidual


class DecoderBlock(nn.Module):
    """Upsample ×2, concatenate the skip features, then a depthwise-separable conv pair."""

    def __init__(self, c_in: int, c_skip: int, c_out: int) -> None:
        super().__init__()
        c = c_in + c_skip
        self.block = nn.Sequential(ConvBNAct(c, c, 3, groups=c), ConvBNAct(c, c_out, 1),
                                   ConvBNAct(c_out, c_out, 3, groups=c_out), ConvBNAct(c_out, c_out, 1))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
        return self.block(torch.cat([x, skip], 1))


class HeatmapUNet(nn.Module):
    """`stages`: (expand, channels, repeats, stride) per encoder stage; the outputs of the stages that
    end at strides 4 and 8 become skips. Returns (B, num_points, H/4, W/4) heatmaps."""

    def __init__(self, in_channels: int = 3, num_points: int = 21, stem: int = 16,
                 stages: Sequence[Sequence[int]] = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 3, 2),
                                                    (6, 96, 2, 1)),
                 decoder: Sequence[int] = (64, 48)) -> None:
        super().__init__()
        self.stem = ConvBNAct(in_channels, stem, 3, 2)
        self.stages = nn.ModuleList()
        c, stride = stem, 2
        self.skip_ids: dict[int, int] = {}
        channels: list[int] = []
        for i, (t, ch, n, s) in enumerate(stages):
            blocks = [InvertedResidual(c if j == 0 else ch, ch, s if j == 0 else 1, t) for j in range(n)]
            self.stages.append(nn.Sequential(*blocks))
            c, stride = ch, stride * s
            channels.append(ch)
            if stride in (4, 8):
                self.skip_ids[stride] = i  # the last stage at that stride wins
        self.up8 = DecoderBlock(c, channels[self.skip_ids[8]], decoder[0])
        self.up4 = DecoderBlock(decoder[0], channels[self.skip_ids[4]], decoder[1])
        self.head = nn.Conv2d(decoder[1], num_points, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        skips: dict[int, torch.Tensor] = {}
        for i, stage in enumerate(self.stages):
            x = stage(x)
            for stride, idx in self.skip_ids.items():
                if idx == i:
                    skips[stride] = x
        x = self.up8(x, skips[8])
        x = self.up4(x, skips[4])
        return self.head(x)
