"""Residual blocks assembled from pluggable convolution builders.

A *conv builder* is a small stateless object that creates the modules of one convolution stage
(convolution plus batch norm) and runs them. It registers them directly on the owning module under
flat names (``conv{tag}``/``bn{tag}``, ``conv{tag}_s``/``bn{tag}_s``/... ) so that parameter names
match the published checkpoints without nesting. R3D, R(2+1)D, P3D, I3D, CSN, X3D and the
pre-activation and ResNeXt variants are one :class:`ResidualBlock` with different builders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

Triple = tuple[int, int, int]


def triple(value: int | Sequence[int]) -> Triple:
    """``2 -> (2, 2, 2)``; a sequence of three is returned as a tuple."""
    if isinstance(value, int):
        return (value, value, value)
    t, h, w = value
    return (int(t), int(h), int(w))


def _conv(cin: int, cout: int, kernel: Triple, stride: Triple, groups: int = 1) -> nn.Conv3d:
    padding = tuple(k // 2 for k in kernel)
    return nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding, groups=groups, bias=False)


class ConvBuilder:
    """Base class: ``build`` creates the named modules of one stage, ``apply`` runs them.

    ``span`` is how many stage numbers the builder uses (a P3D unit uses two: conv2 and conv3).
    """

    span = 1

    def build(self, cin: int, cout: int, stride: Triple, tag: int | str) -> dict[str, nn.Module]:
        raise NotImplementedError

    def apply(self, owner: nn.Module, tag: int | str, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@dataclass(frozen=True)
class ConvBN(ConvBuilder):
    """``conv{tag}`` (kernel ``kernel``, "same" padding) then ``bn{tag}``, then, with ``se`` > 0, a
    squeeze-and-excitation ``se{tag}`` of ``se_width(cout)`` channels.

    ``groups``: grouped convolution (ResNeXt); ``depthwise``: one group per channel (X3D, CSN).
    """

    kernel: Triple = (3, 3, 3)
    groups: int = 1
    depthwise: bool = False
    se: float = 0.0

    def build(self, cin, cout, stride, tag):
        if self.depthwise and cin != cout:
            raise ValueError(f"a depthwise convolution keeps its width, got {cin} -> {cout}")
        modules: dict[str, nn.Module] = {
            f"conv{tag}": _conv(cin, cout, self.kernel, stride, cout if self.depthwise else self.groups),
            f"bn{tag}": nn.BatchNorm3d(cout),
        }
        if self.se > 0:
            modules[f"se{tag}"] = SqueezeExcite(cout, round_width(cout, self.se))
        return modules

    def apply(self, owner, tag, x):
        x = getattr(owner, f"bn{tag}")(getattr(owner, f"conv{tag}")(x))
        return getattr(owner, f"se{tag}")(x) if self.se > 0 else x


@dataclass(frozen=True)
class InteractionPreserved(ConvBuilder):
    """ip-CSN's middle stage: a 1x1x1 ``conv{tag}_p``/``bn{tag}_p`` (the channel interactions), then a
    depthwise ``conv{tag}`` (kernel ``kernel``, with the stride) and ``bn{tag}`` (MMAction2's layout)."""

    kernel: Triple = (3, 3, 3)

    def build(self, cin, cout, stride, tag):
        return {
            f"conv{tag}_p": _conv(cin, cout, (1, 1, 1), (1, 1, 1)),
            f"bn{tag}_p": nn.BatchNorm3d(cout),
            f"conv{tag}": _conv(cout, cout, self.kernel, stride, cout),
            f"bn{tag}": nn.BatchNorm3d(cout),
        }

    def apply(self, owner, tag, x):
        x = getattr(owner, f"bn{tag}_p")(getattr(owner, f"conv{tag}_p")(x))
        return getattr(owner, f"bn{tag}")(getattr(owner, f"conv{tag}")(x))


@dataclass(frozen=True)
class SeparableStem(ConvBuilder):
    """X3D's stem: a 1xKxK ``conv{tag}_s`` (spatial stride), a depthwise Tx1x1 ``conv{tag}_t`` (temporal
    stride), then ``bn{tag}``."""

    kt: int = 5
    ks: int = 3

    def build(self, cin, cout, stride, tag):
        st, sh, sw = stride
        return {
            f"conv{tag}_s": _conv(cin, cout, (1, self.ks, self.ks), (1, sh, sw)),
            f"conv{tag}_t": _conv(cout, cout, (self.kt, 1, 1), (st, 1, 1), cout),
            f"bn{tag}": nn.BatchNorm3d(cout),
        }

    def apply(self, owner, tag, x):
        x = getattr(owner, f"conv{tag}_t")(getattr(owner, f"conv{tag}_s")(x))
        return getattr(owner, f"bn{tag}")(x)


def round_width(width: float, multiplier: float, divisor: int = 8) -> int:
    """``width * multiplier`` rounded to a multiple of ``divisor`` (at least ``divisor``), never more than
    10% below the exact product: the channel rounding of X3D and its squeeze-and-excitation."""
    exact = width * multiplier
    rounded = max(divisor, int(exact + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * exact else rounded)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: global mean -> 1x1x1 ``fc1`` -> ReLU -> ``fc2`` -> sigmoid, scaling the
    channels of its input."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.fc1 = nn.Conv3d(channels, reduced, 1)
        self.fc2 = nn.Conv3d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3, 4), keepdim=True))))
        return x * torch.sigmoid(scale)


