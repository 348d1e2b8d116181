"""`vr demo`: the whole pipeline on the synthetic motion dataset, end to end, with a time budget.

synthetic videos -> frames -> TV-L1 flow -> manifest -> shards -> RGB and Flow training -> video-level
evaluation -> two-stream fusion; prints the accuracies and where each stage's time went.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vr.datasets.synth import SynthConfig
from vr.errors import VrError
from vr.preprocess.runner import failure_lines

if TYPE_CHECKING:
    from vr.train.config import TrainConfig


@dataclass
class DemoConfig:
    """The demo's data, model and training. ``epochs`` is the most each stream trains; with a ``budget``
    (seconds for the whole demo) the demo times this machine's training steps once its data is ready and
    trains fewer epochs where both streams' would not fit, never fewer than a stream's ``min_epochs``."""

    out: str = "vr-demo"
    synth: SynthConfig = field(
        default_factory=lambda: SynthConfig(
            classes=6, videos_per_class=64, clips_per_group=1, frames=12, width=80, height=64
        )
    )
    model: str = "r3d10"
    model_args: dict = field(default_factory=lambda: {"widen_factor": 0.25})
    clip_len: int = 8
    size: int = 56
    batch_size: int = 8
    epochs: int = 40
    # the fewest epochs that kept a stream at >= 95% in our runs (RGB at 24 epochs: 83%; Flow: 100%)
    min_epochs: dict = field(default_factory=lambda: {"rgb": 40, "flow": 24})
    budget: float | None = 300.0
    channels_last: bool = True  # 1.5x faster training steps on the CPU (oneDNN's channels-last 3D kernels)
    threads: int = 0  # torch threads (0: the CPUs this process may use)
    lr: float = 0.002
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    n_clips: int = 3
    fuse_weights: tuple[float, float] = (1.0, 1.5)
    # TV-L1 with fewer scales and warps and a looser stopping rule: about 15x faster than OpenCV's
    # defaults at this frame size, 0.24 px mean end-point error from them.
    flow_nscales: int = 3
    flow_warps: int = 3
    flow_epsilon: float = 0.05
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    device: str = "auto"


@dataclass
class Timer:
    """Wall time per named stage, in order."""

    quiet: bool = False
    stages: list[tuple[str, float]] = field(default_factory=list)

    @contextlib.contextmanager
    def stage(self, name: str, note: str = "") -> Iterator[None]:
        if not self.quiet:
            print(f"== {name}" + (f" ({note})" if note else ""), flush=True)
        start = time.perf_counter()
        yield
        self.stages.append((name, time.perf_counter() - start))

    def elapsed(self) -> float:
        """Seconds spent in the stages so far."""
        return sum(seconds for _, seconds in self.stages)


class DemoError(VrError, RuntimeError):
    """A demo stage that did not produce what the next stage needs."""


def _check(outcomes, what: str) -> None:
    failures = failure_lines(outcomes)
    if failures:
        raise DemoError(f"{what}: {len(failures)} video(s) failed, e.g. {failures[0]}")


def demo_train_config(
    config: DemoConfig, modality: str, on_gpu: bool, epochs: int | None = None
) -> TrainConfig:
    """The training run of one modality, under ``config.out/runs/<modality>`` (``epochs``: the plan's,
    default ``config.epochs``)."""
    from vr.train.config import TrainConfig

    out = Path(config.out)
    return TrainConfig.from_options(
        data=str(out / "shards" / "train"),
        val_data=str(out / "shards" / "val"),
        out=str(out / "runs" / modality),
        model=config.model,
        modality=modality,
        model_args=dict(config.model_args),
        clip_len=config.clip_len,
        size=config.size,
        batch_size=config.batch_size,
        epochs=epochs or config.epochs,
        lr=config.lr,
        optimizer=config.optimizer,
        weight_decay=config.weight_decay,
        schedule="cosine",
        train_crop="random",
        hflip=False,  # a mirror image turns MoveLeft into MoveRight and clockwise into counterclockwise
        workers=0,
        threads=config.threads,
        channels_last=config.channels_last,
        loader="dali" if on_gpu else "torch",
        val_every=max(1, (epochs or config.epochs) // 3),
        device=config.device,
        seed=config.synth.seed,
    )


def evaluate_run(config: DemoConfig, run: Path, progress: bool = False):
    """Video-level evaluation of the run in ``run`` on the demo's test shards (``test_video.json``)."""
    from vr.evaluation.evaluate import evaluate

    return evaluate(
        run / "last.pth",
        Path(config.out) / "shards" / "val",
        mode="video",
        n_clips=config.n_clips,
        n_crops=1,
        output=run / "test_video.json",
        device=config.device,
        workers=0,
        progress=progress,
    )


