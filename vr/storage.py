"""Where a shard folder's bytes live: a local folder, or a URL prefix that ``fsspec`` opens (``https://``,
``http://``, ``s3://``, ``gs://`` ...).

A :class:`Store` reads whole small files (``index.json``, member indexes), byte ranges of large ones (the
frames a clip needs) and streams (``vr shard verify``). Names are single plain file names, checked by
:func:`vr.safepath.plain_name`, so a name read from an index can never reach outside the folder or prefix.

Remote reads are retried with exponential back-off; a read that still fails, a file shorter than asked or
a server that ignores ``Range`` raises :class:`StorageError`, which the loaders treat as fatal (a clear
error, never a silently skipped sample and never a hang). With a cache folder, a remote file that the
index describes (size and SHA-256) is downloaded once per machine, checked, and then read locally.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from vr.safepath import plain_name

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
T = TypeVar("T")
RETRIES = int(os.environ.get("VR_REMOTE_RETRIES", "5"))
BACKOFF_S = float(os.environ.get("VR_REMOTE_BACKOFF", "0.5"))
TIMEOUT_S = float(os.environ.get("VR_REMOTE_TIMEOUT", "60"))
_MAX_OPEN = 64  # file handles a local store keeps open


class StorageError(RuntimeError):
    """Bytes that cannot be read (missing, truncated, unreachable after retries, not as the index says)."""


def is_url(location: object) -> bool:
    """True for ``scheme://...`` strings (``file://`` included); False for local paths."""
    return isinstance(location, str) and bool(_URL.match(location))


