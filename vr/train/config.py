"""The run configuration of `vr train` (saved as ``config.json`` in the run folder)."""

from __future__ import annotations

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
from vr.pipelines.backends import LOADERS
from vr.redact import drop_redacted, redact
from vr.runtime import PRECISIONS
from vr.writing import write_json

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("multistep", "plateau", "cosine", "none")


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
    clip_len: int = 16
    frame_stride: int = 1
    size: int = 112
    train_crop: str = "corner"
    hflip: bool = True  # off for classes that a mirror image changes (left/right, clockwise)
    batch_size: int = 8
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
    loader: str = "torch"
    workers: int = 2
    dali_threads: int = 2
    threads: int = 0  # torch intra-op threads of each training process (0: its share of the CPUs)
    seed: int = 0
    checkpoint_every: int = 0
    checkpoint_steps: int = 0  # also save last.pth every N optimizer steps (resumable mid-epoch)
    cache_dir: str | None = None  # remote shards: keep fetched shards here
    storage_options: dict[str, Any] = field(default_factory=dict)  # remote shards: fsspec options
    val_every: int = 1
    device: str = "auto"
    shuffle_frames: bool = False  # control experiment: destroy temporal order inside each clip
    skip_nonfinite: bool = False  # leave out batches whose loss is not finite (default: stop with an error)
    max_steps_per_epoch: int | None = None

    def __post_init__(self) -> None:
        for name, hint in _hints().items():
            problem = _kind_problem(getattr(self, name), hint)
            if problem:
                raise ConfigError(f"{name} must be {problem}, got {_shown(getattr(self, name))}")
        checks = [
            (self.modality in MODALITIES, f"modality must be one of {', '.join(MODALITIES)}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}"),
            (self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}"),
            (self.loader in LOADERS, f"loader must be one of {', '.join(LOADERS)}"),
            (
                self.loader != "dali-video" or (self.videos_root is not None and self.modality == "rgb"),
                "--loader dali-video reads RGB clips from video files: needs --videos ROOT, --modality rgb",
            ),
            (
                self.epochs >= 1 and self.batch_size >= 1 and self.accumulate >= 1,
                "epochs, batch size, accumulate must be >= 1",
            ),
            (self.clip_len >= 1 and self.frame_stride >= 1 and self.size >= 8, "bad clip shape"),
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

    def to_json(self) -> dict[str, Any]:
        """The config as saved in ``config.json`` and in checkpoints: credentials redacted."""
        return redact(asdict(self))

    def save(self, path: str | os.PathLike) -> None:
        """Write the config as JSON (atomically), credentials redacted (:mod:`vr.redact`)."""
        write_json(path, self.to_json(), indent=2, sort_keys=True)

    @staticmethod
    def read(path: str | os.PathLike) -> dict[str, Any]:
        """The fields saved in a run's ``config.json`` (redacted credentials left out: they come again
        from the command line or the environment), checked by name;
        ``TrainConfig(**{**read(path), **overrides})`` reproduces the run."""
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except ValueError as e:
            raise ConfigError(f"{path}: not JSON ({e})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: not a vr train config (a JSON object)")
        known = {f.name for f in fields(TrainConfig)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{path}: unknown field(s) {', '.join(unknown)}")
        hints = _hints()
        for name, value in data.items():
            problem = _kind_problem(value, hints[name])
            if problem:
                raise ConfigError(f"{path}: field {name!r} must be {problem}, got {_shown(value)}")
        try:  # ranges and rules, with the file's values alone
            TrainConfig(**{"data": "-", "out": "-", **data})
            if "model_args" in data:
                from vr.models.registry import check_model_args  # here: `vr train --help` loads no torch

                check_model_args(data.get("model", _default("model")), data["model_args"])
        except ValueError as e:
            raise ConfigError(f"{path}: {e}") from None
        return {**data, "storage_options": drop_redacted(data.get("storage_options") or {})}


def _default(name: str) -> Any:
    return next(f.default for f in fields(TrainConfig) if f.name == name)


@functools.cache
def _hints() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


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
        return (
            None
            if None in problems
            else " or ".join(problems) + (" or null" if len(kinds) < len(args) else "")
        )
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
    return None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
