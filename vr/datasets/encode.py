"""Encoding frame arrays into real video files through ffmpeg (ffmpeg-python builds the command)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import numpy as np

from vr.errors import VrError
from vr.video.ffmpeg_bin import ffmpeg_exe
from vr.writing import atomic_path


@dataclass(frozen=True)
class Codec:
    """An encoder with its container and reproducible settings."""

    name: str
    container: str
    extension: str
    options: dict[str, str | int]


# Single-threaded, bit-exact settings: the same frames give the same bytes (parallelism is across videos).
CODECS: dict[str, Codec] = {
    "mpeg4": Codec("mpeg4", "avi", ".avi", {"vcodec": "mpeg4", "q:v": 3, "pix_fmt": "yuv420p"}),
    "h264": Codec(
        "h264",
        "mp4",
        ".mp4",
        {"vcodec": "libx264", "crf": 18, "preset": "veryfast", "pix_fmt": "yuv420p", "threads": 1},
    ),
    "vp9": Codec(
        "vp9",
        "webm",
        ".webm",
        {
            "vcodec": "libvpx-vp9",
            "crf": 32,
            "b:v": 0,
            "deadline": "good",
            "cpu-used": 5,
            "row-mt": 0,
            "threads": 1,
            "pix_fmt": "yuv420p",
        },
    ),
    "mjpeg": Codec("mjpeg", "avi", ".avi", {"vcodec": "mjpeg", "q:v": 3, "pix_fmt": "yuvj420p"}),
}


class EncodeError(VrError, RuntimeError):
    """ffmpeg failed to encode a video."""


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float, codec: str = "mpeg4") -> Path:
    """Encode ``frames`` (T, H, W, 3) RGB uint8 to ``path`` atomically; returns ``path``.

    H and W must be even (4:2:0 chroma). The file appears under its final name only once complete.
    """
    spec = CODECS[codec]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"frame size {w}x{h} must be even for 4:2:0 video")
    path = Path(path)
    with atomic_path(path) as tmp:
        _encode(frames, tmp, spec, fps, path.name)
    return path


def _encode(frames: np.ndarray, tmp: Path, spec, fps: float, name: str) -> None:
    t, h, w, _ = frames.shape
    stream = (
        ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{w}x{h}", framerate=fps)
        .output(
            str(tmp),
            format=spec.container,
            map_metadata=-1,
            fflags="+bitexact",
            **{"flags:v": "+bitexact"},
            **spec.options,
        )
        .global_args("-hide_banner", "-nostdin", "-loglevel", "error")
        .overwrite_output()
    )
    try:
        stream.run(
            cmd=ffmpeg_exe(),
            input=np.ascontiguousarray(frames).tobytes(),
            capture_stdout=True,
            capture_stderr=True,
        )
    except ffmpeg.Error as e:
        raise EncodeError(f"ffmpeg could not encode {name}: {e.stderr.decode(errors='replace')}") from None
