"""The `vr` command line: one Click group; each area registers its commands in `vr/commands/`.

Every module in `vr.commands` exposes `COMMANDS`, a list of Click commands or groups. The command
functions only parse arguments and call library functions, so nothing here needs testing twice.
"""

from __future__ import annotations

import importlib
import pkgutil

import click

from vr import __version__, commands


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="vr")
def cli() -> None:
    """vr: raw AVI/MP4 videos to trained, evaluated RGB, Flow and two-stream 3D CNNs."""


def _register() -> None:
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="vr")
