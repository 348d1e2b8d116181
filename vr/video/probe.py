"""Probing videos without ffprobe: parse what ``ffmpeg -i`` prints, count frames by demuxing.

``ffmpeg -i FILE`` (no output) prints the container and stream description on stderr and exits 1;
the first video stream gives codec, size, frame rate and rotation, the ``Duration:`` line the duration.
The frame count comes from stream-copying the video to the null muxer (demux only, no decoding), so it
is exact for every container, including those (AVI rarely, WebM/MKV never) that store no count.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass

from vr.errors import VrError
from vr.video.ffmpeg_bin import ffmpeg_exe
from vr.video.ffmpeg_log import error_line


class VideoError(VrError, RuntimeError):
    """A video cannot be read; the message is a one-line reason fit for a report."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds, as displayed (rotation applied)."""

    width: int
    height: int
    fps: float
    n_frames: int | None
    duration: float | None
    codec: str


_STREAM = re.compile(r"^\s*Stream #(\d+):(\d+)\S*: Video: (\w+).*?[, ]([1-9]\d{0,4})x([1-9]\d{0,4})\b", re.M)
_FPS = re.compile(r"([\d.]+)(k?) (fps|tbr)")
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees")


def _section(stderr: str, kind: str) -> str:
    """The ``Input #0`` or ``Output #0`` block of an ffmpeg log ('' when absent)."""
    start = stderr.find(f"{kind} #0")
    if start < 0:
        return ""
    other = "Output #0" if kind == "Input" else "Press [q]"
    end = stderr.find(other, start + 1)
    return stderr[start : end if end > 0 else len(stderr)]


def _fps(line: str) -> float:
    found = {unit: float(v) * (1000 if k else 1) for v, k, unit in _FPS.findall(line)}
    return found.get("fps") or found.get("tbr") or 0.0


def parse_stream(stderr: str, kind: str = "Input") -> VideoInfo | None:
    """The first video stream (not cover art) of ffmpeg's ``Input #0`` (or ``Output #0``) block, None
    when it has none."""
    block = _section(stderr, kind)
    for match in _STREAM.finditer(block):
        line_end = block.find("\n", match.start())
        line = block[match.start() : line_end if line_end > 0 else len(block)]
        if "(attached pic)" not in line:  # cover art is no video (ffmpeg's 0:V)
            break
    else:
        return None
    width, height = int(match.group(4)), int(match.group(5))
    next_stream = block.find("Stream #", match.end())
    rotation = _ROTATION.search(block[match.start() : next_stream if next_stream > 0 else len(block)])
    if rotation and round(abs(float(rotation.group(1)))) % 180 == 90:
        width, height = height, width
    duration = _DURATION.search(block)
    seconds = None
    if duration:
        h, m, s = duration.groups()
        seconds = int(h) * 3600 + int(m) * 60 + float(s)
    return VideoInfo(width, height, _fps(line), None, seconds, match.group(3))


def check_readable(path: str | os.PathLike) -> None:
    """Raise VideoError for the cases that need no ffmpeg: missing, unreadable, directory, empty."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise VideoError("no such file")
    if os.path.isdir(path):
        raise VideoError("is a directory")
    if not os.access(path, os.R_OK):
        raise VideoError("permission denied")
    if os.path.getsize(path) == 0:
        raise VideoError("empty file (0 bytes)")


def count_frames(path: str | os.PathLike) -> int:
    """Number of packets (= frames) of the first video stream, by stream copy to the null muxer."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-v", "error", "-i", os.fspath(path)]
    cmd += ["-map", "0:V:0", "-c", "copy", "-f", "null", "-", "-progress", "pipe:1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    counts = re.findall(r"^frame=(\d+)", proc.stdout, re.M)
    if proc.returncode != 0 or not counts:
        raise VideoError(error_line(proc.stderr))
    return int(counts[-1])


def probe(path: str | os.PathLike, count: bool = True) -> VideoInfo:
    """Size, fps, duration, codec (and with ``count`` the exact frame count) of a video's first stream.

    Raises VideoError with a one-line reason when the file is unreadable or holds no video stream.
    """
    check_readable(path)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", os.fspath(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    info = parse_stream(proc.stderr)
    if info is None:
        if "Input #0" in proc.stderr:
            raise VideoError("no video stream")
        raise VideoError(error_line(proc.stderr))
    if not count:
        return info
    return VideoInfo(info.width, info.height, info.fps, count_frames(path), info.duration, info.codec)
