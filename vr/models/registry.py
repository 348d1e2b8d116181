"""Model registry (timm style): ``@register_model`` on constructor functions, ``create_model`` by name."""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from vr.errors import VrError

ModelFn = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about a model: its family, default clip (T, H, W) and checkpoint sources."""

    name: str
    family: str
    clip: tuple[int, int, int]
    sources: tuple[str, ...]
    fn: ModelFn


class UnknownModelError(VrError, ValueError):
    """Raised for a model name that is not registered; the message lists the close names."""


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    fn: ModelFn | None = None,
    *,
    name: str | None = None,
    family: str = "",
    clip: tuple[int, int, int] = (16, 112, 112),
    sources: tuple[str, ...] = (),
) -> Any:
    """Register ``fn(num_classes=..., in_channels=..., **kwargs) -> nn.Module`` under ``name`` (or its name).

    Usable bare (``@register_model``) or with options (``@register_model(clip=(32, 224, 224))``).
    """

    def decorate(f: ModelFn) -> ModelFn:
        key = name or f.__name__
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} is already registered")
        _REGISTRY[key] = ModelInfo(key, family or f.__module__.rsplit(".", 1)[-1], clip, sources, f)
        return f

    return decorate if fn is None else decorate(fn)


def _lookup(name: str) -> ModelInfo:
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.5)
        hint = (
            f"; close names: {', '.join(close)}"
            if close
            else f"; see list_models() ({len(_REGISTRY)} models)"
        )
        raise UnknownModelError(f"unknown model {name!r}{hint}") from None


def _natural(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern``, in natural order (r3d18 before r3d101)."""
    return sorted((n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern)), key=_natural)


def model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of a registered model (raises :class:`UnknownModelError`)."""
    return _lookup(name)


def create_model(name: str, num_classes: int, in_channels: int = 3, **kwargs: Any) -> nn.Module:
    """Build a registered model. ``in_channels`` is 3 for RGB and 2 for (x, y) optical flow.

    The returned module carries ``arch`` and ``model_args`` attributes, enough to rebuild it from a
    checkpoint with ``create_model(model.arch, **model.model_args)``.
    """
    info = _lookup(name)
    try:
        model = info.fn(num_classes=num_classes, in_channels=in_channels, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{name}: {exc}") from exc
    model.arch = name
    model.model_args = {"num_classes": num_classes, "in_channels": in_channels, **kwargs}
    return model
