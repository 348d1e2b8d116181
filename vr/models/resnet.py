"""The 3D ResNet trunk and the 3D-ResNets (kenshohara) families built on it.

One trunk, :class:`ResNet3d`: a stem (any conv builder), an optional stem pool, four stages of
residual blocks made by a :class:`BlockFactory`, optional temporal pools after stages, global average
pooling, dropout and a linear head. R3D, pre-activation R3D, wide R3D, ResNeXt and R(2+1)D differ only
in their block factory and stem builder; P3D (:mod:`vr.models.p3d`) and I3D (:mod:`vr.models.i3d`) add
their own factories.

Parameter names equal those of kenshohara/3D-ResNets-PyTorch (``conv1``, ``bn1``, ``conv1_s``, ...,
``layer1.0.conv1``, ``layer1.0.downsample.0``, ``fc``), so its checkpoints load with no renaming.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from vr.models.blocks import (
    Conv2Plus1D,
    ConvBN,
    ConvBuilder,
    PreActConv,
    ResidualBlock,
    Stage,
    Triple,
    ZeroPadShortcut,
    init_weights,
    projection_shortcut,
    triple,
)
from vr.models.registry import register_model

BASE_WIDTHS = (64, 128, 256, 512)
STAGE_STRIDES = (1, 2, 2, 2)


class BlockFactory:
    """Makes the residual blocks of the trunk. ``layer`` is 1..4, ``index`` the block within the stage,
    ``overall`` the block within the whole trunk (0-based, stage by stage); ``stride`` is the first
    block's (:meth:`stage_stride`), (1, 1, 1) for the others."""

    expansion = 1

    def block(
        self,
        cin: int,
        planes: int,
        stride: Triple,
        downsample: nn.Module | None,
        layer: int,
        index: int,
        overall: int,
    ) -> nn.Module:
        raise NotImplementedError

    def stage_stride(self, layer: int) -> Triple:
        """The stride of stage ``layer`` (in its first block and its shortcut)."""
        return triple(STAGE_STRIDES[layer - 1])

    def shortcut(self, cin: int, cout: int, stride: Triple) -> nn.Module:
        """The projection shortcut ("B") of a block that changes width or resolution."""
        return projection_shortcut(cin, cout, stride)


@dataclass(frozen=True)
class KenshoharaBlocks(BlockFactory):
    """Basic (two ``mid`` stages) or bottleneck (``point``, ``mid``, ``point``) blocks. The conv builders
    make the family: ``ConvBN`` 3x3x3 (R3D), ``Conv2Plus1D`` (R(2+1)D), grouped ``ConvBN`` with
    ``cardinality`` (ResNeXt: bottleneck width ``cardinality * planes // 32``), ``PreActConv`` with
    ``preact`` (pre-activation: the block adds no ReLU)."""

    bottleneck: bool = False
    expansion: int = 1
    mid: ConvBuilder = ConvBN((3, 3, 3))
    point: ConvBuilder = ConvBN((1, 1, 1))
    preact: bool = False
    cardinality: int | None = None

    def block(self, cin, planes, stride, downsample, layer, index, overall):
        s, mid = stride, self.mid
        if not self.bottleneck:
            stages = [Stage(mid, cin, planes, s), Stage(mid, planes, planes)]
        else:
            width = self.cardinality * planes // 32 if self.cardinality else planes
            stages = [
                Stage(self.point, cin, width),
                Stage(mid, width, width, s),
                Stage(self.point, width, planes * self.expansion),
            ]
        return ResidualBlock(stages, downsample, preact=self.preact)


