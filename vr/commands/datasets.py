"""`vr datasets ...`: datasets that vr generates itself."""

from __future__ import annotations

import os
from pathlib import Path

import click

from vr.commands.options import SEED, Real
from vr.datasets.encode import CODECS
from vr.datasets.motion import MOTIONS
from vr.progress import progress_bar


@click.group("datasets")
def datasets() -> None:
    """Generate datasets (the synthetic motion dataset)."""


def _output_dir(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    parent = value.resolve().parent
    if not parent.is_dir():
        raise click.BadParameter(f"parent folder {parent} does not exist", ctx, param)
    if value.exists() and not value.is_dir():
        raise click.BadParameter(f"{value} exists and is not a folder", ctx, param)
    return value


@datasets.command("synth")
@click.argument("out", type=click.Path(path_type=Path), callback=_output_dir)
@click.option(
    "--classes",
    type=click.IntRange(1, len(MOTIONS)),
    default=8,
    show_default=True,
    help=f"Number of motion classes (at most {len(MOTIONS)}).",
)
@click.option("--videos-per-class", type=click.IntRange(2), default=16, show_default=True)
@click.option(
    "--clips-per-group",
    type=click.IntRange(1),
    default=4,
    show_default=True,
    help="Clips that share a scene; groups never cross the train/test split.",
)
@click.option("--frames", type=click.IntRange(2), default=32, show_default=True)
@click.option(
    "--size", "size", default="160x120", show_default=True, metavar="WxH", help="Frame size, even numbers."
)
@click.option("--fps", type=Real(min=1.0), default=25.0, show_default=True)
@click.option(
    "--codec",
    type=click.Choice(list(CODECS)),
    default="mpeg4",
    show_default=True,
    help="mpeg4: AVI MPEG-4 (as UCF101); h264: MP4 H.264; vp9: WebM VP9; mjpeg: AVI MJPEG.",
)
@click.option(
    "--objects", type=click.IntRange(1, 8), default=2, show_default=True, help="Moving objects per video."
)
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--jobs", "-j", type=click.IntRange(1), default=os.cpu_count() or 1, show_default="all cores")
@click.option("--overwrite", is_flag=True, help="Replace a different dataset already in OUT.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def synth(out: Path, size: str, jobs: int, overwrite: bool, quiet: bool, **options) -> None:
    """Generate the synthetic motion dataset in UCF101's layout under OUT.

    Each class is a motion pattern (move in a direction, rotate, zoom) of random textured objects on
    random backgrounds, so only temporal modelling tells the classes apart. Rerunning the same command
    finishes an interrupted run.
    """
    from vr.datasets.synth import DatasetExistsError, SynthConfig, generate

    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{size!r} is not WxH (e.g. 160x120)", param_hint="--size") from None
    try:
        config = SynthConfig(width=width, height=height, **options)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    total = config.classes * config.videos_per_class
    with progress_bar(total=total, unit="video", disable=quiet, desc="synth") as bar:
        try:
            paths = generate(out, config, jobs=jobs, overwrite=overwrite, progress=bar.update)
        except DatasetExistsError as e:
            raise click.UsageError(str(e)) from None
    click.echo(
        f"{len(paths)} videos ({config.classes} classes, {config.n_groups} groups each, "
        f"{config.n_test_groups} test groups) in {out / 'videos'}; splits in {out / 'annotations'}"
    )
