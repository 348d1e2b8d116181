"""Model speed on this device, two tables, both timed with ``vr.bench.model.measure_model`` (the code of
`vr bench model`):

1. the fast path against the baseline: for R3D-18, R(2+1)D-18, P3D-63 and I3D-R50 at their default clips,
   training steps (forward, cross-entropy, backward, SGD step) in float32 eager on contiguous tensors
   (baseline) and with bfloat16 autocast + ``channels_last_3d`` (+ ``torch.compile`` with ``--compile``),
   and the ratio vr / baseline. On a CPU the bf16 gain depends on its bf16 support (AVX512-BF16 / AMX).
2. ``--families``: the newer families (X3D-M, SlowFast R50 8x8, ir-CSN-152) against R3D-50, each at its
   own default clip: clips/s, latency and the peak memory one step takes, in float32.

    python bench/models.py --batch 2 --iters 3                      # CPU, small
    python bench/models.py --families --batch 1 --iters 2           # the families table
    python bench/models.py --batch 16 --iters 20 --compile          # GPU
"""

from __future__ import annotations

import argparse

import torch

from vr.bench.model import measure_model
from vr.bench.report import human_bytes

MODELS = ("r3d18", "r2plus1d18", "p3d63", "i3d_r50")
FAMILIES = ("r3d50", "x3d_m", "slowfast_r50_8x8", "ircsn_152")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models", nargs="+", help=f"default: {' '.join(MODELS)} (--families: {' '.join(FAMILIES)})"
    )
    parser.add_argument("--families", action="store_true", help="the families table instead of the fast path")
    parser.add_argument("--inference", action="store_true", help="forward passes instead of training steps")
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
    where = (
        torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    )
    what = "forward passes" if args.inference else "training steps"
    print(f"device: {where}; batch {args.batch}, {args.iters} timed {what} after {args.warmup} warm-up")
    common = dict(
        batch=args.batch, steps=args.iters, warmup=args.warmup, device=device, train=not args.inference
    )
    if args.families:
        names = args.models or list(FAMILIES)
        print(
            f"{'model':<18} {'clip':<12} {'clips/s':>9} {'ms/batch':>9} {'peak memory':>12} "
            f"{'vs ' + names[0]:>9}"
        )
        first = None
        for name in names:
            r = measure_model(name, progress=False, **common)
            first = first or r.clips_per_s
            clip = "x".join(map(str, r.clip))
            print(
                f"{name:<18} {clip:<12} {r.clips_per_s:>9.2f} {r.latency_ms:>9.0f} "
                f"{human_bytes(r.peak_bytes):>12} {r.clips_per_s / first:>8.2f}x",
                flush=True,
            )
        return
    fast_label = "bf16+cl3d" + ("+compile" if args.compile else "")
    print(f"{'model':<12} {'clip':<12} {'fp32 clips/s':>13} {fast_label + ' clips/s':>24} {'ratio':>7}")
    for name in args.models or MODELS:
        base = measure_model(name, progress=False, **common)
        fast = measure_model(
            name, precision="bf16", channels_last=True, compile=args.compile, progress=False, **common
        )
        clip = "x".join(map(str, base.clip))
        ratio = fast.clips_per_s / base.clips_per_s
        print(
            f"{name:<12} {clip:<12} {base.clips_per_s:>13.2f} {fast.clips_per_s:>24.2f} {ratio:>6.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
