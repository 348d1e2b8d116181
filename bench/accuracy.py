"""Accuracy of the demo's models against its controls, on the demo's data (issue 7's "done when").

Runs (or resumes) ``vr demo`` in ``--out``, then trains more models with the demo's settings:

- ``shuffled``: frames shuffled within each clip (RGB and Flow), which destroys temporal order; a
  pipeline that keeps it must score far higher than these;
- ``ddp``: RGB and Flow with 2 DDP processes (torchrun, gloo on the CPU), each at the single-process
  batch, with the learning rate scaled by the process count (the linear scaling rule) for the larger
  global batch; accuracy should match the single-process run. (Halving the per-process batch instead
  keeps the global batch but gives BatchNorm half the clips per step, and CPU DDP has no SyncBatchNorm:
  that cost 8 points on RGB in one measurement.)
- ``seed N`` (``--seeds``): the single-process runs again with other training seeds, to show the spread.

Every model is evaluated at video level on the test split (3 clips per video) and a table is printed.

    python bench/accuracy.py --out vr-demo                 # ~15 min on 2 CPU cores
    python bench/accuracy.py --out vr-demo --seeds 1 2     # + two more seeds
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import torch

from vr.demo import DemoConfig, demo_train_config, evaluate_run, run_demo
from vr.train.config import TrainConfig
from vr.train.trainer import train


def train_single(config: TrainConfig) -> None:
    train(config, resume=(Path(config.out) / "last.pth").exists(), progress=False)


def train_ddp(config: TrainConfig, processes: int) -> None:
    """``torchrun --nproc-per-node processes`` on this script's worker entry point."""
    run = Path(config.out)
    run.mkdir(parents=True, exist_ok=True)
    config_file = run / "bench_config.json"
    config_file.write_text(json.dumps(config.to_json()))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += [f"--nproc-per-node={processes}", __file__, "--worker", str(config_file)]
    subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="vr-demo", help="the demo's working folder")
    parser.add_argument("--seeds", type=int, nargs="*", default=[], help="extra training seeds")
    parser.add_argument("--processes", type=int, default=2, help="DDP processes")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.worker:  # one torchrun process
        train_single(TrainConfig.from_options(**json.loads(Path(args.worker).read_text())))
        return

    demo = DemoConfig(out=args.out)
    summary = run_demo(demo, quiet=True)
    on_gpu = demo.device != "cpu" and torch.cuda.is_available()
    rows = [(f"demo ({modality})", summary["accuracy"][modality]) for modality in ("rgb", "flow", "fused")]
    runs = Path(args.out) / "runs"
    for modality in ("rgb", "flow"):
        base = demo_train_config(demo, modality, on_gpu)
        shuffled = base.with_options(shuffle_frames=True)
        variants = [(f"shuffled frames ({modality})", shuffled, "single")]
        ddp = base.with_options(lr=base.lr * args.processes)
        variants.append((f"DDP x{args.processes} ({modality})", ddp, "ddp"))
        for seed in args.seeds:
            variants.append((f"seed {seed} ({modality})", base.with_options(seed=seed), "single"))
        for name, config, how in variants:
            slug = name.replace(" ", "_").replace("(", "").replace(")", "")
            config = config.with_options(out=str(runs / slug))
            print(f"training {name} ...", flush=True)
            if how == "ddp":
                train_ddp(config, args.processes)
            else:
                train_single(config)
            rows.append((name, evaluate_run(demo, Path(config.out)).top1))
    print("\nvideo-level top-1 on the synthetic test split\n")
    for name, top1 in rows:
        print(f"  {name:<26} {top1 * 100:6.1f}%")


if __name__ == "__main__":
    main()
