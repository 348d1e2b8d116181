"""Manifests to and from the annotation lists of other tools, so a dataset moves in one command.

============================  ==================================================  ==========================
format                        one line (or row)                                   files
============================  ==================================================  ==========================
``seed``                      the 3D-ResNets seed's JSON (:mod:`.resnets3d`)       one JSON, every subset
``mmaction-rawframes``        ``frame_dir total_frames label`` (MMAction2)         one per subset
``mmaction-videos``           ``path/to/video.mp4 label`` (MMAction2)              one per subset
``pyslowfast``                ``path/to/video.mp4 label`` (PySlowFast's CSVs)      ``train.csv``, ``val.csv``,
                                                                                   ``test.csv``
``csv``                       every manifest field, with a header row              one CSV, every subset
============================  ==================================================  ==========================

Labels in the list formats are indices; the names go to ``labels.txt`` beside the lists (one a line,
MMAction2's label-map format) and are read back from there. An unlabelled video (a test set) is label
``-1``. The list formats are split on white space by their tools, so a path with a space cannot be
written to them (export refuses it and says which). Imports look each listed video up in the frame root
like `vr manifest build` (frame counts from the folders, missing ones reported); the CSV holds everything
and needs no frame root.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

from vr.errors import VrError
from vr.manifests.build import resolve
from vr.manifests.listing import (
    AnnotationError,
    Entry,
    Listing,
    csv_rows,
    require_file,
    text_lines,
    video_stem,
)
from vr.manifests.report import BuildReport
from vr.manifests.schema import SUBSETS, Manifest, VideoRecord, record_problem
from vr.safepath import is_relative_safe
from vr.writing import atomic_write

FORMATS = ("seed", "mmaction-rawframes", "mmaction-videos", "pyslowfast", "csv")
LIST_FORMATS = ("mmaction-rawframes", "mmaction-videos", "pyslowfast")
LABELS_FILE = "labels.txt"
CSV_FIELDS = ("id", "label", "label_index", "subset", "path", "n_frames", "fps", "segment")
UNLABELLED = -1


class ExportError(VrError, ValueError):
    """A manifest that the chosen format cannot express (the message says which video and why)."""


def list_file_name(fmt: str, subset: str) -> str:
    """The file a list format's ``subset`` is written to."""
    return {
        "mmaction-rawframes": f"{subset}_rawframes.txt",
        "mmaction-videos": f"{subset}_videos.txt",
        "pyslowfast": f"{subset}.csv",
    }[fmt]


# ---------------------------------------------------------------------------------------------- export


def _list_line(fmt: str, video: VideoRecord, video_ext: str) -> str:
    if video.segment is not None:
        raise ExportError(
            f"video {video.id!r} is a segment {video.segment} of its folder; {fmt} lists hold whole videos "
            "(export --format csv or seed keeps segments)"
        )
    if any(c.isspace() for c in video.path):
        raise ExportError(
            f"video {video.id!r}: path {video.path!r} holds white space, which {fmt} lists split on; "
            "rename the folders, or export --format csv"
        )
    label = UNLABELLED if video.label_index is None else video.label_index
    if fmt == "mmaction-rawframes":
        return f"{video.path} {video.n_frames} {label}"
    return f"{video.path}{video_ext} {label}"


def list_lines(manifest: Manifest, fmt: str, subset: str, video_ext: str = ".mp4") -> list[str]:
    """The lines of ``subset`` in list format ``fmt`` (video paths get ``video_ext``)."""
    if fmt not in LIST_FORMATS:
        raise ValueError(f"not a list format: {fmt!r}")
    return [_list_line(fmt, v, video_ext) for v in manifest.videos if v.subset == subset]


