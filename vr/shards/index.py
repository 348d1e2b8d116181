"""The bookkeeping files of a shard run: ``.plan.json``, per-shard records (``.parts/<shard>.json``, written
just before the shard is renamed into place), ``_report.json`` and atomic writes.
``index.json`` and the member indexes are the shard format's (:mod:`vr.shards.format`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vr.writing import atomic_write

PLAN = ".plan.json"
REPORT = "_report.json"
PARTS = ".parts"


def write_json_atomic(path: Path, value: Any) -> None:
    """JSON (indented, sorted keys: byte-reproducible) written atomically. Data files (indexes, plans)
    are written as they are; the folder's report goes through :func:`vr.writing.write_json`."""
    atomic_write(path, json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def read_json(path: Path) -> Any | None:
    """The JSON value in ``path``, or None when it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def part_path(out: Path, shard_name: str) -> Path:
    return out / PARTS / f"{shard_name}.json"
