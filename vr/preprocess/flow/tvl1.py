"""``flow-tvl1``: TV-L1 flow between consecutive frames of every video, from frame folders or videos.

N frames give N-1 pairs ``flow_x_00001.jpg``/``flow_y_00001.jpg`` (flow from frame i to i+1, see
``flow_io`` for the encoding). Each video is written into a temporary folder and renamed into place with
a completion marker, like ``extract-frames``; the engine is pluggable (``flow_engines``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vr import layout
from vr.preprocess.flow.engines import (
    PRECISIONS,
    PROCESSES_PER_GPU,
    TVL1Params,
    default_batch,
    get_engine,
    gpu_jobs,
    resolve_engine,
)
from vr.preprocess.flow.io import DEFAULT_BOUND, DEFAULT_JPEG_QUALITY, write_pair
from vr.preprocess.jobs import require_videos, run_per_video
from vr.preprocess.runner import OK, Outcome
from vr.video.decode import iter_frames
from vr.video.ffmpeg_log import DecodeHealth
from vr.video.find import list_videos
from vr.video.geometry import check_size_args, scaled_size
from vr.video.probe import VideoError

VIDEO_DEFAULT_SIZE = 240  # short side when flow is computed from videos and no size is given


@dataclass(frozen=True)
class FlowOptions:
    """Engine and TV-L1 parameters, ``bound`` (px) of the JPEG encoding, the frame size (None: frames as
    they are; from videos the short side defaults to 240), ``fps`` (videos only), JPEG ``quality``
    (0..100), ``batch`` (pairs handed to the engine at once; None: the engine's default on the worker's
    device, :func:`~vr.preprocess.flow.engines.default_batch`) and the engine's compute ``precision``
    (fp32, fp16 or bf16; only the torch engine offers more than fp32)."""

    engine: str = "auto"
    params: TVL1Params = field(default_factory=TVL1Params)
    bound: float = DEFAULT_BOUND
    size: int | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    quality: int = DEFAULT_JPEG_QUALITY
    batch: int | None = None
    precision: str = "fp32"

    def __post_init__(self) -> None:
        check_size_args(self.size, self.width, self.height)
        if self.bound <= 0:
            raise ValueError(f"bound must be positive, got {self.bound}")
        if not 0 <= self.quality <= 100:
            raise ValueError(f"JPEG quality is 0..100, got {self.quality}")
        if self.batch is not None and self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision is one of {', '.join(PRECISIONS)}, got {self.precision!r}")


@dataclass(frozen=True)
class FlowTask:
    name: str
    source: str
    dst: str
    from_video: bool
    options: FlowOptions = field(default_factory=FlowOptions)
    strict: bool = False  # from a video: the decoder's errors fail it (else: kept, with a warning)
    gpu: bool = False  # the run's torch engine runs on GPUs: a worker that sees none is an error


def find_frame_folders(root: str | os.PathLike) -> list[tuple[str, Path]]:
    """(name, folder) of every frame folder (one holding ``image_00001.jpg``) at ``root/<video>`` or
    ``root/<class>/<video>``, sorted; temporary and hidden folders are ignored."""
    root = Path(root).absolute()
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder")
    first = layout.image_name(1)

    def subdirs(folder: Path) -> list[Path]:
        found = []
        try:
            with os.scandir(folder) as it:
                for e in it:
                    with contextlib.suppress(OSError):  # a symlink loop, an unreadable entry: not a video
                        if not e.name.startswith(".") and e.is_dir():
                            found.append(Path(e.path))
        except OSError:
            return []
        return sorted(found)

    found = []
    for top in subdirs(root):
        if (top / first).is_file():
            found.append((top.name, top))
            continue
        found += [(f"{top.name}/{d.name}", d) for d in subdirs(top) if (d / first).is_file()]
    return found


def _resized(gray: np.ndarray, options: FlowOptions) -> np.ndarray:
    size = scaled_size(gray.shape[1], gray.shape[0], options.size, options.width, options.height)
    if size == (gray.shape[1], gray.shape[0]):
        return gray
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


def _folder_frames(folder: Path, options: FlowOptions) -> Iterator[np.ndarray]:
    marker = layout.read_marker(folder)
    n = marker["n_frames"] if marker and "n_frames" in marker else layout.count_images(folder)
    for i in range(1, n + 1):
        gray = cv2.imread(str(folder / layout.image_name(i)), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            raise VideoError(f"cannot read {layout.image_name(i)}")
        yield _resized(gray, options)


def _video_frames(path: str, options: FlowOptions, health: DecodeHealth) -> Iterator[np.ndarray]:
    size = options.size
    if size is None and options.width is None:
        size = VIDEO_DEFAULT_SIZE
    frames = iter_frames(
        path, size, options.width, options.height, options.fps, even=False, threads=1, health=health
    )
    for rgb in frames:
        yield cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _batches(frames: Iterator[np.ndarray], batch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Consecutive pairs as (prev, next) stacks of at most ``batch`` pairs."""
    prev = next(frames, None)
    if prev is None:
        return
    chunk = [prev]
    for frame in frames:
        if frame.shape != chunk[0].shape:
            raise VideoError(f"frame size changes from {chunk[0].shape} to {frame.shape}")
        chunk.append(frame)
        if len(chunk) == batch + 1:
            yield np.stack(chunk[:-1]), np.stack(chunk[1:])
            chunk = [chunk[-1]]
    if len(chunk) > 1:
        yield np.stack(chunk[:-1]), np.stack(chunk[1:])


