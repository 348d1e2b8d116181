"""``extract-frames``: one ffmpeg process per video writes its JPEG frames into a temporary folder, which
is renamed into place with a completion marker once the video is fully and correctly decoded.

The scaling is the 3D-ResNets seed's ``generate_video_jpgs`` filter (landscape: ``scale=-1:SIZE``, else
``scale=SIZE:-1``) evaluated inside ffmpeg, so no probe is needed; ``fps`` resamples with ffmpeg's
``fps`` filter (dropping/duplicating frames; the seed uses the much slower ``minterpolate``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import ffmpeg

from vr import layout
from vr.preprocess.jobs import require_videos, run_per_video
from vr.preprocess.runner import OK, Outcome
from vr.video.ffmpeg_bin import ffmpeg_exe
from vr.video.ffmpeg_log import LOG_ARGS, damage, decode_health, error_line, parse_log
from vr.video.find import list_videos
from vr.video.geometry import check_size_args, scale_expressions
from vr.video.probe import VideoError, check_readable, parse_stream


@dataclass(frozen=True)
class FrameOptions:
    """How frames are written: short side ``size`` or ``width``x``height``, ``fps`` resampling (None:
    every frame), JPEG ``quality`` (ffmpeg ``-q:v``, 1 best .. 31), ffmpeg ``threads`` per video."""

    size: int | None = 240
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    quality: int = 2
    threads: int = 1

    def __post_init__(self) -> None:
        check_size_args(self.size, self.width, self.height)
        if not 1 <= self.quality <= 31:
            raise ValueError(f"quality is ffmpeg's -q:v, 1 (best) to 31, got {self.quality}")
        if self.fps is not None and self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")


@dataclass(frozen=True)
class FrameTask:
    """One video to extract; ``strict``: a video the decoder reported errors in fails (else its frames
    are kept and it is listed as a warning)."""

    name: str
    source: str
    dst: str
    options: FrameOptions = field(default_factory=FrameOptions)
    strict: bool = False


def frames_command(source: str | os.PathLike, pattern: str | os.PathLike, options: FrameOptions) -> list[str]:
    """The one ffmpeg command writing ``source``'s first video stream as JPEGs to ``pattern``."""
    # V:0, the first video stream that is not cover art
    stream = ffmpeg.input(os.fspath(source), threads=options.threads)["V:0"]
    if options.fps:
        stream = stream.filter("fps", fps=options.fps)
    scale = scale_expressions(options.size, options.width, options.height)
    if scale is not None:
        stream = stream.filter("scale", **scale)
    out = stream.output(
        os.fspath(pattern),
        **{"q:v": options.quality, "threads": options.threads, "fps_mode": "passthrough", "start_number": 1},
    )
    args = [*LOG_ARGS, "-filter_complex_threads", str(options.threads)]
    return out.global_args(*args).compile(cmd=ffmpeg_exe())


def extract_video(task: FrameTask) -> Outcome:
    """Write one video's frames to ``task.dst``; raise VideoError (with the reason) when it cannot."""
    check_readable(task.source)
    final = Path(task.dst)
    tmp = layout.temp_sibling(final)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        cmd = frames_command(task.source, tmp / layout.IMAGE_TEMPLATE.replace("{:05d}", "%05d"), task.options)
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
        log = parse_log(proc.stderr.decode("utf-8", "replace"))
        src_info, out_info = parse_stream(log.text, "Input"), parse_stream(log.text, "Output")
        if src_info is None and "Input #0" in log.text:
            raise VideoError("no video stream")
        if proc.returncode != 0:
            raise VideoError(error_line(log.errors or log.text))
        cut = damage(log)
        if cut:
            raise VideoError(f"truncated or damaged: {cut}")
        n_frames = layout.count_images(tmp)
        if n_frames == 0 or out_info is None:
            raise VideoError("no video frames decoded")
        health = decode_health(log)
        health.check(task.strict)
        marker = {
            "kind": "frames",
            "n_frames": n_frames,
            "fps": task.options.fps or src_info.fps,
            "width": out_info.width,
            "height": out_info.height,
            "source": task.source,
            "codec": src_info.codec,
            "options": asdict(task.options),
            "decode": health.to_json(),
        }
        layout.commit_folder(tmp, final, marker)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Outcome(task.name, OK, task.source, frames=n_frames, warning=health.warning())


def extract_frames(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    dataset: str = "folder",
    options: FrameOptions | None = None,
    *,
    extensions: tuple[str, ...] | None = None,
    jobs: int = -1,
    backend: str = "threading",
    address: str | None = None,
    overwrite: bool = False,
    quiet: bool = False,
    strict: bool = False,
) -> list[Outcome]:
    """Extract the frames of every video of ``src`` (``dataset`` layout) into ``dst``; return every
    video's outcome (ok, skipped when already complete, failed with its reason; ok with a warning when
    the decoder reported errors, failed then with ``strict``) and write ``dst/_report.json``. The work
    is in the ffmpeg processes, so threads (the default) suffice."""
    options = options or FrameOptions()
    listing = list_videos(src, dataset, extensions)
    require_videos(listing, src, dataset, extensions)
    dst = Path(dst)
    return run_per_video(
        "extract-frames",
        extract_video,
        [(v.name, v.path) for v in listing.videos],
        lambda name, path: FrameTask(name, str(path), str(dst / name), options, strict),
        dst,
        src=src,
        settings={"dataset": dataset, **asdict(options)},
        listing=listing,
        notes=listing.notes(dataset),
        overwrite=overwrite,
        desc="frames",
        jobs=jobs,
        backend=backend,
        address=address,
        quiet=quiet,
    )
