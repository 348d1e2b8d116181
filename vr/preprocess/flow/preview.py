"""A colour-coded strip of a video's flow for people to look at (hue: direction, brightness: speed)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from vr import layout
from vr.preprocess.flow.io import DEFAULT_BOUND, read_pair


def flow_to_bgr(flow: np.ndarray, max_magnitude: float) -> np.ndarray:
    """(H, W, 2) flow to a BGR image: hue is the direction, value the speed (``max_magnitude`` = white)."""
    magnitude, angle = cv2.cartToPolar(flow[..., 0], flow[..., 1], angleInDegrees=True)
    hsv = np.empty((*flow.shape[:2], 3), np.uint8)
    hsv[..., 0] = np.rint(angle / 2).astype(np.uint8) % 180
    hsv[..., 1] = 255
    hsv[..., 2] = np.rint(np.clip(magnitude / max_magnitude, 0, 1) * 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def count_pairs(folder: str | os.PathLike) -> int:
    """Number of flow pairs in a flow folder (the marker's count, else the ``flow_x_*`` files)."""
    marker = layout.read_marker(folder) or {}
    if "n_pairs" in marker:
        return int(marker["n_pairs"])
    with os.scandir(folder) as it:
        return sum(1 for e in it if e.name.startswith("flow_x_") and e.name.endswith(".jpg"))


def flow_preview(
    flow_dir: str | os.PathLike, out: str | os.PathLike, n: int = 8, bound: float | None = None, gap: int = 2
) -> Path:
    """Write a horizontal strip of ``n`` evenly spaced pairs of ``flow_dir`` as an image to ``out``.

    Brightness is scaled to the 99th percentile of the speeds shown (at least 1 px); ``bound`` defaults
    to the one recorded in the folder's marker (else 20).
    """
    total = count_pairs(flow_dir)
    if total == 0:
        raise ValueError(f"no flow pairs in {flow_dir}")
    if bound is None:
        bound = float((layout.read_marker(flow_dir) or {}).get("bound", DEFAULT_BOUND))
    picks = np.unique(np.linspace(1, total, min(n, total)).round().astype(int))
    flows = [read_pair(flow_dir, int(i), bound) for i in picks]
    speed = np.concatenate([np.hypot(f[..., 0], f[..., 1]).ravel() for f in flows])
    scale = max(float(np.percentile(speed, 99)), 1.0)
    tiles = []
    for flow in flows:
        tiles += [flow_to_bgr(flow, scale), np.zeros((flow.shape[0], gap, 3), np.uint8)]
    out = Path(out)
    if not cv2.imwrite(str(out), np.hstack(tiles[:-1])):
        raise OSError(f"cannot write {out} (is the extension an image format?)")
    return out
