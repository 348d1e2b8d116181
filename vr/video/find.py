"""Finding videos: a dataset's videos in its usual source layout and where each one's output folder goes
(:func:`list_videos`), the video file of a manifest entry (:func:`video_for`), and the video files
given on a command line, folders searched (:func:`video_files`). Links are followed to files only: a
folder link is not walked into (no loops), a dangling link is reported, not a crash.

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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from vr.layout import VIDEO_EXTENSIONS

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


@dataclass
class Listing:
    """What a source folder holds: the videos to take; ``problems``, ``(path, reason)`` of what could not
    be looked at or is not a video file (an unreadable folder, a symlink loop or dangling link, a folder
    named like a video); ``other_extensions``, how many video files of other extensions were left."""

    videos: list[VideoSource] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    other_extensions: Counter[str] = field(default_factory=Counter)

    def notes(self, dataset: str) -> list[str]:
        """One line about the video files left out for their extension, with how to take them."""
        if not self.other_extensions:
            return []
        found = ", ".join(f"{n} {ext}" for ext, n in sorted(self.other_extensions.items()))
        add = " ".join(f"--ext {ext}" for ext in sorted(self.other_extensions))
        return [f"left out video files of other extensions ({found}) for --dataset {dataset}: add {add}"]


class _Walk:
    def __init__(self, exts: tuple[str, ...]) -> None:
        self.exts, self.listing = exts, Listing()

    def entries(self, folder: Path) -> list[os.DirEntry]:
        """``folder``'s visible entries, sorted; an unreadable folder becomes a problem, not a crash."""
        try:
            with os.scandir(folder) as it:
                return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
        except OSError as e:
            self.listing.problems.append((str(folder), f"cannot list the folder: {e.strerror or e}"))
            return []

    def kind(self, entry: os.DirEntry) -> str:
        """``dir``, ``file``, or ``bad`` (a problem recorded: a loop, a dangling link, unreadable)."""
        try:
            if entry.is_dir():
                return "dir"
            if entry.is_file():
                return "file"
            reason = "a dangling symlink" if entry.is_symlink() else "not a regular file"
        except OSError as e:
            reason = e.strerror or str(e)
        if entry.name.lower().endswith(VIDEO_EXTENSIONS) or entry.is_symlink():
            self.listing.problems.append((entry.path, reason))
        return "bad"

    def videos(self, folder: Path, label: str) -> None:
        for e in self.entries(folder):
            kind = self.kind(e)
            lower = e.name.lower()
            if kind == "file" and lower.endswith(self.exts):
                self.listing.videos.append(VideoSource(Path(e.path), label, Path(e.name).stem))
            elif kind == "file" and lower.endswith(VIDEO_EXTENSIONS):
                self.listing.other_extensions[Path(lower).suffix] += 1
            elif kind == "dir" and lower.endswith(self.exts):
                self.listing.problems.append((e.path, "a folder named like a video"))

    def class_layout(self, src: Path, splits: tuple[str, ...]) -> None:
        self.videos(src, "")
        for entry in self.entries(src):
            if self.kind(entry) != "dir" or entry.name.lower().endswith(self.exts):
                continue
            if entry.name.lower() in splits:  # a split folder: class folders and/or unlabelled videos
                self.videos(Path(entry.path), entry.name)
                for sub in self.entries(Path(entry.path)):
                    if self.kind(sub) == "dir":
                        self.videos(Path(sub.path), sub.name)
            else:
                self.videos(Path(entry.path), entry.name)


def list_videos(
    src: str | os.PathLike, dataset: str = "folder", extensions: tuple[str, ...] | None = None
) -> Listing:
    """The videos of ``src`` in ``dataset``'s layout (absolute paths, sorted by path; see the module
    table), and what was left out and why."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    src = Path(src).absolute()
    if not src.is_dir():
        raise ValueError(f"{src} is not a folder")
    exts = tuple(
        e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions or DEFAULT_EXTENSIONS[dataset]
    )
    walk = _Walk(exts)
    if dataset == "activitynet":
        walk.videos(src, "")
    else:
        walk.class_layout(src, SPLIT_FOLDERS if dataset in ("kinetics", "mit") else ())
    walk.listing.videos.sort(key=lambda v: str(v.path))
    walk.listing.problems = list(dict.fromkeys(walk.listing.problems))  # a top entry is looked at twice
    return walk.listing


def find_videos(
    src: str | os.PathLike, dataset: str = "folder", extensions: tuple[str, ...] | None = None
) -> list[VideoSource]:
    """The videos of ``src`` in ``dataset``'s layout (see :func:`list_videos`)."""
    return list_videos(src, dataset, extensions).videos


def video_for(root: str | os.PathLike, relpath: str) -> Path | None:
    """The video of a manifest ``path`` under ``root``: the path itself, or with a known extension
    (``<path>.mp4``, ``.avi``, …, also in capitals); None when there is none."""
    exact = Path(root) / relpath
    if exact.is_file():
        return exact
    for ext in VIDEO_EXTENSIONS:
        for candidate in (exact.with_name(exact.name + ext), exact.with_name(exact.name + ext.upper())):
            if candidate.is_file():
                return candidate
    return None


def video_files(paths: list[str | os.PathLike] | tuple[str | os.PathLike, ...]) -> list[Path]:
    """The files given, and every video file (by extension) under the folders given, at any depth,
    sorted per folder, each once; hidden entries and links to folders are not walked into."""
    found: list[Path] = []
    for p in map(Path, paths):
        if not p.is_dir():
            found.append(p)
            continue
        for folder, dirs, files in os.walk(p):  # followlinks=False: a folder link cannot loop
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                path = Path(folder) / name
                if not name.startswith(".") and name.lower().endswith(VIDEO_EXTENSIONS) and path.is_file():
                    found.append(path)
    return list(dict.fromkeys(found))
