"""Plain-torch building blocks and backbones (no torchvision/timm: they do not load here)."""
from .cnn import ConvBlock, SmallCNN

__all__ = ["ConvBlock", "SmallCNN"]
