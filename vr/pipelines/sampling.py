"""Clip sampling shared by both loader backends: pure functions of a numpy Generator.

A :class:`ClipSpec` says which frames of a video a clip reads, which box of each frame it crops, whether
it is flipped and the output size. Specs derive from ``(seed, epoch, video index, view)`` through
:func:`sample_rng`, so the DALI and torch backends pick the same clips for the same seed whatever the
worker count or the order in which workers run.

Temporal semantics follow the 3D-ResNets seed (``temporal_transforms.py``): frame positions are first
subsampled by the stride, a random crop starts uniformly in ``[0, max(0, n - L - 1)]`` and short clips are
loop padded (the clip's own frames repeated in order). Spatial semantics follow its
``spatial_transforms.py``: multi-scale corner crop (scales ``1, 2^-1/4, ..., 2^-1`` of the short side at
the centre or a corner), random-resized crop (torchvision's parameters), and for evaluation the seed's
``Resize(size) + CenterCrop(size)``, expressed as the equivalent box in the source frame (the centred
square of the short side). Every box is resized to ``size x size``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CORNER_SCALES = tuple(2.0 ** (-i / 4) for i in range(5))
CORNER_POSITIONS = ("c", "tl", "tr", "bl", "br")
TRAIN_CROPS = ("random", "corner", "center")


@dataclass(frozen=True)
class Box:
    """A crop box in source pixels: left ``x``, top ``y``, width ``w``, height ``h``."""

    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class ClipSpec:
    """What one clip reads: positions into the video's frame list, the crop box, flip, output size."""

    positions: tuple[int, ...]
    box: Box
    flip: bool
    size: int


def sample_rng(seed: int, epoch: int, video: int, view: int = 0) -> np.random.Generator:
    """The generator for one clip, independent of workers and of the order clips are made in."""
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, video, view]))


# ---- temporal ---------------------------------------------------------------------------------------


def loop_pad(positions: Sequence[int], length: int) -> list[int]:
    """Repeat ``positions`` in order until there are ``length`` of them (the seed's LoopPadding)."""
    if not positions:
        raise ValueError("cannot loop-pad an empty clip")
    out = list(positions)
    i = 0
    while len(out) < length:
        out.append(out[i])
        i += 1
    return out


def strided(n_frames: int, stride: int) -> list[int]:
    """Positions ``0, stride, 2*stride, ...`` of an ``n_frames`` video (the seed's TemporalSubsampling)."""
    if stride < 1:
        raise ValueError(f"frame stride must be >= 1, got {stride}")
    return list(range(0, n_frames, stride))


def temporal_random(rng: np.random.Generator, n_frames: int, length: int, stride: int = 1) -> list[int]:
    """The seed's TemporalRandomCrop on the strided positions, loop padded when short."""
    positions = strided(n_frames, stride)
    begin = int(rng.integers(0, max(0, len(positions) - length - 1) + 1))
    return loop_pad(positions[begin : begin + length], length)


