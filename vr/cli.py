"""The `vr` command line: one Click group over the commands of `vr/commands/` (one module per area).

:data:`COMMANDS` names each top-level command's module; a module is imported only when its command
runs, so start-up stays fast. The command functions only parse arguments and call library functions,
so nothing here needs testing twice.

Every command runs inside one error boundary (:class:`VrGroup`): a :class:`~vr.errors.VrError` (bad
input: a manifest, index, checkpoint or value that does not fit) or an ``OSError`` (a full disk, a
read-only or missing folder) becomes one line naming the file and the cause, with exit status 1 (any
credential in it redacted: :mod:`vr.redact`); a run
stopped by a signal (:class:`~vr.errors.Interrupted`) says what resumes it and exits with 128 + signal.
``vr --debug ...`` or ``VR_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import errno
import importlib
import os

import click

from vr import __version__
from vr.errors import Interrupted, VrError
from vr.redact import install as install_redaction
from vr.redact import redact_text


def error_line(error: BaseException) -> str | None:
    """The one line a user sees for ``error``, or None when it is a bug (and keeps its traceback)."""
    if isinstance(error, VrError):
        return str(error)
    if isinstance(error, OSError):
        cause = error.strerror or str(error) or type(error).__name__
        if error.errno == errno.ENOSPC:
            cause += " (free some space, then run the same command again: it resumes)"
        names = [n for n in (error.filename, error.filename2) if n]
        return f"{' -> '.join(map(str, names))}: {cause}" if names else cause
    return None


class VrGroup(click.Group):
    """The root group: commands load on first use (:data:`COMMANDS`) and run inside the error boundary
    described in the module docstring."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return load_command(cmd_name) if cmd_name in COMMANDS else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))
        rows = [(name, click.utils.make_default_short_help(COMMANDS[name][2], limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except Interrupted as e:  # what resumes the run is saved: say so, exit as the signal would
            click.echo(redact_text(str(e)), err=True)
            ctx.exit(128 + e.signum)
        except click.ClickException as e:
            e.message = redact_text(e.message)
            raise
        except Exception as e:
            line = error_line(e)
            if line is None or (ctx.obj or {}).get("debug") or os.environ.get("VR_DEBUG") == "1":
                raise
            raise click.ClickException(redact_text(line)) from None


@click.group(cls=VrGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="vr")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors (also VR_DEBUG=1).")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """vr: raw AVI/MP4 videos to trained, evaluated RGB, Flow and two-stream 3D CNNs."""
    install_redaction()  # no log line or output of any command holds a credential (vr.redact)
    ctx.obj = {"debug": debug}


# Every top-level command: name -> (module, attribute, the one line `vr --help` shows). Modules are
# imported only when their command runs or shows its own help, so `vr --help` imports no command
# module (and no torch, DALI, OpenCV or NumPy); a test checks each line against the command's own.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "bench": (
        "vr.commands.bench",
        "bench",
        "Time the loader, a model, TV-L1 flow or frame extraction on your data and machine.",
    ),
    "convert-weights": (
        "vr.commands.models",
        "convert_weights_cmd",
        "Convert a public checkpoint SRC into a vr checkpoint DST (arch, model_args, state_dict, labels).",
    ),
    "datasets": (
        "vr.commands.datasets",
        "datasets",
        "Generate datasets (the synthetic motion dataset).",
    ),
    "demo": (
        "vr.commands.demo",
        "demo",
        "Synthetic videos -> frames -> TV-L1 flow -> manifest -> shards -> RGB and Flow 3D CNNs -> "
        "video-level evaluation -> two-stream fusion, then a table of accuracies and stage times.",
    ),
    "doctor": (
        "vr.commands.doctor",
        "doctor",
        "What this machine can do for vr: torch, GPUs, NCCL, DALI and nvJPEG, ffmpeg, OpenCV TV-L1, CPUs.",
    ),
    "eval": (
        "vr.commands.evaluate",
        "eval_command",
        "Clip or video accuracy of CHECKPOINT, per-class accuracy, confusion matrix and predictions JSON.",
    ),
    "export": (
        "vr.commands.models",
        "export",
        "Export trained models to other runtimes.",
    ),
    "fuse": (
        "vr.commands.evaluate",
        "fuse_command",
        "Two-stream late fusion of the RGB and FLOW results JSONs (from vr eval or vr infer --json).",
    ),
    "infer": (
        "vr.commands.evaluate",
        "infer_command",
        "Top-k labels of raw VIDEO files (folders are searched for videos) by CHECKPOINT.",
    ),
    "manifest": (
        "vr.commands.manifest",
        "manifest",
        "Build, convert and inspect manifests (one JSON Lines file per dataset split).",
    ),
    "models": (
        "vr.commands.models",
        "models",
        "The 3D CNN model zoo.",
    ),
    "preprocess": (
        "vr.commands.preprocess",
        "preprocess",
        "Extract JPEG frames and TV-L1 optical flow from videos.",
    ),
    "shard": (
        "vr.commands.shard",
        "shard",
        "WebDataset shards of frames and flow: `vr shard MANIFEST ...` (build), `verify`, `info`, "
        "`reindex`, `serve`.",
    ),
    "train": (
        "vr.commands.train",
        "train",
        "Train a 3D CNN on RGB or Flow clips; logs and checkpoints go to --out.",
    ),
}


def load_command(name: str) -> click.Command:
    """The Click command registered as ``name`` (imports its module)."""
    module, attribute, _ = COMMANDS[name]
    return getattr(importlib.import_module(module), attribute)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="vr")
