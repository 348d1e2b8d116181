"""Small real videos for the tests: frames whose bar position encodes their index, encoded by real
ffmpeg with the codec a file's suffix names."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from vr.video.ffmpeg_bin import ffmpeg_exe

W, H, N = 64, 48, 12
CODECS = {  # container suffix -> ffmpeg encoder arguments (high quality, so frames stay comparable)
    ".avi": ["-c:v", "mpeg4", "-q:v", "2"],
    ".mp4": ["-c:v", "libx264", "-qp", "4", "-preset", "ultrafast"],
    ".webm": ["-c:v", "libvpx-vp9", "-crf", "4", "-b:v", "0", "-deadline", "realtime", "-cpu-used", "8"],
}


def bar_frame(k: int, width: int = W, height: int = H) -> np.ndarray:
    """Frame ``k``: a white bar on a dark gradient whose position encodes ``k`` (RGB uint8)."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[..., 1] = np.linspace(20, 90, width, dtype=np.uint8)[None, :]
    frame[:, 4 * k + 2 : 4 * k + 6] = 255
    return frame


def bar_position(frame: np.ndarray) -> int:
    """Index ``k`` read back from a frame made by ``bar_frame``."""
    column = frame.astype(np.float32).mean(axis=(0, 2))
    return int(round((np.argmax(np.convolve(column, np.ones(4), "valid")) - 2) / 4))


def encode(path: Path, frames: list[np.ndarray], fps: int = 25) -> Path:
    """Encode RGB frames with the codec chosen by ``path``'s suffix through real ffmpeg."""
    height, width = frames[0].shape[:2]
    cmd = [
        ffmpeg_exe(),
        "-v",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{width}x{height}",
    ]
    cmd += ["-r", str(fps), "-i", "pipe:", *CODECS[path.suffix], "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True)
    return path