def flow_video(task: FlowTask) -> Outcome:
    """Compute and write one video's flow into ``task.dst``; raise VideoError when it cannot."""
    options = task.options
    if task.gpu and not _cuda_here():
        raise VideoError(
            "this worker sees no GPU (CUDA_VISIBLE_DEVICES="
            f"{os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')!r}) although the run's torch engine runs on "
            "GPUs; give the workers GPUs, or pass --engine opencv"
        )
    engine = get_engine(options.engine, options.params, options.precision)
    health = DecodeHealth()
    if task.from_video:
        frames = _video_frames(task.source, options, health)
    else:
        frames = _folder_frames(Path(task.source), options)
    final = Path(task.dst)
    tmp = layout.temp_sibling(final)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        n_pairs, shape = 0, None
        for prev, nxt in _batches(frames, options.batch or default_batch(options.engine)):
            shape = prev.shape[1:]
            for flow in engine(prev, nxt):
                n_pairs += 1
                write_pair(tmp, n_pairs, flow, options.bound, options.quality)
        if n_pairs == 0:
            raise VideoError("fewer than 2 frames: no flow pair")
        health.check(task.strict)
        marker = {
            "kind": "flow",
            "n_pairs": n_pairs,
            "n_frames": n_pairs + 1,
            "width": int(shape[1]),
            "height": int(shape[0]),
            "bound": options.bound,
            "source": task.source,
            "engine": resolve_engine(options.engine),
            "precision": options.precision,
            "params": asdict(options.params),
        }
        if task.from_video:
            marker["decode"] = health.to_json()
        layout.commit_folder(tmp, final, marker)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Outcome(task.name, OK, task.source, frames=n_pairs, warning=health.warning())


def flow_tvl1(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    options: FlowOptions | None = None,
    *,
    from_video: bool = False,
    dataset: str = "folder",
    extensions: tuple[str, ...] | None = None,
    jobs: int = -1,
    backend: str = "loky",
    address: str | None = None,
    overwrite: bool = False,
    quiet: bool = False,
    strict: bool = False,
) -> list[Outcome]:
    """Flow of every frame folder of ``src`` (or, ``from_video``, every video of ``src`` in ``dataset``'s
    layout) into ``dst`` with the same relative names; return every outcome (``frames`` counts pairs;
    a video the decoder reported errors in is ok with a warning, failed with ``strict``) and write
    ``dst/_report.json``."""
    options = options or FlowOptions()
    if options.fps is not None and not from_video:
        raise ValueError("--fps resamples videos: it needs --from-video (frame folders are not resampled)")
    get_engine(options.engine, options.params, options.precision)  # bad engine/precision: fail before work
    jobs = gpu_jobs(options.engine, jobs)
    torch_engine = resolve_engine(options.engine) == "torch"
    gpu = torch_engine and _cuda_here()  # then a worker that sees no GPU fails its videos, not slows
    dst = Path(dst)
    listing = None
    if from_video:
        listing = list_videos(src, dataset, extensions)
        require_videos(listing, src, dataset, extensions)
        sources = [(v.name, v.path) for v in listing.videos]
    else:
        sources = find_frame_folders(src)
        if not sources:
            videos = list_videos(src, "folder").videos
            hint = f"; it holds {len(videos)} video file(s): add --from-video" if videos else ""
            raise ValueError(
                f"{src}: no frame folders (<video>/image_00001.jpg or <class>/<video>/...){hint}"
            )
    return run_per_video(
        "flow-tvl1",
        flow_video,
        sources,
        lambda name, path: FlowTask(name, str(path), str(dst / name), from_video, options, strict, gpu),
        dst,
        src=src,
        settings={"from_video": from_video, "dataset": dataset, **asdict(options)},
        listing=listing,
        notes=listing.notes(dataset) if listing is not None else [],
        overwrite=overwrite,
        desc="flow",
        jobs=jobs,
        backend=backend,
        address=address,
        quiet=quiet,
        gpu_share=1 / PROCESSES_PER_GPU if torch_engine else 0.0,
    )


def _cuda_here() -> bool:
    import torch

    return torch.cuda.is_available()
