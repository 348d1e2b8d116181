"""JPEG header checks used by the loaders: the shard writer's (:mod:`vr.shards.jpeg`), one implementation.

``jpeg_size(data) -> (width, height)`` walks the marker segments without decoding and raises
:class:`BadJPEG` on a truncated or non-JPEG file.
"""

from vr.shards.jpeg import JpegError as BadJPEG
from vr.shards.jpeg import jpeg_size

__all__ = ["BadJPEG", "jpeg_size"]
