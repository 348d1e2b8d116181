"""Reading one clip's encoded frames, shared by both backends (runs in their worker processes).

Item ``i`` of an epoch is view ``i % views`` of video ``i // views``. :func:`read_clip` draws the clip's
frame positions, reads just those JPEGs, checks them (:func:`~vr.shards.jpeg.jpeg_size`) and finishes
the :class:`ClipSpec` with the frame size. Anything wrong with the sample gives a :class:`Skip` (counted
and reported by the loader) instead of an exception, so one bad video never stops an epoch; storage that
fails gives a :class:`Fatal`, which does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vr.pipelines.sampling import ClipSpec, SamplingConfig, clip_positions, clip_spec
from vr.shards.jpeg import JpegError, jpeg_size
from vr.storage import StorageError


@dataclass
class RawClip:
    """A clip before decoding: per frame its channel JPEGs (RGB: 1, Flow: x and y)."""

    frames: list[list[bytes]]
    spec: ClipSpec
    label: int
    video_id: str
    item: int


@dataclass
class Skip:
    """An item that could not be read, and why."""

    item: int
    video_id: str
    reason: str


@dataclass
class Fatal(Skip):
    """An item whose storage failed (unreachable after retries, truncated, not as indexed): the epoch
    cannot go on. It travels back from the worker like a skip; the loader raises it as a
    :class:`~vr.storage.StorageError` in the main process."""


def read_clips(
    source, config: SamplingConfig, seed: int, keys: Sequence[tuple[int, int]]
) -> list[RawClip | Skip]:
    """Items ``(epoch, item)`` of ``source``, read together (a shard's members in as few reads as its
    store allows); each a :class:`RawClip`, or a :class:`Skip` saying why it is unusable (a
    :class:`Fatal` when the storage itself failed)."""
    out: list[RawClip | Skip | None] = [None] * len(keys)
    planned: list[tuple[int, Any, tuple[int, ...]]] = []
    for i, (epoch, item) in enumerate(keys):
        video_index, view = divmod(item, config.views)
        video_id = f"#{video_index}"
        try:
            video = source.video(video_index)
            video_id = video.id
            if video.n_frames == 0:
                out[i] = Skip(item, video_id, f"no {source.modality} frames")
            elif video.label < 0 and config.mode == "train":
                out[i] = Skip(item, video_id, "no label (an unlabelled video cannot be trained on)")
            else:
                planned.append(
                    (i, video, clip_positions(config, seed, epoch, video_index, view, video.n_frames))
                )
        except StorageError as e:
            out[i] = Fatal(item, video_id, str(e))
        except (OSError, ValueError, KeyError) as e:
            out[i] = Skip(item, video_id, f"unreadable: {e}")
    fetched = source.read_frames([(video, positions) for _, video, positions in planned]) if planned else []
    for (i, video, positions), frames in zip(planned, fetched, strict=True):
        epoch, item = keys[i]
        out[i] = _finish(source, config, seed, epoch, item, video, positions, frames)
    return out  # type: ignore[return-value]


def _finish(source, config, seed, epoch, item, video, positions, frames) -> RawClip | Skip:
    """The clip of ``frames`` (read for ``positions``), or why it cannot be one."""
    if isinstance(frames, StorageError):
        return Fatal(item, video.id, str(frames))
    if isinstance(frames, Exception):
        return Skip(item, video.id, f"unreadable: {frames}")
    try:
        sizes = {jpeg_size(data) for frame in frames for data in frame}
    except JpegError as e:
        return Skip(item, video.id, f"corrupt JPEG: {e}")
    if len(sizes) != 1:
        return Skip(item, video.id, f"frames of different sizes {sorted(sizes)}")
    ((width, height),) = sizes
    video_index, view = divmod(item, config.views)
    spec = clip_spec(config, seed, epoch, video_index, view, video.n_frames, width, height)
    return RawClip(frames, spec, video.label, video.id, item)


def read_clip(source, config: SamplingConfig, seed: int, epoch: int, item: int) -> RawClip | Skip:
    """Item ``item`` of epoch ``epoch`` of ``source`` (see :func:`read_clips`)."""
    return read_clips(source, config, seed, [(epoch, item)])[0]
