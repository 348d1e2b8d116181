"""One writer per output folder: every command that writes into a folder holds its lock while it does.

The lock is ``FOLDER/.lock``, held with ``flock``: the kernel releases it when the holder exits, however
it exits (``kill -9`` included), so a lock is never stale; while held, the file holds the holder's PID
and command line, so a second run is refused with a message that names the first. A folder that cannot
take the lock file (read-only, missing permissions, full) fails here, before any work.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vr.errors import VrError
from vr.redact import redact_argv

LOCK = ".lock"


class FolderBusyError(VrError, RuntimeError):
    """Another process is writing to the same output folder."""


@contextmanager
def output_lock(folder: str | os.PathLike, command: str) -> Iterator[None]:
    """Hold ``folder``'s lock (creating the folder) for the ``with`` block; :class:`FolderBusyError`
    naming the other run when it is taken. ``command``: what the message calls a writer, e.g.
    ``"`vr shard`"``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            raise FolderBusyError(
                f"{folder}: another {command} is writing to this folder{f' ({holder})' if holder else ''}; "
                "wait for it to finish, or stop it"
            ) from None
        handle.seek(0)
        handle.truncate()
        program = (
            "vr" if sys.argv and sys.argv[0].endswith(("__main__.py", "/vr")) else Path(sys.argv[0]).name
        )
        handle.write(f"pid {os.getpid()}: {' '.join([program, *redact_argv(sys.argv[1:])])}\n")
        handle.flush()
        try:
            yield
        finally:  # empty again once released: the folder's content does not depend on who wrote it
            handle.seek(0)
            handle.truncate()
