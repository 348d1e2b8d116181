"""A manifest's video counts per class and subset, as a plain-text table."""

from __future__ import annotations

from collections import Counter

from vr.manifests.schema import SUBSETS, Manifest

UNLABELLED = "(unlabelled)"


def count_table(manifest: Manifest) -> str:
    """Rows: classes in label order (then unlabelled videos, then the total); columns: subsets, total."""
    counts = Counter((v.label, v.subset) for v in manifest.videos)
    seen = {v.subset for v in manifest.videos}
    subsets = [s for s in SUBSETS if s in seen] + sorted(seen - set(SUBSETS))
    names: list[str | None] = list(manifest.labels)
    if any(v.label is None for v in manifest.videos):
        names.append(None)
    rows = [[UNLABELLED if name is None else name] + [counts[name, s] for s in subsets] for name in names]
    for row in rows:
        row.append(sum(row[1:]))
    rows.append(["total"] + [sum(row[i] for row in rows) for i in range(1, len(subsets) + 2)])
    header = ["class", *subsets, "total"]
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)])
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.insert(-1, lines[1])
    return "\n".join(lines)


def summary(manifest: Manifest) -> str:
    """One line: dataset, split, number of labels, videos and frames."""
    meta = manifest.meta
    name = str(meta.get("dataset", "manifest")) + (f" split {meta['split']}" if "split" in meta else "")
    frames = sum(v.n_frames for v in manifest.videos)
    return f"{name}: {len(manifest.labels)} labels, {len(manifest.videos)} videos, {frames} frames"