def run_demo(config: DemoConfig, quiet: bool = False) -> dict:
    """Run every stage under ``config.out``; returns accuracies and stage times. A signal stops the
    whole demo (:class:`~vr.errors.Interrupted`) after the stage running saved what resumes it."""
    from vr.errors import Interrupted, signals_stop

    hint = f"rerun `vr demo --out {config.out}` to resume"
    try:
        with signals_stop(hint):
            return _run_demo(config, quiet)
    except Interrupted as e:
        if hint in str(e):
            raise
        raise Interrupted(e.signum, f"{e}; {hint}") from None


def prepare_data(config: DemoConfig, timer: Timer, quiet: bool, flow: bool = True) -> None:
    """The demo's data under ``config.out``: synthetic videos, frames, (TV-L1 flow,) manifest and the
    train/val shards (RGB and Flow, or RGB only with ``flow=False``). Every stage resumes."""
    from vr.datasets.synth import generate
    from vr.manifests.build import build_manifest
    from vr.preprocess.flow.engines import TVL1Params
    from vr.preprocess.flow.tvl1 import FlowOptions, flow_tvl1
    from vr.preprocess.frames import FrameOptions, extract_frames
    from vr.shards.build import build_shards
    from vr.shards.plan import ShardOptions

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    synth = config.synth
    short_side = min(synth.width, synth.height)
    with timer.stage("synthetic videos"):
        generate(out / "synth", synth, jobs=config.jobs)
    with timer.stage("extract frames"):
        outcomes = extract_frames(
            out / "synth" / "videos",
            out / "frames",
            "ucf101",
            FrameOptions(size=short_side),
            jobs=config.jobs,
            quiet=quiet,
        )
        _check(outcomes, "extract-frames")
    if flow:
        with timer.stage("TV-L1 flow"):
            params = TVL1Params(
                nscales=config.flow_nscales, warps=config.flow_warps, epsilon=config.flow_epsilon
            )
            options = FlowOptions(params=params)
            outcomes = flow_tvl1(out / "frames", out / "flow", options, jobs=config.jobs, quiet=quiet)
            _check(outcomes, "flow-tvl1")
    with timer.stage("manifest"):
        manifest, _ = build_manifest("ucf101", out / "synth" / "annotations", out / "frames", split=1)
        manifest_path = out / "manifest.jsonl"
        manifest.write(manifest_path)
    with timer.stage("shards"):
        for subset in ("train", "val"):
            build_shards(
                manifest_path,
                out / "shards" / subset,
                ShardOptions(
                    modality="both" if flow else "rgb",
                    subset=subset,
                    max_count=64,
                    shuffle=True,
                    seed=synth.seed,
                ),
                frames=out / "frames",
                flow=out / "flow" if flow else None,
                jobs=config.jobs,
                progress=not quiet,
            )


def _run_demo(config: DemoConfig, quiet: bool) -> dict:
    import torch

    from vr.evaluation.fuse import fuse
    from vr.train.trainer import train

    on_gpu = config.device != "cpu" and torch.cuda.is_available()  # GPU: nvJPEG loader, torch TV-L1
    timer = Timer(quiet)
    prepare_data(config, timer, quiet, flow=True)
    with timer.stage("plan training"):
        plan = plan_training(config, timer.elapsed(), on_gpu)
    if not quiet:
        print(plan.line, flush=True)
    results, accuracy = {}, {}
    for i, modality in enumerate(("rgb", "flow")):
        train_config = demo_train_config(config, modality, on_gpu, plan.epochs[modality])
        run = Path(train_config.out)
        left = sum(list(plan.seconds.values())[i:])
        with timer.stage(f"train {modality}", f"about {_minutes(left)} of training left" if left else ""):
            train(train_config, resume=(run / "last.pth").exists(), progress=not quiet)
        with timer.stage(f"evaluate {modality}"):
            report = evaluate_run(config, run, progress=not quiet)
        results[modality] = report.results
        accuracy[modality] = report.top1
    with timer.stage("fuse"):
        fusion = fuse(results["rgb"], results["flow"], config.fuse_weights)
        accuracy["fused"] = fusion.accuracy["fused"][1]
    return {"accuracy": accuracy, "stages": timer.stages}


