"""Writing files whole or not at all, and JSON that holds no credential.

:func:`atomic_write` (and :func:`atomic_path`, for files another process writes) writes to a temporary
file in the same folder, flushes it to disk, then renames it over the final name (removing the
temporary file on any failure), so a crash, a kill or a full disk never leaves half a file under the
final name. :func:`write_json` is the one writer of ``vr``'s JSON
files (configs, reports, predictions, bench records): it passes the value through
:func:`vr.redact.redact` first.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from vr.redact import redact

TMP_PREFIX = ".tmp-"  # of every temporary file and folder vr writes before renaming it into place


def temp_name(path: str | os.PathLike) -> Path:
    """The temporary sibling a file is written to before it is renamed into place: ``.tmp-NAME.PID``
    (a dot file that listings skip and ``vr``'s stale-file cleanup knows; the process id keeps
    concurrent writers apart)."""
    path = Path(path)
    return path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, fsync: bool = True) -> Iterator[Path]:
    """The temporary sibling of ``path`` to write (by this process or another, e.g. ffmpeg); once the
    block ends without an error it is flushed to disk and renamed over ``path``, on any error removed."""
    path = Path(path)
    tmp = temp_name(path)
    try:
        yield tmp
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(
    path: str | os.PathLike, data: bytes | str | Callable[[IO[bytes]], None], *, fsync: bool = True
) -> Path:
    """Write ``data`` (bytes, text as UTF-8, or a function writing to a binary file) to ``path``
    atomically (:func:`atomic_path`); returns ``path``."""
    with atomic_path(path, fsync=fsync) as tmp, open(tmp, "wb") as f:
        if callable(data):
            data(f)
        else:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def json_text(value: Any, *, indent: int | None = 1, sort_keys: bool = False) -> str:
    """``value`` as JSON text (one trailing newline), credentials redacted."""
    return (
        json.dumps(redact(value), indent=indent, sort_keys=sort_keys, ensure_ascii=False, default=str) + "\n"
    )


def write_json(
    path: str | os.PathLike, value: Any, *, indent: int | None = 1, sort_keys: bool = False
) -> Path:
    """Write ``value`` as JSON to ``path`` atomically (``-``: standard output), credentials redacted."""
    text = json_text(value, indent=indent, sort_keys=sort_keys)
    if str(path) == "-":
        sys.stdout.write(text)
        return Path("-")
    return atomic_write(path, text)
