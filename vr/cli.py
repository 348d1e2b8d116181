"""The `vr` command line: one Click group; each area registers its commands in `vr/commands/`.

Every module in `vr.commands` exposes `COMMANDS`, a list of Click commands or groups. The command
functions only parse arguments and call library functions, so nothing here needs testing twice.

Every command runs inside one error boundary (:class:`VrGroup`): a :class:`~vr.errors.VrError` (bad
input: a manifest, index, checkpoint or value that does not fit) or an ``OSError`` (a full disk, a
read-only or missing folder) becomes one line naming the file and the cause, with exit status 1; a run
stopped by a signal (:class:`~vr.errors.Interrupted`) says what resumes it and exits with 128 + signal.
``vr --debug ...`` or ``VR_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import errno
import importlib
import os
import pkgutil

import click

from vr import __version__, commands
from vr.errors import Interrupted, VrError


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
    """The root group: subcommands run inside the error boundary described in the module docstring."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Interrupted as e:  # what resumes the run is saved: say so, exit as the signal would
            click.echo(str(e), err=True)
            ctx.exit(128 + e.signum)
        except Exception as e:
            line = error_line(e)
            if line is None or (ctx.obj or {}).get("debug") or os.environ.get("VR_DEBUG") == "1":
                raise
            raise click.ClickException(line) from None


@click.group(cls=VrGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="vr")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors (also VR_DEBUG=1).")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """vr: raw AVI/MP4 videos to trained, evaluated RGB, Flow and two-stream 3D CNNs."""
    ctx.obj = {"debug": debug}


def _register() -> None:
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="vr")
