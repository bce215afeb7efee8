"""FlipAverage: a model that sees an image and its mirror image and averages the two answers.

For inputs whose label does not change under a horizontal flip (a left eye mirrored is a right eye,
still open or closed; a mirrored "like" is still "like"), averaging both views removes the part of the
error that depends on which side the input came from. For dense outputs (`maps=True`: one heatmap per
keypoint, whose identities do not swap under a flip, as a mirrored right hand is a left hand with the
same joint order) the mirror's maps are flipped back before averaging. Where the answer does change
under a flip in a known way (a clock in a mirror reads another time: tasks/clock.py `ClockMirror`),
`unmirror` maps the mirror's outputs back to the image's before averaging. It costs one more forward pass,
keeps one weights file and exports to ONNX as one graph, so the shipped model, its export and its
threshold all include the averaging.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


class FlipAverage(nn.Module):
    def __init__(self, net: nn.Module, maps: bool = False, unmirror: nn.Module | None = None) -> None:
        super().__init__()
        self.net, self.maps, self.unmirror = net, maps, unmirror

    def _both(self, fn: Any, x: torch.Tensor) -> torch.Tensor:
        # One pass over a batch of 2n (the inputs, then their mirrors) is cheaper than two passes of n.
        y = fn(torch.cat([x, x.flip(-1)]))
        n = x.shape[0]
        mirrored = y[n:].flip(-1) if self.maps else y[n:]
        if self.unmirror is not None:  # outputs that name a side: map the mirror's answer back first
            mirrored = self.unmirror(mirrored)
        return (y[:n] + mirrored) / 2

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._both(self.net.forward_features, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._both(self.net, x)


def flip_averaged(ckpt: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint of the same trained net answering through FlipAverage (`model_kwargs.flip_average`):
    test-time mirror averaging added after training, with no retraining."""
    kwargs = dict(ckpt["model_kwargs"])
    if kwargs.get("flip_average"):
        return ckpt
    state = {f"net.{k}": v for k, v in ckpt["state_dict"].items()}
    return {**ckpt, "model_kwargs": {**kwargs, "flip_average": True}, "state_dict": state}


def without_flip_average(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The inverse of flip_averaged: the bare net of a FlipAverage checkpoint."""
    kwargs = dict(ckpt["model_kwargs"])
    if not kwargs.pop("flip_average", False):
        return ckpt
    state = {k.removeprefix("net."): v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    return {**ckpt, "model_kwargs": kwargs, "state_dict": state}


def bare_for_training(ckpt: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """For `train --init` of weights that had mirror averaging added after training: the bare net (half
    the work per step) and a note saying so; the averaging goes back on with `glance flip`."""
    if not ckpt["model_kwargs"].get("flip_average"):
        return ckpt, None
    return without_flip_average(ckpt), ("--init answers with mirror averaging: fine-tuning the bare net; add the "
                                        "averaging back with glance flip (or glance fuse gestures --flip)")
