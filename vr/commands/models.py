"""`vr models list`, `vr convert-weights`, `vr export onnx`: the model zoo from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from vr.commands.options import model_args_options
from vr.progress import progress_bar


@click.group("models")
def models() -> None:
    """The 3D CNN model zoo."""


@models.command("list")
@click.argument("pattern", default="*")
@click.option(
    "--measure",
    is_flag=True,
    help="Build the models (meta device) and count again instead of reading the table.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar (with --measure).")
def list_models_cmd(pattern: str, measure: bool, quiet: bool) -> None:
    """Registered models matching PATTERN (shell style, e.g. 'r3d*'): parameters (400 classes, RGB),
    GFLOPs of one default clip (multiply-add = 2 FLOPs) and the checkpoint sources they load."""
    from vr import model_zoo as zoo

    if measure:
        from vr.models import list_models

        names = list_models(pattern)
        entries = [
            e
            for n in progress_bar(names, desc="models", disable=quiet, leave=False)
            for e in zoo.measure([n])
        ]
    else:
        entries = zoo.select(zoo.read_zoo(), pattern)
    if not entries:
        raise click.UsageError(f"no model matches {pattern!r}; try 'vr models list'")
    click.echo(zoo.format_table(entries))


def _model_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from vr.models import UnknownModelError, model_info

    try:
        model_info(value)
    except UnknownModelError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    return value


@click.command("convert-weights")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("dst", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", "model_name", required=True, callback=_model_name, help="Registered model name.")
@click.option(
    "--source",
    # vr.models.convert.SOURCES, spelled out so that `vr --help` does not import torch (a test checks)
    type=click.Choice(
        ["auto", "kenshohara", "p3d", "i3d-caffe2", "pytorchvideo", "torchvision", "mmaction2", "vr"]
    ),
    default="auto",
    show_default=True,
    help="Where SRC comes from (auto: judged by its keys).",
)
@click.option("--num-classes", type=click.IntRange(1), help="New head size (default: the checkpoint's).")
@click.option(
    "--in-channels",
    type=click.IntRange(1),
    help="3 RGB, 2 Flow (default: the checkpoint's; RGB->Flow averages).",
)
@model_args_options("Constructor argument, e.g. shortcut=A, widen_factor=0.5, st_struct=A,B (repeatable).")
@click.option(
    "--unsafe-pickle", is_flag=True, help="torch.load with weights_only=False; only for files you trust."
)
def convert_weights_cmd(
    src: Path,
    dst: Path,
    model_name: str,
    source: str,
    num_classes: int | None,
    in_channels: int | None,
    model_args: dict[str, Any],
    unsafe_pickle: bool,
) -> None:
    """Convert a public checkpoint SRC into a vr checkpoint DST (arch, model_args, state_dict, labels)."""
    from vr.models import CheckpointError, save_checkpoint
    from vr.models.checkpoint import convert_weights, model_checkpoint

    if not dst.resolve().parent.is_dir():
        raise click.BadParameter(f"folder {dst.resolve().parent} does not exist", param_hint="DST")
    try:
        model = convert_weights(
            src,
            model_name,
            source,
            num_classes=num_classes,
            in_channels=in_channels,
            model_args=model_args,
            weights_only=not unsafe_pickle,
        )
    except TypeError as exc:
        raise click.UsageError(str(exc)) from None
    except (CheckpointError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    save_checkpoint(dst, model_checkpoint(model))
    args = ", ".join(f"{k}={v!r}" for k, v in model.model_args.items())
    click.echo(f"wrote {dst}: {model_name}({args})")


@click.group("export")
def export() -> None:
    """Export trained models to other runtimes."""


@export.command("onnx")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--clip", nargs=3, type=click.IntRange(1), metavar="T H W", help="Example clip (default: the model's)."
)
@click.option("--opset", type=click.IntRange(7), default=18, show_default=True)
@click.option("--legacy", is_flag=True, help="Use the TorchScript exporter (faster, deprecated by PyTorch).")
@click.option(
    "--check/--no-check", default=True, show_default=True, help="Compare with onnxruntime (if installed)."
)
def export_onnx_cmd(
    checkpoint: Path, out: Path, clip: tuple[int, int, int] | None, opset: int, legacy: bool, check: bool
) -> None:
    """Export a vr CHECKPOINT to OUT.onnx (input 'clip' N x C x T x H x W, output 'logits'; dynamic N)."""
    from vr.models.export import export_checkpoint

    done = export_checkpoint(checkpoint, out, clip, opset=opset, legacy=legacy, check=check)
    message = f"wrote {done.path} ({done.arch}, clip {'x'.join(map(str, done.clip))})"
    if done.max_abs_diff is not None:
        message += f"; max |torch - onnxruntime| = {done.max_abs_diff:.2e}"
    click.echo(message)
