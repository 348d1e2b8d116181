"""Channel-separated networks (Tran et al., ICCV 2019): ir-CSN and ip-CSN 50/101/152 on the shared trunk.

ResNet bottlenecks whose 3x3x3 middle convolution is depthwise: *interaction-reduced* (ir) drops the
channel interactions there, *interaction-preserved* (ip) keeps them in an extra 1x1x1 convolution (and
batch norm) before it. ``bn_eps``: MMAction2's CSN weights (converted from Caffe2) use 1e-3,
PyTorchVideo's 1e-5. Stem 3x7x7 (stride 1x2x2) and a 1x3x3 max pool; stages 2-4 stride 2 in time
and space, as in PyTorchVideo's ``create_csn`` and MMAction2's ``ResNet3dCSN``; 32x224x224 clips.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from vr.models.blocks import ConvBN, InteractionPreserved, set_bn_eps
from vr.models.blocks import zero_init_residual as zero_init
from vr.models.registry import register_model
from vr.models.resnet import BASE_WIDTHS, DEPTHS, KenshoharaBlocks, ResNet3d


def csn(
    depth: int,
    mode: str,
    *,
    num_classes: int,
    in_channels: int = 3,
    widen_factor: float = 1.0,
    layers: Sequence[int] | None = None,
    dropout: float = 0.0,
    bn_eps: float = 1e-5,
    zero_init_residual: bool = True,
) -> ResNet3d:
    """A CSN of ``depth`` (50, 101, 152) with ``mode`` ``'ir'`` or ``'ip'`` bottlenecks;
    ``zero_init_residual``: the originals' initialisation (:func:`~vr.models.blocks.zero_init_residual`)."""
    if mode not in ("ir", "ip"):
        raise ValueError(f"CSN mode must be 'ir' or 'ip', got {mode!r}")
    mid = ConvBN((3, 3, 3), depthwise=True) if mode == "ir" else InteractionPreserved((3, 3, 3))
    if not 0 < bn_eps < 1:
        raise ValueError(f"bn_eps must be in (0, 1), got {bn_eps}")
    model = ResNet3d(
        KenshoharaBlocks(bottleneck=True, expansion=4, mid=mid),
        layers or DEPTHS[depth][1],
        [int(w * widen_factor) for w in BASE_WIDTHS],
        num_classes=num_classes,
        in_channels=in_channels,
        stem=ConvBN((3, 7, 7)),
        stem_stride=(1, 2, 2),
        stem_pool=nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        dropout=dropout,
    )
    if zero_init_residual:
        zero_init(model)
    return set_bn_eps(model, bn_eps)


def _register(mode: str, depth: int) -> None:
    def fn(num_classes: int, in_channels: int = 3, **kwargs) -> ResNet3d:
        return csn(depth, mode, num_classes=num_classes, in_channels=in_channels, **kwargs)

    fn.__doc__ = f"{mode}-CSN-{depth}: depthwise 3x3x3 bottlenecks, 32x224x224 clips."
    register_model(
        fn,
        name=f"{mode}csn_{depth}",
        family="CSN",
        clip=(32, 224, 224),
        sources=("pytorchvideo", "mmaction2") if mode == "ir" else ("mmaction2",),
        args_from=(csn,),
    )


for _mode in ("ir", "ip"):
    for _depth in (50, 101, 152):
        _register(_mode, _depth)
