"""CenterNet-style anchor-free detector head over the MobileNetV2-style U-Net trunk (plain torch).

    image 192 → HeatmapUNet trunk (encoder /16, decoder back to /4) → 1x1 conv → C + 4 maps at /4:
        C centre heatmaps (logits; a peak marks an object's centre), 2 box sizes (log of width and height
        in output cells), 2 sub-cell offsets of the centre.

Objects as points (Zhou et al. 2019): no anchors, no box matching; decoding is a 3x3 max filter and a
top-k over the heatmap. The trunk is the keypoint task's (`unet.py`), so one encoder design serves keypoints
and boxes; the heatmap bias starts at -2.19 (sigmoid 0.1), as CenterNet does, so early training is not
swamped by the background's loss.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .unet import HeatmapUNet

STRIDE = 4


class CenterNet(nn.Module):
    """Outputs (B, num_classes + 4, H/4, W/4): heatmap logits, log sizes, offsets (see module docstring)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 1, stem: int = 16,
                 stages: Sequence[Sequence[int]] = ((1, 16, 1, 1), (4, 24, 2, 2), (4, 32, 2, 2), (4, 64, 3, 2),
                                                    (4, 96, 1, 1)),
                 decoder: Sequence[int] = (48, 32)) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.net = HeatmapUNet(in_channels, num_classes + 4, stem, stages, decoder)
        with torch.no_grad():
            self.net.head.bias[:num_classes].fill_(-2.19)
            self.net.head.bias[num_classes:].zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
