"""Progress of long work: a tqdm bar on a terminal, plain lines in logs and pipes.

:func:`progress_bar` takes tqdm's arguments. When standard error is a terminal it is tqdm itself; otherwise
(``vr demo > log``, a batch job, CI) it is a :class:`LineProgress` that writes no carriage-return frames:
one line when a stage ends (``frames: 72/72 video in 4.1 s (17.6 video/s), 0 failed``), a line every
``VR_PROGRESS_INTERVAL`` seconds (default 300) while a long stage runs, and nothing at all for the
transient bars (``leave=False``: the batches of an epoch, whose end the caller reports itself).
``VR_PROGRESS=bar`` forces tqdm, ``VR_PROGRESS=lines`` the lines.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any


def _use_bar() -> bool:
    mode = os.environ.get("VR_PROGRESS", "").lower()
    if mode in ("bar", "lines"):
        return mode == "bar"
    stream = sys.stderr
    return stream is not None and hasattr(stream, "isatty") and stream.isatty()


def progress_bar(iterable: Iterable | None = None, **kw: Any):
    """A progress bar over ``iterable`` (or updated by hand), with tqdm's keyword arguments."""
    if _use_bar():
        from tqdm import tqdm

        kw.setdefault("dynamic_ncols", True)
        return tqdm(iterable, **kw)
    return LineProgress(iterable, **kw)


class LineProgress:
    """The part of tqdm's interface ``vr`` uses, written as whole lines (module docstring)."""

    def __init__(
        self,
        iterable: Iterable | None = None,
        desc: str | None = None,
        total: float | None = None,
        unit: str = "it",
        disable: bool = False,
        leave: bool = True,
        **_: Any,
    ) -> None:
        self.iterable, self.desc, self.unit = iterable, desc or "", unit
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.n, self.postfix = total, 0, ""
        self.disable = disable or not leave
        self.start = self._last = time.monotonic()
        self.interval = float(os.environ.get("VR_PROGRESS_INTERVAL", "300"))
        self._closed = False

    def __iter__(self) -> Iterator:
        if self.iterable is None:
            raise TypeError("LineProgress without an iterable is updated with update()")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __len__(self) -> int:
        return int(self.total or 0)

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def update(self, n: float = 1) -> None:
        self.n += n
        now = time.monotonic()
        if not self.disable and now - self._last >= self.interval:
            self._last = now
            self._write(done=False)

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = str(s)

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kw: Any) -> None:
        items = {**(ordered_dict or {}), **kw}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def refresh(self) -> None:
        pass

    def write(self, s: str) -> None:
        print(s, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self.disable:
            self._write(done=True)

    def _write(self, done: bool) -> None:
        elapsed = time.monotonic() - self.start
        count = f"{self.n:g}/{self.total:g}" if self.total else f"{self.n:g}"
        rate = f", {self.n / elapsed:.1f} {self.unit}/s" if elapsed > 0 and self.n else ""
        state = "" if done else " so far"
        extra = f", {self.postfix}" if self.postfix else ""
        label = f"{self.desc}: " if self.desc else ""
        print(
            f"{label}{count} {self.unit}{state} in {elapsed:.1f} s{rate}{extra}", file=sys.stderr, flush=True
        )
