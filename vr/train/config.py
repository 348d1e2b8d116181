"""The run configuration of `vr train` (saved as ``config.json`` in the run folder and in checkpoints).

:class:`TrainConfig` nests what the loaders take as they take it: ``sampling``, a
:class:`~vr.pipelines.sampling.SamplingConfig` (clip length, stride, size, crop, flip) and ``loader``, a
:class:`~vr.pipelines.options.LoaderOptions` (backend, batch size, workers, DALI threads, the seed,
remote storage); data, model, optimisation and run settings are its own fields. Their defaults are
written once, in those classes. The command line and config files of earlier versions use flat names
(``clip_len``, ``loader`` for the backend, ``workers``, …): :data:`FLAT` maps each to its place, and
other nested fields are named with a dot (``sampling.train_t_crop``). :meth:`TrainConfig.from_options`
builds a config from such names, :meth:`TrainConfig.read` reads either layout of ``config.json``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import numbers
import os
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from vr.errors import VrError
from vr.modality import MODALITIES, modality
from vr.pipelines.backends import VIDEO_BACKEND
from vr.pipelines.options import RUNTIME, LoaderOptions
from vr.pipelines.sampling import SamplingConfig
from vr.redact import drop_redacted, redact
from vr.runtime import PRECISIONS
from vr.writing import write_json

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("multistep", "plateau", "cosine", "none")

# flat name (command line, config files before nesting) -> (part, field)
FLAT: dict[str, tuple[str, str]] = {
    "clip_len": ("sampling", "clip_len"),
    "frame_stride": ("sampling", "frame_stride"),
    "size": ("sampling", "size"),
    "train_crop": ("sampling", "train_crop"),
    "hflip": ("sampling", "hflip"),
    "batch_size": ("loader", "batch_size"),
    "loader": ("loader", "backend"),
    "workers": ("loader", "num_workers"),
    "dali_threads": ("loader", "num_threads"),
    "seed": ("loader", "seed"),
    "cache_dir": ("loader", "cache_dir"),
    "storage_options": ("loader", "storage_options"),
}
_PARTS = {"sampling": SamplingConfig, "loader": LoaderOptions}


class ConfigError(VrError, ValueError):
    """A run configuration file that cannot be used."""


@dataclass
class TrainConfig:
    """Everything a training run depends on; the defaults follow the 3D-ResNets seed where it has one."""

    data: str
    out: str
    model: str = "r3d18"
    modality: str = "rgb"
    model_args: dict[str, Any] = field(default_factory=dict)
    val_data: str | None = None  # a second shard folder; for a manifest source, its val/test subset
    frames_root: str | None = None
    flow_root: str | None = None
    videos_root: str | None = None  # --loader dali-video: where the manifest's videos are
    train_subset: str = "train"
    val_subset: str | None = None
    sampling: SamplingConfig = field(default_factory=SamplingConfig)  # the training clips
    loader: LoaderOptions = field(default_factory=LoaderOptions)  # how the loaders run
    epochs: int = 10
    lr: float = 0.1
    optimizer: str = "sgd"
    momentum: float = 0.9
    dampening: float = 0.0
    nesterov: bool = False
    weight_decay: float = 1e-3
    schedule: str = "multistep"
    milestones: list[int] = field(default_factory=lambda: [50, 100, 150])
    gamma: float = 0.1
    warmup_epochs: int = 0
    plateau_patience: int = 10
    label_smoothing: float = 0.0
    pretrain: str | None = None
    pretrain_source: str = "auto"
    n_pretrain_classes: int | None = None
    pretrain_rgb_to_flow: bool = False  # explicit: RGB weights for a Flow model, first conv averaged
    ft_begin_module: str | None = None
    layer_lr_decay: float | None = None  # P3D-style: each earlier stage gets lr x decay
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    accumulate: int = 1
    threads: int = 0  # torch intra-op threads of each training process (0: its share of the CPUs)
    checkpoint_every: int = 0
    checkpoint_steps: int = 0  # also save last.pth every N optimizer steps (resumable mid-epoch)
    val_every: int = 1
    device: str = "auto"
    shuffle_frames: bool = False  # control experiment: destroy temporal order inside each clip
    skip_nonfinite: bool = False  # leave out batches whose loss is not finite (default: stop with an error)
    max_steps_per_epoch: int | None = None

    def __post_init__(self) -> None:
        for name, hint in _hints(TrainConfig).items():
            problem = _kind_problem(getattr(self, name), hint)
            if problem:
                raise ConfigError(f"{name} must be {problem}, got {_shown(getattr(self, name))}")
        for part in _PARTS:
            for name, hint in _hints(_PARTS[part]).items():
                if name in RUNTIME:
                    continue
                value = getattr(getattr(self, part), name)
                problem = _kind_problem(value, hint)
                if problem:
                    raise ConfigError(f"{_flat_name(part, name)} must be {problem}, got {_shown(value)}")
        sampling, loader = self.sampling, self.loader
        checks = [
            (self.modality in MODALITIES, f"modality must be one of {', '.join(MODALITIES)}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}"),
            (self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}"),
            (sampling.mode == "train", "the training clips' sampling mode is train"),
            (
                loader.backend != VIDEO_BACKEND or (self.videos_root is not None and self.modality == "rgb"),
                "--loader dali-video reads RGB clips from video files: needs --videos ROOT, --modality rgb",
            ),
            (self.epochs >= 1 and self.accumulate >= 1, "epochs, batch size, accumulate must be >= 1"),
            (sampling.size >= 8, "bad clip shape"),
            (self.lr > 0, "lr must be positive"),
            (self.checkpoint_steps >= 0 and self.checkpoint_every >= 0, "checkpoint intervals must be >= 0"),
            (self.threads >= 0, "threads must be >= 0 (0: the CPUs this process may use)"),
            (0 <= self.label_smoothing < 1, "label smoothing must be in [0, 1)"),
            (
                not self.pretrain_rgb_to_flow or (self.pretrain and self.modality == "flow"),
                "--rgb-to-flow needs --pretrain and --modality flow",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def in_channels(self) -> int:
        return modality(self.modality).channels

    @classmethod
    def from_options(cls, **options: Any) -> TrainConfig:
        """A config from flat names (:data:`FLAT`), dotted names (``sampling.n_clips``) and its own
        fields; ``sampling``/``loader`` may also be given whole (objects or dicts), the names override
        them. Raises ValueError (a ConfigError for a value of the wrong kind)."""
        top, parts = _split(options)
        _check_parts(parts)
        built = {}
        for part, kind in _PARTS.items():
            base = top.pop(part, None)
            if isinstance(base, dict):
                base = kind(**{k: v for k, v in base.items() if k not in RUNTIME or part != "loader"})
            base = base if base is not None else kind()
            try:
                built[part] = dataclasses.replace(base, **parts[part])
            except TypeError as e:
                raise ConfigError(str(e)) from None
        try:
            return cls(**top, **built)
        except TypeError as e:
            raise ConfigError(str(e).replace("TrainConfig.__init__() ", "")) from None

    def with_options(self, **options: Any) -> TrainConfig:
        """This config with the named settings (flat, dotted or its own names) changed."""
        top, parts = _split(options)
        _check_parts(parts)
        return dataclasses.replace(
            self,
            **top,
            sampling=dataclasses.replace(self.sampling, **parts["sampling"]),
            loader=dataclasses.replace(self.loader, **parts["loader"]),
        )

    def to_json(self) -> dict[str, Any]:
        """The config as saved in ``config.json`` and in checkpoints (nested), credentials redacted."""
        data = asdict(self)
        data["loader"] = self.loader.to_json()
        return redact(data)

    def save(self, path: str | os.PathLike) -> None:
        """Write the config as JSON (atomically), credentials redacted (:mod:`vr.redact`)."""
        write_json(path, self.to_json(), indent=2, sort_keys=True)

    @staticmethod
    def read(path: str | os.PathLike) -> dict[str, Any]:
        """The settings of a run's ``config.json`` (nested, or the flat layout of earlier versions) as
        flat and dotted names, each checked against its type, then all of them against their ranges;
        redacted credentials are left out (they come again from the command line or the environment).
        ``TrainConfig.from_options(**{**read(path), **overrides})`` reproduces the run."""
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except ValueError as e:
            raise ConfigError(f"{path}: not JSON ({e})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: not a vr train config (a JSON object)")
        flat = flatten(data, str(path))
        known = _known_names()
        unknown = sorted(set(flat) - set(known))
        if unknown:
            raise ConfigError(f"{path}: unknown field(s) {', '.join(unknown)}")
        for name, value in flat.items():
            problem = _kind_problem(value, known[name])
            if problem:
                raise ConfigError(f"{path}: field {name!r} must be {problem}, got {_shown(value)}")
        if "storage_options" in flat:
            flat["storage_options"] = drop_redacted(flat["storage_options"] or {})
        try:  # ranges and rules, with the file's values alone
            TrainConfig.from_options(**{"data": "-", "out": "-", **flat})
            if "model_args" in flat:
                from vr.models.registry import check_model_args  # here: `vr train --help` loads no torch

                check_model_args(flat.get("model", _default("model")), flat["model_args"])
        except ValueError as e:
            raise ConfigError(f"{path}: {e}") from None
        return flat


def flatten(data: dict[str, Any], where: str = "config") -> dict[str, Any]:
    """A saved config (nested, or flat as earlier versions wrote it) as flat and dotted names."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in _PARTS and isinstance(value, dict):
            for name, inner in value.items():
                if name not in RUNTIME or key != "loader":
                    out[_flat_name(key, name)] = inner
        elif key in _PARTS and key != "loader":
            raise ConfigError(f"{where}: field {key!r} must be a JSON object, got {_shown(value)}")
        else:
            out[key] = value
    return out


