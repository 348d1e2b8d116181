"""Tiny test data for the loader tests: 32x32 frames that encode their index, as shards and as folders.

RGB frame i: red = 8 * i + 4 everywhere (the index reads back from the mean), green a horizontal ramp
(flips and crops show), blue a vertical ramp. Flow pair i: x = 128 + a horizontal ramp, y = 8 * i + 4.
Shards follow /work/briefs/shard_format.md exactly (written with tarfile: the shard writer is another
area's; these helpers only make inputs).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from pathlib import Path

import cv2
import numpy as np

from vr import layout
from vr.manifests.schema import Manifest, VideoRecord
from vr.shards import reindex_shards

SIZE = 32
# ids with characters the shard key sanitises; 6..27 frames (some shorter than a 16-frame clip)
VIDEO_MIX = [
    ("a.1", 0, 6),
    ("b/2", 1, 27),
    ("c", 2, 11),
    ("d", 0, 20),
    ("e", 1, 9),
    ("f", 2, 14),
    ("g", 0, 17),
]


def rgb_frame(i: int, width: int = SIZE, height: int = SIZE) -> np.ndarray:
    """RGB uint8 frame ``i`` (1-based)."""
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = 8 * i + 4
    img[..., 1] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    img[..., 2] = np.linspace(40, 200, height, dtype=np.uint8)[:, None]
    return img


def flow_frames(i: int, width: int = SIZE, height: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Flow x, y grayscale frames of pair ``i``."""
    x = np.broadcast_to(np.linspace(64, 192, width, dtype=np.uint8)[None, :], (height, width)).copy()
    y = np.full((height, width), 8 * i + 4, np.uint8)
    return x, y


def jpg(img: np.ndarray) -> bytes:
    if img.ndim == 3:
        img = img[:, :, ::-1]  # RGB -> BGR for OpenCV
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return buf.tobytes()


def frame_index(red_mean: float) -> int:
    """Invert ``rgb_frame``'s red channel (and flow y) encoding."""
    return int(round((red_mean - 4) / 8))


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime, info.uid, info.gid, info.uname, info.gname = (
        len(data),
        0o644,
        0,
        0,
        0,
        "",
        "",
    )
    tar.addfile(info, io.BytesIO(data))


def spoil(data: bytes, how: str) -> bytes:
    """``data`` cut in half ("truncate"), replaced ("garbage") or with scrambled scan data ("damage")."""
    if how == "truncate":
        return data[: len(data) // 2]
    if how == "garbage":
        return b"garbage" * 20
    sos = data.index(b"\xff\xda")
    start = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    mid = (start + len(data) - 2) // 2
    scrambled = bytes(b ^ 0xA5 for b in data[mid : mid + 8]).replace(b"\xff", b"\xfe")
    return data[:mid] + scrambled + data[mid + 8 :]


def make_shards(
    out: Path,
    videos: list[tuple[str, int, int]],
    per_shard: int = 2,
    modality: str = "both",
    corrupt: dict[str, str] | None = None,
    labels: list[str] | None = None,
) -> Path:
    """Write ``videos`` (id, label_index, n_frames) as shards + index.json in ``out``.

    ``corrupt`` maps a video id to "truncate" (frame 2 cut in half), "garbage" (frame 2 not a JPEG) or
    "damage" (frame 2's entropy-coded data scrambled, its headers intact).
    """
    corrupt = corrupt or {}
    labels = labels or [f"class{i}" for i in range(max(v[1] for v in videos) + 1)]
    out.mkdir(parents=True, exist_ok=True)
    shards = []
    for s in range(0, len(videos), per_shard):
        name = f"train-{s // per_shard:06d}.tar"
        n_frames_total = 0
        with tarfile.open(out / name, "w", format=tarfile.GNU_FORMAT) as tar:
            for vid, label, n in videos[s : s + per_shard]:
                key = re.sub(r"[^A-Za-z0-9_-]", "_", vid)
                n_rgb = n if modality in ("rgb", "both") else 0
                n_flow = n - 1 if modality in ("flow", "both") else 0
                meta = {
                    "id": vid,
                    "label": labels[label],
                    "label_index": label,
                    "n_frames": n_rgb,
                    "n_flow": n_flow,
                    "fps": 25.0,
                    "width": SIZE,
                    "height": SIZE,
                    "source": vid,
                    "subset": "train",
                }
                _add(tar, f"{key}.json", json.dumps(meta).encode())
                for i in range(1, n_rgb + 1):
                    data = jpg(rgb_frame(i))
                    if i == 2 and vid in corrupt:
                        data = spoil(data, corrupt[vid])
                    _add(tar, f"{key}.rgb_{i:05d}.jpg", data)
                for i in range(1, n_flow + 1):
                    x, y = flow_frames(i)
                    xd = jpg(x)
                    if i == 2 and vid in corrupt:
                        xd = spoil(xd, corrupt[vid])
                    _add(tar, f"{key}.flow_x_{i:05d}.jpg", xd)
                    _add(tar, f"{key}.flow_y_{i:05d}.jpg", jpg(y))
                n_frames_total += n_rgb
        data = (out / name).read_bytes()
        shards.append(
            {
                "name": name,
                "n_samples": len(videos[s : s + per_shard]),
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "n_frames": n_frames_total,
            }
        )
    index = {
        "vr_shards": 1,
        "modality": modality,
        "subset": "train",
        "labels": labels,
        "manifest": "test",
        "manifest_sha256": "",
        "n_samples": len(videos),
        "shards": shards,
        "per_class": {},
        "created_with": "tests",
    }
    (out / "index.json").write_text(json.dumps(index))
    reindex_shards(out, progress=False)  # the member indexes `vr shard` writes itself
    return out


def make_folders(root: Path, videos: list[tuple[str, int, int]]) -> Manifest:
    """Seed-layout frame + flow folders ``root/<class>/<id>/`` and the manifest describing them."""
    labels = [f"class{i}" for i in range(max(v[1] for v in videos) + 1)]
    records = []
    for vid, label, n in videos:
        folder = root / labels[label] / vid
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(1, n + 1):
            (folder / layout.image_name(i)).write_bytes(jpg(rgb_frame(i)))
        for i in range(1, n):
            x, y = flow_frames(i)
            xn, yn = layout.flow_names(i)
            (folder / xn).write_bytes(jpg(x))
            (folder / yn).write_bytes(jpg(y))
        records.append(VideoRecord(vid, labels[label], label, "train", f"{labels[label]}/{vid}", n, 25.0))
    return Manifest(labels, records)
