"""HMDB51: one ``<class>_test_split<N>.txt`` per class and split (the official split files).

Lines are ``<video>.avi <tag>`` with tag 1 = train, 2 = test, 0 = unused. Labels are the sorted class
names of all split files, as in the 3D-ResNets seed. Frames live in ``ROOT/<class>/<video stem>``.
"""

from __future__ import annotations

import re
from pathlib import Path

from vr.manifests.listing import (
    AnnotationError,
    Entry,
    Listing,
    pick_split,
    require_dir,
    text_lines,
    video_stem,
)

SPLIT_FILE = re.compile(r"(.+)_test_split(\d+)\.txt")
TAGS = {"1": "train", "2": "val"}


def split_files(folder: Path) -> dict[int, dict[str, Path]]:
    """Split files of ``folder``: split number -> class -> file."""
    splits: dict[int, dict[str, Path]] = {}
    for path in sorted(folder.iterdir()):
        m = SPLIT_FILE.fullmatch(path.name)
        if m:
            splits.setdefault(int(m.group(2)), {})[m.group(1)] = path
    return splits


def read_split_file(path: Path, label: str) -> list[Entry]:
    """Entries of one class's split file (tag 0 lines are skipped)."""
    entries = []
    for lineno, line in text_lines(path):
        parts = line.split()
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise AnnotationError(f"{path}:{lineno}: expected '<video> 0|1|2', got {line!r}")
        if parts[1] != "0":
            vid = video_stem(parts[0])
            entries.append(Entry(vid, label, TAGS[parts[1]], (f"{label}/{vid}",)))
    return entries


def read(annotations: Path, split: int | None) -> Listing:
    """The listing of one HMDB51 split (default 1): tag 1 as ``train``, tag 2 as ``val``."""
    folder = require_dir(annotations, "HMDB51")
    splits = split_files(folder)
    split = pick_split(folder, "HMDB51", splits, split, "split files (<class>_test_split<N>.txt)")
    labels = sorted({label for files in splits.values() for label in files})
    missing = [label for label in labels if label not in splits[split]]
    if missing:
        raise AnnotationError(f"{folder}: split {split} has no file for class(es) {', '.join(missing)}")
    files = splits[split]
    entries = [e for label in labels for e in read_split_file(files[label], label)]
    meta = {"dataset": "hmdb51", "split": split, "annotations": str(folder)}
    return Listing(labels, entries, meta)
