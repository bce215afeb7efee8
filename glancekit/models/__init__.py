"""Plain-torch building blocks and backbones (no torchvision/timm: they do not load here)."""
from .cnn import ConvBlock, SmallCNN
from .flip import FlipAverage
from .mobilenet import InvertedResidual, MobileNetV2

__all__ = ["ConvBlock", "FlipAverage", "SmallCNN", "InvertedResidual", "MobileNetV2"]
