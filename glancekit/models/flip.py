"""FlipAverage: a classifier that sees an image and its mirror image and averages the two answers.

For inputs whose label does not change under a horizontal flip (a left eye mirrored is a right eye,
still open or closed), averaging both views removes the part of the error that depends on which side
an eye came from. It costs one more forward pass, keeps one weights file and exports to ONNX as one
graph, so the shipped model, its export and its threshold all include the averaging.
"""
from __future__ import annotations

import torch
from torch import nn


class FlipAverage(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    @staticmethod
    def _both(fn: "torch.nn.Module | object", x: torch.Tensor) -> torch.Tensor:
        # One pass over a batch of 2n (the crops, then their mirrors) is cheaper than two passes of n.
        y = fn(torch.cat([x, x.flip(-1)]))  # type: ignore[operator]
        n = x.shape[0]
        return (y[:n] + y[n:]) / 2

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._both(self.net.forward_features, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._both(self.net, x)
