"""Benchmark records as a two-column table for people and one JSON record for tools."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any

from vr.writing import write_json as _write_json


def human_bytes(n: int | None) -> str:
    if n is None:
        return "n/a"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def human_seconds(s: float) -> str:
    if s < 120:
        return f"{s:.1f} s"
    if s < 2 * 3600:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def table(rows: list[tuple[str, str]]) -> str:
    """``label  value`` lines, the labels aligned."""
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)


def record(command: str, machine: dict[str, Any], **parts: Any) -> dict[str, Any]:
    """One JSON-able record: the command, the machine and each part (dataclasses as dicts)."""
    out: dict[str, Any] = {"command": command, "machine": machine}
    for key, value in parts.items():
        out[key] = asdict(value) if is_dataclass(value) else value
    return out


def write_json(data: dict[str, Any], path: str) -> None:
    """Write ``data`` to ``path`` (``-``: standard output)."""
    _write_json(path, data)
