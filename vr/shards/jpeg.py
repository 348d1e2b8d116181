"""Cheap JPEG checks: a structural walk of the marker segments, and an optional full decode.

The structural check reads only the bytes already in memory: the file must start with SOI, its
segments up to the first SOS must be well formed and include a frame header (SOF) with a non-zero
size, and it must end with EOI (trailing zero padding allowed). This catches empty, truncated and
garbage files at almost no cost; a bit flip inside the entropy-coded data needs a full decode.
"""

from __future__ import annotations

import cv2
import numpy as np

_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01}


class JpegError(ValueError):
    """A byte string that is not a well-formed JPEG."""


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a JPEG after checking its structure; raises :class:`JpegError`."""
    n = len(data)
    if n < 4 or data[0] != 0xFF or data[1] != 0xD8:
        raise JpegError("no JPEG start-of-image marker")
    if data[-2:] != b"\xff\xd9" and data[-1024:].rstrip(b"\x00")[-2:] != b"\xff\xd9":
        raise JpegError("no JPEG end-of-image marker (truncated?)")
    pos, size = 2, None
    while True:
        if pos >= n or data[pos] != 0xFF:
            raise JpegError(f"bad JPEG segment at byte {pos}")
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos >= n:
            raise JpegError("JPEG ends inside a marker")
        marker = data[pos]
        pos += 1
        if marker in _STANDALONE:
            continue
        if marker == 0xD9:
            raise JpegError("JPEG ends before any image data")
        if pos + 2 > n:
            raise JpegError("JPEG ends inside a segment header")
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2 or pos + length > n:
            raise JpegError(f"bad JPEG segment length {length} at byte {pos}")
        if marker in _SOF_MARKERS:
            if length < 8:
                raise JpegError("short JPEG frame header")
            height = int.from_bytes(data[pos + 3 : pos + 5], "big")
            width = int.from_bytes(data[pos + 5 : pos + 7], "big")
            if width == 0 or height == 0:
                raise JpegError(f"JPEG frame header with size {width}x{height}")
            size = (width, height)
        if marker == 0xDA:
            if size is None:
                raise JpegError("JPEG scan before any frame header")
            return size
        pos += length


def decode_jpeg(data: bytes) -> np.ndarray:
    """Fully decode a JPEG with OpenCV (unchanged channels); raises :class:`JpegError` on failure."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise JpegError("JPEG does not decode")
    return image


def check_jpeg(data: bytes, decode: bool = False) -> tuple[int, int]:
    """(width, height) after the structural check and, when ``decode``, a full decode of matching size."""
    width, height = jpeg_size(data)
    if decode:
        image = decode_jpeg(data)
        if image.shape[:2] != (height, width):
            raise JpegError(
                f"JPEG decodes to {image.shape[1]}x{image.shape[0]}, header says {width}x{height}"
            )
    return width, height
