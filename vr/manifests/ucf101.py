"""UCF101: ``classInd.txt``, ``trainlist0N.txt`` and ``testlist0N.txt`` (the official split files).

``classInd.txt`` lines are ``1 ApplyEyeMakeup`` (labels in that order); train lines are
``ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1``; test lines carry no index. Frames live in
``ROOT/<class>/<video stem>``.
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
    require_file,
    text_lines,
    video_stem,
)


def split_lists(folder: Path) -> dict[int, Path]:
    """Train lists of ``folder`` by split number (``trainlist01.txt`` -> 1)."""
    found = ((re.fullmatch(r"trainlist(\d+)\.txt", p.name), p) for p in folder.iterdir())
    return {int(m.group(1)): p for m, p in found if m}


def read_class_index(path: Path) -> list[str]:
    """Labels of ``classInd.txt`` in index order (indices must be 1..N)."""
    labels: dict[int, str] = {}
    for lineno, line in text_lines(path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise AnnotationError(f"{path}:{lineno}: expected '<index> <class>', got {line!r}")
        labels[int(parts[0])] = parts[1]
    if sorted(labels) != list(range(1, len(labels) + 1)):
        raise AnnotationError(f"{path}: class indices must run 1..{len(labels)} without gaps")
    return [labels[i] for i in range(1, len(labels) + 1)]


def read_list(path: Path, subset: str, labels: list[str]) -> list[Entry]:
    """Entries of one train or test list; checks every class (and train index) against classInd."""
    index = {name: i for i, name in enumerate(labels, start=1)}
    entries = []
    for lineno, line in text_lines(path):
        parts = line.split()
        if len(parts) not in (1, 2) or parts[0].count("/") != 1:
            raise AnnotationError(f"{path}:{lineno}: expected '<class>/<video> [index]', got {line!r}")
        label, name = parts[0].split("/")
        if label not in index:
            raise AnnotationError(f"{path}:{lineno}: class {label!r} is not in classInd.txt")
        if len(parts) == 2 and parts[1] != str(index[label]):
            raise AnnotationError(
                f"{path}:{lineno}: index {parts[1]} does not match class {label!r} ({index[label]})"
            )
        vid = video_stem(name)
        entries.append(Entry(vid, label, subset, (f"{label}/{vid}",)))
    return entries


def read(annotations: Path, split: int | None) -> Listing:
    """The listing of one UCF101 split (default 1): trainlist as ``train``, testlist as ``val``."""
    folder = require_dir(annotations, "UCF101")
    lists = split_lists(folder)
    split = pick_split(folder, "UCF101", lists, split, "train lists (trainlist01.txt, ...)")
    labels = read_class_index(require_file(folder / "classInd.txt", "UCF101 class index"))
    train = lists[split]
    test = require_file(train.with_name(train.name.replace("train", "test")), "UCF101 test list")
    entries = read_list(train, "train", labels) + read_list(test, "val", labels)
    meta = {"dataset": "ucf101", "split": split, "annotations": [str(train), str(test)]}
    return Listing(labels, entries, meta)
