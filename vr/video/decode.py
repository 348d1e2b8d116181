"""Decoding a video to RGB frames in memory: one ffmpeg process piping raw RGB24 frames."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator

import ffmpeg
import numpy as np

from vr.video.ffmpeg_bin import ffmpeg_exe
from vr.video.ffmpeg_log import LOG_ARGS, DecodeHealth, damage, decode_health, error_line, parse_log
from vr.video.geometry import scaled_size
from vr.video.probe import VideoError, probe


def decode_command(
    path: str | os.PathLike, out_size: tuple[int, int] | None, fps: float | None, threads: int = 0
) -> list[str]:
    """The ffmpeg command writing the first video stream of ``path`` as raw RGB24 to stdout."""
    # V:0, the first video stream that is not cover art
    stream = ffmpeg.input(os.fspath(path), threads=threads)["V:0"]
    if fps:
        stream = stream.filter("fps", fps=fps)
    if out_size is not None:
        stream = stream.filter("scale", out_size[0], out_size[1])
    out = stream.output("pipe:", format="rawvideo", pix_fmt="rgb24", fps_mode="passthrough")
    return out.global_args(*LOG_ARGS).compile(cmd=ffmpeg_exe())


def iter_frames(
    path: str | os.PathLike,
    size: int | None = None,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    *,
    even: bool = True,
    threads: int = 0,
    health: DecodeHealth | None = None,
) -> Iterator[np.ndarray]:
    """Yield the frames of ``path``'s first video stream in order, each an ``(H, W, 3)`` RGB uint8 array.

    ``size`` sets the short side keeping the aspect (long side rounded to even unless ``even=False``,
    which matches ``extract-frames``), ``width``/``height`` a fixed size, ``fps`` resamples (ffmpeg's
    ``fps`` filter); no argument keeps the video as it is. ``threads`` are ffmpeg's decoding threads
    (0: ffmpeg's choice). Raises VideoError (one-line reason) when the video cannot be decoded; a
    video cut short or damaged mid-stream raises after its last decoded frame. ``health``, when given,
    is filled in once the last frame has been read: the decoder's errors and frame counts
    (:class:`~vr.video.ffmpeg_log.DecodeHealth`), for the caller to report a damaged video.
    """
    info = probe(path, count=False)
    out_w, out_h = scaled_size(info.width, info.height, size, width, height, even=even)
    resize = None if (out_w, out_h) == (info.width, info.height) else (out_w, out_h)
    cmd = decode_command(path, resize, fps, threads)
    frame_bytes = out_w * out_h * 3
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
        try:
            n = 0
            while True:
                frame = np.empty((out_h, out_w, 3), np.uint8)  # a fresh, writable array per frame
                if proc.stdout.readinto(memoryview(frame).cast("B")) < frame_bytes:
                    break
                n += 1
                yield frame
            code = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        log.seek(0)
        messages = parse_log(log.read().decode("utf-8", "replace"))
        if code != 0:
            raise VideoError(error_line(messages.errors or messages.text))
        cut = damage(messages)
        if cut:
            raise VideoError(f"truncated or damaged: {cut}")
        if n == 0:
            raise VideoError("no video frames decoded")
        if health is not None:
            found = decode_health(messages)
            health.packets, health.decoded = found.packets, found.decoded
            health.errors, health.first_error = found.errors, found.first_error