@dataclass(frozen=True)
class TrainingPlan:
    """Epochs of each stream and the seconds each is expected to take; ``line`` says why."""

    epochs: dict[str, int]
    seconds: dict[str, float]
    line: str


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def choose_epochs(config: DemoConfig, left: float, per_epoch: float) -> tuple[dict[str, int], bool]:
    """Epochs per stream that fit ``left`` seconds at ``per_epoch`` seconds an epoch: ``config.epochs``
    each where they fit, else the Flow stream (which needs fewer) cut first, never below a stream's
    ``min_epochs``; and whether the plan fits."""
    epochs = {m: config.epochs for m in ("rgb", "flow")}
    over = sum(epochs.values()) - int(left / per_epoch)
    for modality in ("flow", "rgb"):
        cut = max(0, min(over, epochs[modality] - config.min_epochs[modality]))
        epochs[modality] -= cut
        over -= cut
    return epochs, over <= 0


def plan_training(config: DemoConfig, spent: float, on_gpu: bool) -> TrainingPlan:
    """Epochs per stream within ``config.budget`` (``spent`` seconds already gone), from this machine's
    measured training-step rate; a plan saved in ``out/demo_plan.json`` by an earlier run is kept, so a
    resumed demo trains what it started."""
    import json

    import torch

    from vr.bench.model import measure_model
    from vr.shards.format import read_index

    saved = Path(config.out) / "demo_plan.json"
    if config.budget is None:  # epochs as given
        epochs = {"rgb": config.epochs, "flow": config.epochs}
        return TrainingPlan(epochs, {"rgb": 0.0, "flow": 0.0}, f"{config.epochs} epochs a stream (as asked)")
    if saved.exists():
        data = json.loads(saved.read_text())
        epochs, seconds = dict(data["epochs"]), dict(data["seconds"])
        line = f"training plan of the first run: RGB {epochs['rgb']} epochs, Flow {epochs['flow']}"
        return TrainingPlan(epochs, seconds, line)
    clips = read_index(Path(config.out) / "shards" / "train")["n_samples"]
    step = measure_model(
        config.model,
        clip=(config.clip_len, config.size, config.size),
        batch=config.batch_size,
        num_classes=config.synth.classes,
        channels_last=config.channels_last,
        device=torch.device("cuda" if on_gpu else "cpu"),
        warmup=3,
        steps=8,
        model_args=config.model_args,
        progress=False,
    )
    rate = step.clips_per_s * 0.9  # the loader, logging and the validation passes: about a tenth more
    per_epoch = clips / rate
    left = config.budget - spent - 10.0  # evaluation and fusion: a few seconds
    epochs, fits = choose_epochs(config, left, per_epoch)
    seconds = {m: n * per_epoch for m, n in epochs.items()}
    total = spent + sum(seconds.values()) + 10.0
    saved.write_text(json.dumps({"epochs": epochs, "seconds": seconds, "clips_per_s": rate}))
    line = (
        f"this machine trains about {rate:.0f} clips/s: RGB {epochs['rgb']} epochs, Flow {epochs['flow']}, "
        f"about {_minutes(sum(seconds.values()))} of training, {_minutes(total)} in all"
    )
    if not fits:
        line += (
            f" (more than the {_minutes(config.budget)} budget: fewer epochs would miss the 95% goal; "
            "a faster machine or a GPU keeps it)"
        )
    return TrainingPlan(epochs, seconds, line)


def format_summary(summary: dict) -> str:
    """The accuracy table and the time table."""
    lines = ["", "video-level top-1 on the test split", ""]
    for name, value in summary["accuracy"].items():
        lines.append(f"  {name:<6} {value * 100:6.1f}%")
    total = sum(seconds for _, seconds in summary["stages"])
    lines += ["", "time per stage", ""]
    for name, seconds in summary["stages"]:
        lines.append(f"  {name:<18} {seconds:7.1f} s  {seconds / total * 100:5.1f}%")
    lines.append(f"  {'total':<18} {total:7.1f} s")
    return "\n".join(lines)
