"""Flow JPEGs: the TSN / MMAction dense_flow convention.

Each component is clipped to ``[-bound, bound]`` and mapped linearly to 0..255,
``round(255 * (f + bound) / (2 * bound))`` (rounding half to even, like OpenCV's ``cvRound`` in
dense_flow's ``convertFlowToImage``), so 0 px maps to 128, ``-bound`` to 0 and ``+bound`` to 255; one
step is ``2 * bound / 255`` px (0.157 px for the default bound 20). Saved as grayscale JPEG, quality 95
(OpenCV's default, as dense_flow writes them).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from vr import layout

DEFAULT_BOUND = 20.0
DEFAULT_JPEG_QUALITY = 95


def quantize(flow: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """Flow (float, px) to uint8 codes: 128 is no motion, 0 and 255 are -bound and +bound."""
    scaled = (np.clip(flow, -bound, bound) + bound) * (255.0 / (2.0 * bound))
    return np.rint(scaled).astype(np.uint8)


def dequantize(codes: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """uint8 codes back to float32 px (the centre of each code's interval)."""
    return codes.astype(np.float32) * np.float32(2.0 * bound / 255.0) - np.float32(bound)


def write_pair(
    folder: str | os.PathLike,
    index: int,
    flow: np.ndarray,
    bound: float = DEFAULT_BOUND,
    quality: int = DEFAULT_JPEG_QUALITY,
) -> None:
    """Write the (H, W, 2) ``flow`` as ``flow_x_<index>.jpg`` and ``flow_y_<index>.jpg`` (1-based)."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    for name, component in zip(layout.flow_names(index), (flow[..., 0], flow[..., 1]), strict=True):
        path = os.path.join(folder, name)
        if not cv2.imwrite(path, quantize(component, bound), params):
            raise OSError(f"cannot write {path}")


def read_pair(folder: str | os.PathLike, index: int, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """Read pair ``index`` back as (H, W, 2) float32 px."""
    planes = []
    for name in layout.flow_names(index):
        img = cv2.imread(str(Path(folder) / name), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise OSError(f"cannot read {Path(folder) / name}")
        planes.append(dequantize(img, bound))
    return np.stack(planes, axis=-1)
