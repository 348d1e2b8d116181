"""Model registry (timm style): ``@register_model`` on constructor functions, ``create_model`` by name."""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from vr.errors import VrError

ModelFn = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about a model: its family, default clip (T, H, W), checkpoint sources and
    the keyword arguments it takes (name -> default)."""

    name: str
    family: str
    clip: tuple[int, int, int]
    sources: tuple[str, ...]
    fn: ModelFn
    args: dict[str, Any] = field(default_factory=dict)


class UnknownModelError(VrError, ValueError):
    """Raised for a model name that is not registered; the message lists the close names."""


class ModelArgumentError(VrError, TypeError, ValueError):
    """A model argument the model does not take (a ``TypeError``, as Python says), or of the wrong kind."""


def _keyword_defaults(functions: Sequence[Callable]) -> dict[str, Any]:
    """Every parameter with a default of ``functions`` (a model function and what it passes ``**kwargs``
    to), but the input and output sizes every model takes."""
    found: dict[str, Any] = {}
    for f in functions:
        for p in inspect.signature(f).parameters.values():
            if (
                p.default is not p.empty
                and p.name not in ("num_classes", "in_channels")
                and not p.name.startswith("_")
            ):
                found.setdefault(p.name, p.default)
    return found


def _check_args(name: str, accepted: dict[str, Any], kwargs: dict[str, Any]) -> None:
    """:class:`ModelArgumentError` for an argument ``name`` does not take, or not of its default's kind."""
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ModelArgumentError(
            f"{name} takes no argument {', '.join(unknown)}; it takes {', '.join(sorted(accepted))}"
        )
    for key, value in kwargs.items():
        default = accepted[key]
        if default is None:
            continue
        if isinstance(default, bool):
            ok, kind = isinstance(value, bool), "true or false"
        elif isinstance(default, int | float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and (isinstance(value, int) or isinstance(default, float) or float(value).is_integer())
            kind = "an integer" if isinstance(default, int) else "a number"
            ok = ok and math.isfinite(value)
        elif isinstance(default, str):
            ok, kind = isinstance(value, str), "a string"
        elif isinstance(default, tuple | list):
            ok, kind = isinstance(value, tuple | list), "a list"
        else:
            continue
        if not ok:
            shown = repr(value) if len(repr(value)) < 60 else repr(value)[:57] + "..."
            raise ModelArgumentError(f"{name}: {key}={shown} is not {kind} (default {default!r})")


def check_model_args(name: str, kwargs: dict[str, Any]) -> None:
    """Raise :class:`UnknownModelError` or :class:`ModelArgumentError` unless model ``name`` takes
    ``kwargs`` (names it accepts, values of its defaults' kinds), before anything is built or read."""
    info = _lookup(name)
    _check_args(name, {**info.args, "num_classes": 1, "in_channels": 3}, kwargs)


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    fn: ModelFn | None = None,
    *,
    name: str | None = None,
    family: str = "",
    clip: tuple[int, int, int] = (16, 112, 112),
    sources: tuple[str, ...] = (),
    args_from: Sequence[Callable] = (),
) -> Any:
    """Register ``fn(num_classes=..., in_channels=..., **kwargs) -> nn.Module`` under ``name`` (or its name).

    Usable bare (``@register_model``) or with options (``@register_model(clip=(32, 224, 224))``).
    ``args_from``: the functions ``fn`` passes its ``**kwargs`` to, whose keyword parameters the model
    takes too (:func:`create_model` checks names and kinds against them).
    """

    def decorate(f: ModelFn) -> ModelFn:
        key = name or f.__name__
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} is already registered")
        args = _keyword_defaults([f, *args_from])
        _REGISTRY[key] = ModelInfo(key, family or f.__module__.rsplit(".", 1)[-1], clip, sources, f, args)
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
    _check_args(name, info.args, kwargs)
    try:
        model = info.fn(num_classes=num_classes, in_channels=in_channels, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{name}: {exc}") from exc
    model.arch = name
    model.model_args = {"num_classes": num_classes, "in_channels": in_channels, **kwargs}
    return model
