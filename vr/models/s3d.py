"""S3D (Xie et al., "Rethinking Spatiotemporal Feature Learning", ECCV 2018), torchvision's ``s3d``.

Inception-v1 (GoogLeNet) with every k x k x k convolution but the 1x1x1 ones separated into a 1 x k x k
spatial convolution and a k x 1 x 1 temporal one, each with batch norm (epsilon 1e-3) and ReLU. Module
names follow the paper's (``mixed_3b`` ... ``mixed_5c``); ``--source torchvision`` maps torchvision's
``features.{i}`` onto them. Not a ResNet, so not on the shared trunk.

torchvision's head averages 2x7x7 windows (stride 1), classifies each with a 1x1x1 convolution and
averages the logits; that equals a linear layer on the mean of the window averages, which is what ``fc``
computes (windows clipped to the feature map, so clips smaller than 16x224x224 work too). Its batch norms
track running statistics with momentum 0.001; here they use PyTorch's 0.1, so a network trained from
scratch on a small dataset evaluates with statistics that followed its training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vr.models.blocks import Triple, init_weights
from vr.models.registry import register_model

BN_EPS = 1e-3

# name: (b0_out, b1_mid, b1_out, b2_mid, b2_out, b3_out), in order.
INCEPTION_WIDTHS: dict[str, tuple[int, int, int, int, int, int]] = {
    "mixed_3b": (64, 96, 128, 16, 32, 32),
    "mixed_3c": (128, 128, 192, 32, 96, 64),
    "mixed_4b": (192, 96, 208, 16, 48, 64),
    "mixed_4c": (160, 112, 224, 24, 64, 64),
    "mixed_4d": (128, 128, 256, 24, 64, 64),
    "mixed_4e": (112, 144, 288, 32, 64, 64),
    "mixed_4f": (256, 160, 320, 32, 128, 128),
    "mixed_5b": (256, 160, 320, 32, 128, 128),
    "mixed_5c": (384, 192, 384, 48, 128, 128),
}
# the max pools between the Inception groups: before the block named, (its name, the pool)
POOLS_BEFORE = {
    "mixed_4b": ("pool3", lambda: nn.MaxPool3d(3, stride=2, padding=1)),
    "mixed_5b": ("pool4", lambda: nn.MaxPool3d(2, stride=2)),
}
HEAD_WINDOW = (2, 7, 7)


class ConvBNReLU(nn.Sequential):
    """``conv`` (no bias, "same" padding) -> ``bn`` -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel: Triple = (1, 1, 1), stride: Triple = (1, 1, 1)):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, kernel, stride, padding=tuple(k // 2 for k in kernel), bias=False)
        self.bn = nn.BatchNorm3d(cout, eps=BN_EPS)
        self.relu = nn.ReLU(inplace=True)


class SepConv(nn.Sequential):
    """A k x k x k convolution separated: ``spatial`` 1 x k x k, then ``temporal`` k x 1 x 1."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1):
        super().__init__()
        self.spatial = ConvBNReLU(cin, cout, (1, k, k), (1, stride, stride))
        self.temporal = ConvBNReLU(cout, cout, (k, 1, 1), (stride, 1, 1))


class SepInception(nn.Module):
    """Four branches concatenated: 1x1x1; 1x1x1 -> separable 3x3x3 (twice, of different widths);
    3x3x3 max pool -> 1x1x1."""

    def __init__(self, cin: int, b0: int, b1_mid: int, b1: int, b2_mid: int, b2: int, b3: int):
        super().__init__()
        self.branch0 = ConvBNReLU(cin, b0)
        self.branch1 = nn.Sequential()
        self.branch1.reduce = ConvBNReLU(cin, b1_mid)
        self.branch1.sep = SepConv(b1_mid, b1, 3)
        self.branch2 = nn.Sequential()
        self.branch2.reduce = ConvBNReLU(cin, b2_mid)
        self.branch2.sep = SepConv(b2_mid, b2, 3)
        self.branch3 = nn.Sequential()
        self.branch3.pool = nn.MaxPool3d(3, stride=1, padding=1)
        self.branch3.proj = ConvBNReLU(cin, b3)
        self.out_channels = b0 + b1 + b2 + b3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], 1)


class S3D(nn.Module):
    """S3D: separable stem, 1x1x1 and separable 3x3x3 convolutions, nine separable Inception blocks."""

    def __init__(
        self, num_classes: int, in_channels: int = 3, widen_factor: float = 1.0, dropout: float = 0.2
    ):
        super().__init__()

        def w(width: int) -> int:
            return max(1, int(width * widen_factor))

        self.stem = SepConv(in_channels, w(64), 7, stride=2)
        self.pool1 = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.conv2 = ConvBNReLU(w(64), w(64))
        self.conv3 = SepConv(w(64), w(192), 3)
        self.pool2 = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        cin = w(192)
        self.mixed: list[str] = []  # the Inception blocks and the pools between them, in order
        for name, widths in INCEPTION_WIDTHS.items():
            if name in POOLS_BEFORE:
                pool_name, pool = POOLS_BEFORE[name]
                self.add_module(pool_name, pool())
                self.mixed.append(pool_name)
            block = SepInception(cin, *map(w, widths))
            self.add_module(name, block)
            self.mixed.append(name)
            cin = block.out_channels
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)
        init_weights(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool2(self.conv3(self.conv2(self.pool1(self.stem(x)))))
        for name in self.mixed:
            x = getattr(self, name)(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        window = [min(k, size) for k, size in zip(HEAD_WINDOW, x.shape[2:], strict=True)]
        x = F.avg_pool3d(x, window, stride=1).mean((2, 3, 4))
        return self.fc(self.dropout(x))


@register_model(family="S3D", clip=(64, 224, 224), sources=("torchvision",))
def s3d(num_classes: int, in_channels: int = 3, widen_factor: float = 1.0, dropout: float = 0.2) -> S3D:
    """torchvision's S3D (Kinetics-400 weights: ``--source torchvision``), 64x224x224 clips."""
    return S3D(num_classes, in_channels=in_channels, widen_factor=widen_factor, dropout=dropout)