def _flat_name(part: str, name: str) -> str:
    return next((flat for flat, place in FLAT.items() if place == (part, name)), f"{part}.{name}")


def _split(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Options as ``(TrainConfig fields, {"sampling": {...}, "loader": {...}})``."""
    top: dict[str, Any] = {}
    parts: dict[str, dict[str, Any]] = {"sampling": {}, "loader": {}}
    for key, value in options.items():
        if key == "loader" and isinstance(value, str):  # the flat name of the backend
            parts["loader"]["backend"] = value
        elif key in FLAT and key != "loader":
            part, name = FLAT[key]
            parts[part][name] = value
        elif "." in key and key.split(".", 1)[0] in _PARTS:
            part, name = key.split(".", 1)
            parts[part][name] = value
        else:
            top[key] = value
    return top, parts


def _check_parts(parts: dict[str, dict[str, Any]]) -> None:
    """The nested settings' names and kinds, checked before their classes see them."""
    for part, values in parts.items():
        hints = _hints(_PARTS[part])
        for name, value in values.items():
            if name not in hints:
                raise ConfigError(f"unknown setting {part}.{name}")
            problem = _kind_problem(value, hints[name]) if name not in RUNTIME else None
            if problem:
                raise ConfigError(f"{_flat_name(part, name)} must be {problem}, got {_shown(value)}")


@functools.cache
def _known_names() -> dict[str, Any]:
    """Every name a config file may hold, with its type."""
    names = {k: v for k, v in _hints(TrainConfig).items() if k not in _PARTS}
    for part, kind in _PARTS.items():
        for name, hint in _hints(kind).items():
            if name not in RUNTIME or part != "loader":
                names[_flat_name(part, name)] = hint
    names["loader"] = str  # the backend's flat name
    return names


def _default(name: str) -> Any:
    return next(f.default for f in fields(TrainConfig) if f.name == name)


@functools.cache
def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind)


