"""A folder of class folders: ``ROOT/<class>/<video file or frame folder>``, labels = sorted class names.

``ROOT`` may be the raw video folder or the frame root itself. When every top-level folder is a subset
name (``train``/``val``/``test``, or the seed's ``training``/``validation``/``testing``), each holds its
own class folders and gives its videos that subset; otherwise every video is ``train``. Frames live in
``FRAMES/<class>/<id>`` (or ``FRAMES/<subset folder>/<class>/<id>``).
"""

from __future__ import annotations

from pathlib import Path

from vr.manifests.listing import SEED_SUBSETS, AnnotationError, Entry, Listing, require_dir, video_stem

SUBSET_FOLDERS = {**{s: s for s in SEED_SUBSETS.values()}, **SEED_SUBSETS}


def visible(folder: Path) -> list[Path]:
    """Entries of ``folder`` not starting with '.' or '_' (markers, temporary folders, reports), sorted."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith((".", "_")))


def class_entries(root: Path, subset: str, prefix: str) -> list[Entry]:
    """Entries of every class folder under ``root``."""
    entries = []
    for class_dir in visible(root):
        if not class_dir.is_dir():
            continue
        label = class_dir.name
        for item in visible(class_dir):
            vid = item.name if item.is_dir() else video_stem(item.name)
            candidates = tuple(dict.fromkeys([f"{prefix}{label}/{vid}", f"{label}/{vid}"]))
            entries.append(Entry(vid, label, subset, candidates))
    return entries


def read(annotations: Path) -> Listing:
    """The listing of a folder of class folders (optionally split into subset folders)."""
    root = require_dir(annotations, "folder")
    tops = [p for p in visible(root) if p.is_dir()]
    if tops and all(p.name in SUBSET_FOLDERS for p in tops):
        entries = [e for p in tops for e in class_entries(p, SUBSET_FOLDERS[p.name], f"{p.name}/")]
    else:
        entries = class_entries(root, "train", "")
    if not entries:
        raise AnnotationError(f"no class folders with videos in {root}")
    labels = sorted({e.label for e in entries if e.label is not None})
    return Listing(labels, entries, {"dataset": "folder", "annotations": str(root)})
