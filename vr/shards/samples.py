"""Loading one planned sample into memory: its metadata JSON and its JPEG members, checked.

Member names are generated here from the sample key and frame numbers, never taken from the file
system. A sample with a bad JPEG raises :class:`SampleError` naming the member, and is left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vr import layout
from vr.shards.format import flow_members, meta_member, rgb_member
from vr.shards.jpeg import JpegError, check_jpeg
from vr.shards.plan import SampleSpec, ShardOptions


class SampleError(ValueError):
    """A sample that cannot be stored; ``member`` is the offending tar member (or input file)."""

    def __init__(self, reason: str, member: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.member = reason, member


@dataclass(frozen=True)
class Inputs:
    """Where a run's inputs live: frame root, flow root, or video root (``--from-video``)."""

    frames: Path | None = None
    flow: Path | None = None
    videos: Path | None = None


def metadata(spec: SampleSpec, n_frames: int, n_flow: int, size: tuple[int, int], fps: float | None) -> bytes:
    """The sample's ``.json`` member (sorted keys, compact, so it is byte-stable)."""
    record = spec.record
    width, height = size
    meta = {
        "id": record.id,
        "label": record.label,
        "label_index": record.label_index,
        "n_frames": n_frames,
        "n_flow": n_flow,
        "fps": fps,
        "width": width,
        "height": height,
        "source": spec.video or record.path,
        "subset": record.subset,
    }
    return json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()


def _checked(name: str, data: bytes, decode: bool, size: list[tuple[int, int]]) -> bytes:
    """``data`` after the JPEG check; all frames of one kind must share the first one's size."""
    try:
        dims = check_jpeg(data, decode)
    except JpegError as e:
        raise SampleError(f"corrupt JPEG: {e}", name) from None
    if not size:
        size.append(dims)
    elif dims != size[0]:
        raise SampleError(f"frame size {dims[0]}x{dims[1]} differs from {size[0][0]}x{size[0][1]}", name)
    return data


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise SampleError(f"cannot read: {e.strerror}", str(path)) from None


Members = list[tuple[str, bytes]]


class LoadedSample(list):
    """A sample's members ``(name, bytes)`` in order, JSON first; ``warning``: what was wrong with its
    source but kept (a video the decoder reported errors in)."""

    warning: str = ""


def _rgb_members(spec: SampleSpec, inputs: Inputs, options: ShardOptions) -> tuple[Members, tuple[int, int]]:
    """The RGB members read from the frame folder, and their frame size."""
    assert spec.rgb is not None and inputs.frames is not None
    folder = inputs.frames / spec.record.path
    members: Members = []
    size: list[tuple[int, int]] = []
    for i, index in enumerate(range(spec.rgb[0], spec.rgb[1] + 1), start=1):
        name = rgb_member(spec.key, i)
        members.append(
            (name, _checked(name, _read(folder / layout.image_name(index)), options.check_decode, size))
        )
    return members, size[0]


def _flow_members(spec: SampleSpec, inputs: Inputs, options: ShardOptions) -> tuple[Members, tuple[int, int]]:
    """The flow members (x then y, pair by pair) read from the flow folder, and their frame size."""
    assert spec.flow is not None and inputs.flow is not None
    folder = inputs.flow / spec.record.path
    members: Members = []
    size: list[tuple[int, int]] = []
    for i, index in enumerate(range(spec.flow[0], spec.flow[1] + 1), start=1):
        for name, file in zip(flow_members(spec.key, i), layout.flow_names(index), strict=True):
            members.append((name, _checked(name, _read(folder / file), options.check_decode, size)))
    return members, size[0]


def load_sample(spec: SampleSpec, inputs: Inputs, options: ShardOptions) -> LoadedSample:
    """All members of one sample, JSON first; raises :class:`SampleError` when any part is bad.

    The JSON's width/height are the RGB frames' size (the flow frames' when there is no RGB).
    """
    rgb: Members = []
    flow: Members = []
    sizes = []
    warning = ""
    if spec.video is not None:
        from vr.shards.from_video import video_members

        assert inputs.videos is not None
        rgb, size, warning = video_members(spec, inputs.videos / spec.video, options)
        sizes.append(size)
    elif spec.rgb is not None:
        rgb, size = _rgb_members(spec, inputs, options)
        sizes.append(size)
    if spec.flow is not None:
        flow, size = _flow_members(spec, inputs, options)
        sizes.append(size)
    if not sizes:
        raise SampleError("no frames")
    fps = options.video_fps if spec.video is not None and options.video_fps else spec.record.fps
    sample = LoadedSample(
        [(meta_member(spec.key), metadata(spec, len(rgb), len(flow) // 2, sizes[0], fps)), *rgb, *flow]
    )
    sample.warning = warning
    return sample
