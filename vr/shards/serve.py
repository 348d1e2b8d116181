"""`vr shard serve`: a shard folder over HTTP with ``Range`` requests, for the other machines of a lab.

A small threaded server of the standard library that answers ``GET``/``HEAD`` with single byte ranges
(``206 Partial Content``), keeps connections alive, lists no folders and serves no hidden files (the
folder's lock, plan and temporary files). Trainers elsewhere read the folder with
``vr train --data http://HOST:PORT/``. For the public internet put the folder behind a real web server or
object storage; both speak the same protocol.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_CHUNK = 1 << 20


class RangeRequestHandler(SimpleHTTPRequestHandler):
    """Static files with single-range ``Range`` support; no directory listings, no dot files."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as they are written: no 40 ms ACK stalls
    _remaining = 0

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass

    def list_directory(self, path):
        self.send_error(HTTPStatus.NOT_FOUND, "no listings")
        return None

    def send_head(self):
        path = self.translate_path(self.path)
        name = Path(path).name
        if os.path.isdir(path) or name.startswith("."):
            self.send_error(HTTPStatus.NOT_FOUND)
            return None
        try:
            f = open(path, "rb")  # noqa: SIM115 - the base class closes it after copyfile
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND)
            return None
        size = os.fstat(f.fileno()).st_size
        start, end = 0, size - 1
        match = _RANGE.fullmatch(self.headers.get("Range", "").strip())
        if self.headers.get("Range") and match and (match.group(1) or match.group(2)):
            first, last = match.groups()
            if first:
                start, end = int(first), min(int(last), size - 1) if last else size - 1
            else:
                start, end = max(0, size - int(last)), size - 1
            if start >= size or start > end:
                f.close()
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            self.send_response(HTTPStatus.PARTIAL_CONTENT)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        f.seek(start)
        self._remaining = end - start + 1
        self.server.count(self.command, self.path, self._remaining)
        return f

    def copyfile(self, source, outputfile) -> None:
        remaining = self._remaining
        while remaining > 0:
            chunk = source.read(min(_CHUNK, remaining))
            if not chunk:
                break
            outputfile.write(chunk)
            remaining -= len(chunk)


class ShardServer(ThreadingHTTPServer):
    """The server; counts what it answers (``requests``: ``(method, path, bytes)`` of each)."""

    daemon_threads = True
    request_queue_size = 128
    url = ""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.requests: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()

    def count(self, method: str, path: str, nbytes: int) -> None:
        with self._lock:
            self.requests.append((method, path, nbytes if method == "GET" else 0))


def make_server(
    folder: str | os.PathLike, host: str = "127.0.0.1", port: int = 0, handler: type = RangeRequestHandler
) -> ShardServer:
    """A server for ``folder`` bound to ``host:port`` (port 0: any free port; see ``url``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    server = ShardServer((host, port), partial(handler, directory=str(folder)))
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
