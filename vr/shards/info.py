"""`vr shard info`: a summary table of a shard folder, from its ``index.json`` alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vr.shards.format import read_index


def _human(n: float) -> str:
    if n < 1000:
        return f"{n:.0f} B"
    for unit in ("KB", "MB", "GB"):
        n /= 1000
        if n < 1000:
            return f"{n:.1f} {unit}"
    return f"{n / 1000:.1f} TB"


def shard_info(folder: str | Path) -> dict[str, Any]:
    """Totals and per-class sample counts of a shard folder."""
    index = read_index(folder)
    shards = index["shards"]
    per_class = {label: index.get("per_class", {}).get(label, 0) for label in index["labels"]}
    return {
        "modality": index["modality"],
        "subset": index.get("subset"),
        "shards": len(shards),
        "samples": index["n_samples"],
        "classes": len(index["labels"]),
        "classes_present": sum(1 for n in per_class.values() if n),
        "unlabelled": index["n_samples"] - sum(per_class.values()),
        "frames": sum(s.get("n_frames", 0) for s in shards),
        "flow_pairs": sum(s.get("n_flow", 0) for s in shards),
        "bytes": sum(s["bytes"] for s in shards),
        "per_class": per_class,
    }


def format_info(info: dict[str, Any]) -> str:
    """The summary as aligned text: totals, then a class/samples table."""
    totals = [
        ("modality", info["modality"]),
        ("subset", info["subset"]),
        ("shards", info["shards"]),
        ("samples", info["samples"]),
        ("classes", f"{info['classes_present']} of {info['classes']} present"),
        ("unlabelled", info["unlabelled"]),
        ("RGB frames", info["frames"]),
        ("flow pairs", info["flow_pairs"]),
        ("bytes", f"{info['bytes']} ({_human(info['bytes'])})"),
    ]
    lines = [f"{name:<12} {value}" for name, value in totals]
    rows = list(info["per_class"].items())
    width = max([len("class"), *(len(label) for label, _ in rows)])
    lines += ["", f"{'class':<{width}}  samples", f"{'-' * width}  -------"]
    lines += [f"{label:<{width}}  {count:>7}" for label, count in rows]
    return "\n".join(lines)
