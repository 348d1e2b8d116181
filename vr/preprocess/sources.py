"""Finding a dataset's videos in its usual source layout, and where each one's output folder goes.

| dataset | source layout | output |
| --- | --- | --- |
| ucf101, hmdb51, folder | ``SRC/<class>/<video>.<ext>`` | ``DST/<class>/<video>`` |
| kinetics, mit | ``SRC/<split>/<class>/<video>`` for train/val(idation)/training, unlabelled ``SRC/test/<video>``, or directly ``SRC/<class>/<video>`` | ``DST/<class>/<video>``, ``DST/test/<video>`` |
| activitynet | flat ``SRC/<video>`` | ``DST/<video>`` |

These are the 3D-ResNets seed's ``generate_video_jpgs`` outputs (its Kinetics test folder becomes the
``test`` class; ActivityNet stays flat). Video files directly in ``SRC`` of a class layout go flat to
``DST/<video>``. Hidden files and folders (leading ``.``) are ignored.
"""  # noqa: E501

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp")
DATASETS = ("ucf101", "hmdb51", "kinetics", "activitynet", "mit", "folder")
DEFAULT_EXTENSIONS = {
    "ucf101": (".avi",),
    "hmdb51": (".avi",),
    "kinetics": (".mp4", ".webm", ".mkv"),
    "mit": (".mp4",),
    "activitynet": (".mp4", ".webm", ".mkv"),
    "folder": VIDEO_EXTENSIONS,
}
SPLIT_FOLDERS = ("train", "training", "val", "valid", "validation", "test", "testing")


@dataclass(frozen=True)
class VideoSource:
    """A video file and its output name ``<label>/<video_id>`` (just ``<video_id>`` when unlabelled)."""

    path: Path
    label: str
    video_id: str

    @property
    def name(self) -> str:
        return f"{self.label}/{self.video_id}" if self.label else self.video_id


def _entries(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as it:
        return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)


def _videos_in(folder: Path, label: str, exts: tuple[str, ...]) -> list[VideoSource]:
    return [
        VideoSource(Path(e.path), label, Path(e.name).stem)
        for e in _entries(folder)
        if e.is_file() and e.name.lower().endswith(exts)
    ]


def _class_layout(src: Path, exts: tuple[str, ...], splits: tuple[str, ...]) -> list[VideoSource]:
    found = _videos_in(src, "", exts)
    for entry in _entries(src):
        if not entry.is_dir():
            continue
        if entry.name.lower() in splits:  # a split folder: class folders and/or unlabelled videos
            found += _videos_in(Path(entry.path), entry.name, exts)
            found += [
                v
                for sub in _entries(Path(entry.path))
                if sub.is_dir()
                for v in _videos_in(Path(sub.path), sub.name, exts)
            ]
        else:
            found += _videos_in(Path(entry.path), entry.name, exts)
    return found


def find_videos(
    src: str | os.PathLike, dataset: str = "folder", extensions: tuple[str, ...] | None = None
) -> list[VideoSource]:
    """Every video of ``src`` in ``dataset``'s layout (absolute paths), sorted by path (see the module
    table)."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    src = Path(src).absolute()
    if not src.is_dir():
        raise ValueError(f"{src} is not a folder")
    exts = tuple(
        e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions or DEFAULT_EXTENSIONS[dataset]
    )
    if dataset == "activitynet":
        return _videos_in(src, "", exts)
    splits = SPLIT_FOLDERS if dataset in ("kinetics", "mit") else ()
    return sorted(_class_layout(src, exts, splits), key=lambda v: str(v.path))
