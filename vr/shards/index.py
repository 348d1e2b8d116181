"""The files beside the shards: ``index.json`` (read by the loaders), ``.plan.json``, per-shard records
(``.parts/<shard>.json``, written just before the shard is renamed into place) and ``_report.json``."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from vr import __version__

INDEX = "index.json"
PLAN = ".plan.json"
REPORT = "_report.json"
PARTS = ".parts"
INDEX_VERSION = 1


class ShardIndexError(ValueError):
    """A shard folder whose index is missing or malformed."""


def write_json_atomic(path: Path, value: Any) -> None:
    """Write JSON to a temporary sibling, fsync, and rename over ``path``."""
    tmp = path.with_name(f".tmp-{path.name}.{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> Any | None:
    """The JSON value in ``path``, or None when it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def part_path(out: Path, shard_name: str) -> Path:
    return out / PARTS / f"{shard_name}.json"


def build_index(
    plan_json: dict[str, Any], parts: list[dict[str, Any]], manifest: str, manifest_sha256: str
) -> dict[str, Any]:
    """The ``index.json`` content from the plan and the per-shard records (in shard order)."""
    per_class: Counter[str] = Counter()
    for part in parts:
        per_class.update(part["per_class"])
    return {
        "vr_shards": INDEX_VERSION,
        "modality": plan_json["modality"],
        "subset": plan_json["subset"],
        "labels": plan_json["labels"],
        "manifest": manifest,
        "manifest_sha256": manifest_sha256,
        "n_samples": sum(p["n_samples"] for p in parts),
        "shards": [
            {k: p[k] for k in ("name", "n_samples", "bytes", "sha256", "n_frames", "n_flow")} for p in parts
        ],
        "per_class": dict(sorted(per_class.items())),
        "created_with": f"vr {__version__}",
    }


def read_index(folder: Path) -> dict[str, Any]:
    """The index of a shard folder, checked for the fields the readers need."""
    index = read_json(folder / INDEX)
    if index is None:
        raise ShardIndexError(f"{folder / INDEX}: missing or not JSON")
    if not isinstance(index, dict) or index.get("vr_shards") != INDEX_VERSION:
        raise ShardIndexError(f"{folder / INDEX}: not a vr shard index (version {INDEX_VERSION})")
    for key in ("labels", "shards", "n_samples", "modality"):
        if key not in index:
            raise ShardIndexError(f"{folder / INDEX}: no {key!r}")
    for shard in index["shards"]:
        if not isinstance(shard, dict) or not {"name", "n_samples", "bytes", "sha256"} <= shard.keys():
            raise ShardIndexError(f"{folder / INDEX}: malformed shard entry {shard!r}")
        if "/" in shard["name"] or shard["name"].startswith("."):
            raise ShardIndexError(f"{folder / INDEX}: shard name {shard['name']!r} leaves the folder")
    return index
