"""`vr bench extract` and `vr bench flow`: frame extraction and TV-L1 flow on a random sample of the
user's videos or frame folders, run as `vr preprocess` runs them (same functions, same workers), and the
time the whole folder would take at that rate."""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vr.errors import VrError


@dataclass(frozen=True)
class PreprocessBench:
    """A sample's measured rate: ``items`` (videos or frame folders) and ``frames`` (frames written, or
    flow pairs) in ``seconds`` of wall time with ``jobs`` workers; ``total_items`` in the folder and the
    ``projected_s`` for all of them (the sample's mean per item)."""

    stage: str
    source: str
    sample: int
    items: int
    failed: int
    frames: int
    seconds: float
    jobs: int
    total_items: int
    items_per_s: float
    frames_per_s: float
    projected_s: float
    settings: dict[str, Any]


def _sample(items: list, n: int, seed: int) -> list:
    if n < 1:
        raise VrError("the sample must hold at least 1 item")
    return random.Random(seed).sample(items, min(n, len(items)))


def _run(
    stage: str,
    source: str,
    total: int,
    tasks: list,
    fn: Callable,
    jobs: int,
    backend: str,
    settings: dict[str, Any],
    progress: bool,
) -> PreprocessBench:
    from vr.preprocess.runner import OK, n_workers, run_tasks

    start = time.perf_counter()
    outcomes = run_tasks(fn, tasks, jobs=jobs, backend=backend, quiet=not progress, desc=stage)
    seconds = time.perf_counter() - start
    ok = [o for o in outcomes if o.status == OK]
    if not ok:
        reasons = "; ".join(f"{o.name}: {o.reason}" for o in outcomes[:3])
        raise VrError(f"{source}: every sampled item failed ({reasons})")
    frames = sum(o.frames for o in ok)
    return PreprocessBench(
        stage=stage,
        source=str(source),
        sample=len(tasks),
        items=len(ok),
        failed=len(outcomes) - len(ok),
        frames=frames,
        seconds=seconds,
        jobs=n_workers(jobs),
        total_items=total,
        items_per_s=len(ok) / seconds,
        frames_per_s=frames / seconds,
        projected_s=total * seconds / len(tasks),
        settings=settings,
    )


def measure_extract(
    src: str,
    *,
    dataset: str = "folder",
    sample: int = 8,
    jobs: int = -1,
    size: int | None = 240,
    fps: float | None = None,
    quality: int = 2,
    seed: int = 0,
    progress: bool = True,
) -> PreprocessBench:
    """Extract the frames of ``sample`` random videos of ``src`` (as `vr preprocess extract-frames` would,
    into a temporary folder, deleted after) and time it."""
    from vr.preprocess.frames import FrameOptions, FrameTask, extract_video
    from vr.video.find import list_videos

    try:
        options = FrameOptions(size=size, fps=fps, quality=quality)
        videos = list_videos(src, dataset).videos
    except ValueError as e:
        raise VrError(str(e)) from None
    if not videos:
        raise VrError(f"{src}: no videos in the {dataset} layout")
    chosen = _sample(videos, sample, seed)
    with tempfile.TemporaryDirectory(prefix="vr-bench-extract-") as tmp:
        tasks = [FrameTask(v.name, str(v.path), str(Path(tmp) / v.name), options) for v in chosen]
        return _run(
            "extract",
            src,
            len(videos),
            tasks,
            extract_video,
            jobs,
            "threading",
            {"dataset": dataset, "size": size, "fps": fps, "quality": quality},
            progress,
        )


def measure_flow(
    frames: str,
    *,
    sample: int = 4,
    jobs: int = -1,
    engine: str = "auto",
    batch: int = 8,
    precision: str = "fp32",
    seed: int = 0,
    progress: bool = True,
) -> PreprocessBench:
    """TV-L1 flow of ``sample`` random frame folders of ``frames`` (as `vr preprocess flow-tvl1` would,
    into a temporary folder, deleted after) and time it; ``frames`` counts flow pairs."""
    from vr.preprocess.flow.engines import get_engine, gpu_jobs, resolve_engine
    from vr.preprocess.flow.tvl1 import FlowOptions, FlowTask, find_frame_folders, flow_video

    try:
        options = FlowOptions(engine=engine, batch=batch, precision=precision)
        get_engine(options.engine, options.params, options.precision)
        folders = find_frame_folders(frames)
    except ValueError as e:
        raise VrError(str(e)) from None
    if not folders:
        raise VrError(f"{frames}: no frame folders (<video>/image_00001.jpg or <class>/<video>/...)")
    chosen = _sample(folders, sample, seed)
    with tempfile.TemporaryDirectory(prefix="vr-bench-flow-") as tmp:
        tasks = [FlowTask(name, str(path), str(Path(tmp) / name), False, options) for name, path in chosen]
        return _run(
            "flow",
            frames,
            len(folders),
            tasks,
            flow_video,
            gpu_jobs(engine, jobs),
            "loky",
            {"engine": resolve_engine(engine), "batch": batch, "precision": precision},
            progress,
        )
