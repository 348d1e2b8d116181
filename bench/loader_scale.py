"""Shard loading at Kinetics scale: do cost per clip, start-up or memory grow with the dataset?

Tiny samples (``--frames`` frames of 32x24 per video) so that hundreds of thousands of videos fit in a few
minutes; the shards are written with ``vr``'s own tar writer and member indexes (the bytes ``vr shard``
writes), straight from memory. Every loader is ``build_loader(backend=..., mode="train", clip_len=8,
size=16, batch_size=8)`` with ``--workers`` workers.

1. Train clips/s reading ``--videos`` videos from ``--many-shards`` shards against the same videos in
   ``--few-shards`` shards (goal: >= 0.9).
2. Time to the first batch, and the loader workers' memory (USS, what the worker itself holds), at
   ``--small`` and ``--large`` videos (goal: within 2 s, and < 50 MB more).
3. Train clips/s over loopback HTTP against local disk, on the many-shard folder (goal: >= 0.8), and the
   bytes fetched per clip against the bytes of the frames it uses. The server runs in its own process:
   nginx where it is installed (Debian's ``nginx-light``), else ``vr shard serve``'s handler
   (``--python-server`` forces it).

Example (about 5 minutes on 2 cores, 3 GB of disk)::

    python bench/loader_scale.py --workdir /tmp/vr-scale
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import psutil

from vr.pipelines import build_loader
from vr.shards.format import MemberIndexBuilder, build_index, members_name, meta_member, rgb_member
from vr.shards.index import write_json_atomic
from vr.shards.writer import TarSink

N_LABELS = 10


def _frames(n_frames: int, variants: int = 16) -> list[list[bytes]]:
    """``variants`` tiny textured 32x24 clips as JPEGs (videos reuse them: only the bytes' count matters)."""
    rng = np.random.default_rng(0)
    clips = []
    for _ in range(variants):
        texture = cv2.resize(rng.integers(0, 256, (6, 16, 3), dtype=np.uint8), (64, 24))
        clips.append(
            [
                cv2.imencode(".jpg", np.ascontiguousarray(texture[:, i : i + 32]))[1].tobytes()
                for i in range(n_frames)
            ]
        )
    return clips


def write_dataset(out: Path, n_videos: int, n_shards: int, n_frames: int) -> Path:
    """``n_videos`` videos of ``n_frames`` tiny frames in ``n_shards`` shards, member indexes, index.json."""
    if (out / "index.json").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    clips = _frames(n_frames)
    labels = [f"class{i}" for i in range(N_LABELS)]
    bounds = np.linspace(0, n_videos, n_shards + 1).astype(int)
    parts = []
    for s in range(n_shards):
        name = f"train-{s:06d}.tar"
        builder = MemberIndexBuilder()
        with open(out / name, "wb", buffering=1 << 20) as raw:
            sink = TarSink(raw)
            for v in range(bounds[s], bounds[s + 1]):
                key, label = f"v{v:07d}", v % N_LABELS
                meta = {
                    "id": key,
                    "label": labels[label],
                    "label_index": label,
                    "n_frames": n_frames,
                    "n_flow": 0,
                }
                located = [(meta_member(key), sink.add(meta_member(key), json.dumps(meta).encode()))]
                for i, data in enumerate(clips[v % len(clips)], start=1):
                    located.append((rgb_member(key, i), sink.add(rgb_member(key, i), data)))
                builder.add(key, key, label, located)
            sink.close()
        members = builder.build(name, sink.size, sink.sha256.hexdigest()).encode()
        (out / members_name(name)).write_bytes(members)
        parts.append(
            {
                "name": name,
                "n_samples": int(bounds[s + 1] - bounds[s]),
                "bytes": sink.size,
                "sha256": sink.sha256.hexdigest(),
                "n_frames": int(bounds[s + 1] - bounds[s]) * n_frames,
                "n_flow": 0,
                "members": members_name(name),
                "members_sha256": hashlib.sha256(members).hexdigest(),
                "per_class": {},
            }
        )
    plan = {"modality": "rgb", "subset": "train", "labels": labels}
    write_json_atomic(out / "index.json", build_index(plan, parts, "synthetic", ""))
    return out


def make_loader(data, args, **kw):
    return build_loader(
        data,
        mode="train",
        clip_len=8,
        size=16,
        batch_size=8,
        backend=args.backend,
        num_workers=args.workers,
        **kw,
    )


def _workers(loader) -> list[psutil.Process]:
    """The loader's worker processes (torch DataLoader or DALI's Python workers)."""
    me = psutil.Process()
    return [p for p in me.children(recursive=True) if "forkserver" not in " ".join(p.cmdline()[:3])]


def first_batch(data, args) -> tuple[float, float]:
    """(seconds from build_loader to the first batch, mean worker USS in MB after 20 batches)."""
    gc.collect()
    start = time.perf_counter()
    loader = make_loader(data, args)
    it = iter(loader)
    next(it)
    seconds = time.perf_counter() - start
    for _ in range(20):
        next(it)
    uss = [p.memory_full_info().uss / 1e6 for p in _workers(loader)]
    del it, loader
    gc.collect()
    time.sleep(0.5)
    return seconds, float(np.mean(uss)) if uss else float("nan")


def clips_per_s(data, args, batches: int) -> float:
    loader = make_loader(data, args)
    it = iter(loader)
    for _ in range(3):  # workers up, first shards open
        next(it)
    clips, start = 0, time.perf_counter()
    for _ in range(batches):
        try:
            clips += len(next(it)["video_id"])
        except StopIteration:
            it = iter(loader)
    rate = clips / (time.perf_counter() - start)
    del it, loader
    gc.collect()
    time.sleep(0.5)
    return rate


SERVER = """
import signal, sys
from vr.shards.serve import make_server
server = make_server(sys.argv[1], "127.0.0.1", int(sys.argv[2]))
def stop(*_):
    print(len(server.requests), sum(r[2] for r in server.requests), flush=True)
    raise SystemExit
signal.signal(signal.SIGTERM, stop)
server.serve_forever()
"""

NGINX = """daemon off; master_process off; worker_processes 1; pid {tmp}/nginx.pid; error_log {tmp}/error.log;
events {{ worker_connections 1024; }}
http {{
  log_format sent $body_bytes_sent; access_log {tmp}/access.log sent;
  client_body_temp_path {tmp}/b; proxy_temp_path {tmp}/p; fastcgi_temp_path {tmp}/f; uwsgi_temp_path {tmp}/u;
  scgi_temp_path {tmp}/s; keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{port}; root {root}; sendfile on; tcp_nodelay on; }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``folder`` over loopback HTTP in its own process: nginx when installed, else ``vr shard serve``'s
    handler; ``stop()`` returns (requests, body bytes sent)."""

    def __init__(self, folder: Path, prefer_nginx: bool = True):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.nginx = shutil.which("nginx") if prefer_nginx else None
        if self.nginx:
            self.tmp = Path(tempfile.mkdtemp(prefix="vr-bench-nginx-"))
            conf = self.tmp / "nginx.conf"
            conf.write_text(NGINX.format(tmp=self.tmp, port=self.port, root=folder.resolve()))
            self.process = subprocess.Popen([self.nginx, "-c", str(conf), "-p", str(self.tmp)])
        else:
            cmd = [sys.executable, "-c", SERVER, str(folder), str(self.port)]
            self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            time.sleep(0.05)
        self.name = "nginx" if self.nginx else "vr shard serve"

    def stop(self) -> tuple[int, int]:
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        if self.nginx:
            lines = (self.tmp / "access.log").read_text().split()
            shutil.rmtree(self.tmp, ignore_errors=True)
            return len(lines), sum(int(v) for v in lines)
        requests, sent = (int(v) for v in out.split()[:2])
        return requests, sent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--videos", type=int, default=20_000)
    p.add_argument("--few-shards", type=int, default=4)
    p.add_argument("--many-shards", type=int, default=1000)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--small", type=int, default=3_000)
    p.add_argument("--large", type=int, default=300_000)
    p.add_argument("--large-frames", type=int, default=4, help="frames per video of the start-up datasets")
    p.add_argument("--batches", type=int, default=250, help="timed batches per throughput run")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--backend", choices=["torch", "dali"], default="torch")
    p.add_argument("--python-server", action="store_true", help="serve with vr shard serve, not nginx")
    p.add_argument("--skip", default="", help="comma list of parts to skip: shards,startup,http")
    p.add_argument("--workdir", type=Path, default=None)
    args = p.parse_args()
    cv2.setNumThreads(1)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="vr-bench-scale-"))
    skip = set(filter(None, args.skip.split(",")))
    print(f"backend {args.backend}, {args.workers} workers, batch 8, clips 8x16x16; data in {work}")
    t = time.perf_counter()
    few = write_dataset(
        work / f"v{args.videos}-s{args.few_shards}", args.videos, args.few_shards, args.frames
    )
    many = write_dataset(
        work / f"v{args.videos}-s{args.many_shards}", args.videos, args.many_shards, args.frames
    )
    print(f"datasets ready in {time.perf_counter() - t:.0f} s")
    results: dict[str, float] = {}

    if "shards" not in skip:
        rates: dict[str, list[float]] = {"few": [], "many": []}
        for r in range(args.rounds):
            for name in ("few", "many")[:: 1 if r % 2 == 0 else -1]:
                rates[name].append(clips_per_s(few if name == "few" else many, args, args.batches))
        few_rate, many_rate = (float(np.median(rates[k])) for k in ("few", "many"))
        results.update(few_clips_s=few_rate, many_clips_s=many_rate, shards_ratio=many_rate / few_rate)
        print(
            f"\n1. {args.videos} videos: {args.few_shards} shards {few_rate:.0f} clips/s, {args.many_shards} "
            f"shards {many_rate:.0f} clips/s: ratio {many_rate / few_rate:.2f} (goal >= 0.9)"
        )

    if "startup" not in skip:
        shards_per = max(1, args.videos // args.many_shards)  # the same shard size as the many-shard folder
        small = write_dataset(
            work / f"v{args.small}-f{args.large_frames}",
            args.small,
            max(1, args.small // shards_per),
            args.large_frames,
        )
        large = write_dataset(
            work / f"v{args.large}-f{args.large_frames}",
            args.large,
            max(1, args.large // shards_per),
            args.large_frames,
        )
        first_batch(small, args)  # the process's first loader starts the worker fork server (once, ~1 s)
        timings: dict[str, list[tuple[float, float]]] = {"small": [], "large": []}
        for r in range(args.rounds):
            for name in ("small", "large")[:: 1 if r % 2 == 0 else -1]:
                timings[name].append(first_batch(small if name == "small" else large, args))
        (s_t, s_m), (l_t, l_m) = (np.median(np.array(timings[k]), axis=0) for k in ("small", "large"))
        results.update(
            first_batch_small_s=s_t, first_batch_large_s=l_t, worker_mb_small=s_m, worker_mb_large=l_m
        )
        print(
            f"\n2. first batch: {args.small} videos {s_t:.2f} s, {args.large} videos {l_t:.2f} s "
            f"(+{l_t - s_t:.2f} s, goal < 2 s); worker USS {s_m:.1f} MB -> {l_m:.1f} MB "
            f"(+{l_m - s_m:.1f} MB, goal < 50 MB)"
        )

    if "http" not in skip:
        server = Server(many, prefer_nginx=not args.python_server)
        try:
            rates = {"local": [], "http": []}
            for r in range(args.rounds):
                for name in ("local", "http")[:: 1 if r % 2 == 0 else -1]:
                    rates[name].append(
                        clips_per_s(many if name == "local" else server.url, args, args.batches)
                    )
        finally:
            requests, sent = server.stop()
        local_rate, http_rate = (float(np.median(rates[k])) for k in ("local", "http"))
        clip_jpeg = sum(len(f) for f in _frames(args.frames)[0][:8])  # clip_len 8: up to 8 frames a clip
        clips_http = args.rounds * (args.batches + 3) * 8
        results.update(
            local_clips_s=local_rate,
            http_clips_s=http_rate,
            http_ratio=http_rate / local_rate,
            http_bytes_per_clip=sent / clips_http,
            jpeg_bytes_per_clip=clip_jpeg,
        )
        print(
            f"\n3. loopback HTTP ({server.name}): local {local_rate:.0f} clips/s, HTTP {http_rate:.0f} "
            f"clips/s: ratio {http_rate / local_rate:.2f} (goal >= 0.8); {requests} requests, "
            f"{sent / 1e6:.1f} MB sent: about {sent / clips_http / 1e3:.1f} kB fetched a clip for "
            f"{clip_jpeg / 1e3:.1f} kB of JPEG frames (tar headers and padding, index.json and each worker's "
            "member indexes included)"
        )
    print("\n" + json.dumps({k: round(float(v), 3) for k, v in results.items()}))


if __name__ == "__main__":
    main()
