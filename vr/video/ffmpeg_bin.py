"""Locating the ffmpeg binary: the one on PATH, else the one shipped inside imageio-ffmpeg."""

from __future__ import annotations

import functools
import os
import shutil


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary (``$VR_FFMPEG``, then PATH, then imageio-ffmpeg's)."""
    override = os.environ.get("VR_FFMPEG")
    if override:
        return override
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()
