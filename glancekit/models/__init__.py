"""Plain-torch building blocks and backbones (no torchvision/timm: they do not load here)."""
from .cnn import ConvBlock, SmallCNN
from .flip import FlipAverage, bare_for_training, flip_averaged, without_flip_average
from .mobilenet import InvertedResidual, MobileNetV2

__all__ = ["ConvBlock", "FlipAverage", "bare_for_training", "flip_averaged", "without_flip_average", "SmallCNN",
           "InvertedResidual", "MobileNetV2"]
