"""Per-video predictions in the 3D-ResNets seed's results format, read and written.

The seed's ``inference.py`` writes ``{"results": {video_id: [{"label": name, "score": p}, ...]}}`` with
the entries sorted by score, highest first; its ``util_scripts/eval_accuracy.py`` reads that file with the
annotation JSON. ``vr`` writes every class by default (``topk`` limits it) and adds three top-level keys
the seed ignores: ``labels`` (the class list), ``ground_truth`` ({video_id: label} of labelled videos) and
``modality``. Files written by the seed itself (no ``labels``) are read too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vr.errors import VrError
from vr.writing import write_json


class EvalError(VrError, ValueError):
    """A checkpoint, data set or results file that cannot be used as asked (one-line message)."""


def ranked(scores: np.ndarray) -> np.ndarray:
    """Class indices by score, highest first; ties keep class order (a stable sort, like the seed's)."""
    return np.argsort(-np.asarray(scores, np.float64), axis=-1, kind="stable")


@dataclass
class Results:
    """Scores ``(N, K)`` of videos ``ids`` over ``labels``, ground-truth labels by id, and the modality."""

    ids: list[str]
    scores: np.ndarray
    labels: list[str]
    ground_truth: dict[str, str] = field(default_factory=dict)
    modality: str | None = None

    def __post_init__(self) -> None:
        self.scores = np.asarray(self.scores, np.float32).reshape(len(self.ids), len(self.labels))

    def to_json(self, topk: int | None = None) -> dict:
        """The seed's results dict (entries sorted by score, ``topk`` of them, all when None)."""
        k = len(self.labels) if topk is None else min(topk, len(self.labels))
        results = {}
        for vid, row in zip(self.ids, self.scores, strict=True):
            results[vid] = [{"label": self.labels[c], "score": float(row[c])} for c in ranked(row)[:k]]
        data: dict = {
            "results": results,
            "labels": list(self.labels),
            "ground_truth": dict(self.ground_truth),
        }
        if self.modality is not None:
            data["modality"] = self.modality
        return data

    def write(self, path: str | os.PathLike, topk: int | None = None) -> Path:
        """Write :meth:`to_json` atomically; returns ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_json(path, self.to_json(topk), indent=None)

    def label_array(self) -> np.ndarray:
        """Ground-truth class index of every video, -1 where unknown."""
        index = {name: i for i, name in enumerate(self.labels)}
        return np.array([index.get(self.ground_truth.get(v, ""), -1) for v in self.ids], np.int64)


def read_results(path: str | os.PathLike) -> Results:
    """Read a results JSON (``vr``'s or the seed's); classes absent from a video's list score 0."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalError(f"{path}: no such results file") from None
    except (OSError, ValueError) as e:
        raise EvalError(f"{path}: not a results JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise EvalError(f"{path}: not a results JSON (needs a 'results' object)")
    entries = data["results"]
    labels = data.get("labels")
    if labels is None:  # the seed's own file: the labels it mentions, in first-seen order
        labels = list(dict.fromkeys(e["label"] for v in entries.values() for e in _entries(path, v)))
    labels = [str(x) for x in labels]
    index = {name: i for i, name in enumerate(labels)}
    scores = np.zeros((len(entries), len(labels)), np.float32)
    for row, (vid, items) in enumerate(entries.items()):
        for e in _entries(path, items):
            if e["label"] not in index:
                raise EvalError(f"{path}: video {vid!r} has label {e['label']!r}, which is not in 'labels'")
            scores[row, index[e["label"]]] = float(e["score"])
    truth = data.get("ground_truth") or {}
    if not isinstance(truth, dict):
        raise EvalError(f"{path}: 'ground_truth' must be an object {{video_id: label}}")
    return Results(
        list(entries), scores, labels, {str(k): str(v) for k, v in truth.items()}, data.get("modality")
    )


def _entries(path: Path, items: object) -> Sequence[dict]:
    if not isinstance(items, list) or not all(
        isinstance(e, dict) and "label" in e and "score" in e for e in items
    ):
        raise EvalError(f"{path}: each result must be a list of {{'label', 'score'}} (averaged results only)")
    return items
