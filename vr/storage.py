"""Where a shard folder's bytes live: a local folder, or a URL prefix: ``http://``/``https://`` (read by
a lean keep-alive client of our own) or anything ``fsspec`` opens (``s3://``, ``gs://``, ...).

A :class:`Store` reads whole small files (``index.json``, member indexes), byte ranges of large ones (the
frames a clip needs) and streams (``vr shard verify``). Names are single plain file names, checked by
:func:`vr.safepath.plain_name`, so a name read from an index can never reach outside the folder or prefix.

Remote reads are retried with exponential back-off; a read that still fails, a file shorter than asked or
a server that ignores ``Range`` raises :class:`StorageError`, which the loaders treat as fatal (a clear
error, never a silently skipped sample and never a hang). With a cache folder, a remote file that the
index describes (size and SHA-256) is downloaded once per machine, checked, and then read locally.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import functools
import hashlib
import http.client
import math
import os
import re
import threading
import time
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from vr.errors import VrError
from vr.redact import redact_text, remember
from vr.safepath import plain_name
from vr.writing import atomic_write

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
T = TypeVar("T")
RETRIES = int(os.environ.get("VR_REMOTE_RETRIES", "5"))
BACKOFF_S = float(os.environ.get("VR_REMOTE_BACKOFF", "0.5"))
TIMEOUT_S = float(os.environ.get("VR_REMOTE_TIMEOUT", "60"))
_MAX_OPEN = 64  # file handles a local store keeps open


class StorageError(VrError, RuntimeError):
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

    def sizes(self) -> dict[str, int]:
        """Every file of the folder and its size, in one directory scan."""
        with os.scandir(self.root) as entries:
            return {e.name: e.stat().st_size for e in entries if e.is_file()}

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
    """A URL prefix: retries with back-off, a size cache and an optional download cache.

    Subclasses fetch (:class:`HttpStore`, :class:`FsspecStore`). ``cache_dir``: files the index describes
    (:meth:`expect`) are downloaded there once per machine, checked against their size and SHA-256, and
    then read locally.
    """

    coalesce_gap = 1 << 20
    is_local = False

    def __init__(
        self,
        url: str,
        cache_dir: str | os.PathLike | None = None,
        retries: int = RETRIES,
        backoff: float = BACKOFF_S,
    ):
        self.url = url.rstrip("/")
        self.location = self.url + "/"
        self.retries, self.backoff = max(1, retries), backoff
        self.cache = None
        if cache_dir is not None:
            digest = hashlib.sha256(self.location.encode()).hexdigest()[:16]
            self.cache = Path(cache_dir) / digest
        self._expected: dict[str, tuple[int, str]] = {}
        self._sizes: dict[str, int] = {}
        self._local: LocalStore | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_local": None, "_expected": {}, "_sizes": {}}  # refilled by their users

    # what a subclass provides: whole file, byte range [start, end), size, stream; no retries
    def _fetch(self, url: str) -> bytes:
        raise NotImplementedError

    def _fetch_range(self, url: str, start: int, end: int) -> bytes:
        raise NotImplementedError

    def _stat(self, url: str) -> int:
        raise NotImplementedError

    def _stream(self, url: str) -> BinaryIO:
        raise NotImplementedError

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
            except Exception as e:  # every transport error: connection, timeout, HTTP 5xx, throttling
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
        def fetch(dst) -> None:  # checked before the file gets its final name
            digest, size = hashlib.sha256(), 0
            with self._stream(self.describe(name)) as src:
                for block in iter(lambda: src.read(8 << 20), b""):
                    digest.update(block)
                    dst.write(block)
                    size += len(block)
            if size != nbytes or digest.hexdigest() != sha256:
                raise StorageError(
                    f"{self.describe(name)}: {size} bytes with SHA-256 {digest.hexdigest()[:12]}..., the "
                    f"index says {nbytes} bytes with {sha256[:12]}... (changed after indexing?)"
                )

        atomic_write(final, fetch)

    def read(self, name: str) -> bytes:
        local = self._cached(name)
        if local is not None:
            return local.read(name)
        return self._call(name, "read", lambda: self._fetch(self.describe(name)))

    def size(self, name: str) -> int:
        if name not in self._sizes:
            local = self._cached(name)
            if local is not None:
                self._sizes[name] = local.size(name)
            else:
                self._sizes[name] = self._call(name, "stat", lambda: self._stat(self.describe(name)))
        return self._sizes[name]

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
        data = self._call(name, "ranged read", lambda: self._fetch_range(self.describe(name), start, end))
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
        return self._call(name, "open", lambda: self._stream(self.describe(name)))


class FsspecStore(RemoteStore):
    """A URL prefix read through ``fsspec`` (``s3://``, ``gs://``, ``az://``, ...; one filesystem per
    process, made on first use). ``storage_options`` go to ``fsspec.filesystem`` (e.g. ``endpoint_url``
    for an S3-compatible server); credentials come from each backend's usual environment."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None, **kw: Any):
        import fsspec.utils

        super().__init__(url, **kw)
        self.protocol = fsspec.utils.get_protocol(self.url)
        self.options = dict(storage_options or {})
        self._fs = None

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_fs": None}

    @property
    def fs(self):
        if self._fs is None:
            import fsspec

            self._fs = fsspec.filesystem(self.protocol, **_default_options(self.protocol, self.options))
        return self._fs

    def _fetch(self, url: str) -> bytes:
        return self.fs.cat_file(url)

    def _fetch_range(self, url: str, start: int, end: int) -> bytes:
        return self.fs.cat_file(url, start=start, end=end)

    def _stat(self, url: str) -> int:
        return int(self.fs.info(url).get("size") or 0)

    def _stream(self, url: str) -> BinaryIO:
        return self.fs.open(url, "rb", block_size=8 << 20)


