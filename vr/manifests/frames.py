"""Frame counts and fps of frame folders, from the completion marker (O(1)) or, if allowed, a file count."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vr.layout import count_images, read_marker
from vr.safepath import is_relative_safe

#: A video's state in the frame root.
OK, MISSING, INCOMPLETE = "ok", "missing", "incomplete"


@dataclass(frozen=True)
class FrameFolder:
    """What the frame root holds for one video: ``path`` relative to the root, frame count and fps."""

    status: str
    path: str | None = None
    n_frames: int = 0
    fps: float | None = None


def _number(value: object) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _seed_fps(folder: str) -> float | None:
    """The ``fps`` value file some 3D-ResNets seed scripts leave in a frame folder."""
    try:
        with open(os.path.join(folder, "fps"), encoding="utf-8") as f:
            return _number(f.read().strip())
    except OSError:
        return None


def find_frames(root: Path, candidates: tuple[str, ...], allow_unmarked: bool) -> FrameFolder:
    """The first candidate folder with a completion marker, else the first that exists, else MISSING.

    An unmarked folder (made by another tool, e.g. the seed) counts its ``image_*.jpg`` files only
    when ``allow_unmarked``; otherwise it is INCOMPLETE.
    """
    unmarked = None
    for rel in filter(is_relative_safe, candidates):  # a name from an annotation file stays in the root
        folder = os.path.join(root, rel)
        marker = read_marker(folder)
        if marker is not None:
            n = marker.get("n_frames")
            n_frames = n if isinstance(n, int) else count_images(folder)
            return FrameFolder(OK, rel, n_frames, _number(marker.get("fps")))
        if unmarked is None and os.path.isdir(folder):
            unmarked = rel
    if unmarked is None:
        return FrameFolder(MISSING)
    if not allow_unmarked:
        return FrameFolder(INCOMPLETE, unmarked)
    folder = os.path.join(root, unmarked)
    return FrameFolder(OK, unmarked, count_images(folder), _seed_fps(folder))
