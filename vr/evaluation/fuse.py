"""`vr fuse`: two-stream late fusion of per-video scores from two results files (RGB and Flow).

The fused score of class ``c`` for a video is ``(w_rgb * rgb[c] + w_flow * flow[c]) / (w_rgb + w_flow)``
(a weighted average, so the scores stay probabilities; the ranking is the weighted sum's). A class missing
from a video's list (files written with ``--topk``) counts as score 0. Only videos in both files are
fused; the others are reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vr.evaluation.metrics import accuracy
from vr.evaluation.results import EvalError, Results


@dataclass
class Fusion:
    """The fused results and the accuracies of each stream and of the fusion on the common videos."""

    fused: Results
    only_rgb: list[str]
    only_flow: list[str]
    accuracy: dict[str, dict[int, float | None]]  # {"rgb"|"flow"|"fused": {k: top-k accuracy}}


def _merge_truth(a: Results, b: Results) -> dict[str, str]:
    truth = dict(a.ground_truth)
    for vid, label in b.ground_truth.items():
        if truth.setdefault(vid, label) != label:
            raise EvalError(f"video {vid!r}: ground truth {truth[vid]!r} in one file, {label!r} in the other")
    return truth


def _aligned(results: Results, labels: list[str], ids: list[str]) -> np.ndarray:
    """``results``' scores for ``ids`` with the columns in ``labels``' order."""
    rows = {v: i for i, v in enumerate(results.ids)}
    cols = [results.labels.index(name) for name in labels]
    return results.scores[[rows[v] for v in ids]][:, cols]


def fuse(rgb: Results, flow: Results, weights: tuple[float, float] = (1.0, 1.0), ks=(1, 5)) -> Fusion:
    """Fuse ``rgb`` and ``flow`` with ``weights``; accuracies from the files' ground truth (top-``ks``)."""
    w_rgb, w_flow = (float(w) for w in weights)
    if not (math.isfinite(w_rgb) and math.isfinite(w_flow)) or min(w_rgb, w_flow) < 0 or w_rgb + w_flow <= 0:
        raise EvalError(f"weights must be >= 0 with a positive sum, got {w_rgb:g},{w_flow:g}")
    if set(rgb.labels) != set(flow.labels):
        extra = sorted(set(rgb.labels) ^ set(flow.labels))
        raise EvalError(
            f"the two files have different label sets ({len(extra)} differ: {', '.join(extra[:5])})"
        )
    labels = list(rgb.labels)
    in_flow = set(flow.ids)
    common = [v for v in rgb.ids if v in in_flow]
    if not common:
        raise EvalError("the two files have no video in common")
    truth = _merge_truth(rgb, flow)
    a, b = _aligned(rgb, labels, common), _aligned(flow, labels, common)
    fused_scores = (w_rgb * a.astype(np.float64) + w_flow * b) / (w_rgb + w_flow)
    fused = Results(common, fused_scores, labels, {v: truth[v] for v in common if v in truth}, "two-stream")
    y = fused.label_array()
    acc = {
        name: {k: accuracy(s, y, k) for k in ks}
        for name, s in (("rgb", a), ("flow", b), ("fused", fused.scores))
    }
    in_rgb = set(rgb.ids)
    return Fusion(
        fused, [v for v in rgb.ids if v not in in_flow], [v for v in flow.ids if v not in in_rgb], acc
    )