@dataclass(frozen=True)
class PreActConv(ConvBuilder):
    """Pre-activation stage: ``bn{tag}`` (over the input channels), ReLU, then ``conv{tag}``."""

    kernel: Triple = (3, 3, 3)

    def build(self, cin, cout, stride, tag):
        return {f"bn{tag}": nn.BatchNorm3d(cin), f"conv{tag}": _conv(cin, cout, self.kernel, stride)}

    def apply(self, owner, tag, x):
        return getattr(owner, f"conv{tag}")(F.relu(getattr(owner, f"bn{tag}")(x)))


def mid_planes_2plus1d(cin: int, cout: int, kt: int, ks: int) -> int:
    """R(2+1)D intermediate width: the (2+1)D pair has about as many weights as the 3D kernel."""
    return (cin * cout * kt * ks * ks) // (cin * ks * ks + kt * cout)


@dataclass(frozen=True)
class Conv2Plus1D(ConvBuilder):
    """R(2+1)D stage: 1xKxK spatial ``conv{tag}_s``/``bn{tag}_s``, ReLU, Tx1x1 ``conv{tag}_t``/``bn{tag}_t``.

    ``mid_in`` overrides the input width used by the mid-plane formula (the 3D-ResNets stem uses 3
    whatever the number of input channels); ``mid`` sets the width in between outright (torchvision's
    stem: 45).
    """

    kt: int = 3
    ks: int = 3
    mid_in: int | None = None
    mid: int | None = None

    def build(self, cin, cout, stride, tag):
        mid = self.mid or mid_planes_2plus1d(self.mid_in or cin, cout, self.kt, self.ks)
        st, sh, sw = stride
        return {
            f"conv{tag}_s": _conv(cin, mid, (1, self.ks, self.ks), (1, sh, sw)),
            f"bn{tag}_s": nn.BatchNorm3d(mid),
            f"conv{tag}_t": _conv(mid, cout, (self.kt, 1, 1), (st, 1, 1)),
            f"bn{tag}_t": nn.BatchNorm3d(cout),
        }

    def apply(self, owner, tag, x):
        x = F.relu(getattr(owner, f"bn{tag}_s")(getattr(owner, f"conv{tag}_s")(x)))
        return getattr(owner, f"bn{tag}_t")(getattr(owner, f"conv{tag}_t")(x))


@dataclass(frozen=True)
class PseudoST(ConvBuilder):
    """P3D spatio-temporal unit: 1x3x3 ``conv{n}`` and 3x1x1 ``conv{n+1}`` combined as

    A (cascade S then T), B (parallel S + T) or C (S, then S + T(S)); each branch ends in a ReLU.
    """

    structure: str = "A"
    span = 2

    def build(self, cin, cout, stride, tag):
        if stride != (1, 1, 1):
            raise ValueError("the P3D spatio-temporal unit has no stride")
        t = int(tag)
        return {
            f"conv{t}": _conv(cin, cout, (1, 3, 3), (1, 1, 1)),
            f"bn{t}": nn.BatchNorm3d(cout),
            f"conv{t + 1}": _conv(cout if self.structure != "B" else cin, cout, (3, 1, 1), (1, 1, 1)),
            f"bn{t + 1}": nn.BatchNorm3d(cout),
        }

    def apply(self, owner, tag, x):
        t = int(tag)
        spatial = F.relu(getattr(owner, f"bn{t}")(getattr(owner, f"conv{t}")(x)))
        temporal_in = x if self.structure == "B" else spatial
        temporal = F.relu(getattr(owner, f"bn{t + 1}")(getattr(owner, f"conv{t + 1}")(temporal_in)))
        return temporal if self.structure == "A" else spatial + temporal


