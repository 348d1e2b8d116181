"""`vr doctor`."""

from __future__ import annotations

import json

import click


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as a JSON list.")
def doctor(as_json: bool) -> None:
    """What this machine can do for vr: torch, GPUs, NCCL, DALI and nvJPEG, ffmpeg, OpenCV TV-L1, CPUs.

    Each line is ok, warn or missing, with how to fix it; on a GPU, DALI decodes a JPEG there for real.
    """
    from vr.doctor import run_checks, table, to_json

    checks = run_checks()
    click.echo(json.dumps(to_json(checks), indent=1) if as_json else table(checks))
