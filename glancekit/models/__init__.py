"""Plain-torch building blocks and backbones (no torchvision/timm: they do not load here)."""
from .cnn import ConvBlock, SmallCNN
from .mobilenet import InvertedResidual, MobileNetV2

__all__ = ["ConvBlock", "SmallCNN", "InvertedResidual", "MobileNetV2"]
