"""`vr infer`: class scores for raw video files, decoded (and for Flow models, TV-L1'd) on the fly.

The clips go through the loaders' own code, so a checkpoint sees at inference what it saw in training:
frames are decoded with ffmpeg at the training data's short side, encoded as the JPEGs the preprocessing
writes (RGB frames; flow quantised like ``flow-tvl1`` then JPEG'd at its quality), and turned into clips
by :mod:`vr.pipelines.sampling` (uniform clips, centre or 3 crops) and the torch loader's
:func:`~vr.pipelines.decode.decode_clip` (crop, resize, mean/std of :mod:`vr.pipelines.normalize`).
A Flow clip of a video is therefore identical to the loader's clip of that video's ``flow-tvl1`` output.
Scores are the softmax averaged over the clips, as in ``vr eval --mode video``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from vr.evaluation.evaluate import clip_settings
from vr.evaluation.results import EvalError, Results
from vr.modality import mean_std
from vr.modality import modality as modality_of
from vr.models.checkpoint import load_model
from vr.pipelines.decode import decode_clip
from vr.pipelines.read import RawClip
from vr.pipelines.sampling import SamplingConfig, clip_spec
from vr.preprocess.flow.engines import TVL1Params, get_engine
from vr.preprocess.flow.io import DEFAULT_BOUND, DEFAULT_JPEG_QUALITY, quantize
from vr.runtime import autocast, check_precision, resolve_device, use_device
from vr.video.ffmpeg_log import DecodeHealth
from vr.video.jpeg import encode_jpeg
from vr.video.probe import VideoError

log = logging.getLogger("vr.infer")

DEFAULT_SHORT_SIDE = 240  # extract-frames' and flow-tvl1's default when the training data is not at hand
RGB_JPEG_QUALITY = 95


def training_data_info(ckpt: dict) -> dict:
    """What the checkpoint knows of its training data (see :func:`vr.pipelines.sources.data_info`): its
    ``data_info``, else (checkpoints of older versions) read from the training data when it is at hand."""
    from vr.pipelines.loader import open_source
    from vr.pipelines.sources import data_info
    from vr.storage import StorageError

    if ckpt.get("data_info"):
        return ckpt["data_info"]
    config = ckpt.get("config") or {}
    if not config.get("data"):
        return {}
    try:
        source = open_source(
            config["data"],
            ckpt["modality"],
            frames_root=config.get("frames_root"),
            flow_root=config.get("flow_root"),
            subset=config.get("train_subset"),
        )
        return data_info(source)
    except (ValueError, OSError, KeyError, StorageError):
        return {}


def video_clips(
    path: str | os.PathLike,
    modality: str,
    clip_len: int,
    frame_stride: int,
    size: int,
    n_clips: int = 10,
    n_crops: int = 1,
    short_side: int = DEFAULT_SHORT_SIDE,
    fps: float | None = None,
    bound: float = DEFAULT_BOUND,
    tvl1: TVL1Params | None = None,
    health: DecodeHealth | None = None,
) -> np.ndarray:
    """The ``n_clips x n_crops`` evaluation clips of a video file: ``(V, C, T, size, size)`` float32.

    Raises :class:`~vr.video.probe.VideoError` when the video cannot be decoded (or, for Flow, has
    fewer than 2 frames); ``health`` is filled in with the decoder's errors and frame counts.
    """
    from vr.video.decode import iter_frames

    flow = modality_of(modality).flow
    frames: list = []  # RGB: JPEG bytes; Flow: grayscale frames (flow only for the pairs the clips use)
    height = width = 0
    for rgb in iter_frames(path, short_side, fps=fps, even=False, threads=1, health=health):
        height, width = rgb.shape[:2]
        if flow:
            frames.append(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        else:
            frames.append([encode_jpeg(rgb, RGB_JPEG_QUALITY)])
    n = len(frames) - 1 if flow else len(frames)
    if n < 1:
        raise VideoError("fewer than 2 frames: no flow pair" if flow else "no video frames")
    config = SamplingConfig(
        mode="eval", clip_len=clip_len, frame_stride=frame_stride, size=size, n_clips=n_clips, n_crops=n_crops
    )
    specs = [clip_spec(config, 0, 0, 0, view, n, width, height) for view in range(config.views)]
    if flow:
        engine = get_engine("opencv", tvl1 or TVL1Params())
        pairs = {}
        for i in sorted({p for s in specs for p in s.positions}):
            flow = engine(frames[i][None], frames[i + 1][None])[0]
            pairs[i] = [encode_jpeg(quantize(flow[..., c], bound), DEFAULT_JPEG_QUALITY) for c in (0, 1)]
        frames = pairs
    mean, std = mean_std(modality)
    clips = []
    for view, spec in enumerate(specs):
        raw = RawClip([frames[p] for p in spec.positions], spec, -1, str(path), view)
        clip = decode_clip(raw, modality, mean, std)
        if clip is None:
            raise VideoError("a re-encoded frame could not be decoded")
        clips.append(clip)
    return np.stack(clips)


@dataclass
class Prediction:
    """Averaged softmax scores of one video file (None with ``error`` set when it could not be read)."""

    path: str
    scores: np.ndarray | None
    n_clips: int = 0
    error: str | None = None
    warning: str = ""  # scored, but the decoder reported errors (a damaged video)


class Predictor:
    """A checkpoint ready to score raw video files (see :func:`video_clips` for the clip recipe)."""

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        n_clips: int = 10,
        n_crops: int = 1,
        batch_size: int = 8,
        short_side: int | None = None,
        fps: float | None = None,
        bound: float | None = None,
        device: str = "auto",
        precision: str = "fp32",
        trusted: bool = False,
        strict: bool = False,
    ):
        if n_crops not in (1, 3) or n_clips < 1 or batch_size < 1:
            raise EvalError("need n_clips, batch_size >= 1, n_crops 1 or 3")
        self.device = use_device(resolve_device(device))
        check_precision(precision, self.device, training=False)
        self.model, ckpt = load_model(checkpoint, trusted=trusted)
        self.model.to(self.device)
        self.precision = precision
        self.labels: list[str] = list(ckpt["labels"])
        self.modality: str = ckpt["modality"]
        info = training_data_info(ckpt)
        found = None if short_side else info.get("short_side")
        self.short_side = short_side or found or DEFAULT_SHORT_SIDE
        self.short_side_origin = "given" if short_side else "training data" if found else "default"
        flow_info = info.get("flow") or {}
        params = flow_info.get("params")
        try:
            tvl1 = TVL1Params(**params) if isinstance(params, dict) else None
        except TypeError:  # parameters of another version: OpenCV's defaults
            tvl1 = None
        self.clip_args = dict(
            **clip_settings(ckpt),
            n_clips=n_clips,
            n_crops=n_crops,
            short_side=self.short_side,
            fps=fps,
            bound=bound or flow_info.get("bound") or DEFAULT_BOUND,
            tvl1=tvl1,
        )
        self.batch_size = batch_size
        self.strict = strict  # a damaged video is an error, not a prediction with a warning

    @torch.no_grad()
    def scores(self, path: str | os.PathLike, health: DecodeHealth | None = None) -> tuple[np.ndarray, int]:
        """Mean softmax ``(K,)`` over the video's clips, and the clip count; raises VideoError."""
        clips = torch.from_numpy(video_clips(path, self.modality, **self.clip_args, health=health))
        probs = []
        for batch in clips.split(self.batch_size):
            with autocast(self.device, self.precision):
                probs.append(self.model(batch.to(self.device)).float().softmax(1).cpu())
        return torch.cat(probs).double().mean(0).float().numpy(), len(clips)

    def predict(self, paths: Iterable[str | os.PathLike], progress: bool = False) -> list[Prediction]:
        """A :class:`Prediction` per file; an unreadable file gets its error and the others go on."""
        from vr.progress import progress_bar

        out = []
        for path in progress_bar(list(paths), desc="infer", unit="video", disable=not progress, leave=False):
            health = DecodeHealth()
            try:
                scores, n = self.scores(path, health)
                out.append(Prediction(str(path), scores, n, warning=health.check(self.strict)))
            except (VideoError, OSError, ValueError) as e:
                out.append(Prediction(str(path), None, error=str(e).splitlines()[0] if str(e) else repr(e)))
        return out

    def results(self, predictions: list[Prediction]) -> Results:
        """The readable predictions as a :class:`Results` (the seed's results format, fusable)."""
        ok = [p for p in predictions if p.scores is not None]
        scores = np.stack([p.scores for p in ok]) if ok else np.zeros((0, len(self.labels)), np.float32)
        return Results([p.path for p in ok], scores, self.labels, {}, self.modality)
