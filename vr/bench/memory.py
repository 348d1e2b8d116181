"""Peak memory of a block of work: the GPU allocator's peak on CUDA, the process's peak resident set on
the CPU (Linux resets ``VmHWM`` through ``/proc/self/clear_refs``; elsewhere the lifetime peak)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_STATUS = Path("/proc/self/status")


def _vm_kib(field: str) -> int | None:
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.M)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class PeakMemory:
    """Filled by :func:`peak_memory`: ``bytes`` above what the process held when it began (None where the
    platform cannot tell), and ``kind`` (``cuda`` or ``rss``)."""

    bytes: int | None = None
    kind: str = "rss"


@contextmanager
def peak_memory(device) -> Iterator[PeakMemory]:
    """Measure the peak memory that the block adds on ``device`` (a ``torch.device``)."""
    result = PeakMemory()
    if device.type == "cuda":
        import torch

        result.kind = "cuda"
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        yield result
        torch.cuda.synchronize(device)
        result.bytes = torch.cuda.max_memory_allocated(device) - before
        return
    before = _vm_kib("VmRSS")
    exact = _reset_peak_rss()
    yield result
    peak = _vm_kib("VmHWM")
    if exact and before is not None and peak is not None:
        result.bytes = max(peak - before, 0) * 1024