@dataclass(frozen=True)
class Stage:
    """One convolution stage of a block; ``tag`` defaults to the next free stage number."""

    builder: ConvBuilder
    cin: int
    cout: int
    stride: Triple = (1, 1, 1)
    tag: int | str | None = None


class ZeroPadShortcut(nn.Module):
    """Shortcut "A": subsample by striding and append zero channels (no parameters)."""

    def __init__(self, out_planes: int, stride: Triple):
        super().__init__()
        self.out_planes = out_planes
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        st, sh, sw = self.stride
        x = x[:, :, ::st, ::sh, ::sw]
        return F.pad(x, (0, 0, 0, 0, 0, 0, 0, self.out_planes - x.shape[1]))


def projection_shortcut(cin: int, cout: int, stride: Triple, norm: bool = True) -> nn.Sequential:
    """Shortcut "B": 1x1x1 convolution with stride, then batch norm (``downsample.0``/``.1``; X3D has
    no norm where the width does not change)."""
    conv = nn.Conv3d(cin, cout, 1, stride=stride, bias=False)
    return nn.Sequential(conv, nn.BatchNorm3d(cout)) if norm else nn.Sequential(conv)


Activation = Callable[[torch.Tensor], torch.Tensor]


class ResidualBlock(nn.Module):
    """Stages in sequence (an activation between post-activation stages: ReLU, or ``activations[i]``
    after stage ``i``), plus the shortcut, plus ReLU.

    With ``preact=True`` the stages carry their own BN-ReLU in front and the block adds no ReLU.
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        downsample: nn.Module | None = None,
        preact: bool = False,
        activations: Sequence[Activation] | None = None,
    ):
        super().__init__()
        self.preact = preact
        self.activations = tuple(activations or [F.relu] * (len(stages) - 1))
        if len(self.activations) != len(stages) - 1:
            raise ValueError("a block needs one activation between each two stages")
        plan: list[tuple[ConvBuilder, int | str]] = []
        next_tag = 1
        for stage in stages:
            tag = next_tag if stage.tag is None else stage.tag
            for name, module in stage.builder.build(stage.cin, stage.cout, stage.stride, tag).items():
                self.add_module(name, module)
            plan.append((stage.builder, tag))
            if isinstance(tag, int):
                next_tag = tag + stage.builder.span
        self.plan = tuple(plan)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        last = len(self.plan) - 1
        for i, (builder, tag) in enumerate(self.plan):
            out = builder.apply(self, tag, out)
            if not self.preact and i < last:
                out = self.activations[i](out)
        identity = x if self.downsample is None else self.downsample(x)
        out = out + identity
        return out if self.preact else F.relu(out)


def set_bn_eps(model: nn.Module, eps: float) -> nn.Module:
    """Set the epsilon of every batch norm (CSN's Caffe2-trained weights use 1e-3)."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eps = eps
    return model


def zero_init_residual(model: nn.Module, head_std: float = 0.01) -> nn.Module:
    """The initialisation PyTorchVideo, PySlowFast and MMAction2 train their X3D, SlowFast and CSN
    networks from (on top of :func:`init_weights`): the last batch norm of every residual branch starts at
    zero scale, so each block starts as its shortcut, and the classifier ``fc`` from N(0, ``head_std``)
    with zero bias, so the first logits are small. On the demo's data SlowFast R50 reached 42% training
    accuracy after 5 epochs with it, 28% without (its first loss 2.2 instead of 3.2, above chance's 1.8)."""
    for m in model.modules():
        if isinstance(m, ResidualBlock) and not m.preact:
            norms = [c for c in m.children() if isinstance(c, nn.modules.batchnorm._BatchNorm)]
            if norms:
                nn.init.zeros_(norms[-1].weight)
    fc = getattr(model, "fc", None)
    if isinstance(fc, nn.Linear):
        nn.init.normal_(fc.weight, 0.0, head_std)
        if fc.bias is not None:
            nn.init.zeros_(fc.bias)
    return model


def init_weights(model: nn.Module, zero_linear_bias: bool = False) -> None:
    """The 3D-ResNets initialisation: Kaiming-normal (fan out) convolutions, unit-scale zero-shift batch
    norms (and, for its DenseNet, zero linear biases)."""
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm3d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif zero_linear_bias and isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
