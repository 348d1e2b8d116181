"""The 3D-ResNets seed's annotation JSON, to and from manifests.

The seed's ``util_scripts/*_json.py`` write ``{"labels": [...], "database": {id: {"subset":
"training"|"validation"|"testing", "annotations": {"label": ..., "segment": [1, n_frames + 1]}}}}``;
unlabelled (test) videos have ``annotations`` without ``label`` and live in ``ROOT/test/<id>``, the others
in ``ROOT/<label>/<id>``. ``segment`` is ``[begin, end)`` in 1-based frames, as in the manifest. ActivityNet
files (with ``taxonomy``; segments in seconds) are read by :mod:`vr.manifests.activitynet`.
"""

from __future__ import annotations

import json
import os
from typing import Any

from vr.errors import VrError
from vr.manifests import activitynet
from vr.manifests.build import resolve
from vr.manifests.listing import (
    SEED_SUBSETS,
    UNLABELLED_FOLDER,
    AnnotationError,
    Entry,
    Listing,
    load_json,
    require_file,
)
from vr.manifests.report import BuildReport
from vr.manifests.schema import Manifest
from vr.writing import atomic_write

MANIFEST_TO_SEED = {ours: theirs for theirs, ours in SEED_SUBSETS.items()}


class SeedExportError(VrError, ValueError):
    """A manifest the seed's annotation JSON cannot express."""


def seed_folder(label: str | None, vid: str) -> str:
    """Where the seed looks for a video's frames, relative to its video root."""
    return f"{label if label is not None else UNLABELLED_FOLDER}/{vid}"


def _segment(value: Any, where: str) -> list[int] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(t, int) and not isinstance(t, bool) for t in value)
    ):
        raise AnnotationError(f"{where}: segment must be [begin, end] frame numbers, got {value!r}")
    return list(value)


def read_seed_json(path: str | os.PathLike) -> Listing:
    """The listing of a seed annotation JSON (an ActivityNet-style file goes to the ActivityNet reader)."""
    path = require_file(path, "seed annotation JSON")
    data = load_json(path)
    if isinstance(data, dict) and "taxonomy" in data:
        return activitynet.read(path)
    if not isinstance(data, dict) or not isinstance(data.get("labels"), list):
        raise AnnotationError(f"{path}: not a seed annotation JSON (needs 'labels' and 'database')")
    if not isinstance(data.get("database"), dict):
        raise AnnotationError(f"{path}: not a seed annotation JSON (needs 'labels' and 'database')")
    labels = [str(label) for label in data["labels"]]
    known = set(labels)
    entries = []
    for vid, video in data["database"].items():
        where = f"{path}: database[{vid!r}]"
        if not isinstance(video, dict) or video.get("subset") not in SEED_SUBSETS:
            raise AnnotationError(f"{where}: needs a subset of {', '.join(SEED_SUBSETS)}")
        ann = video.get("annotations") or {}
        if not isinstance(ann, dict):
            raise AnnotationError(f"{where}: annotations must be an object")
        label = ann.get("label")
        if label is not None and label not in known:
            raise AnnotationError(f"{where}: label {label!r} is not in 'labels'")
        segment = _segment(ann.get("segment"), where)
        subset = SEED_SUBSETS[video["subset"]]
        entries.append(Entry(vid, label, subset, (seed_folder(label, vid),), segment=segment))
    return Listing(labels, entries, {"dataset": "seed", "annotations": str(path)})


def import_seed_json(
    path: str | os.PathLike,
    frames: str | os.PathLike,
    *,
    allow_unmarked: bool = False,
    progress: bool = False,
) -> tuple[Manifest, BuildReport]:
    """The manifest of a seed annotation JSON over the frame root ``frames``, and its report."""
    return resolve(read_seed_json(path), frames, allow_unmarked=allow_unmarked, progress=progress)


def to_seed_json(manifest: Manifest) -> dict[str, Any]:
    """The seed annotation JSON of ``manifest`` (segment ``[1, n_frames + 1]`` for whole videos)."""
    if manifest.meta.get("dataset") == "activitynet":
        raise SeedExportError(
            "ActivityNet manifests hold segments of untrimmed videos; the seed reads ActivityNet's own JSON"
        )
    database: dict[str, Any] = {}
    for video in manifest.videos:
        if video.subset not in MANIFEST_TO_SEED:
            raise SeedExportError(f"video {video.id!r}: subset {video.subset!r} is not train/val/test")
        if video.id in database:
            raise SeedExportError(f"video id {video.id!r} occurs twice; seed ids must be unique")
        annotations: dict[str, Any] = {} if video.label is None else {"label": video.label}
        annotations["segment"] = list(video.segment or [1, video.n_frames + 1])
        database[video.id] = {"subset": MANIFEST_TO_SEED[video.subset], "annotations": annotations}
    return {"labels": list(manifest.labels), "database": database}


def misplaced_for_seed(manifest: Manifest) -> list[str]:
    """Ids of videos whose frame folder is not where the seed looks (``<label or test>/<id>``)."""
    return [v.id for v in manifest.videos if v.path != seed_folder(v.label, v.id)]


def write_seed_json(manifest: Manifest, path: str | os.PathLike) -> None:
    """Write :func:`to_seed_json` of ``manifest`` atomically."""
    atomic_write(path, json.dumps(to_seed_json(manifest), ensure_ascii=False))
