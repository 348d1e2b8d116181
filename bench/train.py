"""End-to-end training clips/s (loader + model + optimizer): fp32 eager torch loader vs vr's defaults.

R3D-18 on 16x112x112 RGB clips, trained with the trainer's own pieces: ``vr.train.trainer.Run`` builds
the loader, model, optimizer and scaler exactly as `vr train` does, and ``vr.train.engine.train_epoch``
runs the steps (to device, autocast, cross-entropy, backward, optimizer step, ``loss.item()``). Two
configurations, same data, batch, worker count and model, in the same run:

- baseline: torch loader (OpenCV decode in DataLoader workers), float32, contiguous tensors, eager;
- vr: DALI loader (CPU decode without a GPU, nvJPEG ``mixed`` decode on one), bf16 autocast,
  ``channels_last_3d`` model and input (+ ``torch.compile`` with ``--compile``).

A step is timed from the moment the loop asks for its batch to the moment it asks for the next one, so
waiting for data counts; the first ``--warmup`` steps (workers starting, DALI graph build, cuDNN or
compile warm-up) are not timed. Epochs wrap as in training when the data has fewer batches than needed.

The data is the synthetic motion set (160x128 videos, 20 frames) taken through vr's pipeline (synth ->
extract_frames at short side 128 -> manifest -> training-subset shards); ``--data DIR`` keeps it in DIR
for the next run, or uses DIR as is when it is a shard folder already. vr's precision is bf16 on a GPU
and fp32 on the CPU: CPU bf16 training needs AVX512-BF16/AMX to gain anything, and vr turns oneDNN off
for its backward (NaN gradients, see ``vr.train.engine.backward_guard``), which made a step 50x slower
than fp32 on the 2-core test machine (``--precision bf16`` measures it). The >= 3x goal is for a GPU.

    python bench/train.py                        # CPU: fp32 DALI + channels_last_3d, batch 4 (~2 min)
    python bench/train.py --precision bf16       # CPU bf16 (~30 min on 2 cores)
    python bench/train.py --widen 0.25 --steps 4 # CPU, quick check with a narrow R3D-18
    python bench/train.py --batch 32 --steps 30 --warmup 5 --workers 8 --dali-threads 4 \\
        --videos 32 --data /tmp/vr-bench-train                # GPU (add --compile for torch.compile)

``--background-load N`` measures instead how vr's configuration holds its speed when N busy processes
(pure Python loops) share the cores: the same steps quiet, then loaded, each in a fresh process that
sets its threads as `vr train` does (``vr.threads``), and the same pair with OpenMP's default spinning
wait (``GOMP_SPINCOUNT=300000``, libgomp's own default, which vr then leaves alone) as the baseline::

    python bench/train.py --background-load 2 --model r3d10 --widen 0.25 --clip-len 8 --size 56 \\
        --batch 8 --workers 0 --steps 30                     # the demo's RGB training, 2 cores
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vr.threads import prepare_openmp

prepare_openmp()  # as `vr train` does: before torch is imported (see vr.threads)

import torch  # noqa: E402

from vr.train.config import TrainConfig  # noqa: E402
from vr.train.engine import train_epoch  # noqa: E402
from vr.train.trainer import Run  # noqa: E402


def prepare_data(root: Path, videos_per_class: int, jobs: int) -> Path:
    """Training shards under ``root`` (made once: synth videos -> frames -> manifest -> shards)."""
    from vr.datasets.synth import SynthConfig, generate
    from vr.manifests.build import build_manifest
    from vr.preprocess.frames import FrameOptions, extract_frames
    from vr.preprocess.runner import failure_lines
    from vr.shards.build import build_shards
    from vr.shards.plan import ShardOptions

    if (root / "index.json").exists():
        return root
    shards = root / "shards"
    if (shards / "index.json").exists():
        return shards
    synth = SynthConfig(
        classes=8, videos_per_class=videos_per_class, clips_per_group=2, frames=20, width=160, height=128
    )
    generate(root / "synth", synth, jobs=jobs)
    outcomes = extract_frames(
        root / "synth" / "videos", root / "frames", "ucf101", FrameOptions(size=128), jobs=jobs, quiet=True
    )
    if failure_lines(outcomes):
        raise RuntimeError(f"extract_frames failed: {failure_lines(outcomes)[0]}")
    manifest, _ = build_manifest("ucf101", root / "synth" / "annotations", root / "frames", split=1)
    manifest.write(root / "manifest.jsonl")
    options = ShardOptions(modality="rgb", subset="train", max_count=16)
    build_shards(root / "manifest.jsonl", shards, options, frames=root / "frames", jobs=jobs, progress=False)
    return shards


@dataclass
class StepClock:
    """Yields ``n`` batches of ``loader`` (wrapping epochs) and notes when each next batch is asked for.

    ``marks[i]`` (i >= 1) is when step i ended: the training loop asked for batch i + 1.
    """

    loader: object
    n: int
    marks: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[dict]:
        self.marks = [time.perf_counter()]
        while True:
            for batch in self.loader:
                self.sizes.append(int(batch["clip"].shape[0]))
                yield batch
                self.marks.append(time.perf_counter())
                if len(self.sizes) == self.n:
                    return

    def timed(self, warmup: int) -> tuple[int, float]:
        """(clips, seconds) of the steps after the first ``warmup``."""
        return sum(self.sizes[warmup:]), self.marks[-1] - self.marks[warmup]


@dataclass
class Setup:
    """What both configurations share."""

    data: Path
    out: Path
    model: str = "r3d18"
    model_args: dict = field(default_factory=dict)
    clip_len: int = 16
    size: int = 112
    batch: int = 4
    workers: int = 2
    dali_threads: int = 2
    threads: int = 0  # torch threads (0: vr's default, the CPUs this process may use)
    device: str = "auto"
    precision: str = "bf16"  # of the vr configuration
    compile: bool = False


def train_config(setup: Setup, fast: bool, out: Path) -> TrainConfig:
    """The baseline (``fast=False``) or vr's defaults (``fast=True``) for ``setup``."""
    return TrainConfig.from_options(
        data=str(setup.data),
        out=str(out),
        model=setup.model,
        model_args=dict(setup.model_args),
        clip_len=setup.clip_len,
        size=setup.size,
        batch_size=setup.batch,
        lr=0.01,
        schedule="none",
        precision=setup.precision if fast else "fp32",
        channels_last=fast,
        compile=fast and setup.compile,
        loader="dali" if fast else "torch",
        workers=setup.workers,
        dali_threads=setup.dali_threads,
        threads=setup.threads,
        device=setup.device,
    )


