"""`vr preprocess ...`: raw videos to JPEG frame folders and TV-L1 flow folders."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import click

from vr.commands.options import JOBS, Real
from vr.preprocess.flow.engines import ENGINES, PRECISIONS, TVL1Params
from vr.preprocess.runner import BACKENDS, REPORT_NAME, Outcome, failure_lines, summarize
from vr.video.find import DATASETS

_SRC = click.Path(exists=True, file_okay=False, path_type=Path)
_DST = click.Path(file_okay=False, path_type=Path)


@click.group("preprocess")
def preprocess() -> None:
    """Extract JPEG frames and TV-L1 optical flow from videos."""


def _run_options(backend: str) -> Callable[[Callable], Callable]:
    """Options shared by the per-video commands: layout, parallelism (default ``backend``), resuming."""
    options = [
        click.option(
            "--dataset",
            type=click.Choice(DATASETS),
            default="folder",
            show_default=True,
            help="Source layout and default extensions (kinetics/mit: train|val|test split folders; "
            "activitynet: flat).",
        ),
        click.option(
            "--ext",
            "extensions",
            multiple=True,
            help="Video file extension to take (repeatable); default per dataset.",
        ),
        click.option(
            "--jobs",
            "-j",
            type=JOBS,
            default=-1,
            show_default="all cores",
            help="Parallel videos (-1: all cores).",
        ),
        click.option(
            "--backend",
            type=click.Choice(BACKENDS),
            default=backend,
            show_default=True,
            help="joblib backend; dask/ray run on a cluster given by --address.",
        ),
        click.option("--address", help="Dask scheduler or Ray cluster address (dask/ray backends)."),
        click.option("--overwrite", is_flag=True, help="Redo videos whose output is already complete."),
        click.option(
            "--strict",
            is_flag=True,
            help="A video the decoder reported errors in (damaged) fails; by default its frames are kept "
            "and it is listed as a warning.",
        ),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary line."),
    ]

    def decorate(fn: Callable) -> Callable:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def _size_options(fn: Callable) -> Callable:
    options = [
        click.option("--width", type=click.IntRange(1), help="Fixed output width (with --height), e.g. 340."),
        click.option(
            "--height", type=click.IntRange(1), help="Fixed output height (with --width), e.g. 256."
        ),
        click.option("--fps", type=Real(min=0, min_open=True), help="Resample to this frame rate."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _finish(outcomes: list[Outcome], dst: Path, seconds: float, quiet: bool) -> None:
    """Print one line per failure and per warning and a summary; exit 1 when any video failed."""
    counts = summarize(outcomes)
    for line in failure_lines(outcomes):
        click.echo(line, err=True)
    if not quiet:
        warned = f", {counts['warnings']} damaged (kept, see WARNING)" if counts["warnings"] else ""
        click.echo(
            f"{counts['ok']} done, {counts['skipped']} already complete, {counts['failed']} failed{warned} "
            f"({counts['frames']} frames in {seconds:.1f}s); report: {dst / REPORT_NAME}"
        )
    if counts["failed"]:
        raise click.ClickException(
            f"{counts['failed']} of {counts['total']} videos failed; see {dst / REPORT_NAME}"
        )


def _call(fn: Callable, *args, **kwargs) -> list[Outcome]:
    """Run a library entry point, turning its argument and environment errors into one-line CLI errors."""
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    except (RuntimeError, OSError) as e:
        raise click.ClickException(str(e)) from None


@preprocess.command("extract-frames")
@click.argument("src", type=_SRC)
@click.argument("dst", type=_DST)
@click.option(
    "--size", type=click.IntRange(1), default=240, show_default=True, help="Short side (keeps aspect)."
)
@_size_options
@click.option(
    "--quality", type=click.IntRange(1, 31), default=2, show_default=True, help="JPEG -q:v (1 best)."
)
@_run_options(backend="threading")
def extract_frames_cmd(
    src: Path,
    dst: Path,
    size: int,
    width: int | None,
    height: int | None,
    fps: float | None,
    quality: int,
    **run,
) -> None:
    """Decode every video of SRC into DST/<class>/<video>/image_00001.jpg ... (3D-ResNets layout).

    A video already complete is skipped; a killed run is finished by running the same command again.
    Failures (with reasons) go to DST/_report.json; the exit code is 1 when any video failed.
    """
    from vr.preprocess.frames import FrameOptions, extract_frames

    try:
        options = FrameOptions(
            size=None if width else size, width=width, height=height, fps=fps, quality=quality
        )
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    start = time.perf_counter()
    extensions = run.pop("extensions") or None
    outcomes = _call(extract_frames, src, dst, run.pop("dataset"), options, extensions=extensions, **run)
    _finish(outcomes, dst, time.perf_counter() - start, run["quiet"])


@preprocess.command("flow-tvl1")
@click.argument("src", type=_SRC)
@click.argument("dst", type=_DST)
@click.option(
    "--from-video", is_flag=True, help="SRC holds videos (layout per --dataset), not frame folders."
)
@click.option(
    "--engine",
    type=click.Choice(["auto", *sorted(ENGINES)]),
    default="auto",
    show_default=True,
    help="TV-L1 solver: opencv (CPU), torch (batched PyTorch, CUDA when present); auto: torch on a GPU.",
)
@click.option("--bound", type=Real(min=0, min_open=True), default=20.0, show_default=True)
@click.option(
    "--size",
    type=click.IntRange(1),
    help="Short side (keeps aspect). Default: frames as they are; videos 240.",
)
@_size_options
@click.option("--quality", type=click.IntRange(0, 100), default=95, show_default=True, help="JPEG quality.")
@click.option(
    "--batch",
    type=click.IntRange(1),
    default=None,
    help="Pairs per engine call [default: 32 for the torch engine on a GPU, else 8].",
)
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="fp32",
    show_default=True,
    help="Compute precision (torch engine only): fp32 as OpenCV; fp16 stays within 0.1 px of it; "
    "bf16 does not (0.07-0.4 px mean error measured at 340x256) and runs slower on the CPU.",
)
@click.option("--tau", type=Real(0, 1, min_open=True), default=TVL1Params.tau, show_default=True)
@click.option(
    "--lambda", "lambda_", type=Real(min=0, min_open=True), default=TVL1Params.lambda_, show_default=True
)
@click.option("--theta", type=Real(min=0, min_open=True), default=TVL1Params.theta, show_default=True)
@click.option("--nscales", "--scales", type=click.IntRange(1), default=TVL1Params.nscales, show_default=True)
@click.option("--warps", type=click.IntRange(1), default=TVL1Params.warps, show_default=True)
@click.option("--epsilon", type=Real(min=0, min_open=True), default=TVL1Params.epsilon, show_default=True)
@click.option(
    "--inner-iterations", type=click.IntRange(1), default=TVL1Params.inner_iterations, show_default=True
)
@click.option(
    "--outer-iterations", type=click.IntRange(1), default=TVL1Params.outer_iterations, show_default=True
)
@click.option(
    "--scale-step",
    type=Real(0, 1, min_open=True, max_open=True),
    default=TVL1Params.scale_step,
    show_default=True,
)
@click.option("--gamma", type=Real(min=0), default=TVL1Params.gamma, show_default=True)
@click.option(
    "--median-filtering", type=click.IntRange(1), default=TVL1Params.median_filtering, show_default=True
)
@_run_options(backend="loky")
def flow_tvl1_cmd(src: Path, dst: Path, from_video: bool, **kwargs) -> None:
    """TV-L1 optical flow of every video: DST/<class>/<video>/flow_x_00001.jpg, flow_y_00001.jpg ...

    SRC is a frame folder tree (from extract-frames) or, with --from-video, a video tree. Each flow
    component is clipped to +-BOUND px and mapped to 0..255 (128 = no motion). N frames give N-1 pairs.
    """
    from vr.preprocess.flow.tvl1 import FlowOptions, flow_tvl1

    try:
        params = TVL1Params(
            **{k: kwargs.pop(k) for k in list(kwargs) if k in TVL1Params.__dataclass_fields__}
        )
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    run = {
        k: kwargs.pop(k) for k in ("jobs", "backend", "address", "overwrite", "quiet", "dataset", "strict")
    }
    extensions = kwargs.pop("extensions") or None
    try:
        options = FlowOptions(params=params, **kwargs)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    start = time.perf_counter()
    outcomes = _call(flow_tvl1, src, dst, options, from_video=from_video, extensions=extensions, **run)
    _finish(outcomes, dst, time.perf_counter() - start, run["quiet"])


@preprocess.command("flow-preview")
@click.argument("flow_dir", type=_SRC)
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--pairs", "-n", type=click.IntRange(1), default=8, show_default=True, help="Pairs shown.")
@click.option("--bound", type=Real(min=0, min_open=True), help="Default: the folder's marker, else 20.")
def flow_preview_cmd(flow_dir: Path, out: Path, pairs: int, bound: float | None) -> None:
    """Write OUT (e.g. a .png): a strip of a video's flow, hue = direction, brightness = speed."""
    from vr.preprocess.flow.preview import flow_preview

    try:
        flow_preview(flow_dir, out, n=pairs, bound=bound)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    except OSError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"wrote {out}")
