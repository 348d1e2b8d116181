"""Official annotation files + a frame root -> one :class:`~vr.manifests.schema.Manifest` and its report."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from vr.manifests import activitynet, folder, hmdb51, kinetics, mit, ucf101
from vr.manifests.frames import OK, FrameFolder, find_frames
from vr.manifests.listing import Entry, Listing, SplitError
from vr.manifests.report import BuildReport
from vr.manifests.schema import Manifest, VideoRecord, label_indices
from vr.progress import progress_bar

#: Readers of datasets with numbered splits take ``(annotations, split)``; the others ``(annotations)``.
SPLIT_READERS: dict[str, Callable[[Path, int | None], Listing]] = {
    "ucf101": ucf101.read,
    "hmdb51": hmdb51.read,
}
READERS: dict[str, Callable[[Path], Listing]] = {
    "kinetics": kinetics.read,
    "activitynet": activitynet.read,
    "mit": mit.read,
    "folder": folder.read,
}
DATASETS = (*SPLIT_READERS, *READERS)


def read_listing(dataset: str, annotations: str | os.PathLike, split: int | None = None) -> Listing:
    """Read a dataset's official annotation files (raises ``AnnotationError``/``SplitError``)."""
    if dataset in SPLIT_READERS:
        return SPLIT_READERS[dataset](Path(annotations), split)
    if dataset not in READERS:
        raise ValueError(f"unknown dataset {dataset!r} (one of {', '.join(DATASETS)})")
    if split is not None:
        raise SplitError(f"{dataset} has no numbered splits (only {', '.join(SPLIT_READERS)} do)")
    return READERS[dataset](Path(annotations))


def _lookup_fps(fps_map: Mapping[str, float], path: str) -> float | None:
    name = os.path.basename(path)
    value = fps_map.get(name, fps_map.get(name.removeprefix("v_")))
    return float(value) if value is not None else None


def _frame_segment(
    entry: Entry, frames: FrameFolder, fps: float | None
) -> tuple[list[int] | None, str | None]:
    """The entry's ``[begin, end)`` frame segment (None for the whole video), or a reason to leave it out.

    Seconds become frames as in the 3D-ResNets seed (``floor(t * fps) + 1``), clipped to the frames
    that exist; a whole-video segment ``[1, n + 1]`` is written as None.
    """
    end_max = frames.n_frames + 1
    if entry.seconds is not None:
        if not fps:
            return None, "no_fps"
        begin, end = (math.floor(t * fps) + 1 for t in entry.seconds)
    elif entry.segment is not None:
        begin, end = entry.segment
    else:
        return None, None
    begin, end = max(begin, 1), min(end, end_max)
    if begin >= end:
        return None, "empty_segment"
    return (None if [begin, end] == [1, end_max] else [begin, end]), None


def resolve(
    listing: Listing,
    frames: str | os.PathLike,
    *,
    subsets: Collection[str] | None = None,
    allow_unmarked: bool = False,
    fps_map: Mapping[str, float] | None = None,
    progress: bool = False,
) -> tuple[Manifest, BuildReport]:
    """Look every listed video up in the frame root; keep those with frames, report the others.

    ``subsets`` keeps only those subsets (the others are neither kept nor reported). fps comes from the
    completion marker, else ``fps_map`` (video id or folder name -> fps), else the annotations.
    """
    root = Path(frames)
    index = label_indices(listing.labels)
    report = BuildReport()
    skipped = [
        (vid, reason) for vid, subset, reason in listing.skipped if subsets is None or subset in subsets
    ]
    for vid, reason in skipped:
        report.add(vid, reason)
    entries = [e for e in listing.entries if subsets is None or e.subset in subsets]
    report.listed = len(entries) + len(skipped)
    seen: set[str] = set()
    cache: dict[tuple[str, ...], FrameFolder] = {}
    videos = []
    for entry in progress_bar(entries, desc="manifest", unit="video", disable=not progress):
        if entry.id in seen:
            report.add(entry.id, "duplicate")
            continue
        seen.add(entry.id)
        if entry.candidates not in cache:
            cache[entry.candidates] = find_frames(root, entry.candidates, allow_unmarked)
        found = cache[entry.candidates]
        if found.status != OK:
            report.add(entry.id, found.status, found.path)
            continue
        if found.n_frames == 0:
            report.add(entry.id, "empty", found.path)
            continue
        fps = found.fps or (_lookup_fps(fps_map, found.path) if fps_map else None) or entry.fps
        segment, reason = _frame_segment(entry, found, fps)
        if reason:
            report.add(entry.id, reason, found.path)
            continue
        label_index = index[entry.label] if entry.label is not None else None
        videos.append(
            VideoRecord(
                entry.id, entry.label, label_index, entry.subset, found.path, found.n_frames, fps, segment
            )
        )
    report.kept = len(videos)
    meta = {**listing.meta, "frames": os.path.abspath(frames)}
    return Manifest(list(listing.labels), videos, meta), report


def build_manifest(
    dataset: str,
    annotations: str | os.PathLike,
    frames: str | os.PathLike,
    *,
    split: int | None = None,
    subsets: Collection[str] | None = None,
    allow_unmarked: bool = False,
    fps_map: Mapping[str, float] | None = None,
    progress: bool = False,
) -> tuple[Manifest, BuildReport]:
    """The manifest of ``dataset``'s official annotations over the frame root ``frames``, and its report."""
    listing = read_listing(dataset, annotations, split)
    return resolve(
        listing, frames, subsets=subsets, allow_unmarked=allow_unmarked, fps_map=fps_map, progress=progress
    )
