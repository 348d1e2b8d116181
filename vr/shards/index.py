"""The bookkeeping files of a shard run: ``.plan.json``, per-shard records (``.parts/<shard>.json``, written
just before the shard is renamed into place), ``_report.json`` and atomic writes.
``index.json`` and the member indexes are the shard format's (:mod:`vr.shards.format`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

PLAN = ".plan.json"
REPORT = "_report.json"
PARTS = ".parts"


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary sibling, fsync, and rename over ``path``."""
    tmp = path.with_name(f".tmp-{path.name}.{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, value: Any) -> None:
    """Write JSON (indented, sorted keys) to a temporary sibling, fsync, and rename over ``path``."""
    text = json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))


def read_json(path: Path) -> Any | None:
    """The JSON value in ``path``, or None when it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def part_path(out: Path, shard_name: str) -> Path:
    return out / PARTS / f"{shard_name}.json"
