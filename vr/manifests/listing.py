"""What a dataset reader returns: the label list and every listed video, before frame folders are read.

Every reader (one module per annotation format) turns official annotation files into a
:class:`Listing`; :mod:`vr.manifests.build` then looks each :class:`Entry` up in the frame root.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vr.errors import VrError

#: Subset names of the 3D-ResNets seed and of ActivityNet, mapped to the manifest's names.
SEED_SUBSETS = {"training": "train", "validation": "val", "testing": "test"}
#: Folder holding the frames of unlabelled (test) videos, as in the seed (``ROOT/test/<id>``).
UNLABELLED_FOLDER = "test"


class AnnotationError(VrError, ValueError):
    """Annotation files that are missing or malformed (the message names the file and line)."""


class SplitError(AnnotationError):
    """A split number the annotation files do not define."""


@dataclass
class Entry:
    """One listed video (or, for ActivityNet, one annotated segment of a video).

    ``candidates`` are folders relative to the frame root, tried in order; the first that exists
    is the video's. ``seconds`` is a segment in seconds (ActivityNet), turned into frames with the
    video's fps; ``segment`` is a segment already in 1-based frames ``[begin, end)``.
    """

    id: str
    label: str | None
    subset: str
    candidates: tuple[str, ...]
    seconds: tuple[float, float] | None = None
    segment: list[int] | None = None
    fps: float | None = None


@dataclass
class Listing:
    """A reader's result: labels in the dataset's official order, entries in file order, metadata,
    and ``(id, subset, reason)`` of listed videos the reader itself leaves out (they go into the report)."""

    labels: list[str]
    entries: list[Entry]
    meta: dict[str, Any] = field(default_factory=dict)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)


def require_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path; raises :class:`AnnotationError` when it is not a file."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{what} not found: {path}")
    return path


def require_dir(path: str | os.PathLike, dataset: str) -> Path:
    """``path`` as a Path; raises :class:`AnnotationError` when it is not a folder."""
    path = Path(path)
    if not path.is_dir():
        raise AnnotationError(f"{dataset} annotations must be a folder: {path}")
    return path


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Non-blank lines of a text file, stripped (CRLF too), with 1-based line numbers."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            for lineno, line in enumerate(f, start=1):
                line = line.strip()
                if line:
                    yield lineno, line
    except UnicodeDecodeError as e:
        raise AnnotationError(f"{path}: not a UTF-8 text file ({e.reason})") from None


def csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Non-empty CSV rows (cells stripped) with 1-based line numbers."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            for row in reader:
                cells = [c.strip() for c in row]
                if any(cells):
                    yield reader.line_num, cells
    except (UnicodeDecodeError, csv.Error) as e:
        raise AnnotationError(f"{path}: not a readable CSV file ({e})") from None


def video_stem(name: str) -> str:
    """A video's id from its file name: the base name without its extension (as frame folders are named)."""
    base = name.rsplit("/", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    return stem if dot and stem and ext.isalnum() else base


def load_json(path: Path) -> Any:
    """Parsed JSON; raises :class:`AnnotationError` naming the line of a syntax error."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise AnnotationError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    except UnicodeDecodeError as e:
        raise AnnotationError(f"{path}: not a UTF-8 text file ({e.reason})") from None


def pick_split(folder: Path, dataset: str, splits: dict[int, Any], split: int | None, files: str) -> int:
    """The split asked for (default 1) among the ``splits`` found in ``folder``; :class:`AnnotationError`
    when there are none (``files``: what the split files are), :class:`SplitError` when it is not one of
    them."""
    split = 1 if split is None else split
    if not splits:
        raise AnnotationError(f"no {dataset} {files} in {folder}")
    if split not in splits:
        found = ", ".join(map(str, sorted(splits)))
        raise SplitError(f"{dataset} split {split} not found in {folder} (splits there: {found})")
    return split
