"""``vr ARGS`` in-process for the CLI tests: no exception escaped, no traceback printed; :func:`run` also
asserts the exit status, :func:`invoke` leaves it (and the output) to the caller."""

from __future__ import annotations

from collections.abc import Iterable

from click.testing import CliRunner, Result

from vr.cli import cli


def invoke(args: Iterable[object], **kwargs) -> Result:
    """Run ``vr ARGS`` (each argument as ``str``; ``kwargs`` go to ``CliRunner.invoke``, e.g. ``input``);
    assert that no exception escaped and no traceback was printed; return click's result."""
    argv = [str(a) for a in args]
    result = CliRunner().invoke(cli, argv, **kwargs)
    escaped = result.exception if not isinstance(result.exception, SystemExit) else None
    assert escaped is None, f"vr {' '.join(argv)} raised {escaped!r}"
    assert "Traceback" not in result.output, result.output
    return result


def run(*args: object, code: int = 0) -> str:
    """Run ``vr ARGS``; assert exit status ``code`` as well; return the output."""
    result = invoke(args)
    assert result.exit_code == code, f"vr {' '.join(map(str, args))} -> {result.exit_code}: {result.output}"
    return result.output