class HttpStore(RemoteStore):
    """An ``http://`` or ``https://`` prefix read with keep-alive ``http.client`` connections (one per
    host and process): about a fifth of the CPU per ranged read of fsspec's asyncio client, which matters
    when clips are small. Follows redirects, honours ``http_proxy``/``https_proxy``/``no_proxy`` and user
    info in the URL; ``headers`` (e.g. ``Authorization``) go with every request."""

    def __init__(
        self, url: str, headers: dict[str, str] | None = None, timeout: float = TIMEOUT_S, **kw: Any
    ):
        super().__init__(url, **kw)
        self.headers = dict(headers or {})
        parts = urllib.parse.urlsplit(self.url)
        if parts.username is not None:
            token = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            self.headers.setdefault("Authorization", "Basic " + base64.b64encode(token.encode()).decode())
            self.url = urllib.parse.urlunsplit(
                parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""))
            )
            self.location = self.url + "/"
        remember({"headers": self.headers})
        self.timeout = timeout
        self._connections: dict[tuple[int, str, str], Any] = {}
        self._pid = os.getpid()

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_connections": {}}

    def _connection(self, scheme: str, netloc: str, fresh: bool = False):
        """This thread's kept-alive connection to ``netloc`` (http.client connections are not shared)."""
        if self._pid != os.getpid():  # a forked child must not share its parent's sockets
            self._connections, self._pid = {}, os.getpid()
        key = (threading.get_ident(), scheme, netloc)
        conn = self._connections.get(key)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = self._connections[key] = _open_connection(scheme, netloc, self.timeout)
        return conn

    def _request(self, method: str, url: str, headers: dict[str, str], stream: bool = False):
        """``(status, response headers, body or open response)``, following up to 5 redirects."""
        for _ in range(6):
            parts = urllib.parse.urlsplit(url)
            target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
            if _proxy_for(parts.scheme, parts.hostname or "") and parts.scheme == "http":
                target = url  # a plain-HTTP proxy takes the absolute URL
            conn = _open_connection(parts.scheme, parts.netloc, self.timeout) if stream else None
            for attempt in range(2):  # a kept-alive connection the server has closed: reconnect once
                if not stream:
                    conn = self._connection(parts.scheme, parts.netloc, fresh=attempt > 0)
                try:
                    conn.request(method, target, headers={**self.headers, **headers})
                    response = conn.getresponse()
                    break
                except Exception as e:
                    conn.close()  # never reuse a connection left mid-request
                    self._connections.pop((threading.get_ident(), parts.scheme, parts.netloc), None)
                    stale = isinstance(
                        e, http.client.RemoteDisconnected | ConnectionResetError | BrokenPipeError
                    )
                    if attempt or stream or not stale:
                        raise
            status = response.status
            if status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                response.read()
                url = urllib.parse.urljoin(url, response.getheader("Location"))
                continue
            if stream and status in (200, 206):
                return status, response, response
            body = response.read()
            if stream:
                conn.close()
            if status == 404:
                raise FileNotFoundError(url)
            if status in (401, 403):
                raise PermissionError(f"HTTP {status}")
            if status >= 400:
                raise OSError(f"HTTP {status} {response.reason}")
            return status, response, body
        raise OSError("more than 5 redirects")

    def _fetch(self, url: str) -> bytes:
        return self._request("GET", url, {})[2]

    def _fetch_range(self, url: str, start: int, end: int) -> bytes:
        status, response, body = self._request("GET", url, {"Range": f"bytes={start}-{end - 1}"})
        if status == 416:
            return b""
        if status != 206:
            raise StorageError(f"{url}: the server ignores HTTP Range requests (answered {status})")
        return body

    def _stat(self, url: str) -> int:
        _, response, _ = self._request("HEAD", url, {})
        length = response.getheader("Content-Length")
        if length is None:
            raise OSError("no Content-Length in the answer to HEAD")
        return int(length)

    def _stream(self, url: str) -> BinaryIO:
        return self._request("GET", url, {}, stream=True)[2]


