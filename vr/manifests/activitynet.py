"""ActivityNet: the official JSON ``{"taxonomy": [...], "database": {id: {...}}}`` (v1.2 or v1.3).

Each database entry has ``subset`` (training/validation/testing) and ``annotations``, a list of
``{"label", "segment": [start_s, end_s]}``. As in the 3D-ResNets seed every annotated segment becomes one
sample (id ``<video>_seg<k>``); seconds become frames with the video's fps in :mod:`vr.manifests.build`.
Test videos (no annotations) become one unlabelled whole-video sample. Labels are the taxonomy's leaf
nodes in taxonomy order (the seed's order), or the sorted annotation labels when there is no taxonomy.
Frames live in the seed's flat ``ROOT/v_<id>`` (also found: ``ROOT/<id>``, ``ROOT/<label>/v_<id>``,
``ROOT/<label>/<id>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vr.manifests.listing import (
    SEED_SUBSETS,
    UNLABELLED_FOLDER,
    AnnotationError,
    Entry,
    Listing,
    load_json,
    require_file,
)


def leaf_labels(taxonomy: list[dict[str, Any]], path: Path) -> list[str]:
    """Names of taxonomy nodes that are no node's parent, in taxonomy order."""
    try:
        parents = {node["parentId"] for node in taxonomy}
        return [node["nodeName"] for node in taxonomy if node["nodeId"] not in parents]
    except (KeyError, TypeError):
        raise AnnotationError(f"{path}: taxonomy nodes need nodeId, nodeName and parentId") from None


def folders(key: str, label: str | None) -> tuple[str, ...]:
    """Candidate frame folders of video ``key``."""
    parent = label or UNLABELLED_FOLDER
    return (f"v_{key}", key, f"{parent}/v_{key}", f"{parent}/{key}")


def video_entries(key: str, video: Any, path: Path) -> tuple[list[Entry], str | None]:
    """Entries of one database video, or a reason to leave it out."""
    where = f"{path}: database[{key!r}]"
    if not isinstance(video, dict) or video.get("subset") not in SEED_SUBSETS:
        raise AnnotationError(f"{where}: needs a subset of {', '.join(SEED_SUBSETS)}")
    subset = SEED_SUBSETS[video["subset"]]
    try:
        fps = None if video.get("fps") is None else float(video["fps"])
    except (TypeError, ValueError):
        raise AnnotationError(f"{where}: fps must be a number, got {video['fps']!r}") from None
    annotations = video.get("annotations") or []
    if not annotations:
        if subset != "test":
            return [], "no_annotations"
        return [Entry(key, None, subset, folders(key, None), fps=fps)], None
    entries = []
    for k, ann in enumerate(annotations):
        try:
            label = str(ann["label"])
            start, end = (float(t) for t in ann["segment"])
        except (KeyError, TypeError, ValueError):
            raise AnnotationError(
                f"{where}.annotations[{k}]: needs a label and a segment [start, end]"
            ) from None
        entries.append(Entry(f"{key}_seg{k:02d}", label, subset, folders(key, label), (start, end), fps=fps))
    return entries, None


def read(annotations: Path) -> Listing:
    """The listing of an ActivityNet JSON file."""
    path = require_file(annotations, "ActivityNet JSON")
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise AnnotationError(f"{path}: not an ActivityNet JSON (needs a 'database' object)")
    entries, skipped = [], []
    for key, video in data["database"].items():
        found, reason = video_entries(key, video, path)
        entries += found
        if reason:
            skipped.append((key, SEED_SUBSETS[video["subset"]], reason))
    if data.get("taxonomy"):
        labels = leaf_labels(data["taxonomy"], path)
    else:
        labels = sorted({e.label for e in entries if e.label is not None})
    known = set(labels)
    for e in entries:
        if e.label is not None and e.label not in known:
            raise AnnotationError(f"{path}: label {e.label!r} of video {e.id!r} is not a taxonomy leaf")
    meta = {"dataset": "activitynet", "annotations": str(path)}
    if "version" in data:
        meta["version"] = data["version"]
    return Listing(labels, entries, meta, skipped)