def temporal_center(n_frames: int, length: int, stride: int = 1) -> list[int]:
    """The seed's TemporalCenterCrop on the strided positions, loop padded when short."""
    positions = strided(n_frames, stride)
    begin = max(0, len(positions) // 2 - length // 2)
    return loop_pad(positions[begin : begin + length], length)


def temporal_uniform(n_frames: int, length: int, n_clips: int, stride: int = 1) -> list[list[int]]:
    """``n_clips`` clips whose starts are spread evenly from the first to the last possible start.

    One clip is the seed's centre crop; short videos give loop-padded clips.
    """
    if n_clips < 1:
        raise ValueError(f"n_clips must be >= 1, got {n_clips}")
    if n_clips == 1:
        return [temporal_center(n_frames, length, stride)]
    positions = strided(n_frames, stride)
    slack = max(0, len(positions) - length)
    starts = [round(slack * i / (n_clips - 1)) for i in range(n_clips)]
    return [loop_pad(positions[s : s + length], length) for s in starts]


# ---- spatial ----------------------------------------------------------------------------------------


def _corner_box(width: int, height: int, side: int, position: str) -> Box:
    if position == "c":
        return Box(int(round((width - side) / 2.0)), int(round((height - side) / 2.0)), side, side)
    x = 0 if position in ("tl", "bl") else width - side
    y = 0 if position in ("tl", "tr") else height - side
    return Box(x, y, side, side)


def multiscale_corner_box(
    rng: np.random.Generator, width: int, height: int, scales: Sequence[float] = CORNER_SCALES
) -> Box:
    """The seed's MultiScaleCornerCrop: a square of ``int(short * scale)`` at the centre or a corner."""
    scale = scales[int(rng.integers(0, len(scales)))]
    position = CORNER_POSITIONS[int(rng.integers(0, len(CORNER_POSITIONS)))]
    side = max(1, int(min(width, height) * scale))
    return _corner_box(width, height, side, position)


def random_resized_box(
    rng: np.random.Generator,
    width: int,
    height: int,
    scale: tuple[float, float] = (0.25, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> Box:
    """torchvision's RandomResizedCrop box (the seed's default ``--train_crop random``, min scale 0.25)."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return Box(int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)), w, h)
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        w, h = int(round(height * ratio[1])), height
    else:
        w, h = width, height
    return Box((width - w) // 2, (height - h) // 2, w, h)


def center_box(width: int, height: int) -> Box:
    """The centred square of the short side (the seed's ``Resize(size)`` + ``CenterCrop(size)``)."""
    return _corner_box(width, height, min(width, height), "c")


def three_crop_boxes(width: int, height: int) -> list[Box]:
    """Three squares of the short side along the long side: start, centre, end (3-crop evaluation)."""
    side = min(width, height)
    slack_x, slack_y = width - side, height - side
    return [Box(int(round(slack_x * f)), int(round(slack_y * f)), side, side) for f in (0.0, 0.5, 1.0)]


def flip_decision(rng: np.random.Generator, p: float = 0.5) -> bool:
    """The seed's RandomHorizontalFlip decision."""
    return bool(rng.random() < p)


# ---- per-sample specs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SamplingConfig:
    """How clips are drawn: the knobs of :func:`build_loader` that decide frames and boxes."""

    mode: str = "train"
    clip_len: int = 16
    frame_stride: int = 1
    size: int = 112
    train_crop: str = "corner"
    train_t_crop: str = "random"
    hflip: bool = True
    n_clips: int = 1
    n_crops: int = 1

    def __post_init__(self) -> None:
        if self.mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train' or 'eval', got {self.mode!r}")
        if self.train_crop not in TRAIN_CROPS:
            raise ValueError(f"train_crop must be one of {TRAIN_CROPS}, got {self.train_crop!r}")
        if self.train_t_crop not in ("random", "center"):
            raise ValueError(f"train_t_crop must be 'random' or 'center', got {self.train_t_crop!r}")
        if self.n_crops not in (1, 3):
            raise ValueError(f"n_crops must be 1 or 3, got {self.n_crops}")
        if min(self.clip_len, self.frame_stride, self.size, self.n_clips) < 1:
            raise ValueError("clip_len, frame_stride, size and n_clips must be >= 1")

    @property
    def views(self) -> int:
        """Clips drawn per video: 1 in training, ``n_clips * n_crops`` in evaluation."""
        return 1 if self.mode == "train" else self.n_clips * self.n_crops


def _positions(config: SamplingConfig, rng: np.random.Generator, view: int, n_frames: int) -> list[int]:
    c = config
    if n_frames < 1:
        raise ValueError("a video with no frames has no clips")
    if c.mode == "eval":
        return temporal_uniform(n_frames, c.clip_len, c.n_clips, c.frame_stride)[view // c.n_crops]
    if c.train_t_crop == "random":
        return temporal_random(rng, n_frames, c.clip_len, c.frame_stride)
    return temporal_center(n_frames, c.clip_len, c.frame_stride)


def clip_positions(
    config: SamplingConfig, seed: int, epoch: int, video: int, view: int, n_frames: int
) -> tuple[int, ...]:
    """The frame positions of a clip; equal to ``clip_spec(...).positions`` (needs no frame size)."""
    return tuple(_positions(config, sample_rng(seed, epoch, video, view), view, n_frames))


def clip_spec(
    config: SamplingConfig,
    seed: int,
    epoch: int,
    video: int,
    view: int,
    n_frames: int,
    width: int,
    height: int,
) -> ClipSpec:
    """The spec of view ``view`` of video ``video`` (``n_frames`` frames of ``width x height``)."""
    c = config
    rng = sample_rng(seed, epoch, video, view)
    positions = tuple(_positions(c, rng, view, n_frames))
    if c.mode == "eval":
        box = (
            center_box(width, height) if c.n_crops == 1 else three_crop_boxes(width, height)[view % c.n_crops]
        )
        return ClipSpec(positions, box, False, c.size)
    if c.train_crop == "random":
        box = random_resized_box(rng, width, height)
    elif c.train_crop == "corner":
        box = multiscale_corner_box(rng, width, height)
    else:
        box = center_box(width, height)
    return ClipSpec(positions, box, flip_decision(rng) if c.hflip else False, c.size)