@functools.lru_cache(maxsize=256)
def _proxy_for(scheme: str, host: str) -> str | None:
    """The environment's proxy for ``scheme://host`` (read once per process and host)."""
    proxy = urllib.request.getproxies().get(scheme)
    return None if proxy is None or urllib.request.proxy_bypass(host) else proxy


def _open_connection(scheme: str, netloc: str, timeout: float):
    """A new connection to ``netloc`` (through the environment's proxy, if any)."""
    if scheme not in ("http", "https"):
        raise StorageError(f"cannot follow a redirect to a {scheme}:// URL")
    host, _, port = netloc.rpartition("@")[2].partition(":")
    proxy = _proxy_for(scheme, host)
    kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    if proxy is None:
        return kind(host, int(port) if port else None, timeout=timeout)
    p = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if scheme == "http":
        return http.client.HTTPConnection(p.hostname, p.port, timeout=timeout)
    conn = kind(p.hostname, p.port, timeout=timeout)
    conn.set_tunnel(host, int(port) if port else None)
    return conn


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


def check_storage_options(options: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``options`` once the ones ``vr`` reads itself have the right type and range
    (``retries`` an integer >= 0, ``backoff`` and ``timeout`` numbers, ``headers`` names to strings);
    the rest go to ``fsspec`` as they are."""
    if not isinstance(options, dict):
        raise StorageError(f"storage options must be KEY=VALUE pairs, not {type(options).__name__}")

    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    rules = {
        "retries": (
            lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 100,
            "an integer 0..100",
        ),
        "backoff": (lambda v: number(v) and 0 <= v <= 3600, "a number of seconds 0..3600"),
        "timeout": (lambda v: number(v) and 0 < v <= 86400, "a number of seconds > 0"),
        "headers": (
            lambda v: (
                isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())
            ),
            'a JSON object of header names to strings, e.g. headers=\'{"Authorization": "Bearer ..."}\'',
        ),
    }
    for key, (ok, what) in rules.items():
        if key in options and not ok(options[key]):
            raise StorageError(f"storage option {key}: must be {what}, got {redact_text(repr(options[key]))}")
    return dict(options)


def open_store(
    location: str | os.PathLike,
    storage_options: dict[str, Any] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Store:
    """A :class:`LocalStore` for a folder (or ``file://`` URL), else a :class:`RemoteStore`.

    ``storage_options``: ``retries`` and ``backoff`` (seconds, doubled at each retry) are ``vr``'s;
    ``http(s)://`` URLs take ``headers`` and ``timeout`` and are read by :class:`HttpStore`, unless other
    options are given, which then go to ``fsspec`` (as they do for every other scheme).
    """
    if isinstance(location, Store):
        return location
    text = os.fspath(location)
    if text.startswith("file://"):
        text = text[len("file://") :]
    if not is_url(text):
        return LocalStore(text)
    remember(storage_options)  # the credentials among them never reach a file or the output (vr.redact)
    remember(text)
    options = check_storage_options(storage_options or {})
    ours = {k: options.pop(k) for k in ("retries", "backoff") if k in options}
    if text.split("://", 1)[0].lower() in ("http", "https") and set(options) <= {"headers", "timeout"}:
        return HttpStore(text, cache_dir=cache_dir, **ours, **options)
    return FsspecStore(text, options, cache_dir=cache_dir, **ours)
