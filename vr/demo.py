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
    """Sizes chosen so the whole demo fits in about 10 minutes on 2 CPU cores."""

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
    def stage(self, name: str) -> Iterator[None]:
        if not self.quiet:
            print(f"== {name}", flush=True)
        start = time.perf_counter()
        yield
        self.stages.append((name, time.perf_counter() - start))


class DemoError(VrError, RuntimeError):
    """A demo stage that did not produce what the next stage needs."""


def _check(outcomes, what: str) -> None:
    failures = failure_lines(outcomes)
    if failures:
        raise DemoError(f"{what}: {len(failures)} video(s) failed, e.g. {failures[0]}")


def demo_train_config(config: DemoConfig, modality: str, on_gpu: bool) -> TrainConfig:
    """The training run of one modality, under ``config.out/runs/<modality>``."""
    from vr.train.config import TrainConfig

    out = Path(config.out)
    return TrainConfig(
        data=str(out / "shards" / "train"),
        val_data=str(out / "shards" / "val"),
        out=str(out / "runs" / modality),
        model=config.model,
        modality=modality,
        model_args=dict(config.model_args),
        clip_len=config.clip_len,
        size=config.size,
        batch_size=config.batch_size,
        epochs=config.epochs,
        lr=config.lr,
        optimizer=config.optimizer,
        weight_decay=config.weight_decay,
        schedule="cosine",
        train_crop="random",
        hflip=False,  # a mirror image turns MoveLeft into MoveRight and clockwise into counterclockwise
        workers=0,
        loader="dali" if on_gpu else "torch",
        val_every=max(1, config.epochs // 3),
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
    from vr.preprocess.flow import FlowOptions, flow_tvl1
    from vr.preprocess.flow_engines import TVL1Params
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
    results, accuracy = {}, {}
    for modality in ("rgb", "flow"):
        train_config = demo_train_config(config, modality, on_gpu)
        run = Path(train_config.out)
        with timer.stage(f"train {modality}"):
            train(train_config, resume=(run / "last.pth").exists(), progress=not quiet)
        with timer.stage(f"evaluate {modality}"):
            report = evaluate_run(config, run, progress=not quiet)
        results[modality] = report.results
        accuracy[modality] = report.top1
    with timer.stage("fuse"):
        fusion = fuse(results["rgb"], results["flow"], config.fuse_weights)
        accuracy["fused"] = fusion.accuracy["fused"][1]
    return {"accuracy": accuracy, "stages": timer.stages}


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