class ResNet3d(nn.Module):
    """Stem -> [stem pool] -> layer1..layer4 (with optional pools after each) -> [conv5] -> avgpool ->
    [lin5] -> dropout -> fc.

    ``head_conv`` > 0 adds X3D's 1x1x1 ``conv5``/``bn5``/ReLU before pooling, ``head_hidden`` > 0 its
    bias-free ``lin5``/ReLU after pooling (its 1x1x1 conv on the pooled vector). ``num_classes=0`` makes
    a trunk without head (a SlowFast pathway); ``lateral[i]`` channels are concatenated to the input of
    stage ``i + 1`` by its owner (SlowFast's fast-to-slow fusions).
    """

    def __init__(
        self,
        blocks: BlockFactory,
        layers: Sequence[int],
        widths: Sequence[int],
        *,
        num_classes: int,
        in_channels: int = 3,
        stem: ConvBuilder,
        stem_stride: Triple,
        stem_pool: nn.Module | None,
        stage_pools: Sequence[nn.Module | None] = (None, None, None, None),
        shortcut: str = "B",
        dropout: float = 0.0,
        head_conv: int = 0,
        head_hidden: int = 0,
        lateral: Sequence[int] = (0, 0, 0, 0),
    ):
        super().__init__()
        if shortcut not in ("A", "B"):
            raise ValueError(f"shortcut must be 'A' or 'B', got {shortcut!r}")
        if len(layers) != 4 or len(widths) != 4:
            raise ValueError("layers and widths need four entries (one per stage)")
        self.blocks = blocks
        self.shortcut = shortcut
        self.stem = stem
        for name, module in stem.build(in_channels, widths[0], stem_stride, 1).items():
            self.add_module(name, module)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = stem_pool
        self.in_planes, self.blocks_made = widths[0], 0
        for i, (n, planes) in enumerate(zip(layers, widths, strict=True)):
            self.in_planes += lateral[i]
            self.add_module(f"layer{i + 1}", self._make_layer(planes, n, i + 1))
        self.stage_pools = nn.ModuleList([p if p is not None else nn.Identity() for p in stage_pools])
        features = self.in_planes
        if head_conv:
            self.conv5 = nn.Conv3d(features, head_conv, 1, bias=False)
            self.bn5 = nn.BatchNorm3d(head_conv)
            features = head_conv
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        if head_hidden:
            self.lin5 = nn.Linear(features, head_hidden, bias=False)
            features = head_hidden
        self.num_features = features
        if num_classes:
            self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
            self.fc = nn.Linear(features, num_classes)
        self.reset_parameters()

    def _make_layer(self, planes: int, n: int, layer: int) -> nn.Sequential:
        out = planes * self.blocks.expansion
        stride = self.blocks.stage_stride(layer)
        downsample = None
        if stride != (1, 1, 1) or self.in_planes != out:
            if self.shortcut == "A":
                downsample = ZeroPadShortcut(out, stride)
            else:
                downsample = self.blocks.shortcut(self.in_planes, out, stride)
        mods = []
        for i in range(n):
            cin, s, ds = (self.in_planes, stride, downsample) if i == 0 else (out, (1, 1, 1), None)
            mods.append(self.blocks.block(cin, planes, s, ds, layer, i, self.blocks_made))
            self.blocks_made += 1
        self.in_planes = out
        return nn.Sequential(*mods)

    def reset_parameters(self) -> None:
        init_weights(self)

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, H, W) clip -> the stem's (and stem pool's) feature map."""
        x = self.relu(self.stem.apply(self, 1, x))
        return x if self.maxpool is None else self.maxpool(x)

    def forward_stage(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Stage ``i`` (1..4) and the pool after it."""
        return self.stage_pools[i - 1](getattr(self, f"layer{i}")(x))

    def forward_pool(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map -> (N, F) pooled features (through ``conv5``/``lin5`` where present)."""
        if hasattr(self, "conv5"):
            x = self.relu(self.bn5(self.conv5(x)))
        x = torch.flatten(self.avgpool(x), 1)
        return self.relu(self.lin5(x)) if hasattr(self, "lin5") else x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, H, W) clip -> (N, F) pooled features."""
        x = self.forward_stem(x)
        for i in range(1, 5):
            x = self.forward_stage(i, x)
        return self.forward_pool(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.forward_features(x)
        return self.fc(self.dropout(features)) if hasattr(self, "fc") else features


DEPTHS: dict[int, tuple[bool, tuple[int, int, int, int]]] = {
    10: (False, (1, 1, 1, 1)),
    18: (False, (2, 2, 2, 2)),
    34: (False, (3, 4, 6, 3)),
    50: (True, (3, 4, 6, 3)),
    101: (True, (3, 4, 23, 3)),
    152: (True, (3, 8, 36, 3)),
    200: (True, (3, 24, 36, 3)),
}


def conv_stem(kt: int) -> ConvBuilder:
    """The 3D-ResNets stem: a ``kt``x7x7 convolution."""
    return ConvBN((kt, 7, 7))


def conv2plus1d_stem(kt: int) -> ConvBuilder:
    """The R(2+1)D stem: 1x7x7 then ``kt``x1x1 (mid-planes computed for 3 input channels)."""
    return Conv2Plus1D(kt=kt, ks=7, mid_in=3)


def kenshohara_resnet(
    blocks: KenshoharaBlocks,
    depth_layers: Sequence[int],
    stem: Callable[[int], ConvBuilder],
    base_widths: Sequence[int] = BASE_WIDTHS,
    *,
    num_classes: int,
    in_channels: int = 3,
    shortcut: str = "B",
    conv1_t_size: int = 7,
    conv1_t_stride: int = 1,
    no_max_pool: bool = False,
    widen_factor: float = 1.0,
    layers: Sequence[int] | None = None,
    dropout: float = 0.0,
) -> ResNet3d:
    """The 3D-ResNets trunk: ``stem(conv1_t_size)``, 3x3x3 max pool, widths x ``widen_factor``.

    ``layers`` overrides the blocks per stage (e.g. ``(1, 1, 1, 1)`` for a fast wiring test).
    """
    widths = [int(w * widen_factor) for w in base_widths]
    return ResNet3d(
        blocks,
        layers or depth_layers,
        widths,
        num_classes=num_classes,
        in_channels=in_channels,
        stem=stem(conv1_t_size),
        stem_stride=(conv1_t_stride, 2, 2),
        stem_pool=None if no_max_pool else nn.MaxPool3d(3, stride=2, padding=1),
        shortcut=shortcut,
        dropout=dropout,
    )


_SOURCES = ("kenshohara",)


def _register_family(prefix: str, family: str, depths: Sequence[int], make) -> None:
    for depth in depths:

        def fn(num_classes: int, in_channels: int = 3, _depth: int = depth, **kwargs) -> ResNet3d:
            return make(_depth, num_classes=num_classes, in_channels=in_channels, **kwargs)

        fn.__doc__ = f"{family} depth {depth} (3D-ResNets seed defaults)."
        register_model(
            fn, name=f"{prefix}{depth}", family=family, sources=_SOURCES, args_from=(make, kenshohara_resnet)
        )


def _r3d(depth: int, **kwargs) -> ResNet3d:
    bottleneck, layers = DEPTHS[depth]
    return kenshohara_resnet(
        KenshoharaBlocks(bottleneck, 4 if bottleneck else 1), layers, conv_stem, **kwargs
    )


def _preact(depth: int, **kwargs) -> ResNet3d:
    bottleneck, layers = DEPTHS[depth]
    blocks = KenshoharaBlocks(
        bottleneck, 4 if bottleneck else 1, PreActConv((3, 3, 3)), PreActConv((1, 1, 1)), preact=True
    )
    return kenshohara_resnet(blocks, layers, conv_stem, **kwargs)


def _wide(depth: int, k: int = 2, **kwargs) -> ResNet3d:
    _, layers = DEPTHS[depth]
    widths = [w * k for w in BASE_WIDTHS]
    return kenshohara_resnet(KenshoharaBlocks(True, 2), layers, conv_stem, widths, **kwargs)


def _resnext(depth: int, cardinality: int = 32, **kwargs) -> ResNet3d:
    _, layers = DEPTHS[depth]
    blocks = KenshoharaBlocks(True, 2, ConvBN((3, 3, 3), groups=cardinality), cardinality=cardinality)
    return kenshohara_resnet(blocks, layers, conv_stem, (128, 256, 512, 1024), **kwargs)


def _r2plus1d(depth: int, **kwargs) -> ResNet3d:
    bottleneck, layers = DEPTHS[depth]
    blocks = KenshoharaBlocks(bottleneck, 4 if bottleneck else 1, Conv2Plus1D())
    return kenshohara_resnet(blocks, layers, conv2plus1d_stem, **kwargs)


_register_family("r3d", "3D ResNet", (10, 18, 34, 50, 101, 152, 200), _r3d)
_register_family("preact_r3d", "pre-activation 3D ResNet", (10, 18, 34, 50, 101, 152, 200), _preact)
_register_family("wrn3d", "wide 3D ResNet", (50, 101, 152, 200), _wide)
_register_family("resnext3d", "3D ResNeXt", (50, 101, 152, 200), _resnext)
_register_family("r2plus1d", "R(2+1)D", (10, 18, 34, 50, 101, 152, 200), _r2plus1d)
