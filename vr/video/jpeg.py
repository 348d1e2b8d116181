"""JPEG encoding of decoded frames in memory: the one encoder of `vr shard --from-video` and `vr infer`
(OpenCV's libjpeg, deterministic for a given build)."""

from __future__ import annotations

import cv2
import numpy as np

from vr.video.probe import VideoError


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """An ``(H, W, 3)`` RGB or ``(H, W)`` grayscale uint8 frame as JPEG bytes at ``quality`` (1-100)."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise VideoError("OpenCV could not encode a frame as JPEG")
    return data.tobytes()
