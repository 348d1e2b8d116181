"""The model zoo's table (name, family, parameters, GFLOPs, default clip, checkpoint sources) without torch.

`vr models list` reads ``model_zoo.json``, shipped with the package, so it needs neither torch nor a model
build. The table is made from the registry by :func:`measure` (models built on the meta device, FLOPs
from their forward pass); a test checks that the shipped file equals a fresh measurement, so a model
added or changed without ``python -m vr.model_zoo`` fails CI instead of showing stale numbers.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ZOO_FILE = Path(__file__).with_name("model_zoo.json")
NUM_CLASSES, IN_CHANNELS = 400, 3  # what the table's numbers are for (Kinetics-400, RGB)


@dataclass(frozen=True)
class ZooEntry:
    """One model of the table: parameters and FLOPs (multiply-add = 2) of one default clip, batch 1."""

    name: str
    family: str
    params: int
    flops: int
    clip: tuple[int, int, int]
    sources: tuple[str, ...]


def natural_key(name: str) -> list[Any]:
    """Sort key that puts r3d18 before r3d101."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def measure(names: list[str] | None = None) -> list[ZooEntry]:
    """Measure the registered models (all, or ``names``) on the meta device: no weights, no memory."""
    from vr.models.profile import summarize
    from vr.models.registry import list_models

    entries = []
    for name in names if names is not None else list_models():
        s = summarize(name, num_classes=NUM_CLASSES, in_channels=IN_CHANNELS, flops=True)
        entries.append(ZooEntry(s.name, s.family, s.params, int(s.flops or 0), s.clip, tuple(s.sources)))
    return entries


def read_zoo(path: Path = ZOO_FILE) -> list[ZooEntry]:
    """The shipped table (in natural name order)."""
    data = json.loads(path.read_text())
    return [
        ZooEntry(e["name"], e["family"], e["params"], e["flops"], tuple(e["clip"]), tuple(e["sources"]))
        for e in data["models"]
    ]


def write_zoo(entries: list[ZooEntry], path: Path = ZOO_FILE) -> None:
    """Write the table, one model a line (reviewable diffs)."""
    rows = [
        json.dumps(asdict(e), separators=(", ", ": "))
        for e in sorted(entries, key=lambda e: natural_key(e.name))
    ]
    header = f'{{"num_classes": {NUM_CLASSES}, "in_channels": {IN_CHANNELS}, "models": [\n'
    path.write_text(header + ",\n".join(rows) + "\n]}\n")


def select(entries: list[ZooEntry], pattern: str = "*") -> list[ZooEntry]:
    """The entries whose name matches the shell-style ``pattern``."""
    return [e for e in entries if fnmatch.fnmatchcase(e.name, pattern)]


def format_table(entries: list[ZooEntry]) -> str:
    """The `vr models list` table."""
    header = ("model", "family", "params (M)", "GFLOPs", "clip (TxHxW)", "checkpoints")
    table = [
        (
            e.name,
            e.family,
            f"{e.params / 1e6:.2f}",
            f"{e.flops / 1e9:.1f}",
            "x".join(map(str, e.clip)),
            ", ".join(e.sources) or "-",
        )
        for e in entries
    ]
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *table]
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # python -m vr.model_zoo: measure every registered model, write model_zoo.json
    import vr.models  # noqa: F401  (registers the families)

    write_zoo(measure())
    print(f"wrote {ZOO_FILE}")
