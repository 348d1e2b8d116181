"""X3D (Feichtenhofer, CVPR 2020) XS/S/M/L on the shared trunk, after PyTorchVideo's ``create_x3d``.

A 2D ResNet expanded along time, frame rate, width and depth: a separable stem (1x3x3 then depthwise
5x1x1), four stages of bottlenecks 2.25x wide inside with a depthwise 3x3x3 middle,
squeeze-and-excitation after every other middle (the 1st, 3rd, ... block of a stage), Swish after it,
spatial stride 2 at the start of every stage, and the head's 1x1x1 ``conv5`` and 2048-wide ``lin5``.
Widths 24/48/96/192 (PyTorchVideo's ``width_factor=2``); depths ``ceil(depth_factor * (1, 2, 5, 3))``.

PyTorchVideo's head pools with a fixed kernel sized for the model's default clip; here the pool is
global, which is the same at the default clip and also works at any other size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch.nn.functional as F

from vr.models.blocks import (
    ConvBN,
    ResidualBlock,
    SeparableStem,
    Stage,
    Triple,
    projection_shortcut,
    round_width,
)
from vr.models.blocks import zero_init_residual as zero_init
from vr.models.registry import register_model
from vr.models.resnet import BlockFactory, ResNet3d

BASE_DEPTHS = (1, 2, 5, 3)
BOTTLENECK_FACTOR = 2.25
SE_RATIO = 0.0625


@dataclass(frozen=True)
class X3DBlocks(BlockFactory):
    """X3D bottlenecks: 1x1x1, ReLU, depthwise 3x3x3 (+ SE on even ``index``), Swish, 1x1x1."""

    bottleneck_factor: float = BOTTLENECK_FACTOR
    se_ratio: float = SE_RATIO
    shortcut_norm: bool = False

    def block(self, cin, planes, stride, downsample, layer, index, overall):
        inner = int(self.bottleneck_factor * planes)
        se = self.se_ratio if index % 2 == 0 else 0.0
        stages = [
            Stage(ConvBN((1, 1, 1)), cin, inner),
            Stage(ConvBN((3, 3, 3), depthwise=True, se=se), inner, inner, stride),
            Stage(ConvBN((1, 1, 1)), inner, planes),
        ]
        return ResidualBlock(stages, downsample, activations=(F.relu, F.silu))

    def stage_stride(self, layer: int) -> Triple:
        return (1, 2, 2)

    def shortcut(self, cin: int, cout: int, stride: Triple):
        return projection_shortcut(cin, cout, stride, norm=self.shortcut_norm or cin != cout)


def x3d(
    depth_factor: float,
    *,
    num_classes: int,
    in_channels: int = 3,
    width_factor: float = 2.0,
    layers: Sequence[int] | None = None,
    head_hidden: int = 2048,
    dropout: float = 0.5,
    shortcut_norm: bool = False,
    zero_init_residual: bool = True,
) -> ResNet3d:
    """An X3D of the given expansion factors; ``layers`` overrides the blocks per stage.
    ``zero_init_residual``: the originals' initialisation (:func:`~vr.models.blocks.zero_init_residual`).

    ``shortcut_norm``: a batch norm on every projection shortcut (MMAction2's X3D); PyTorchVideo has
    none where the width stays the same (stage 1).
    """
    dims = [12]
    for _ in range(3):
        dims.append(round_width(dims[-1], 2.0))
    widths = [round_width(d, width_factor) for d in dims]
    depths = layers or [math.ceil(depth_factor * d) for d in BASE_DEPTHS]
    model = ResNet3d(
        X3DBlocks(shortcut_norm=shortcut_norm),
        depths,
        widths,
        num_classes=num_classes,
        in_channels=in_channels,
        stem=SeparableStem(kt=5, ks=3),
        stem_stride=(1, 2, 2),
        stem_pool=None,
        dropout=dropout,
        head_conv=int(BOTTLENECK_FACTOR * widths[3]),
        head_hidden=head_hidden,
    )
    return zero_init(model) if zero_init_residual else model


_VARIANTS = {
    "xs": (2.2, (4, 160, 160)),
    "s": (2.2, (13, 160, 160)),
    "m": (2.2, (16, 224, 224)),
    "l": (5.0, (16, 312, 312)),
}


def _register(variant: str, depth_factor: float, clip: tuple[int, int, int]) -> None:
    def fn(num_classes: int, in_channels: int = 3, **kwargs) -> ResNet3d:
        return x3d(depth_factor, num_classes=num_classes, in_channels=in_channels, **kwargs)

    fn.__doc__ = f"X3D-{variant.upper()}: depth factor {depth_factor}, {clip[0]}x{clip[1]}x{clip[2]} clips."
    register_model(
        fn,
        name=f"x3d_{variant}",
        family="X3D",
        clip=clip,
        sources=("pytorchvideo", "mmaction2"),
        args_from=(x3d,),
    )


for _variant, (_depth, _clip) in _VARIANTS.items():
    _register(_variant, _depth, _clip)
