"""Inflated 3D ResNet-50s: the non-local baseline's I3D and PyTorchVideo's 8x8 I3D.

Inflated bottlenecks (:class:`InflatedBlocks`): the first 1x1 conv of a block becomes 3x1x1 where the
stage's ``inflate`` pattern (cycled over its blocks, MMAction2's notation) says 1, the 3x3 conv stays
1x3x3, strides are spatial only. ``i3d_r50`` follows facebookresearch/video-nonlocal-net (Tushar-N's
PyTorch port): stem 5x7x7 with stride 2 in time, 2x3x3 max pool with stride 2, a 2x1x1 temporal max
pool after stage 1, so a 32-frame clip reaches stage 4 with 4 frames (MMAction2's I3D: the same with
``stem_pool="1x3x3"``, a padded 1x3x3 stem pool). ``i3d_r50_8x8`` is PyTorchVideo's
``i3d_r50``: stride 1 in time in the stem and a 1x3x3 stem pool, for 8-frame clips.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from vr.models.blocks import ConvBN, ResidualBlock, Stage, Triple
from vr.models.registry import register_model
from vr.models.resnet import BASE_WIDTHS, BlockFactory, ResNet3d

NONLOCAL_INFLATE = ((1,), (1, 0), (1, 0), (0, 1))


@dataclass(frozen=True)
class InflatedBlocks(BlockFactory):
    """Bottlenecks ``kt``x1x1 -> 1x3x3 (stride) -> 1x1x1, ``kt`` 3 where ``inflate[layer - 1]`` (cycled
    over the stage's blocks) is 1, else 1."""

    inflate: tuple[tuple[int, ...], ...] = NONLOCAL_INFLATE
    expansion: int = 4

    def inflated(self, layer: int, index: int) -> bool:
        pattern = self.inflate[layer - 1]
        return bool(pattern[index % len(pattern)])

    def block(self, cin, planes, stride, downsample, layer, index, overall):
        kt = 3 if self.inflated(layer, index) else 1
        stages = [
            Stage(ConvBN((kt, 1, 1)), cin, planes),
            Stage(ConvBN((1, 3, 3)), planes, planes, stride),
            Stage(ConvBN((1, 1, 1)), planes, planes * self.expansion),
        ]
        return ResidualBlock(stages, downsample)

    def stage_stride(self, layer: int) -> Triple:
        return (1, *super().stage_stride(layer)[1:])


def _i3d(
    stem_stride: Triple,
    stem_pool: nn.Module,
    *,
    num_classes: int,
    in_channels: int = 3,
    widen_factor: float = 1.0,
    layers: Sequence[int] = (3, 4, 6, 3),
    dropout: float = 0.5,
) -> ResNet3d:
    return ResNet3d(
        InflatedBlocks(),
        layers,
        [int(w * widen_factor) for w in BASE_WIDTHS],
        num_classes=num_classes,
        in_channels=in_channels,
        stem=ConvBN((5, 7, 7)),
        stem_stride=stem_stride,
        stem_pool=stem_pool,
        stage_pools=(nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1)), None, None, None),
        dropout=dropout,
    )


STEM_POOLS = {
    "2x3x3": lambda: nn.MaxPool3d((2, 3, 3), stride=2),  # video-nonlocal-net (Caffe2)
    "1x3x3": lambda: nn.MaxPool3d((1, 3, 3), stride=2, padding=(0, 1, 1)),  # MMAction2's ResNet3d
}


@register_model(family="I3D", clip=(32, 224, 224), sources=("i3d-caffe2", "mmaction2"), args_from=(_i3d,))
def i3d_r50(num_classes: int, in_channels: int = 3, stem_pool: str = "2x3x3", **kwargs) -> ResNet3d:
    """I3D ResNet-50 (non-local baseline without non-local blocks), 32x224x224 clips.

    ``stem_pool``: ``2x3x3`` (video-nonlocal-net's unpadded 2x3x3 max pool) or ``1x3x3`` (MMAction2's
    padded 1x3x3 max pool); both have stride 2 in time and space."""
    if stem_pool not in STEM_POOLS:
        raise ValueError(f"i3d_r50: stem_pool={stem_pool!r} is not one of {', '.join(STEM_POOLS)}")
    pool = STEM_POOLS[stem_pool]()
    return _i3d((2, 2, 2), pool, num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(family="I3D", clip=(8, 224, 224), sources=("pytorchvideo",), args_from=(_i3d,))
def i3d_r50_8x8(num_classes: int, in_channels: int = 3, **kwargs) -> ResNet3d:
    """PyTorchVideo's I3D ResNet-50 (Kinetics 8x8 setting), 8x224x224 clips."""
    pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
    return _i3d((1, 2, 2), pool, num_classes=num_classes, in_channels=in_channels, **kwargs)
