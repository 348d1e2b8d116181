"""`vr shard serve`: a shard folder over HTTP with ``Range`` requests, for the other machines of a lab.

A small threaded server of the standard library that serves exactly what the folder's ``index.json``
names: the index itself, its shards and their member indexes. Each is opened inside the folder without
following links (``O_NOFOLLOW`` relative to the folder's handle), must be a regular file with no other
hard link, and is only read. Every other path is 404, there are no listings, and the allowed names are
read again when ``index.json`` changes. ``GET``/``HEAD`` answer one byte range (``206 Partial
Content``) or the whole file; a range larger than ``max_range`` or a multi-range request is refused
(416). At most ``max_connections`` clients are served at once (503 beyond), idle keep-alive connections
close after ``timeout`` seconds, and each request is logged (``vr.serve``). Trainers elsewhere read the
folder with ``vr train --data http://HOST:PORT/``. For the public internet put the folder behind a real
web server or object storage; both speak the same protocol.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from vr.safepath import UnsafePathError, plain_name
from vr.shards.format import INDEX

log = logging.getLogger("vr.serve")

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_CHUNK = 1 << 20
MAX_CONNECTIONS = 64
MAX_RANGE = 1 << 30  # 1 GiB: far above a batch's ranged read, far below "stream me the disk"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class ServedFiles:
    """The names a shard folder serves (``index.json``, and the shards and member indexes it lists),
    opened inside the folder, links refused."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(os.path.realpath(folder))
        self._dir_fd = os.open(self.folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._names: frozenset[str] = frozenset({INDEX})

    def close(self) -> None:
        os.close(self._dir_fd)

    def names(self) -> frozenset[str]:
        """``index.json`` and every plain file name it lists (read again whenever the index changes)."""
        try:
            st = os.stat(INDEX, dir_fd=self._dir_fd, follow_symlinks=False)
        except OSError:
            return frozenset({INDEX})
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            if stamp != self._stamp:
                self._names, self._stamp = self._read_names(), stamp
            return self._names

    def _read_names(self) -> frozenset[str]:
        names = {INDEX}
        opened = self.open(INDEX, check_name=False)
        if opened is None:
            return frozenset(names)
        fd, _ = opened
        try:
            with os.fdopen(fd, "rb") as f:
                index = json.loads(f.read())
        except (OSError, ValueError):
            return frozenset(names)
        shards = index.get("shards") if isinstance(index, dict) else None
        for shard in shards if isinstance(shards, list) else []:
            for key in ("name", "members"):
                name = shard.get(key) if isinstance(shard, dict) else None
                try:
                    names.add(plain_name(name, what="file name", source=INDEX))
                except UnsafePathError:
                    continue  # the client reads the index and reports the bad name itself
        return frozenset(names)

    def open(self, name: str, check_name: bool = True) -> tuple[int, int] | None:
        """``(fd, size)`` of a served file, None for anything else (not listed, a link, not a regular
        file, a file with other hard links, unreadable)."""
        if check_name and name not in self.names():
            return None
        try:
            fd = os.open(name, os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK, dir_fd=self._dir_fd)
        except OSError:
            return None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            os.close(fd)
            return None
        return fd, st.st_size


def parse_range(header: str | None, size: int, max_range: int) -> tuple[int, int] | None | str:
    """``(start, end)`` (inclusive) of a ``Range`` header; None: the whole file; a string: why it
    cannot be served (416)."""
    if header is None or not header.strip():
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or not (match.group(1) or match.group(2)):
        return "one byte range (bytes=START-END) is served per request"
    first, last = match.groups()
    if first:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    else:
        start, end = max(0, size - int(last)), size - 1
    if start >= size or start > end:
        return "range not satisfiable"
    if end - start + 1 > max_range:
        return f"a range is at most {max_range} bytes"
    return start, end


class RangeRequestHandler(BaseHTTPRequestHandler):
    """``GET``/``HEAD`` of the files :class:`ServedFiles` allows, with single-range ``Range`` support."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as they are written: no 40 ms ACK stalls
    server: ShardServer

    def __init__(self, *args, files: ServedFiles, **kw) -> None:
        self.files = files
        super().__init__(*args, **kw)

    def setup(self) -> None:
        self.timeout = self.server.timeout  # an idle keep-alive connection gives its slot back
        super().setup()

    def log_request(self, code="-", size="-") -> None:
        code = getattr(code, "value", code)
        log.info('%s "%s" %s %s', self.client_address[0], self.requestline, code, size)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        log.info("%s %s", self.client_address[0], format % args)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _refuse(self, status: HTTPStatus) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _answer(self, body: bool) -> None:
        raw = urllib.parse.urlsplit(self.path).path
        name = urllib.parse.unquote(raw[1:]) if raw.startswith("/") else ""
        opened = self.files.open(name) if name and "/" not in name else None
        if opened is None:
            self._refuse(HTTPStatus.NOT_FOUND)
            return
        fd, size = opened
        with os.fdopen(fd, "rb", buffering=0) as f:
            wanted = parse_range(self.headers.get("Range"), size, self.server.max_range)
            if isinstance(wanted, str):
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, wanted)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start, end = wanted or (0, size - 1)
            self.send_response(HTTPStatus.OK if wanted is None else HTTPStatus.PARTIAL_CONTENT)
            if wanted is not None:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start + 1))
            self.end_headers()
            self.server.count(self.command, self.path, end - start + 1)
            if body:
                self._copy(f, start, end - start + 1)

    def _copy(self, f, start: int, remaining: int) -> None:
        f.seek(start)
        while remaining > 0:
            chunk = f.read(min(_CHUNK, remaining))
            if not chunk:
                break
            self.wfile.write(chunk)
            remaining -= len(chunk)


class ShardServer(ThreadingHTTPServer):
    """The server; counts what it answers (``requests``: ``(method, path, bytes)`` of each) and serves
    at most ``max_connections`` connections at once."""

    daemon_threads = True
    request_queue_size = 128
    url = ""

    def __init__(
        self,
        *args,
        max_connections: int = MAX_CONNECTIONS,
        max_range: int = MAX_RANGE,
        timeout: float = 30.0,
        **kw,
    ) -> None:
        super().__init__(*args, **kw)
        self.requests: list[tuple[str, str, int]] = []
        self.max_range, self.timeout = max_range, timeout
        self.files: ServedFiles | None = None
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)

    def count(self, method: str, path: str, nbytes: int) -> None:
        with self._lock:
            self.requests.append((method, path, nbytes if method == "GET" else 0))

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            log.warning("%s: refused, %s", client_address[0], "too many connections")
            with suppress(OSError):
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def server_close(self) -> None:
        super().server_close()
        if self.files is not None:
            self.files.close()
            self.files = None


def make_server(
    folder: str | os.PathLike,
    host: str = "127.0.0.1",
    port: int = 0,
    handler: type = RangeRequestHandler,
    **limits,
) -> ShardServer:
    """A server for ``folder`` bound to ``host:port`` (port 0: any free port; see ``url``); ``limits``:
    ``max_connections``, ``max_range`` (bytes), ``timeout`` (seconds)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    files = ServedFiles(folder)
    made = (
        partial(handler, files=files)
        if handler is RangeRequestHandler
        else partial(handler, directory=folder)
    )
    server = ShardServer((host, port), made, **limits)
    server.files = files
    server.url = f"http://{host}:{server.server_address[1]}/"
    return server


@contextmanager
def serving(folder: str | os.PathLike, host: str = "127.0.0.1", port: int = 0, **kw) -> Iterator[ShardServer]:
    """Serve ``folder`` in a background thread for the ``with`` block; yields the server (``.url``)."""
    server = make_server(folder, host, port, **kw)
    thread = threading.Thread(target=server.serve_forever, name="vr-shard-serve", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
