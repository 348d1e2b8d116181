"""Frames/s of `vr preprocess extract-frames` against the 3D-ResNets seed's approach and a bare ffmpeg loop.

Same videos, same job count, same output size, each in its own fresh output folder:
- seed: ``generate_video_jpgs``'s way: per video one probe subprocess (its ffprobe call; there is no
  ffprobe here, so ``ffmpeg -i``, as ``vr.video.probe`` parses it) and one ffmpeg subprocess
  (``-vf scale=-1:240 -threads 1``), videos in a joblib threading pool; every method writes the same
  JPEG quality (``--quality``; the seed itself leaves ffmpeg's 200 kb/s default, far lower quality);
- bare: a thread pool running exactly vr's ffmpeg command per video, nothing else (the floor);
- vr: ``extract_frames`` (temp folder, log parsing, marker, rename, report), threading (its default)
  and loky workers.

    python bench/extract_frames.py --videos 24 --frames 150 --jobs 2

The ratios are taken per round (the methods of one round run back to back, in rotating order) and
summarised by their median, which this noisy 2-core VM's drift does not skew as it does best-of-N.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from vr.preprocess.frames import FrameOptions, extract_frames, frames_command
from vr.video.ffmpeg_bin import ffmpeg_exe
from vr.video.find import find_videos
from vr.video.probe import probe


def make_videos(root: Path, n: int, frames: int, width: int, height: int) -> None:
    """``n`` MPEG-4 AVIs (UCF101's codec) of moving noise blocks, ``frames`` frames each."""
    rng = np.random.default_rng(0)
    (root / "cls").mkdir(parents=True)
    for i in range(n):
        base = rng.integers(0, 255, (height // 8 + 1, (width + frames) // 8 + 1, 3), np.uint8)
        big = np.repeat(np.repeat(base, 8, axis=0), 8, axis=1)
        data = b"".join(np.ascontiguousarray(big[:height, k : k + width]).tobytes() for k in range(frames))
        cmd = [ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}"]
        cmd += ["-r", "25", "-i", "pipe:", "-c:v", "mpeg4", "-q:v", "4", str(root / "cls" / f"v{i:03d}.avi")]
        subprocess.run(cmd, input=data, check=True)


def seed_video(path: Path, dst: Path, size: int, quality: int) -> None:
    info = probe(path, count=False)  # stands in for the seed's ffprobe call
    out = dst / path.parent.name / path.stem
    out.mkdir(parents=True, exist_ok=True)
    n_exist = len([x for x in out.iterdir() if x.suffix == ".jpg"])
    if n_exist >= int(info.fps * (info.duration or 0)):
        return
    vf = f"scale=-1:{size}" if info.width > info.height else f"scale={size}:-1"
    cmd = [ffmpeg_exe(), "-nostdin", "-i", str(path), "-vf", vf, "-threads", "1", "-q:v", str(quality)]
    cmd.append(f"{out}/image_%05d.jpg")
    subprocess.run(cmd, capture_output=True)


def run_seed(src: Path, dst: Path, jobs: int, size: int, quality: int) -> None:
    paths = [v.path for v in find_videos(src, "ucf101")]
    Parallel(n_jobs=jobs, backend="threading")(delayed(seed_video)(p, dst, size, quality) for p in paths)


def run_bare(src: Path, dst: Path, jobs: int, options: FrameOptions) -> None:
    def one(path: Path) -> None:
        out = dst / path.parent.name / path.stem
        out.mkdir(parents=True)
        subprocess.run(frames_command(path, out / "image_%05d.jpg", options), capture_output=True, check=True)

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, [v.path for v in find_videos(src, "ucf101")]))


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def count_frames(dst: Path) -> int:
    return sum(1 for _ in dst.rglob("image_*.jpg"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--size", type=int, default=240)
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--quality", type=int, default=2, help="JPEG -q:v for every method (vr's default).")
    parser.add_argument("--repeats", type=int, default=5, help="Rounds (each runs every method once).")
    parser.add_argument("--src", type=Path, help="A UCF101-layout folder to use instead of generated videos.")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="vr-bench-frames-"))
    try:
        src = args.src
        if src is None:
            src = work / "src"
            make_videos(src, args.videos, args.frames, args.width, args.height)
        options = FrameOptions(size=args.size, quality=args.quality)
        methods = {
            "seed (probe + ffmpeg, threading)": lambda d: run_seed(
                src, d, args.jobs, args.size, args.quality
            ),
            "bare ffmpeg loop": lambda d: run_bare(src, d, args.jobs, options),
            "vr extract-frames (threading)": lambda d: extract_frames(
                src, d, "ucf101", options, jobs=args.jobs, backend="threading", quiet=True
            ),
            "vr extract-frames (loky)": lambda d: extract_frames(
                src, d, "ucf101", options, jobs=args.jobs, backend="loky", quiet=True
            ),
        }
        names = list(methods)
        times = {name: [] for name in names}
        cpu = {name: [] for name in names}
        frames = {}
        for r in range(args.repeats):  # rotating order: background load and drift hit every method alike
            for name in names[r % len(names) :] + names[: r % len(names)]:
                dst = work / f"out-{names.index(name)}-{r}"
                cpu0, start = cpu_seconds(), time.perf_counter()
                methods[name](dst)
                times[name].append(time.perf_counter() - start)
                cpu[name].append(cpu_seconds() - cpu0)
                frames[name] = count_frames(dst)
                shutil.rmtree(dst)
        for name in names:
            best = min(times[name])
            # loky's workers are reaped only at exit, so their ffmpeg children's CPU time is not seen here
            cost = (
                "  (not measurable)"
                if "loky" in name
                else f"  CPU {1000 * min(cpu[name]) / frames[name]:5.2f} ms/frame"
            )
            line = (
                f"{name:32s} {frames[name]:5d} frames  best {best:5.2f}s  {frames[name] / best:7.1f} frames/s"
            )
            print(line + cost)

        def ratios(a: str, b: str) -> str:
            """Frames/s ratio a/b per round (the rounds ran back to back): median [min-max]."""
            per_round = [tb / ta for ta, tb in zip(times[a], times[b], strict=True)]
            return f"{np.median(per_round):.2f}x [{min(per_round):.2f}-{max(per_round):.2f}]"

        seed, bare, vr, vr_loky = names
        print(f"per-round ratios over {args.repeats} rounds, median [min-max]")
        print("goals: vr/seed >= 1, vr/bare >= 0.9")
        for label, mine in (("threading", vr), ("loky", vr_loky)):
            vs_seed, vs_bare = ratios(mine, seed), ratios(mine, bare)
            print(f"jobs={args.jobs} {label:9s}: vr/seed = {vs_seed}  vr/bare = {vs_bare}")
        seed_cpu, bare_cpu, vr_cpu = (np.median(cpu[name]) / frames[name] for name in (seed, bare, vr))
        print(
            f"CPU per frame (load-independent, lower is better): vr/seed = {vr_cpu / seed_cpu:.2f}x  "
            f"vr/bare = {vr_cpu / bare_cpu:.2f}x"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
