"""TV-L1 flow pairs/s of `vr preprocess flow-tvl1` (OpenCV engine) at 340x256: 1 job against all cores.

Frame folders of a textured scene moving a few pixels per frame are made first; then the same
``flow_tvl1`` call runs with ``--jobs 1`` and with ``--jobs N`` on the same folders. Also timed: the
bare engine on the first video's pairs (no JPEG reading/writing), to show the I/O overhead. Wall-clock
scaling efficiency is ``rate(N jobs) / (N * rate(1 job))``; on a machine shared with other work it is
meaningless, so the CPU seconds each worker spends per pair are measured too (same ``flow_video``
tasks, loky workers): ``cpu(1 job) / cpu(N jobs)`` shows what parallelism itself costs.

    python bench/flow.py --videos 4 --frames 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from joblib import Parallel, delayed

from vr import layout
from vr.preprocess.flow.engines import TVL1Params, get_engine
from vr.preprocess.flow.tvl1 import FlowOptions, FlowTask, find_frame_folders, flow_tvl1, flow_video

WIDTH, HEIGHT = 340, 256


def make_frames(root: Path, videos: int, frames: int) -> None:
    rng = np.random.default_rng(0)
    for v in range(videos):
        noise = rng.uniform(0, 255, (HEIGHT + 64, WIDTH + 64 + 4 * frames, 3)).astype(np.float32)
        scene = cv2.GaussianBlur(noise, (0, 0), 2.0)
        scene = cv2.normalize(scene, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
        folder = root / "cls" / f"v{v:03d}"
        folder.mkdir(parents=True)
        for k in range(frames):
            dy = int(round(2 * np.sin(k / 3)))
            crop = scene[32 + dy : 32 + dy + HEIGHT, 3 * k : 3 * k + WIDTH]
            cv2.imwrite(str(folder / layout.image_name(k + 1)), crop, [cv2.IMWRITE_JPEG_QUALITY, 95])


def timed_run(src: Path, dst: Path, jobs: int) -> tuple[int, float]:
    """(pairs, wall seconds) of one ``flow_tvl1`` run."""
    start = time.perf_counter()
    outcomes = flow_tvl1(src, dst, FlowOptions(), jobs=jobs, quiet=True)
    seconds = time.perf_counter() - start
    shutil.rmtree(dst)
    return sum(o.frames for o in outcomes), seconds


def cpu_timed(task: FlowTask) -> tuple[int, float]:
    """(pairs, CPU seconds of this worker) for one video: the cost, whatever else runs on the machine."""
    start = time.process_time()
    outcome = flow_video(task)
    return outcome.frames, time.process_time() - start


def cpu_per_pair(src: Path, dst: Path, jobs: int) -> float:
    tasks = [FlowTask(name, str(path), str(dst / name), False) for name, path in find_frame_folders(src)]
    results = Parallel(n_jobs=jobs, backend="loky")(delayed(cpu_timed)(t) for t in tasks)
    shutil.rmtree(dst)
    return sum(c for _, c in results) / sum(p for p, _ in results)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=int, default=4, help="Videos (use a multiple of the core count).")
    parser.add_argument("--frames", type=int, default=5, help="Frames per video (frames - 1 pairs).")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="The 'all cores' job count.")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="vr-bench-flow-"))
    try:
        make_frames(work / "frames", args.videos, args.frames)
        first = work / "frames" / "cls" / "v000"
        gray = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in sorted(first.glob("image_*.jpg"))]
        engine = get_engine("opencv", TVL1Params())
        start, cpu0 = time.perf_counter(), time.process_time()
        engine(np.stack(gray[:-1]), np.stack(gray[1:]))
        engine_wall = (time.perf_counter() - start) / (len(gray) - 1)
        engine_cpu = (time.process_time() - cpu0) / (len(gray) - 1)

        load = os.getloadavg()[0]
        pairs1, t1 = timed_run(work / "frames", work / "flow1", 1)
        pairs_n, tn = timed_run(work / "frames", work / "flown", args.jobs)
        cpu1 = cpu_per_pair(work / "frames", work / "cpu1", 1)
        cpu_n = cpu_per_pair(work / "frames", work / "cpun", args.jobs)
        load = max(load, os.getloadavg()[0])
        rate1, rate_n = pairs1 / t1, pairs_n / tn
        print(f"{WIDTH}x{HEIGHT}, OpenCV DualTVL1 defaults, {args.videos} videos x {args.frames - 1} pairs")
        print(f"bare engine, {'1 video':13s}: {1 / engine_wall:6.3f} pairs/s  CPU {engine_cpu:.2f} s/pair")
        print(f"vr flow-tvl1, {'1 job':12s}: {rate1:6.3f} pairs/s  ({t1:.1f}s)  CPU {cpu1:.2f} s/pair")
        jobs = f"{args.jobs} jobs"
        print(f"vr flow-tvl1, {jobs:12s}: {rate_n:6.3f} pairs/s  ({tn:.1f}s)  CPU {cpu_n:.2f} s/pair")
        print(f"per-core figure: {rate1:.3f} pairs/s wall, {1 / cpu1:.3f} pairs per CPU-second")
        speedup = rate_n / rate1
        print(f"wall-clock scaling: {speedup:.2f}x on {jobs}, efficiency {speedup / args.jobs:.0%}")
        print(f"CPU-cost scaling efficiency (CPU s/pair at 1 job / at {args.jobs} jobs): {cpu1 / cpu_n:.0%}")
        print(f"vr overhead over the bare engine (CPU per pair): {cpu1 / engine_cpu - 1:+.0%}")
        if load > os.cpu_count():
            print(
                f"note: load average {load:.1f} > {os.cpu_count()} cores: other work shares the cores, so "
                "the wall-clock rates and their scaling mean little; CPU figures suffer less, but do."
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