def time_training(setup: Setup, fast: bool, steps: int, warmup: int, out: Path) -> tuple[int, float, float]:
    """(clips, seconds, mean loss) of ``steps`` timed training steps after ``warmup`` untimed ones."""
    config = train_config(setup, fast, out)
    run = Run(config, progress=False)
    try:
        clock = StepClock(run.train_loader, warmup + steps)
        stats = train_epoch(
            run.model,
            clock,
            run.optimizer,
            run.scaler,
            run.device,
            config,
            progress=False,
        )
        clips, seconds = clock.timed(warmup)
    finally:
        run.close()
        del run, clock
        gc.collect()  # stop this run's loader workers before the next run starts its own
    return clips, seconds, stats.loss


def compare(setup: Setup, steps: int, warmup: int, rounds: int = 1) -> dict[str, dict[str, float]]:
    """Clips/s and mean loss of both configurations, in ``rounds`` rounds of alternating order."""
    names = {"baseline": False, "vr": True}
    totals = {name: [0, 0.0, 0.0] for name in names}
    for r in range(rounds):
        for name in list(names)[:: 1 if r % 2 == 0 else -1]:
            clips, seconds, loss = time_training(setup, names[name], steps, warmup, setup.out / f"{name}{r}")
            totals[name][0] += clips
            totals[name][1] += seconds
            totals[name][2] += loss / rounds
    return {
        name: {"clips_per_s": clips / seconds, "s_per_step": seconds / (steps * rounds), "loss": loss}
        for name, (clips, seconds, loss) in totals.items()
    }


def run_child(setup: Setup, steps: int, warmup: int, env: dict[str, str]) -> dict[str, float]:
    """Time vr's configuration in a fresh interpreter (its own thread decisions); clips/s and more."""
    spec = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(setup).items()}
    spec.update(steps=steps, warmup=warmup)
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(spec: dict) -> None:
    steps, warmup = spec.pop("steps"), spec.pop("warmup")
    setup = Setup(**{**spec, "data": Path(spec["data"]), "out": Path(spec["out"])})
    clips, seconds, _ = time_training(setup, True, steps, warmup, setup.out / f"child{os.getpid()}")
    result = {"clips_per_s": clips / seconds, "threads": torch.get_num_threads(), "openmp": prepare_openmp()}
    print(json.dumps(result))


