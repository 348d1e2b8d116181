"""On-disk layout of frame and flow folders, shared by every stage.

Frames: ``ROOT/<class>/<video_id>/image_00001.jpg`` (1-based, 5 digits), the 3D-ResNets seed's layout.
Flow:   ``ROOT/<class>/<video_id>/flow_x_00001.jpg`` and ``flow_y_00001.jpg`` (flow from frame i to i+1).

A folder is complete only when its completion marker (``COMPLETE_MARKER``, a small JSON file with what
was written) exists. Writers build a folder under a temporary name and rename it into place after the
marker is written, so a killed run never leaves a folder that looks complete. :func:`describe_folders`
says what the markers tell about how a dataset was made (``vr shard`` copies it into ``index.json``,
``vr train`` into its checkpoints, so that ``vr infer`` preprocesses as training did).

Video files: :data:`VIDEO_EXTENSIONS`, the extensions every stage that looks for videos knows.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from vr.writing import TMP_PREFIX  # noqa: F401  (re-exported: temporary folders share the prefix)

IMAGE_TEMPLATE = "image_{:05d}.jpg"
FLOW_X_TEMPLATE = "flow_x_{:05d}.jpg"
FLOW_Y_TEMPLATE = "flow_y_{:05d}.jpg"
COMPLETE_MARKER = ".vr_complete.json"
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp")


def image_name(index: int) -> str:
    """File name of 1-based frame ``index``."""
    return IMAGE_TEMPLATE.format(index)


def flow_names(index: int) -> tuple[str, str]:
    """File names (x, y) of 1-based flow pair ``index``."""
    return FLOW_X_TEMPLATE.format(index), FLOW_Y_TEMPLATE.format(index)


def is_complete(folder: str | os.PathLike) -> bool:
    """True when ``folder`` holds a completion marker (an O(1) check)."""
    return os.path.isfile(os.path.join(folder, COMPLETE_MARKER))


def read_marker(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The completion marker's content, or None when the folder is not complete."""
    try:
        with open(os.path.join(folder, COMPLETE_MARKER), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def temp_sibling(final: str | os.PathLike) -> Path:
    """A temporary folder beside ``final`` (same file system, so the final rename is atomic)."""
    final = Path(final)
    return final.parent / f"{TMP_PREFIX}{final.name}.{os.getpid()}"


def commit_folder(tmp: str | os.PathLike, final: str | os.PathLike, marker: dict[str, Any]) -> None:
    """Write the completion marker into ``tmp`` and rename it to ``final`` (replacing an old one)."""
    tmp, final = Path(tmp), Path(final)
    with open(tmp / COMPLETE_MARKER, "w", encoding="utf-8") as f:
        json.dump(marker, f, sort_keys=True)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def count_images(folder: str | os.PathLike) -> int:
    """Number of ``image_*.jpg`` files (for unmarked folders made by other tools, e.g. the seeds)."""
    with os.scandir(folder) as it:
        return sum(1 for e in it if e.name.startswith("image_") and e.name.endswith(".jpg"))


FRAME_OPTIONS = ("size", "width", "height", "fps", "quality")


def describe_folders(frames: str | os.PathLike | None, flow: str | os.PathLike | None) -> dict[str, Any]:
    """``{"frames": {...}, "flow": {...}}`` for one video's frame and flow folders (what their markers
    say; a folder without a marker adds nothing)."""
    info: dict[str, Any] = {}
    marker = read_marker(frames) if frames is not None else None
    if marker and marker.get("kind") == "frames":
        options = marker.get("options") or {}
        info["frames"] = {
            **_short_side(marker),
            **{k: options[k] for k in FRAME_OPTIONS if options.get(k) is not None},
        }
    marker = read_marker(flow) if flow is not None else None
    if marker and marker.get("kind") == "flow":
        info["flow"] = {
            **_short_side(marker),
            **{k: marker[k] for k in ("bound", "engine", "params") if k in marker},
        }
    return info


def _short_side(marker: dict[str, Any]) -> dict[str, int]:
    sides = [marker.get("width"), marker.get("height")]
    return {"short_side": min(sides)} if all(isinstance(s, int) for s in sides) else {}
