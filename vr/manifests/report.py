"""The build report: every listed video left out of a manifest, and why. Nothing is dropped silently."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from vr.writing import write_json

#: Why a listed video is left out.
REASONS = {
    "missing": "no frame folder",
    "incomplete": "frame folder without a completion marker",
    "empty": "frame folder with 0 frames",
    "empty_segment": "annotated segment outside the video's frames",
    "no_fps": "no fps to turn a segment in seconds into frames",
    "no_annotations": "labelled subset but no annotations",
    "duplicate": "id listed twice (the first is kept)",
}


@dataclass
class LeftOut:
    """One listed video that is not in the manifest."""

    id: str
    reason: str
    path: str | None = None


@dataclass
class BuildReport:
    """How many videos were listed and kept, and those left out."""

    listed: int = 0
    kept: int = 0
    left_out: list[LeftOut] = field(default_factory=list)

    def add(self, id: str, reason: str, path: str | None = None) -> None:
        self.left_out.append(LeftOut(id, reason, path))

    def counts(self) -> dict[str, int]:
        """Left-out videos per reason, in :data:`REASONS` order."""
        counts = Counter(item.reason for item in self.left_out)
        return {reason: counts[reason] for reason in REASONS if counts[reason]}

    def summary(self, first: int = 3) -> str:
        """One line: totals, then per reason the count, meaning and the first few ids."""
        if not self.left_out:
            return f"kept all {self.kept} listed videos"
        parts = []
        for reason, n in self.counts().items():
            ids = [item.id for item in self.left_out if item.reason == reason][:first]
            more = ", ..." if n > first else ""
            parts.append(f"{n} {reason} ({REASONS[reason]}: {', '.join(ids)}{more})")
        return f"kept {self.kept} of {self.listed} listed videos; left out {'; '.join(parts)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "listed": self.listed,
            "kept": self.kept,
            "left_out_counts": self.counts(),
            "left_out": [asdict(item) for item in self.left_out],
        }

    def write(self, path: str | os.PathLike) -> None:
        write_json(path, self.to_json())