def background_load(setup: Setup, steps: int, warmup: int, n_busy: int) -> None:
    """Quiet and loaded clips/s of vr's configuration, with vr's thread policy and with OpenMP's
    default spinning; prints both ratios."""
    rows = []
    for label, env in (("vr", {}), ("OpenMP default spin", {"GOMP_SPINCOUNT": "300000"})):
        quiet = run_child(setup, steps, warmup, env)
        busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n_busy)]
        try:
            time.sleep(1.0)
            loaded = run_child(setup, steps, warmup, env)
        finally:
            for p in busy:
                p.kill()
                p.wait()
        rows.append((label, quiet, loaded))
    print(f"{'threads':<22} {'quiet clips/s':>14} {f'{n_busy} busy: clips/s':>18} {'ratio':>7}  openmp wait")
    for label, quiet, loaded in rows:
        ratio = loaded["clips_per_s"] / quiet["clips_per_s"]
        print(
            f"{label:<22} {quiet['clips_per_s']:>14.1f} {loaded['clips_per_s']:>18.1f} {ratio:>7.2f}  "
            f"{quiet['openmp']} / {loaded['openmp']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=None, help="shard folder, or where to keep the data")
    parser.add_argument("--videos", type=int, default=8, help="synthetic videos per class (8 classes)")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per configuration and round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of alternating order")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="loader workers (both loaders)")
    parser.add_argument("--dali-threads", type=int, default=2)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--model", default="r3d18")
    parser.add_argument("--widen", type=float, default=1.0, help="widen_factor (< 1: narrower model)")
    parser.add_argument("--clip-len", type=int, default=16)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "bf16", "fp16", "fp32"),
        help="of the vr configuration; auto: bf16 on a GPU, fp32 on the CPU (see the docstring)",
    )
    parser.add_argument("--compile", action="store_true", help="also torch.compile the vr configuration")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument(
        "--background-load",
        type=int,
        default=0,
        metavar="N",
        help="time vr quiet and with N busy processes instead (see the docstring)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True
    use_cuda = args.device.startswith("cuda") or (args.device == "auto" and torch.cuda.is_available())
    if args.precision == "auto":
        args.precision = "bf16" if use_cuda else "fp32"
    with tempfile.TemporaryDirectory(prefix="vr-bench-train-") as tmp:
        root = args.data or Path(tmp) / "data"
        started = time.perf_counter()
        shards = prepare_data(root, args.videos, jobs=max(1, args.workers))
        print(f"data: {shards} ({time.perf_counter() - started:.0f} s to prepare)")
        setup = Setup(
            data=shards,
            out=Path(tmp) / "runs",
            model=args.model,
            model_args={"widen_factor": args.widen} if args.widen != 1.0 else {},
            clip_len=args.clip_len,
            size=args.size,
            batch=args.batch,
            workers=args.workers,
            dali_threads=args.dali_threads,
            threads=args.threads,
            device=args.device,
            precision=args.precision,
            compile=args.compile,
        )
        where = torch.cuda.get_device_name() if use_cuda else f"CPU, {torch.get_num_threads()} threads"
        widen = f" x{args.widen} wide" if args.widen != 1.0 else ""
        print(
            f"device: {where}; {args.model}{widen} {args.clip_len}x{args.size}x{args.size}, batch "
            f"{args.batch}, {args.workers} workers, {args.rounds} x {args.steps} timed steps after "
            f"{args.warmup} warm-up"
        )
        if args.background_load:
            background_load(setup, args.steps, args.warmup, args.background_load)
            return
        rates = compare(setup, args.steps, args.warmup, args.rounds)
    labels = {
        "baseline": "fp32 eager, torch loader",
        "vr": f"{args.precision} cl3d, DALI {'nvJPEG' if use_cuda else 'CPU'}"
        + (" +compile" if args.compile else ""),
    }
    print(f"{'configuration':<32} {'clips/s':>8} {'s/step':>8} {'loss':>7}")
    for name, row in rates.items():
        print(f"{labels[name]:<32} {row['clips_per_s']:>8.2f} {row['s_per_step']:>8.2f} {row['loss']:>7.3f}")
    ratio = rates["vr"]["clips_per_s"] / rates["baseline"]["clips_per_s"]
    goal = " (goal on a GPU: >= 3x)" if use_cuda else " (the >= 3x goal is for a GPU)"
    print(f"vr / baseline: x{ratio:.2f}{goal}")


if __name__ == "__main__":
    main()
