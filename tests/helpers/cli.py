"""``vr ARGS`` in-process for the CLI tests: the exit status asserted, no exception escaped, no traceback."""

from __future__ import annotations

from click.testing import CliRunner

from vr.cli import cli


def run(*args: object, code: int = 0) -> str:
    """Run ``vr ARGS`` (each argument as ``str``); assert exit status ``code`` and that no exception
    escaped; return the output."""
    argv = [str(a) for a in args]
    result = CliRunner().invoke(cli, argv)
    escaped = result.exception if not isinstance(result.exception, SystemExit) else None
    assert escaped is None, f"vr {' '.join(argv)} raised {escaped!r}"
    assert result.exit_code == code, f"vr {' '.join(argv)} -> {result.exit_code}: {result.output}"
    assert "Traceback" not in result.output
    return result.output
