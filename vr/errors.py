"""The one base of the errors a user can cause: bad input files, bad values, an unreachable server.

The command line (:mod:`vr.cli`) turns every :class:`VrError` (and every ``OSError``: a full disk, a
read-only folder) into one line naming the file and the cause, and exit status 1; ``--debug`` or
``VR_DEBUG=1`` shows the traceback instead. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from contextlib import contextmanager


class VrError(Exception):
    """A problem with the user's input or environment, to be reported in one line."""


class Interrupted(VrError):
    """A run stopped by a signal after saving what resumes it; the command exits with ``128 + signum``."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum


@contextmanager
def signals_stop(what: str) -> Iterator[None]:
    """Within the block, SIGTERM (and SIGINT) raise :class:`Interrupted` (``what``: what to rerun to
    continue), so a long command stops as a whole instead of dying in one stage and running the next.
    Handlers set inside (a training loop's) take precedence while they are set."""

    def handler(signum, frame) -> None:
        name = signal.Signals(signum).name
        raise Interrupted(signum, f"stopped by {name}; {what}")

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