class Store:
    """The files of one folder or URL prefix, by plain name."""

    location: str
    coalesce_gap: int  # ranges closer than this are read as one request
    is_local: bool

    def describe(self, name: str) -> str:
        """``name`` as a user would find it (a path or a URL)."""
        raise NotImplementedError

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def size(self, name: str) -> int:
        raise NotImplementedError

    def read_range(self, name: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of ``name``, exactly; :class:`StorageError` if the file is shorter."""
        raise NotImplementedError

    def open(self, name: str) -> BinaryIO:
        """A sequential binary stream of ``name`` (close it)."""
        raise NotImplementedError

    def exists(self, name: str) -> bool:
        raise NotImplementedError

    def expect(self, name: str, nbytes: int, sha256: str) -> None:
        """Tell the store what ``name`` must hold (a caching store checks downloads against it)."""


class LocalStore(Store):
    """A local folder; ranges are ``os.pread`` on handles kept open (a few dozen, least recently used)."""

    coalesce_gap = 64 << 10
    is_local = True

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.location = str(self.root)
        self._fds: OrderedDict[str, int] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fds": OrderedDict()}

    def __del__(self) -> None:
        for fd in getattr(self, "_fds", {}).values():
            with contextlib.suppress(OSError):
                os.close(fd)

    def path(self, name: str) -> Path:
        return self.root / plain_name(name, what="file name", source=self.root)

    def describe(self, name: str) -> str:
        return str(self.path(name))

    def read(self, name: str) -> bytes:
        try:
            return self.path(name).read_bytes()
        except FileNotFoundError:
            raise StorageError(f"{self.describe(name)}: missing") from None
        except OSError as e:
            raise StorageError(f"{self.describe(name)}: cannot read ({e.strerror})") from None

    def size(self, name: str) -> int:
        try:
            return self.path(name).stat().st_size
        except FileNotFoundError:
            raise StorageError(f"{self.describe(name)}: missing") from None

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def _fd(self, name: str) -> int:
        fd = self._fds.get(name)
        if fd is not None:
            self._fds.move_to_end(name)
            return fd
        try:
            fd = os.open(self.path(name), os.O_RDONLY)
        except FileNotFoundError:
            raise StorageError(f"{self.describe(name)}: missing") from None
        except OSError as e:
            raise StorageError(f"{self.describe(name)}: cannot open ({e.strerror})") from None
        self._fds[name] = fd
        if len(self._fds) > _MAX_OPEN:
            os.close(self._fds.popitem(last=False)[1])
        return fd

    def read_range(self, name: str, start: int, end: int) -> bytes:
        fd = self._fd(name)
        data = os.pread(fd, end - start, start)
        while len(data) < end - start:  # pread may return less; only 0 means end of file
            more = os.pread(fd, end - start - len(data), start + len(data))
            if not more:
                raise StorageError(
                    f"{self.describe(name)}: ends at byte {start + len(data)}, bytes up to {end} were "
                    "expected (truncated or rewritten after indexing)"
                )
            data += more
        return data

    def open(self, name: str) -> BinaryIO:
        try:
            return open(self.path(name), "rb", buffering=1 << 20)  # noqa: SIM115 - the caller closes it
        except FileNotFoundError:
            raise StorageError(f"{self.describe(name)}: missing") from None


class RemoteStore(Store):
    """A URL prefix read through ``fsspec`` (one filesystem per process, made on first use).

    ``storage_options`` go to ``fsspec.filesystem`` (e.g. ``{"endpoint_url": ...}`` for an S3-compatible
    server; credentials come from the usual environment of each backend). ``cache_dir``: files the index
    describes are downloaded there once (checked against their size and SHA-256) and read locally.
    """

    coalesce_gap = 1 << 20
    is_local = False

    def __init__(
        self,
        url: str,
        storage_options: dict[str, Any] | None = None,
        cache_dir: str | os.PathLike | None = None,
        retries: int = RETRIES,
        backoff: float = BACKOFF_S,
    ):
        import fsspec.utils

        self.url = url.rstrip("/")
        self.location = self.url + "/"
        self.protocol = fsspec.utils.get_protocol(self.url)
        self.options = dict(storage_options or {})
        self.retries, self.backoff = max(1, retries), backoff
        self.cache = None
        if cache_dir is not None:
            digest = hashlib.sha256(self.location.encode()).hexdigest()[:16]
            self.cache = Path(cache_dir) / digest
        self._expected: dict[str, tuple[int, str]] = {}
        self._sizes: dict[str, int] = {}
        self._fs = None
        self._local: LocalStore | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fs": None, "_local": None}

    @property
    def fs(self):
        if self._fs is None:
            import fsspec

            self._fs = fsspec.filesystem(self.protocol, **_default_options(self.protocol, self.options))
        return self._fs

    def describe(self, name: str) -> str:
        return f"{self.url}/{plain_name(name, what='file name', source=self.location)}"

    def _call(self, name: str, what: str, fn: Callable[[], T]) -> T:
        """``fn()`` with retries and exponential back-off; a missing file is not retried."""
        last: BaseException | None = None
        for attempt in range(self.retries):
            try:
                return fn()
            except FileNotFoundError:
                raise StorageError(f"{self.describe(name)}: missing") from None
            except PermissionError as e:
                raise StorageError(f"{self.describe(name)}: access denied ({e})") from None
            except StorageError:
                raise
            except Exception as e:  # every transport error: connection, timeout, HTTP 5xx, S3 throttling
                last = e
                if attempt + 1 < self.retries:
                    time.sleep(self.backoff * 2**attempt)
        reason = f"{type(last).__name__}: {last}".strip().rstrip(":")
        raise StorageError(f"{self.describe(name)}: {what} failed after {self.retries} attempts ({reason})")

    def expect(self, name: str, nbytes: int, sha256: str) -> None:
        self._expected[name] = (int(nbytes), str(sha256))

    def _cached(self, name: str) -> LocalStore | None:
        """The local store holding ``name`` once it is in the cache (downloaded now if needed)."""
        if self.cache is None or name not in self._expected:
            return None
        if self._local is None:
            self.cache.mkdir(parents=True, exist_ok=True)
            self._local = LocalStore(self.cache)
        nbytes, sha256 = self._expected[name]
        final = self._local.path(name)
        if final.is_file() and final.stat().st_size == nbytes:
            return self._local
        with open(self.cache / f".{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one download per machine; the others wait for it
            if not (final.is_file() and final.stat().st_size == nbytes):
                self._call(name, "download", lambda: self._download(name, final, nbytes, sha256))
        return self._local

    def _download(self, name: str, final: Path, nbytes: int, sha256: str) -> None:
        tmp = final.with_name(f".tmp-{final.name}.{os.getpid()}")
        digest, size = hashlib.sha256(), 0
        try:
            with self.fs.open(self._path(name), "rb", block_size=8 << 20) as src, open(tmp, "wb") as dst:
                for block in iter(lambda: src.read(8 << 20), b""):
                    digest.update(block)
                    dst.write(block)
                    size += len(block)
            if size != nbytes or digest.hexdigest() != sha256:
                raise StorageError(
                    f"{self.describe(name)}: {size} bytes with SHA-256 {digest.hexdigest()[:12]}..., the "
                    f"index says {nbytes} bytes with {sha256[:12]}... (changed after indexing?)"
                )
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)

    def _path(self, name: str) -> str:
        return self.describe(name)

    def read(self, name: str) -> bytes:
        local = self._cached(name)
        if local is not None:
            return local.read(name)
        return self._call(name, "read", lambda: self.fs.cat_file(self._path(name)))

    def size(self, name: str) -> int:
        if name in self._sizes:
            return self._sizes[name]
        local = self._cached(name)
        if local is not None:
            size = local.size(name)
        else:
            info = self._call(name, "stat", lambda: self.fs.info(self._path(name)))
            size = int(info.get("size") or 0)
        self._sizes[name] = size
        return size

    def exists(self, name: str) -> bool:
        try:
            self.size(name)
        except StorageError as e:
            if str(e).endswith(": missing"):
                return False
            raise
        return True

    def read_range(self, name: str, start: int, end: int) -> bytes:
        local = self._cached(name)
        if local is not None:
            return local.read_range(name, start, end)
        data = self._call(name, "ranged read", lambda: self.fs.cat_file(self._path(name), start, end))
        if len(data) < end - start:
            raise StorageError(
                f"{self.describe(name)}: {len(data)} bytes at {start}, {end - start} were expected "
                "(truncated or rewritten after indexing)"
            )
        if len(data) > end - start:
            raise StorageError(f"{self.describe(name)}: the server ignores HTTP Range requests")
        return data

    def open(self, name: str) -> BinaryIO:
        local = self._cached(name)
        if local is not None:
            return local.open(name)
        return self._call(name, "open", lambda: self.fs.open(self._path(name), "rb", block_size=8 << 20))


def _default_options(protocol: str | tuple, options: dict[str, Any]) -> dict[str, Any]:
    """Timeouts, so that a dead server gives an error after the retries instead of a hang."""
    protocol = protocol[0] if isinstance(protocol, tuple | list) else protocol
    out = dict(options)
    if protocol in ("http", "https") and "client_kwargs" not in out:
        import aiohttp

        out["client_kwargs"] = {
            "timeout": aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=TIMEOUT_S)
        }
    elif protocol in ("s3", "s3a") and "config_kwargs" not in out:
        out["config_kwargs"] = {
            "connect_timeout": 10,
            "read_timeout": TIMEOUT_S,
            "retries": {"max_attempts": 2},
        }
    return out


def open_store(
    location: str | os.PathLike,
    storage_options: dict[str, Any] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Store:
    """A :class:`LocalStore` for a folder (or ``file://`` URL), else a :class:`RemoteStore`."""
    if isinstance(location, Store):
        return location
    text = os.fspath(location)
    if text.startswith("file://"):
        text = text[len("file://") :]
    if not is_url(text):
        return LocalStore(text)
    return RemoteStore(text, storage_options, cache_dir)
