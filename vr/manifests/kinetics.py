"""Kinetics (400/600/700): the official CSVs ``label,youtube_id,time_start,time_end,split[,is_cc]``.

``annotations`` is either a folder holding one CSV per subset (``kinetics_train.csv``, ``train.csv``,
``kinetics_700_val.csv``, ``validate.csv``, ``..._test.csv``: the subset is the end of the file name)
or one CSV whose ``split`` column names each row's subset. The test CSV may lack labels. A video's id
is ``<youtube_id>_<start:06d>_<end:06d>`` and its frames live in ``ROOT/<label>/<id>`` (spaces in the
label may also be underscores) or, unlabelled, ``ROOT/test/<id>``, as in the 3D-ResNets seed. Labels
are the sorted unique labels of the train rows.
"""

from __future__ import annotations

from pathlib import Path

from vr.manifests.listing import UNLABELLED_FOLDER, AnnotationError, Entry, Listing, csv_rows

SUBSET_NAMES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validate": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}
REQUIRED = ("youtube_id", "time_start", "time_end")


def subset_of_file(path: Path) -> str | None:
    """The subset a CSV's name ends with (``kinetics_700_val.csv`` -> ``val``), else None."""
    return SUBSET_NAMES.get(path.stem.lower().replace("-", "_").rsplit("_", 1)[-1])


def find_csvs(folder: Path) -> dict[str, Path]:
    """One CSV per subset in ``folder``; raises when a subset has more than one or train has none."""
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.glob("*.csv")):
        subset = subset_of_file(path)
        if subset:
            found.setdefault(subset, []).append(path)
    for subset, paths in found.items():
        if len(paths) > 1:
            names = ", ".join(p.name for p in paths)
            raise AnnotationError(f"{folder}: more than one Kinetics {subset} CSV ({names}); pass one file")
    if "train" not in found:
        raise AnnotationError(f"no Kinetics train CSV (e.g. kinetics_train.csv) in {folder}")
    return {subset: paths[0] for subset, paths in found.items()}


def video_id(youtube_id: str, start: str, end: str) -> str:
    """``<youtube_id>_<start:06d>_<end:06d>``, the seed's video id."""
    return f"{youtube_id}_{int(float(start)):06d}_{int(float(end)):06d}"


def read_csv(path: Path, subset: str | None) -> list[tuple[str, int, Entry]]:
    """``(file, line, entry)`` per row; ``subset`` None means each row's ``split`` column decides."""
    rows = csv_rows(path)
    first = next(rows, None)
    if first is None:
        raise AnnotationError(f"{path}: empty CSV")
    header = [c.lower() for c in first[1]]
    missing = [c for c in REQUIRED if c not in header]
    if missing or (subset is None and "split" not in header):
        need = list(REQUIRED) + ([] if subset else ["split"])
        raise AnnotationError(f"{path}:1: header must name the columns {', '.join(need)}; got {first[1]}")
    col = {name: i for i, name in enumerate(header)}
    out = []
    for lineno, cells in rows:
        if len(cells) != len(header):
            raise AnnotationError(f"{path}:{lineno}: {len(cells)} columns, the header has {len(header)}")
        row_subset = subset or SUBSET_NAMES.get(cells[col["split"]].lower())
        if row_subset is None:
            raise AnnotationError(f"{path}:{lineno}: unknown split {cells[col['split']]!r}")
        label = cells[col["label"]] if "label" in col and cells[col["label"]] else None
        if label is None and row_subset != "test":
            raise AnnotationError(f"{path}:{lineno}: a {row_subset} row without a label")
        try:
            vid = video_id(cells[col["youtube_id"]], cells[col["time_start"]], cells[col["time_end"]])
        except ValueError:
            raise AnnotationError(f"{path}:{lineno}: time_start/time_end must be numbers") from None
        folders = [f"{label}/{vid}", f"{label.replace(' ', '_')}/{vid}"] if label else []
        if row_subset == "test":
            folders.append(f"{UNLABELLED_FOLDER}/{vid}")
        entry = Entry(vid, label, row_subset, tuple(dict.fromkeys(folders)))
        out.append((str(path), lineno, entry))
    return out


def read(annotations: Path) -> Listing:
    """The listing of Kinetics from a folder of per-subset CSVs or one CSV with a ``split`` column."""
    annotations = Path(annotations)
    if annotations.is_dir():
        files = find_csvs(annotations)
        rows = [
            r
            for subset in ("train", "val", "test")
            if subset in files
            for r in read_csv(files[subset], subset)
        ]
        sources = [str(files[s]) for s in ("train", "val", "test") if s in files]
    elif annotations.is_file():
        rows = read_csv(annotations, None)
        sources = [str(annotations)]
    else:
        raise AnnotationError(f"Kinetics annotations not found: {annotations}")
    labels = sorted({e.label for _, _, e in rows if e.subset == "train" and e.label is not None})
    if not labels:
        raise AnnotationError(f"no labelled train rows in {', '.join(sources)}")
    known = set(labels)
    for path, lineno, e in rows:
        if e.label is not None and e.label not in known:
            raise AnnotationError(f"{path}:{lineno}: label {e.label!r} does not occur in the train rows")
    return Listing(labels, [e for _, _, e in rows], {"dataset": "kinetics", "annotations": sources})
