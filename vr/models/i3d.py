"""I3D ResNet-50 of the non-local baseline (facebookresearch/video-nonlocal-net, Tushar-N's PyTorch port).

Inflated bottlenecks: the first 1x1 conv becomes 3x1x1 in an alternating pattern (all blocks of
stage 1, even blocks of stages 2-3, odd blocks of stage 4), the 3x3 conv stays 1x3x3. Stem 5x7x7 with
stride 2 in time, 2x3x3 max pool with stride 2, a 2x1x1 temporal max pool after stage 1: a 32-frame
clip (sampled every 2nd frame) reaches stage 4 with 4 frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from vr.models.blocks import ConvBN, ResidualBlock, Stage, Triple
from vr.models.registry import register_model
from vr.models.resnet import BASE_WIDTHS, BlockFactory, ResNet3d


def inflated(layer: int, index: int) -> bool:
    """Whether block ``index`` of stage ``layer`` has a 3x1x1 first convolution."""
    if layer == 1:
        return True
    if layer == 4:
        return index % 2 == 1
    return index % 2 == 0


@dataclass(frozen=True)
class I3DBlocks(BlockFactory):
    expansion: int = 4

    def block(self, cin, planes, stride, downsample, layer, index, overall):
        kt = 3 if inflated(layer, index) else 1
        stages = [
            Stage(ConvBN((kt, 1, 1)), cin, planes),
            Stage(ConvBN((1, 3, 3)), planes, planes, (1, stride, stride)),
            Stage(ConvBN((1, 1, 1)), planes, planes * self.expansion),
        ]
        return ResidualBlock(stages, downsample)

    def shortcut_stride(self, stride: int, layer: int) -> Triple:
        return (1, stride, stride)


@register_model(family="I3D", clip=(32, 224, 224), sources=("i3d-caffe2",))
def i3d_r50(
    num_classes: int,
    in_channels: int = 3,
    widen_factor: float = 1.0,
    layers: Sequence[int] = (3, 4, 6, 3),
    dropout: float = 0.5,
) -> ResNet3d:
    """I3D ResNet-50 (non-local baseline without non-local blocks), 32x224x224 clips."""
    return ResNet3d(
        I3DBlocks(),
        layers,
        [int(w * widen_factor) for w in BASE_WIDTHS],
        num_classes=num_classes,
        in_channels=in_channels,
        stem=ConvBN((5, 7, 7)),
        stem_stride=(2, 2, 2),
        stem_pool=nn.MaxPool3d((2, 3, 3), stride=2),
        stage_pools=(nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1)), None, None, None),
        dropout=dropout,
    )
