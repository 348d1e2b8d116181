"""What preprocessing made a dataset, read from the completion markers of its frame and flow folders.

``vr shard`` copies it into ``index.json`` and ``vr train`` into its checkpoints (``data_info``), so
``vr infer`` decodes raw videos at the training frames' short side and quantises flow with the training
flow's bound and TV-L1 parameters even when the training data is gone.
"""

from __future__ import annotations

import os
from typing import Any

from vr.layout import read_marker

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


def data_info(source) -> dict[str, Any]:
    """What a checkpoint keeps about its training data: the preprocessing (when the markers or the
    shard index tell it) and ``short_side``, the short side of the frames (or flow) it was trained on."""
    from vr.pipelines.jpeg import BadJPEG, jpeg_size

    info = dict(getattr(source, "preprocess", None) or {})
    side = (info.get("frames" if source.modality == "rgb" else "flow") or {}).get("short_side")
    if side is None and len(source):
        try:
            side = min(jpeg_size(source.video(0).read([0])[0][0]))
        except (BadJPEG, OSError, IndexError, ValueError):
            side = None
    info["short_side"] = side
    return info
