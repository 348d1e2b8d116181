"""Moments in Time: `moments_categories.txt`, `trainingSet.csv`, `validationSet.csv` (`testingSet.csv`).

The categories file has ``label,index`` lines (labels in file order, as the 3D-ResNets seed reads
them); set rows are ``<class>/<file>.mp4,<label>,...`` without a header (test rows: ``<file>.mp4``).
A video's id is its file stem; frames live in ``ROOT/<label>/<id>`` or, unlabelled, ``ROOT/test/<id>``.
"""

from __future__ import annotations

from pathlib import Path

from vr.manifests.listing import (
    UNLABELLED_FOLDER,
    AnnotationError,
    Entry,
    Listing,
    csv_rows,
    require_dir,
    require_file,
    video_stem,
)

CATEGORIES = "moments_categories.txt"
SETS = {"train": "trainingSet.csv", "val": "validationSet.csv", "test": "testingSet.csv"}


def read_categories(path: Path) -> list[str]:
    """Labels of the categories file, in file order."""
    labels = []
    for lineno, cells in csv_rows(path):
        if len(cells) != 2 or not cells[0]:
            raise AnnotationError(f"{path}:{lineno}: expected '<label>,<index>', got {','.join(cells)!r}")
        labels.append(cells[0])
    if len(set(labels)) != len(labels):
        raise AnnotationError(f"{path}: a category is listed twice")
    return labels


def read_set(path: Path, subset: str, known: set[str]) -> list[Entry]:
    """Entries of one set CSV; labelled rows must use a known category."""
    entries = []
    for lineno, cells in csv_rows(path):
        name = cells[0]
        label = cells[1] if len(cells) > 1 and cells[1] else None
        if not name or (label is None and subset != "test"):
            raise AnnotationError(
                f"{path}:{lineno}: expected '<class>/<file>,<label>,...', got {','.join(cells)!r}"
            )
        if label is not None and label not in known:
            raise AnnotationError(f"{path}:{lineno}: label {label!r} is not in {CATEGORIES}")
        vid = video_stem(name)
        folder = label or UNLABELLED_FOLDER
        class_dir = name.rsplit("/", 1)[0] if "/" in name else folder
        candidates = tuple(dict.fromkeys([f"{folder}/{vid}", f"{class_dir}/{vid}"]))
        entries.append(Entry(vid, label, subset, candidates))
    return entries


def read(annotations: Path) -> Listing:
    """The listing of Moments in Time from its annotation folder."""
    folder = require_dir(annotations, "Moments in Time")
    labels = read_categories(require_file(folder / CATEGORIES, "Moments in Time categories file"))
    known = set(labels)
    entries, sources = [], []
    for subset, name in SETS.items():
        path = folder / name
        if subset != "test":
            require_file(path, f"Moments in Time {subset} set")
        elif not path.is_file():
            continue
        entries += read_set(path, subset, known)
        sources.append(str(path))
    return Listing(labels, entries, {"dataset": "mit", "annotations": sources})
