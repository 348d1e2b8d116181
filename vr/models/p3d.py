"""Pseudo-3D ResNets (P3D-63/131/199) on the shared trunk, after qijiezhao/pseudo-3d-pytorch.

Stages 1-3 use bottlenecks whose middle is a P3D spatio-temporal unit (1x3x3 then 3x1x1 as structure
A, B or C, cycling through ``st_struct`` over all 3D blocks); the stride sits in the first 1x1x1 conv;
each of stages 1-3 is followed by a 2x1x1 temporal max pool. Stage 4 is 2D (1x3x3 kernels), written
here as 3D convolutions with a temporal kernel of 1, so clips of any length work (the original folds
time into the batch, which is only correct when one frame is left; with its 16-frame clips it is).

Parameter names follow the port except the stem: ``conv1_custom`` is ``conv1`` here, and the port's
Conv2d weights of stage 4 get a temporal axis of size 1 (see :func:`vr.models.convert.convert_p3d`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from vr.models.blocks import ConvBN, PseudoST, ResidualBlock, Stage, Triple
from vr.models.registry import register_model
from vr.models.resnet import BASE_WIDTHS, BlockFactory, ResNet3d


@dataclass(frozen=True)
class P3DBlocks(BlockFactory):
    """P3D bottlenecks: ST unit ``st_struct[n % len]`` for the n-th block of the trunk (all of stages
    1-3 are 3D); stage 4 is 2D."""

    st_struct: tuple[str, ...] = ("A", "B", "C")
    expansion: int = 4

    def block(self, cin, planes, stride, downsample, layer, index, overall):
        point = ConvBN((1, 1, 1))
        if layer == 4:
            stages = [
                Stage(point, cin, planes, stride),
                Stage(ConvBN((1, 3, 3)), planes, planes, tag="_normal"),
                Stage(point, planes, planes * self.expansion, tag=4),
            ]
        else:
            st = PseudoST(self.st_struct[overall % len(self.st_struct)])
            stages = [
                Stage(point, cin, planes, stride),
                Stage(st, planes, planes),
                Stage(point, planes, planes * self.expansion),
            ]
        return ResidualBlock(stages, downsample)

    def stage_stride(self, layer: int) -> Triple:
        return (1, *super().stage_stride(layer)[1:])


def _p3d(
    layers: Sequence[int],
    *,
    num_classes: int,
    in_channels: int = 3,
    st_struct: Sequence[str] = ("A", "B", "C"),
    widen_factor: float = 1.0,
    dropout: float = 0.5,
) -> ResNet3d:
    st = tuple(st_struct)
    if not st or any(s not in ("A", "B", "C") for s in st):
        raise ValueError(f"st_struct must be a non-empty sequence of 'A', 'B', 'C'; got {st_struct!r}")
    widths = [int(w * widen_factor) for w in BASE_WIDTHS]
    temporal_pool = nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1))
    return ResNet3d(
        P3DBlocks(st),
        layers,
        widths,
        num_classes=num_classes,
        in_channels=in_channels,
        stem=ConvBN((1, 7, 7)),
        stem_stride=(1, 2, 2),
        stem_pool=nn.MaxPool3d((2, 3, 3), stride=2, padding=(0, 1, 1)),
        stage_pools=(temporal_pool, temporal_pool, temporal_pool, None),
        dropout=dropout,
    )


def _register(depth: int, layers: tuple[int, int, int, int]) -> None:
    def fn(num_classes: int, in_channels: int = 3, layers: Sequence[int] = layers, **kwargs) -> ResNet3d:
        return _p3d(layers, num_classes=num_classes, in_channels=in_channels, **kwargs)

    fn.__doc__ = (
        f"P3D-{depth}: ``st_struct`` cycle of 'A'/'B'/'C', 16x160x160 clips, Flow with in_channels=2."
    )
    register_model(
        fn, name=f"p3d{depth}", family="P3D", clip=(16, 160, 160), sources=("p3d",), args_from=(_p3d,)
    )


_register(63, (3, 4, 6, 3))
_register(131, (3, 4, 23, 3))
_register(199, (3, 8, 36, 3))
