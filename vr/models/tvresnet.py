"""torchvision's video ResNets (``r3d_18``, ``mc3_18``, ``r2plus1d_18``) on the shared trunk.

They are the 3D-ResNets networks with torchvision's stems: a 3x7x7 (R3D, MC3) or 1x7x7 -> 3x1x1 with 45
channels in between (R(2+1)D) convolution with stride 1x2x2 and no max pool. MC3 ("mixed
convolutions") keeps 3x3x3 convolutions in stage 1 only; stages 2-4 are 2D (1x3x3, spatial stride).
Kinetics-400 weights (16x112x112 clips) convert with ``--source torchvision``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vr.models.blocks import Conv2Plus1D, ConvBN, ResidualBlock, Stage, Triple
from vr.models.registry import register_model
from vr.models.resnet import DEPTHS, KenshoharaBlocks, ResNet3d

R2PLUS1D_STEM_WIDTH = 45


@dataclass(frozen=True)
class MixedBlocks(KenshoharaBlocks):
    """Basic blocks with ``mid`` convolutions up to stage ``layers_3d`` and 1x3x3 ones after it."""

    layers_3d: int = 1

    def block(self, cin, planes, stride, downsample, layer, index, overall):
        if layer <= self.layers_3d:
            return super().block(cin, planes, stride, downsample, layer, index, overall)
        planar = KenshoharaBlocks(self.bottleneck, self.expansion, ConvBN((1, 3, 3)))
        return planar.block(cin, planes, stride, downsample, layer, index, overall)

    def stage_stride(self, layer: int) -> Triple:
        stride = super().stage_stride(layer)
        return stride if layer <= self.layers_3d else (1, *stride[1:])


def _video_resnet(
    blocks: KenshoharaBlocks,
    stem,
    *,
    num_classes: int,
    in_channels: int = 3,
    widen_factor: float = 1.0,
    layers: Sequence[int] = DEPTHS[18][1],
    dropout: float = 0.0,
) -> ResNet3d:
    return ResNet3d(
        blocks,
        layers,
        [int(w * widen_factor) for w in (64, 128, 256, 512)],
        num_classes=num_classes,
        in_channels=in_channels,
        stem=stem,
        stem_stride=(1, 2, 2),
        stem_pool=None,
        dropout=dropout,
    )


@dataclass(frozen=True)
class SharedMidBlocks(KenshoharaBlocks):
    """torchvision's (2+1)D basic blocks: both convolutions of a block take their width in between from
    the block's input width (3D-ResNets computes it per convolution)."""

    def block(self, cin, planes, stride, downsample, layer, index, overall):
        mid = Conv2Plus1D(mid_in=cin)
        return ResidualBlock([Stage(mid, cin, planes, stride), Stage(mid, planes, planes)], downsample)


_SOURCES = ("torchvision",)
_FAMILY = "torchvision video ResNet"


@register_model(family=_FAMILY, sources=_SOURCES, args_from=(_video_resnet,))
def r3d_18(num_classes: int, in_channels: int = 3, **kwargs) -> ResNet3d:
    """torchvision's R3D-18: 3x3x3 basic blocks, 3x7x7 stem, no max pool."""
    return _video_resnet(
        KenshoharaBlocks(), ConvBN((3, 7, 7)), num_classes=num_classes, in_channels=in_channels, **kwargs
    )


@register_model(family=_FAMILY, sources=_SOURCES, args_from=(_video_resnet,))
def mc3_18(num_classes: int, in_channels: int = 3, **kwargs) -> ResNet3d:
    """torchvision's MC3-18: 3D convolutions in stage 1, 2D (1x3x3) in stages 2-4."""
    return _video_resnet(
        MixedBlocks(), ConvBN((3, 7, 7)), num_classes=num_classes, in_channels=in_channels, **kwargs
    )


@register_model(family=_FAMILY, sources=_SOURCES, args_from=(_video_resnet,))
def r2plus1d_18(num_classes: int, in_channels: int = 3, **kwargs) -> ResNet3d:
    """torchvision's R(2+1)D-18: (2+1)D basic blocks, 1x7x7 -> 3x1x1 stem with 45 channels between."""
    widen = kwargs.get("widen_factor", 1.0)
    stem = Conv2Plus1D(kt=3, ks=7, mid=max(1, int(R2PLUS1D_STEM_WIDTH * widen)))
    return _video_resnet(SharedMidBlocks(), stem, num_classes=num_classes, in_channels=in_channels, **kwargs)