def csv_text(manifest: Manifest) -> str:
    """The manifest as CSV: a header row, then one row a video (segment as ``begin-end``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for v in manifest.videos:
        segment = f"{v.segment[0]}-{v.segment[1]}" if v.segment else ""
        label_index = "" if v.label_index is None else v.label_index
        fps = "" if v.fps is None else repr(float(v.fps))
        writer.writerow([v.id, v.label or "", label_index, v.subset, v.path, v.n_frames, fps, segment])
    return out.getvalue()


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, text)


def export_manifest(
    manifest: Manifest,
    fmt: str,
    out: str | os.PathLike,
    *,
    subset: str | None = None,
    video_ext: str = ".mp4",
) -> list[Path]:
    """Write ``manifest`` in format ``fmt``; return the files written.

    ``seed`` and ``csv`` write the file ``out``. The list formats write into the folder ``out`` one file a
    subset (:func:`list_file_name`) and ``labels.txt``; with ``subset``, only that subset's list, to the
    file ``out``.
    """
    from vr.manifests.resnets3d import write_seed_json

    out = Path(out)
    chosen = manifest if subset is None else manifest.subset(subset)
    if fmt == "seed":
        write_seed_json(chosen, out)
        return [out]
    if fmt == "csv":
        _write_text(out, csv_text(chosen))
        return [out]
    if fmt not in LIST_FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if not video_ext.startswith(".") or any(c.isspace() or c == "/" for c in video_ext):
        raise ExportError(f"video extension must look like .mp4, not {video_ext!r}")
    if subset is not None:
        _write_text(out, "".join(line + "\n" for line in list_lines(manifest, fmt, subset, video_ext)))
        return [out]
    present = [s for s in SUBSETS if any(v.subset == s for v in manifest.videos)]
    texts = {s: "".join(line + "\n" for line in list_lines(manifest, fmt, s, video_ext)) for s in present}
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for s, text in texts.items():
        written.append(out / list_file_name(fmt, s))
        _write_text(written[-1], text)
    written.append(out / LABELS_FILE)
    _write_text(written[-1], "".join(label + "\n" for label in manifest.labels))
    return written


# ---------------------------------------------------------------------------------------------- import


def guess_subset(path: Path) -> str | None:
    """``train``, ``val`` or ``test`` from a list file's name (``ucf101_val_split_1_rawframes.txt``)."""
    name = path.name.lower()
    found = [s for s in ("train", "val", "test") if s in name]
    return found[0] if len(found) == 1 else None


def read_labels(path: Path) -> list[str]:
    """A label map: one name a line (MMAction2's ``label_map_*.txt``), index = line order."""
    labels = [line for _, line in text_lines(require_file(path, "label file"))]
    if len(set(labels)) != len(labels):
        raise AnnotationError(f"{path}: a label occurs twice")
    return labels


