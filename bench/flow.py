"""TV-L1 flow pairs/s of `vr preprocess flow-tvl1` (OpenCV engine) at 340x256: 1 job against all cores.

Frame folders of a textured scene moving a few pixels per frame are made first; then the same
``flow_tvl1`` call runs with ``--jobs 1`` and with ``--jobs N`` on the same folders. Also timed: the bare
engine on one pair (no JPEG reading/writing), to show the I/O overhead. Scaling efficiency is
``rate(N jobs) / (N * rate(1 job))``.

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

from vr import layout
from vr.preprocess.flow import FlowOptions, flow_tvl1
from vr.preprocess.flow_engines import TVL1Params, get_engine

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
    start = time.perf_counter()
    outcomes = flow_tvl1(src, dst, FlowOptions(), jobs=jobs, quiet=True)
    seconds = time.perf_counter() - start
    shutil.rmtree(dst)
    return sum(o.frames for o in outcomes), seconds


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
        prev, nxt = (cv2.imread(str(first / layout.image_name(i)), cv2.IMREAD_GRAYSCALE) for i in (1, 2))
        engine = get_engine("opencv", TVL1Params())
        start = time.perf_counter()
        engine(prev[None], nxt[None])
        engine_rate = 1 / (time.perf_counter() - start)

        pairs1, t1 = timed_run(work / "frames", work / "flow1", 1)
        pairs_n, tn = timed_run(work / "frames", work / "flown", args.jobs)
        rate1, rate_n = pairs1 / t1, pairs_n / tn
        print(f"{WIDTH}x{HEIGHT}, OpenCV DualTVL1 defaults, {args.videos} videos x {args.frames - 1} pairs")
        print(f"bare engine, 1 core       : {engine_rate:6.3f} pairs/s")
        print(f"vr flow-tvl1, 1 job       : {rate1:6.3f} pairs/s  ({t1:.1f}s)  per core: {rate1:.3f} pairs/s")
        print(f"vr flow-tvl1, {args.jobs} jobs      : {rate_n:6.3f} pairs/s  ({tn:.1f}s)")
        efficiency = rate_n / rate1 / args.jobs
        print(f"speed-up {rate_n / rate1:.2f}x on {args.jobs} jobs; scaling efficiency {efficiency:.0%}")
        print(f"I/O and runner overhead at 1 job: {1 - rate1 / engine_rate:.0%} of the bare engine rate")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