_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _kind_problem(value: Any, hint: Any) -> str | None:
    """None when ``value`` is of the annotated kind ``hint`` (an int passes for a float, not a bool for
    an int), else what it should be."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        kinds = [a for a in args if a is not type(None)]
        problems = [_kind_problem(value, a) for a in kinds]
        if None in problems:
            return None
        return " or ".join(p for p in problems if p) + (" or null" if len(kinds) < len(args) else "")
    if hint is Any:
        return None
    if origin is list:
        if not isinstance(value, (list, tuple)):
            return "a list"
        bad = next((p for p in (_kind_problem(v, args[0]) for v in value) if p), None) if args else None
        return f"a list of {bad.split(' ', 1)[-1]}s" if bad else None
    if origin is dict:
        ok = isinstance(value, dict) and all(isinstance(k, str) for k in value)
        return None if ok else "a JSON object"
    if hint is bool:
        return None if isinstance(value, bool) else _KINDS[bool]
    if hint is int:
        return None if isinstance(value, numbers.Integral) and not isinstance(value, bool) else _KINDS[int]
    if hint is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else "a finite number"
    if hint is str:
        return None if isinstance(value, str) else _KINDS[str]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return None if isinstance(value, hint) else f"a {hint.__name__}"
    if hint is os.PathLike:
        return None if isinstance(value, os.PathLike) else "a path"
    return None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
