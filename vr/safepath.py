"""Names read from files stay inside their root: one check for every reader and every deleter.

Every name that ``vr`` reads from a file it did not just write (a shard or member-index name in
``index.json``, a shard in ``.plan.json``, a manifest ``path``, a tar member) is untrusted: a hostile or
careless file could name ``../../etc/passwd``, ``/abs/victim`` or ``s3://other-bucket/x``. The functions
here are the only way such a name becomes a path; they refuse anything that would leave its root.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from vr.errors import VrError

# one path component that is also safe in a URL: no '/', '\\', '%', '?', '#', spaces, no leading dot
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=-]*")


class UnsafePathError(VrError, ValueError):
    """A name read from a file that would leave its root (absolute, ``..``, another folder or host)."""


def _where(source: str | os.PathLike | None) -> str:
    return f"{source}: " if source is not None else ""


def plain_name(name: object, *, what: str = "name", source: str | os.PathLike | None = None) -> str:
    """``name`` when it is one plain file name (letters, digits, ``_.+=-``, not starting with a dot),
    safe to join to a folder or a URL prefix; else :class:`UnsafePathError` naming ``source``."""
    if not isinstance(name, str) or len(name) > 255 or not _PLAIN.fullmatch(name):
        raise UnsafePathError(
            f"{_where(source)}{what} {name!r} is not a plain file name (it may leave its folder)"
        )
    return name


def relative_path(path: object, *, what: str = "path", source: str | os.PathLike | None = None) -> str:
    """``path`` as a normalised relative POSIX path that stays inside its root (no absolute path, no
    ``..``, no empty or NUL-bearing name); else :class:`UnsafePathError` naming ``source``."""
    if isinstance(path, str) and _is_plain_relative(path):
        return path  # the common case, without building a path object (manifests have millions)
    bad = None
    if not isinstance(path, str) or not path:
        bad = "is empty or not a string"
    elif "\0" in path:
        bad = "holds a NUL byte"
    elif path.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", path) or "://" in path:
        bad = "is absolute"
    else:
        parts = [p for p in PurePosixPath(path).parts if p != "."]
        if ".." in parts:
            bad = "climbs out with '..'"
        elif not parts:
            bad = "names the root itself"
    if bad is not None:
        raise UnsafePathError(f"{_where(source)}{what} {path!r} {bad}: it must stay inside its root")
    return PurePosixPath(*parts).as_posix()


def _is_plain_relative(path: str) -> bool:
    """A normalised relative path with nothing to resolve: no ``..``, ``.``, empty or absolute parts."""
    return (
        bool(path)
        and path[0] not in "/\\."
        and ".." not in path
        and "\0" not in path
        and "//" not in path
        and ":" not in path[:3]
        and "://" not in path
        and "/./" not in path
        and not path.endswith(("/", "/."))
    )


def inside(
    root: str | os.PathLike, path: object, *, what: str = "path", source: str | os.PathLike | None = None
) -> Path:
    """``root / path`` for an untrusted relative ``path`` (see :func:`relative_path`)."""
    return Path(root) / relative_path(path, what=what, source=source)


def is_relative_safe(path: object) -> bool:
    """True when :func:`relative_path` accepts ``path``."""
    try:
        relative_path(path)
    except UnsafePathError:
        return False
    return True
