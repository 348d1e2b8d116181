"""Decoding a clip's JPEGs on the CPU: libjpeg-turbo (``simplejpeg``), box crop, OpenCV INTER_LINEAR resize.

Shared by the torch backend, the DALI backend's CPU path (its Python workers decode, DALI flips and
normalises) and ``vr infer``, so every CPU path gives the same pixels. ``simplejpeg`` decodes colour
JPEGs 1.6x faster than ``cv2.imdecode`` (which converts YCbCr itself) and fails on damaged data
(``strict``) instead of returning a half-grey frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import simplejpeg
import torch

from vr.modality import modality as modality_of
from vr.pipelines.read import RawClip

CORRUPT = "corrupt JPEG: it does not decode"


def decode_pixels(raw: RawClip, modality: str) -> np.ndarray | None:
    """``(T, size, size, C)`` uint8, not flipped: RGB (C=3, RGB order) or Flow (C=2: x, y); None when a
    JPEG does not decode."""
    spec, box = raw.spec, raw.spec.box
    m = modality_of(modality)
    rgb = not m.flow
    colorspace = "RGB" if rgb else "GRAY"
    out = np.empty((len(raw.frames), spec.size, spec.size, m.channels), np.uint8)
    for t, frame in enumerate(raw.frames):
        for c, data in enumerate(frame):
            try:
                img = simplejpeg.decode_jpeg(data, colorspace=colorspace)
            except ValueError:
                return None
            img = cv2.resize(
                img[box.y : box.y + box.h, box.x : box.x + box.w],
                (spec.size, spec.size),
                interpolation=cv2.INTER_LINEAR,
            )
            if rgb:
                out[t] = img
            else:
                out[t, :, :, c] = img
    return out


def decode_clip(
    raw: RawClip, modality: str, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor | None:
    """Decode, crop, resize, flip (Flow: x inverted too), normalise: ``(C, T, size, size)`` float32;
    None when a JPEG does not decode."""
    pixels = decode_pixels(raw, modality)
    if pixels is None:
        return None
    if raw.spec.flip:
        pixels = pixels[:, :, ::-1]
    clip = torch.from_numpy(np.ascontiguousarray(pixels.transpose(3, 0, 1, 2))).float()
    if raw.spec.flip and modality_of(modality).flow:
        clip[0] = 255.0 - clip[0]
    shape = (-1, 1, 1, 1)
    return clip.sub_(torch.tensor(mean).view(shape)).div_(torch.tensor(std).view(shape))
