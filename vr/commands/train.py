"""`vr train`: train an RGB or Flow 3D CNN (single process, or DDP under torchrun)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from vr.commands.options import SEED, Real, model_args_options, remote_options
from vr.modality import MODALITIES
from vr.pipelines.backends import LOADERS
from vr.runtime import PRECISIONS
from vr.train.config import OPTIMIZERS, SCHEDULES


def _int_list(ctx, param, value: str) -> list[int]:
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of epochs", ctx, param) from None


@click.command("train")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A run's config.json: train with its settings; options given here override them.",
)
@click.option(
    "--data",
    help="Shard folder (index.json) or its URL (https://, s3://, gs://, ...), or a manifest (.jsonl).",
)
@click.option("--val-data", default=None, help="Validation shard folder (default: none, or --val-subset).")
@click.option("--val-subset", default=None, help="With a manifest: the subset to validate on (val/test).")
@click.option("--frames", "frames_root", default=None, help="Frame root, with a manifest.")
@click.option("--flow", "flow_root", default=None, help="Flow root, with a manifest.")
@click.option(
    "--videos", "videos_root", default=None, help="Video root, with a manifest and --loader dali-video."
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Run folder.")
@click.option("--model", default="r3d18", show_default=True, help="A name from `vr models list`.")
@click.option("--modality", type=click.Choice(list(MODALITIES)), default="rgb", show_default=True)
@model_args_options("create_model keyword, e.g. widen_factor=0.25 (repeatable).")
@click.option("--clip-len", type=click.IntRange(1), default=16, show_default=True)
@click.option("--frame-stride", type=click.IntRange(1), default=1, show_default=True)
@click.option("--size", type=click.IntRange(8), default=112, show_default=True, help="Crop size.")
@click.option(
    "--train-crop",
    type=click.Choice(["corner", "random", "center"]),
    default="corner",
    show_default=True,
    help="corner: multi-scale corner crop (seed); random: random-resized crop.",
)
@click.option(
    "--hflip/--no-hflip",
    default=True,
    show_default=True,
    help="Random horizontal flips; turn off when a mirror image changes the class (left/right motion).",
)
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True)
@click.option("--lr", type=Real(min=0, min_open=True), default=0.1, show_default=True)
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="sgd", show_default=True)
@click.option("--momentum", type=Real(0, 1, max_open=True), default=0.9, show_default=True)
@click.option("--dampening", type=Real(0, 1), default=0.0, show_default=True)
@click.option("--nesterov", is_flag=True)
@click.option("--weight-decay", type=Real(min=0), default=1e-3, show_default=True)
@click.option("--schedule", type=click.Choice(SCHEDULES), default="multistep", show_default=True)
@click.option("--milestones", default="50,100,150", callback=_int_list, show_default=True)
@click.option(
    "--gamma",
    type=Real(min=0, min_open=True),
    default=0.1,
    show_default=True,
    help="LR factor (multistep, plateau).",
)
@click.option("--warmup-epochs", type=click.IntRange(0), default=0, show_default=True)
@click.option("--plateau-patience", type=click.IntRange(0), default=10, show_default=True)
@click.option("--label-smoothing", type=Real(0, 1, max_open=True), default=0.0)
@click.option("--pretrain", default=None, type=click.Path(exists=True, dir_okay=False))
@click.option("--pretrain-source", default="auto", show_default=True, help="kenshohara|p3d|i3d-caffe2|auto.")
@click.option("--n-pretrain-classes", type=click.IntRange(1), default=None)
@click.option(
    "--rgb-to-flow",
    "pretrain_rgb_to_flow",
    is_flag=True,
    help="Flow run from RGB --pretrain weights: average the first conv over channels.",
)
@click.option("--ft-begin-module", default=None, help="Freeze the modules before this one (e.g. layer4, fc).")
@click.option(
    "--layer-lr-decay",
    type=Real(0, 1),
    default=None,
    help="P3D fine-tuning policy: each earlier stage gets the next stage's LR times this.",
)
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True)
@click.option("--channels-last", is_flag=True, help="channels_last_3d memory format.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model.")
@click.option("--accumulate", type=click.IntRange(1), default=1, show_default=True, help="Batches per step.")
@click.option(
    "--loader",
    type=click.Choice(LOADERS),
    default="torch",
    show_default=True,
    help="dali-video: DALI's reader on the manifest's video files under --videos (NVDEC on a GPU; on the CPU "
    "VP9/VP8/MJPEG only), no frame extraction.",
)
@click.option("--workers", type=click.IntRange(0), default=2, show_default=True)
@click.option(
    "--threads",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="torch threads of each training process (0: the CPUs it may use, shared among local DDP ranks).",
)
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--checkpoint-every", type=click.IntRange(0), default=0, help="Keep save_N.pth every N epochs.")
@click.option(
    "--checkpoint-steps",
    type=click.IntRange(0),
    default=0,
    help="Also save last.pth every N optimizer steps; --resume continues mid-epoch.",
)
@click.option("--val-every", type=click.IntRange(1), default=1, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N.")
@click.option("--shuffle-frames", is_flag=True, help="Control: shuffle frames within each training clip.")
@click.option(
    "--skip-nonfinite",
    is_flag=True,
    help="Leave out batches with a NaN/inf loss (default: stop with an error).",
)
@remote_options
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last.pth (mid-epoch too).")
@click.option("--quiet", "-q", is_flag=True)
@click.pass_context
def train(
    ctx: click.Context,
    config_file: Path | None,
    out: Path | None,
    compile_: bool,
    resume: bool,
    quiet: bool,
    **options,
) -> None:
    """Train a 3D CNN on RGB or Flow clips; logs and checkpoints go to --out.

    `vr train --config RUN/config.json [--out NEW] [options]` trains again with a run's settings.
    Under torchrun (`torchrun --nproc-per-node N -m vr train ...`) every process trains a shard of the
    data with DDP (NCCL on GPUs, gloo on CPU); rank 0 writes logs and checkpoints.
    """
    from click.core import ParameterSource

    from vr.threads import prepare_openmp

    prepare_openmp(options.get("threads") or None)  # before torch is imported: see vr.threads
    from vr.train.config import TrainConfig
    from vr.train.trainer import TrainError
    from vr.train.trainer import train as run_training

    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")
    options.update(out=None if out is None else str(out), compile=compile_)
    if config_file is not None:  # the file's settings, then what this command line says
        given = {
            name: value
            for name, value in options.items()
            if ctx.get_parameter_source("compile_" if name == "compile" else name)
            == ParameterSource.COMMANDLINE
        }
        options = {**TrainConfig.read(config_file), **given}
    for name in ("data", "out"):
        if options.get(name) is None:
            raise click.UsageError(f"--{name} is required (or a --config that has it)")
    try:
        config = TrainConfig.from_options(**options)
    except (TypeError, ValueError) as e:
        raise click.UsageError(str(e)) from None
    try:
        history = run_training(config, resume=resume, progress=not quiet)
    except TrainError as e:
        raise click.ClickException(str(e)) from None
    if history:
        last = history[-1]
        val = f", val acc {last['val_acc']:.3f}" if "val_acc" in last else ""
        skipped = sum(row.get("skipped", 0) for row in history)
        note = f"; {skipped} clip(s) skipped, see train.log" if skipped else ""
        summary = f"epoch {last['epoch']}: loss {last['loss']:.4f}, acc {last['acc']:.3f}{val}"
        click.echo(f"{summary}; run in {config.out}{note}")