def _candidates(path: str, strip_ext: bool) -> tuple[str, ...]:
    """Frame folders a listed path may be, relative to the frame root: the path itself (less its
    extension), then ``<parent>/<stem>`` and ``<stem>`` (for absolute paths of another machine)."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts:
        return ()
    stem = video_stem(parts[-1]) if strip_ext else parts[-1]
    whole = "/".join([*parts[:-1], stem])
    tail = "/".join([*parts[-2:-1], stem])
    return tuple(dict.fromkeys(c for c in (whole, tail, stem) if is_relative_safe(c)))


def read_list(path: Path, fmt: str, subset: str) -> list[tuple[int, str, int]]:
    """``(line, path, label index)`` of every line of one list file."""
    rows = []
    want = 3 if fmt == "mmaction-rawframes" else 2
    for lineno, line in text_lines(path):
        cells = line.split()
        if len(cells) != want:
            shape = "frame_dir total_frames label" if want == 3 else "path label"
            raise AnnotationError(f"{path}:{lineno}: expected '{shape}', got {line[:80]!r}")
        try:
            label = int(cells[-1])
            if want == 3:
                int(cells[1])
        except ValueError:
            raise AnnotationError(
                f"{path}:{lineno}: labels and frame counts are integers: {line[:80]!r}"
            ) from None
        rows.append((lineno, cells[0], label))
    return rows


def read_lists(
    paths: Sequence[str | os.PathLike], fmt: str, labels: list[str] | None = None, subset: str | None = None
) -> Listing:
    """The listing of list files in format ``fmt`` (each file's subset: ``subset`` or guessed from its
    name); ``labels`` names the indices (default: ``labels.txt`` beside the first file, else ``"0"``,
    ``"1"``, ...)."""
    if fmt not in LIST_FORMATS:
        raise ValueError(f"not a list format: {fmt!r}")
    files = [require_file(p, f"{fmt} list") for p in paths]
    if labels is None and (files[0].parent / LABELS_FILE).is_file():
        labels = read_labels(files[0].parent / LABELS_FILE)
    parsed = []
    for f in files:
        chosen = subset or guess_subset(f)
        if chosen is None:
            raise AnnotationError(f"{f}: cannot tell train, val or test from the name; give --subset")
        parsed.append((f, chosen, read_list(f, fmt, chosen)))
    if labels is None:
        top = max((label for _, _, rows in parsed for _, _, label in rows), default=-1)
        labels = [str(i) for i in range(top + 1)]
    entries = []
    for f, chosen, rows in parsed:
        for lineno, listed, label in rows:
            if label != UNLABELLED and not 0 <= label < len(labels):
                raise AnnotationError(f"{f}:{lineno}: label {label} is not in the {len(labels)}-label list")
            candidates = _candidates(listed, strip_ext=fmt != "mmaction-rawframes")
            if not candidates:
                raise AnnotationError(f"{f}:{lineno}: {listed!r} names no folder inside the frame root")
            vid = candidates[0].rsplit("/", 1)[-1]  # the folder's name, as `vr manifest build` names videos
            entries.append(Entry(vid, None if label == UNLABELLED else labels[label], chosen, candidates))
    meta = {"dataset": fmt, "annotations": [str(f) for f in files]}
    return Listing(list(labels), entries, meta)


def read_csv_manifest(path: str | os.PathLike) -> Manifest:
    """A manifest written by :func:`csv_text` (every record checked as a manifest's are)."""
    path = require_file(path, "manifest CSV")
    rows = iter(csv_rows(path))
    first = next(rows, None)
    if first is None or tuple(first[1]) != CSV_FIELDS:
        raise AnnotationError(f"{path}:1: expected the header {','.join(CSV_FIELDS)}")
    videos, labels = [], {}
    for lineno, cells in rows:
        if len(cells) != len(CSV_FIELDS):
            raise AnnotationError(f"{path}:{lineno}: expected {len(CSV_FIELDS)} cells, got {len(cells)}")
        vid, label, index, subset, rel, n_frames, fps, segment = cells
        try:
            record = VideoRecord(
                vid,
                label or None,
                int(index) if index else None,
                subset,
                rel,
                int(n_frames),
                float(fps) if fps else None,
                [int(x) for x in segment.split("-")] if segment else None,
            )
        except ValueError as e:
            raise AnnotationError(f"{path}:{lineno}: {e}") from None
        if subset not in SUBSETS:
            raise AnnotationError(f"{path}:{lineno}: subset {subset!r} is not one of {', '.join(SUBSETS)}")
        if record.label is not None:
            if labels.get(record.label_index, record.label) != record.label:
                raise AnnotationError(f"{path}:{lineno}: label index {record.label_index} names two labels")
            labels[record.label_index] = record.label
        videos.append((lineno, record))
    if labels and sorted(labels) != list(range(len(labels))):
        raise AnnotationError(f"{path}: label indices {sorted(labels)[:10]} are not 0..{len(labels) - 1}")
    names = [labels[i] for i in range(len(labels))]
    for lineno, record in videos:
        problem = record_problem(record, names)
        if problem:
            raise AnnotationError(f"{path}:{lineno}: video {record.id!r}: {problem}")
    return Manifest(names, [r for _, r in videos], {"dataset": "csv", "annotations": str(path)})


def import_manifest(
    paths: Sequence[str | os.PathLike],
    fmt: str,
    frames: str | os.PathLike | None = None,
    *,
    labels_file: str | os.PathLike | None = None,
    subset: str | None = None,
    allow_unmarked: bool = False,
    progress: bool = False,
) -> tuple[Manifest, BuildReport]:
    """The manifest of ``paths`` in format ``fmt`` and its report (videos looked up under ``frames``;
    the CSV needs none)."""
    if fmt == "csv":
        if len(paths) != 1:
            raise AnnotationError("--format csv reads one file")
        manifest = read_csv_manifest(paths[0])
        report = BuildReport()
        report.listed = report.kept = len(manifest.videos)
        return manifest, report
    if frames is None:
        raise AnnotationError(f"--format {fmt} needs --frames (the frame root the listed videos are in)")
    if fmt == "seed":
        from vr.manifests.resnets3d import import_seed_json

        if len(paths) != 1:
            raise AnnotationError("--format seed reads one JSON file")
        return import_seed_json(paths[0], frames, allow_unmarked=allow_unmarked, progress=progress)
    if fmt not in LIST_FORMATS:
        raise AnnotationError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    labels = read_labels(Path(labels_file)) if labels_file is not None else None
    listing = read_lists(paths, fmt, labels, subset)
    return resolve(listing, frames, allow_unmarked=allow_unmarked, progress=progress)
