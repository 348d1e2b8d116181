"""`vr eval`: a checkpoint's clip and video accuracy on a shard folder or a manifest + frame folders.

``mode="clip"`` classifies one centre clip (centre crop) per video. ``mode="video"`` averages the softmax
scores of ``n_clips`` uniform clips x ``n_crops`` crops per video, as the 3D-ResNets seed's
``inference.py`` does, and also reports the accuracy of the single views. Everything that can be wrong
with the inputs (checkpoint, modality, label set, unreadable data) is checked before any clip is read.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vr.evaluation.metrics import accuracy, confusion_matrix, per_class_accuracy, write_confusion_png
from vr.evaluation.predict import predict
from vr.evaluation.results import EvalError, Results
from vr.models.checkpoint import load_model
from vr.pipelines.options import LoaderOptions
from vr.pipelines.sampling import SamplingConfig
from vr.runtime import check_precision, resolve_device, use_device
from vr.writing import write_json

log = logging.getLogger("vr.eval")

MODES = ("clip", "video")

# flat names (the command line's) of the loader's fields
_LOADER_NAMES = {
    "batch_size": "batch_size",
    "backend": "backend",
    "loader": "backend",
    "workers": "num_workers",
    "storage_options": "storage_options",
    "cache_dir": "cache_dir",
}


@dataclass(frozen=True)
class EvalConfig:
    """What `vr eval` runs: which views of each video (``mode``; ``n_clips`` x ``n_crops`` in video
    mode), where a manifest's frames are, the loader (its batch, backend, workers, remote storage) and
    the device. ``modality``: the one expected (checked against the checkpoint's); ``topk``: classes kept
    per video in the predictions JSON (None: all); ``trusted``: load a checkpoint that needs full
    unpickling. The clips' length, stride and size are the checkpoint's own."""

    mode: str = "video"
    n_clips: int = 10
    n_crops: int = 3
    modality: str | None = None
    frames_root: str | os.PathLike | None = None
    flow_root: str | os.PathLike | None = None
    subset: str | None = None
    loader: LoaderOptions = field(default_factory=LoaderOptions)
    device: str = "auto"
    precision: str = "fp32"
    topk: int | None = None
    trusted: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise EvalError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.n_clips < 1 or self.n_crops not in (1, 3):
            raise EvalError(f"n_clips must be >= 1 and n_crops 1 or 3, got {self.n_clips}, {self.n_crops}")

    @classmethod
    def from_options(cls, **options: Any) -> EvalConfig:
        """A config from the command line's flat names: its own fields, and ``batch_size``, ``loader``
        (or ``backend``), ``workers``, ``storage_options``, ``cache_dir`` of the loader."""
        loader = {_LOADER_NAMES[k]: options.pop(k) for k in list(options) if k in _LOADER_NAMES}
        if loader.get("storage_options") == {}:
            loader["storage_options"] = None
        try:
            return cls(loader=LoaderOptions(**loader), **options)
        except (TypeError, ValueError) as e:
            if isinstance(e, EvalError):
                raise
            raise EvalError(str(e)) from None

    @property
    def views(self) -> tuple[int, int]:
        """(clips, crops) a video: one centre clip and crop in clip mode."""
        return (1, 1) if self.mode == "clip" else (self.n_clips, self.n_crops)


def check_labels(
    checkpoint_labels: list[str], data_labels: list[str], where: str, unnamed: bool = False
) -> None:
    """Raise :class:`EvalError` unless the data's label list is the checkpoint's (same names, same order;
    the same number of classes when the checkpoint's classes have no names)."""
    if not data_labels or list(checkpoint_labels) == list(data_labels):
        return
    if unnamed and len(checkpoint_labels) == len(data_labels):
        return
    a, b = list(checkpoint_labels), list(data_labels)
    first = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
    detail = (
        f"class {first}: {a[first] if first < len(a) else '-'!r} vs {b[first] if first < len(b) else '-'!r}"
    )
    raise EvalError(
        f"the checkpoint's labels ({len(a)} classes) differ from {where}'s ({len(b)} classes); "
        f"first at {detail}"
    )


def clip_settings(ckpt: dict) -> dict[str, int]:
    """``clip_len``, ``frame_stride``, ``size`` the checkpoint was trained with: its config's
    ``sampling`` (the flat fields of earlier versions, else their ``clip``), else the defaults."""
    config = ckpt.get("config") or {}
    saved = config.get("sampling") if isinstance(config.get("sampling"), dict) else config
    clip = ckpt.get("clip") or []
    default = SamplingConfig()
    return {
        "clip_len": int(saved.get("clip_len") or (clip[0] if clip else default.clip_len)),
        "frame_stride": int(saved.get("frame_stride") or default.frame_stride),
        "size": int(saved.get("size") or (clip[-1] if clip else default.size)),
    }


@dataclass
class EvalReport:
    """What :func:`evaluate` measured; ``results`` holds the per-video (averaged) scores."""

    mode: str
    results: Results
    n_views: int
    top1: float | None
    top5: float | None
    view_top1: float | None
    per_class: list[float | None]
    confusion: np.ndarray
    skipped: list[tuple[str, str]] = field(default_factory=list)
    missing: int = 0  # videos with no readable clip: not in ``results``, not in the accuracy
    files: dict[str, str] = field(default_factory=dict)

    @property
    def n_videos(self) -> int:
        return len(self.results.ids)

    def summary(self) -> dict[str, Any]:
        """The numbers as a JSON-able dict (written beside the predictions as ``*.metrics.json``)."""
        return {
            "mode": self.mode,
            "modality": self.results.modality,
            "videos": self.n_videos,
            "clips": self.n_views,
            "top1": self.top1,
            "top5": self.top5,
            "clip_top1": self.view_top1,
            "per_class": dict(zip(self.results.labels, self.per_class, strict=True)),
            "confusion": self.confusion.tolist(),
            "skipped": [list(s) for s in self.skipped],
            "missing_videos": self.missing,
        }


def _check_readable(source, where: str) -> None:
    """Read the first frame of the first video, so missing frames or flow fail before any work."""
    from vr.shards.jpeg import JpegError, jpeg_size
    from vr.storage import StorageError

    try:
        video = source.video(0)
        if video.n_frames == 0:
            raise OSError(f"video {video.id!r} has no {source.modality} frames")
        for data in video.read([0])[0]:
            jpeg_size(data)
    except (OSError, ValueError, KeyError, JpegError, StorageError) as e:
        hint = " (is flow_root the flow folder?)" if source.modality == "flow" else ""
        raise EvalError(f"{where}: cannot read {source.modality} frames ({e}){hint}") from None


def average_views(
    ids: list[str], scores: torch.Tensor, labels: torch.Tensor
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Mean softmax scores per video (first-seen order) and each video's label."""
    order: dict[str, int] = {}
    for vid in ids:
        order.setdefault(vid, len(order))
    group = torch.tensor([order[v] for v in ids], dtype=torch.long)
    sums = torch.zeros(len(order), scores.shape[1], dtype=torch.float64).index_add_(0, group, scores.double())
    counts = torch.bincount(group, minlength=len(order)).double()
    video_labels = torch.full((len(order),), -1, dtype=torch.long).scatter_(0, group, labels)
    return list(order), (sums / counts[:, None]).float().numpy(), video_labels.numpy()


def evaluate(
    checkpoint: str | os.PathLike,
    data: str | os.PathLike,
    config: EvalConfig | None = None,
    *,
    output: str | os.PathLike | None = None,
    progress: bool = True,
    **options: Any,
) -> EvalReport:
    """Evaluate ``checkpoint`` on ``data`` (a shard folder, local or at a URL with the loader's
    ``storage_options`` and ``cache_dir``; or a manifest with ``frames_root``/``flow_root``) as
    ``config`` says; ``options``: its fields by their flat names instead
    (:meth:`EvalConfig.from_options`), e.g. ``evaluate(ck, data, mode="clip", workers=0)``.

    ``output``: the predictions JSON (the seed's results format, ``config.topk`` classes per video);
    beside it ``<stem>.confusion.png`` and ``<stem>.metrics.json``. Raises :class:`EvalError` before
    reading any clip when the inputs do not fit together.
    """
    from vr.pipelines.loader import build_loader, open_source
    from vr.pipelines.sources import SourceError
    from vr.storage import StorageError

    if config is None:
        config = EvalConfig.from_options(**options)
    elif options:
        raise TypeError("evaluate() takes a config or its fields by name, not both")
    dev = use_device(resolve_device(config.device))
    check_precision(config.precision, dev, training=False)
    n_clips, n_crops = config.views
    model, ckpt = load_model(checkpoint, trusted=config.trusted)
    ckpt_modality = ckpt["modality"]
    if config.modality is not None and config.modality != ckpt_modality:
        raise EvalError(
            f"{checkpoint}: a {ckpt_modality} model, but --modality {config.modality} was asked for"
        )
    where, subset, o = str(data), config.subset, config.loader
    try:
        source = open_source(
            data,
            ckpt_modality,
            frames_root=config.frames_root,
            flow_root=config.flow_root,
            subset=subset,
            storage_options=o.storage_options or None,
            cache_dir=o.cache_dir,
        )
    except (SourceError, ValueError, OSError, StorageError) as e:
        raise EvalError(f"{e} (the checkpoint is a {ckpt_modality} model)") from None
    if len(source) == 0:
        raise EvalError(f"{where}: no videos{f' in subset {subset!r}' if subset else ''}")
    check_labels(ckpt["labels"], source.labels, where, unnamed=ckpt.get("unnamed_labels", False))
    _check_readable(source, where)
    sampling = SamplingConfig(mode="eval", n_clips=n_clips, n_crops=n_crops, **clip_settings(ckpt))
    dali_gpu = dev.type == "cuda" and o.backend == "dali"
    options = dataclasses.replace(  # what this process runs as
        o, device_id=(dev.index or 0) if dali_gpu else None, pin_memory=dev.type == "cuda"
    )
    try:
        loader = build_loader(source, ckpt_modality, sampling, options)
    except (ValueError, OSError) as e:
        raise EvalError(str(e)) from None
    model.to(dev)
    try:
        ids, scores, labels, _ = predict(
            model, loader, dev, precision=config.precision, progress=progress, desc=f"eval {config.mode}"
        )
    except StorageError as e:
        raise EvalError(str(e)) from None
    if not ids:
        raise EvalError(f"{where}: every clip was unreadable ({'; '.join(r for _, r in loader.skipped[:2])})")
    view_top1 = accuracy(scores.numpy(), labels.numpy(), 1)
    video_ids, video_scores, video_labels = average_views(ids, scores, labels)
    names = list(source.labels if ckpt.get("unnamed_labels") and source.labels else ckpt["labels"])
    truth = {v: names[y] for v, y in zip(video_ids, video_labels, strict=True) if y >= 0}
    results = Results(video_ids, video_scores, names, truth, ckpt_modality)
    matrix = confusion_matrix(video_scores, video_labels, len(names))
    report = EvalReport(
        mode=config.mode,
        results=results,
        n_views=len(ids),
        top1=accuracy(video_scores, video_labels, 1),
        top5=accuracy(video_scores, video_labels, 5),
        view_top1=view_top1,
        per_class=per_class_accuracy(matrix),
        confusion=matrix,
        skipped=list(loader.skipped),
        missing=len(source) - len(video_ids),
    )
    if output is not None:
        report.files = write_outputs(report, Path(output), config.topk)
    return report


def write_outputs(report: EvalReport, output: Path, topk: int | None = None) -> dict[str, str]:
    """Predictions JSON at ``output``, ``<stem>.confusion.png`` and ``<stem>.metrics.json`` beside it."""
    base = output.with_suffix("") if output.suffix == ".json" else output
    png = base.with_name(base.name + ".confusion.png")
    metrics = base.with_name(base.name + ".metrics.json")
    try:
        report.results.write(output, topk)
        write_confusion_png(png, report.confusion, report.results.labels)
        write_json(metrics, report.summary())
    except OSError as e:
        raise EvalError(f"cannot write the evaluation files: {e}") from None
    return {"predictions": str(output), "confusion": str(png), "metrics": str(metrics)}
