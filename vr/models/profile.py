"""Parameter and FLOP counts of registered models and whether a clip fits them, measured on the meta
device (no memory, no weights)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from vr.errors import VrError
from vr.models.registry import create_model, model_info


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one forward pass of ``x`` through the Conv3d and Linear layers (multiply-add = 2 FLOPs).

    Measured with forward hooks from the actual output shapes, so strides, padding, groups and pooling
    are accounted for exactly; normalisation, activations and pooling themselves are not counted.
    """
    total = 0

    def conv_hook(module: nn.Conv3d, _inputs: Any, out: torch.Tensor) -> None:
        nonlocal total
        total += 2 * out.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)

    def linear_hook(module: nn.Linear, _inputs: Any, out: torch.Tensor) -> None:
        nonlocal total
        total += 2 * out.numel() * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return total


@dataclass(frozen=True)
class ModelSummary:
    name: str
    family: str
    params: int
    flops: int | None
    clip: tuple[int, int, int]
    sources: tuple[str, ...]


def summarize(name: str, num_classes: int = 400, in_channels: int = 3, flops: bool = True) -> ModelSummary:
    """Parameters and FLOPs (batch 1, the model's default clip) of a registered model."""
    info = model_info(name)
    with torch.device("meta"):
        model = create_model(name, num_classes=num_classes, in_channels=in_channels).eval()
        n_flops = count_flops(model, torch.empty(1, in_channels, *info.clip)) if flops else None
    return ModelSummary(name, info.family, count_params(model), n_flops, info.clip, info.sources)


class ClipSizeError(VrError, ValueError):
    """A clip that cannot pass through a model (its strides and pools leave no frame or pixel)."""


def check_clip(
    name: str, clip: tuple[int, int, int], num_classes: int = 2, in_channels: int = 3, **model_args: Any
) -> None:
    """Raise :class:`ClipSizeError` when a ``clip`` (T, H, W) is too small for model ``name`` with
    ``model_args``: one forward pass on the meta device (shapes only, no memory, no compute)."""
    with torch.device("meta"):
        model = create_model(name, num_classes=num_classes, in_channels=in_channels, **model_args).eval()
        try:
            with torch.no_grad():
                model(torch.empty(1, in_channels, *clip))
        except RuntimeError as e:
            smallest = model_info(name).clip
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ClipSizeError(
                f"{name}: a {'x'.join(map(str, clip))} clip is too small for this network ({reason}); "
                f"its default clip is {'x'.join(map(str, smallest))}"
            ) from None
