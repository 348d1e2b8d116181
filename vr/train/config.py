"""The run configuration of `vr train` (saved as ``config.json`` in the run folder)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from vr.errors import VrError
from vr.modality import MODALITIES, modality
from vr.redact import drop_redacted, redact
from vr.writing import write_json

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("multistep", "plateau", "cosine", "none")
PRECISIONS = ("fp32", "bf16", "fp16")
LOADERS = ("torch", "dali", "dali-video")  # dali-video: DALI's video reader on raw files (NVDEC on a GPU)


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
        return {**data, "storage_options": drop_redacted(data.get("storage_options") or {})}
