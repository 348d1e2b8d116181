"""Benchmark vr.models training steps: forward + backward clips/s, fp32 eager vs the fast path.

For R3D-18, R(2+1)D-18, P3D-63 and I3D-R50 at their default clips (16x112x112, 16x112x112,
16x160x160, 32x224x224), one training step (forward, cross-entropy, backward, SGD step) is timed

- baseline: float32, contiguous (NCTHW) tensors, eager;
- vr: bfloat16 autocast + ``channels_last_3d`` model and input (+ ``torch.compile`` with ``--compile``),

in the same run on the same device (CUDA when available, else CPU), and the ratio vr / baseline is
printed. On a CPU the bf16 gain depends on the processor's bf16 support (AVX512-BF16 / AMX).

    python bench/models.py --batch 2 --iters 3                      # CPU, small
    python bench/models.py --batch 16 --iters 20 --compile          # GPU
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch
import torch.nn.functional as F

from vr.models import create_model, model_info

MODELS = ("r3d18", "r2plus1d18", "p3d63", "i3d_r50")


def step_fn(model: torch.nn.Module, fast: bool, device: torch.device):
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if fast else contextlib.nullcontext()

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    return step


def clips_per_second(name: str, fast: bool, args: argparse.Namespace, device: torch.device) -> float:
    torch.manual_seed(0)
    model = create_model(name, num_classes=400).to(device).train()
    x = torch.randn(args.batch, 3, *model_info(name).clip, device=device)
    y = torch.randint(0, 400, (args.batch,), device=device)
    if fast:
        model = model.to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)
        if args.compile:
            model = torch.compile(model)
    step = step_fn(model, fast, device)
    for _ in range(args.warmup):
        step(x, y)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(args.iters):
        step(x, y)
    sync()
    return args.batch * args.iters / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--compile", action="store_true", help="also torch.compile the fast path")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    fast_label = "bf16+cl3d" + ("+compile" if args.compile else "")
    where = (
        torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    )
    print(f"device: {where}; batch {args.batch}, {args.iters} timed steps after {args.warmup} warm-up")
    print(f"{'model':<12} {'clip':<12} {'fp32 clips/s':>13} {fast_label + ' clips/s':>24} {'ratio':>7}")
    for name in args.models:
        base = clips_per_second(name, False, args, device)
        fast = clips_per_second(name, True, args, device)
        clip = "x".join(map(str, model_info(name).clip))
        print(f"{name:<12} {clip:<12} {base:>13.2f} {fast:>24.2f} {fast / base:>6.2f}x", flush=True)


if __name__ == "__main__":
    main()
