"""SlowFast (Feichtenhofer et al., ICCV 2019) and its Slow pathway alone (``slow_r50``).

Two :class:`~vr.models.resnet.ResNet3d` trunks without heads: the *slow* pathway sees every
``alpha``-th frame at full width (3x1x1 inflation in stages 3-4 only), the *fast* one sees every frame at
1/``beta_inv`` of the width (inflated everywhere). After the stem and stages 1-3 a lateral
``fuse{i}`` (a ``kernel``x1x1 conv with stride ``alpha`` in time, BN, ReLU) maps fast features to
twice their width at the slow frame rate and concatenates them to the slow features. The head pools
each pathway, concatenates and classifies. Layout and defaults follow PyTorchVideo's ``create_slowfast``
(8x8: alpha 4, fusion kernel 7; 4x16: alpha 8, kernel 5, as in SlowFast's configs).

The model takes the fast clip (N, C, T, H, W) and picks the slow frames itself (``x[:, :, ::alpha]``),
so every loader, ``vr eval`` and ``vr infer`` feed it like any other model; a ``[slow, fast]`` pair
(PyTorchVideo's ``PackPathway``) is accepted too.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from vr.models.blocks import ConvBN
from vr.models.blocks import zero_init_residual as zero_init
from vr.models.i3d import InflatedBlocks
from vr.models.registry import register_model
from vr.models.resnet import BASE_WIDTHS, DEPTHS, ResNet3d

SLOW_INFLATE = ((0,), (0,), (1,), (1,))
FAST_INFLATE = ((1,), (1,), (1,), (1,))


def _pathway(
    inflate: tuple[tuple[int, ...], ...],
    kt: int,
    width: int,
    layers: Sequence[int],
    in_channels: int,
    lateral: Sequence[int] = (0, 0, 0, 0),
    num_classes: int = 0,
    dropout: float = 0.0,
) -> ResNet3d:
    return ResNet3d(
        InflatedBlocks(inflate),
        layers,
        [w * width // 64 for w in BASE_WIDTHS],
        num_classes=num_classes,
        in_channels=in_channels,
        stem=ConvBN((kt, 7, 7)),
        stem_stride=(1, 2, 2),
        stem_pool=nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        lateral=lateral,
        dropout=dropout,
    )


class Fusion(nn.Module):
    """Fast -> slow lateral connection: time-strided ``conv``, then ``bn`` and ReLU (PyTorchVideo) or
    nothing (``norm=False``: MMAction2)."""

    def __init__(self, cin: int, cout: int, kernel: int, alpha: int, norm: bool = True):
        super().__init__()
        self.conv = nn.Conv3d(
            cin, cout, (kernel, 1, 1), stride=(alpha, 1, 1), padding=(kernel // 2, 0, 0), bias=False
        )
        self.bn = nn.BatchNorm3d(cout) if norm else None

    def forward(self, fast: torch.Tensor) -> torch.Tensor:
        x = self.conv(fast)
        return x if self.bn is None else torch.relu(self.bn(x))


class SlowFast(nn.Module):
    """``slow`` and ``fast`` pathways, ``fuse0..3`` laterals, ``dropout`` and ``fc`` on both pooled."""

    input_convs = ("slow.conv1", "fast.conv1")

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int = 3,
        alpha: int = 4,
        beta_inv: int = 8,
        fusion_kernel: int = 7,
        fusion_ratio: int = 2,
        widen_factor: float = 1.0,
        layers: Sequence[int] = DEPTHS[50][1],
        dropout: float = 0.5,
        fusion_norm: bool = True,
        zero_init_residual: bool = True,
    ):
        super().__init__()
        if alpha < 1 or beta_inv < 1 or fusion_kernel < 1 or fusion_ratio < 1:
            raise ValueError("alpha, beta_inv, fusion_kernel and fusion_ratio must be positive")
        self.alpha = alpha
        slow_width = int(64 * widen_factor)
        fast_width = slow_width // beta_inv
        if fast_width < 1:
            raise ValueError(f"the fast pathway has no channels: 64 x {widen_factor} / {beta_inv} < 1")
        fast_outs = [fast_width] + [w * 4 * fast_width // 64 for w in BASE_WIDTHS[:3]]
        lateral = [c * fusion_ratio for c in fast_outs]
        self.slow = _pathway(SLOW_INFLATE, 1, slow_width, layers, in_channels, lateral)
        self.fast = _pathway(FAST_INFLATE, 5, fast_width, layers, in_channels)
        for i, (cin, cout) in enumerate(zip(fast_outs, lateral, strict=True)):
            self.add_module(f"fuse{i}", Fusion(cin, cout, fusion_kernel, alpha, fusion_norm))
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(self.slow.num_features + self.fast.num_features, num_classes)
        if zero_init_residual:  # the originals' initialisation
            zero_init(self)

    def pathways(self, x: torch.Tensor | Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The (slow, fast) clips of an input: a fast clip, or a ``[slow, fast]`` pair."""
        if isinstance(x, torch.Tensor):
            return x[:, :, :: self.alpha], x
        slow, fast = x
        return slow, fast

    def forward_features(self, x: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        slow, fast = self.pathways(x)
        slow, fast = self.slow.forward_stem(slow), self.fast.forward_stem(fast)
        for i in range(1, 5):
            slow = torch.cat([slow, getattr(self, f"fuse{i - 1}")(fast)], 1)
            slow, fast = self.slow.forward_stage(i, slow), self.fast.forward_stage(i, fast)
        return torch.cat([self.slow.forward_pool(slow), self.fast.forward_pool(fast)], 1)

    def forward(self, x: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        return self.fc(self.dropout(self.forward_features(x)))


_SLOWFAST = {"4x16": (8, 5), "8x8": (4, 7)}


def _register(variant: str, alpha: int, kernel: int) -> None:
    def fn(num_classes: int, in_channels: int = 3, **kwargs) -> SlowFast:
        kwargs = {"alpha": alpha, "fusion_kernel": kernel, **kwargs}
        return SlowFast(num_classes=num_classes, in_channels=in_channels, **kwargs)

    fn.__doc__ = f"SlowFast R50 {variant}: 32-frame fast clips, every {alpha}th to the slow pathway."
    register_model(
        fn,
        name=f"slowfast_r50_{variant}",
        family="SlowFast",
        clip=(32, 224, 224),
        sources=("pytorchvideo", "mmaction2"),
        args_from=(SlowFast.__init__,),
    )


for _variant, (_alpha, _kernel) in _SLOWFAST.items():
    _register(_variant, _alpha, _kernel)


@register_model(family="SlowFast", clip=(8, 224, 224), sources=("pytorchvideo", "mmaction2"))
def slow_r50(
    num_classes: int,
    in_channels: int = 3,
    widen_factor: float = 1.0,
    layers: Sequence[int] = DEPTHS[50][1],
    dropout: float = 0.5,
    zero_init_residual: bool = True,
) -> ResNet3d:
    """The Slow pathway alone (PyTorchVideo's ``slow_r50``, 8x8): 8x224x224 clips."""
    width = int(64 * widen_factor)
    model = _pathway(SLOW_INFLATE, 1, width, layers, in_channels, num_classes=num_classes, dropout=dropout)
    return zero_init(model) if zero_init_residual else model
