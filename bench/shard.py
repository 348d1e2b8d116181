"""Benchmark `vr shard`: sharding throughput, and reading the shards vs reading the same frame folders.

Builds a synthetic frame dataset (JPEGs of smooth images plus noise, in the frame layout with completion
markers), shards it, then reads every frame back both ways in the same run:

- folders: open + read each ``image_NNNNN.jpg`` in manifest order (what a frame-folder loader does);
- shards: stream each tar sequentially with ``tarfile``, with ``vr.shards.tarstream.iter_members`` (a lean
  reader) and with ``webdataset`` (tarfile underneath, plus grouping into samples).

Each read is timed with a warm page cache and "cold" (every file dropped from the page cache with
``posix_fadvise(DONTNEED)`` first; on a VM the host may still cache). Ratios are shards / folders.

    python bench/shard.py --videos 64 --frames 32 --size 160x120
"""

from __future__ import annotations

import argparse
import os
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import webdataset as wds

from vr import layout
from vr.manifests.schema import Manifest, VideoRecord, read_manifest
from vr.shards import ShardOptions, build_shards, parse_size, read_index
from vr.shards.tarstream import iter_members


def make_dataset(root: Path, videos: int, frames: int, width: int, height: int) -> Path:
    """Frame folders and a manifest; returns the manifest path."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    records = []
    for v in range(videos):
        label = f"class{v % 8}"
        rel = f"{label}/v{v:05d}"
        final = root / "frames" / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = layout.temp_sibling(final)
        tmp.mkdir()
        phase = rng.uniform(0, 6.28, 3)
        for i in range(1, frames + 1):
            base = (
                np.stack([np.sin(xx / 17 + i / 5 + p) * np.cos(yy / 13 - p) for p in phase], -1) * 100 + 128
            )
            image = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(tmp / layout.image_name(i)), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        layout.commit_folder(tmp, final, {"n_frames": frames})
        records.append(VideoRecord(f"v{v:05d}", label, v % 8, "train", rel, frames, 25.0))
    manifest = root / "manifest.jsonl"
    Manifest([f"class{i}" for i in range(8)], records).write(manifest)
    return manifest


def write_webdataset(out: Path, manifest: Path, frames: Path, max_size: str) -> tuple[int, int]:
    """Baseline: the same samples through ``webdataset.ShardWriter`` (no checks, no index, no hashes)."""
    out.mkdir()
    data = read_manifest(manifest)
    with wds.ShardWriter(str(out / "base-%06d.tar"), maxsize=parse_size(max_size), verbose=0) as sink:
        for record in sorted(data.videos, key=lambda r: r.id):
            folder = frames / record.path
            sample = {"__key__": record.id, "json": {"id": record.id, "label": record.label}}
            for i in range(1, record.n_frames + 1):
                sample[f"rgb_{i:05d}.jpg"] = (folder / layout.image_name(i)).read_bytes()
            sink.write(sample)
    return len(data.videos), sum(p.stat().st_size for p in out.glob("*.tar"))


def drop_cache(paths: list[Path]) -> None:
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def read_folders(files: list[Path]) -> tuple[int, int]:
    total = 0
    for path in files:
        with open(path, "rb") as f:
            total += len(f.read())
    return len(files), total


def read_tar(shards: list[Path]) -> tuple[int, int]:
    n = total = 0
    for shard in shards:
        with tarfile.open(shard, mode="r|") as tar:
            for member in tar:
                if member.name.endswith(".jpg"):
                    n += 1
                    total += len(tar.extractfile(member).read())
    return n, total


def read_vr(shards: list[Path]) -> tuple[int, int]:
    n = total = 0
    for shard in shards:
        with open(shard, "rb", buffering=1 << 20) as f:
            for member in iter_members(f):
                if member.name.endswith(".jpg"):
                    n += 1
                    total += len(member.data)
    return n, total


def read_webdataset(shards: list[Path]) -> tuple[int, int]:
    n = total = 0
    for sample in wds.WebDataset([str(s) for s in shards], shardshuffle=False, empty_check=False):
        for key, value in sample.items():
            if key.endswith(".jpg"):
                n += 1
                total += len(value)
    return n, total


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=64)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--size", default="160x120", help="WxH of the frames")
    parser.add_argument("--max-size", default="1MB")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="read passes (best time kept)")
    parser.add_argument("--dir", help="work folder (default: a temporary one, removed)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    work = Path(args.dir or tempfile.mkdtemp(prefix="vr-bench-shard-"))
    try:
        manifest = make_dataset(work, args.videos, args.frames, width, height)
        files = [
            work / "frames" / f"class{v % 8}/v{v:05d}" / layout.image_name(i)
            for v in range(args.videos)
            for i in range(1, args.frames + 1)
        ]
        n_bytes = sum(p.stat().st_size for p in files)
        per_frame = n_bytes / len(files) / 1e3
        print(f"dataset: {args.videos} videos x {args.frames} frames {width}x{height}, {len(files)} files,")
        print(f"         {n_bytes / 1e6:.1f} MB ({per_frame:.1f} KB/frame)")

        print("\nsharding (rgb; input files dropped from the page cache first)")
        drop_cache(files)
        (n, total), seconds = timed(
            write_webdataset, work / "baseline", manifest, work / "frames", args.max_size
        )
        baseline = seconds
        print(
            f"  {'webdataset.ShardWriter':<24} {n / seconds:8.1f} samples/s {total / seconds / 1e6:8.1f} MB/s"
        )
        for jobs, check in ((1, False), (args.jobs, False), (1, True)):
            out = work / f"shards-{jobs}-{int(check)}"
            drop_cache(files)
            options = ShardOptions(max_size=parse_size(args.max_size), check_decode=check)
            result, seconds = timed(
                build_shards, manifest, out, options, work / "frames", None, None, jobs, False, False
            )
            label = f"jobs={jobs}{' --check-decode' if check else ''}"
            rate, mbps = result.n_samples / seconds, result.bytes / seconds / 1e6
            print(
                f"  {label:<24} {rate:8.1f} samples/s {mbps:8.1f} MB/s",
                f"({result.n_shards} shards, {seconds:.2f} s, {baseline / seconds:.2f}x the baseline)",
            )
        out = work / "shards-1-0"
        shards = [out / s["name"] for s in read_index(out)["shards"]]

        print(f"\nreading every frame back (best of {args.repeat} passes)")
        rows = {}
        for cache in ("warm", "cold"):
            for name, fn, paths in (
                ("folders", read_folders, files),
                ("shards (tarfile)", read_tar, shards),
                ("shards (vr reader)", read_vr, shards),
                ("shards (webdataset)", read_webdataset, shards),
            ):
                best = float("inf")
                for _ in range(args.repeat):
                    if cache == "cold":
                        drop_cache(paths)
                    (n, total), seconds = timed(fn, paths)
                    assert n == len(files) and total == n_bytes, (name, n, total)
                    best = min(best, seconds)
                rows[cache, name] = best
                print(f"  {cache:<5} {name:<20} {n / best:10.0f} files/s {total / best / 1e6:8.1f} MB/s")
        print("\nratio shards/folders (files/s):")
        for cache in ("warm", "cold"):
            folders = rows[cache, "folders"]
            ratios = ", ".join(
                f"{name[8:-1]} {folders / rows[cache, name]:.2f}x"
                for c, name in rows
                if c == cache and name != "folders"
            )
            print(f"  {cache}: {ratios}")
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
