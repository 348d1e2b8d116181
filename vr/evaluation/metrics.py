"""Accuracy from per-video scores: top-k, per class, the confusion matrix and its PNG (OpenCV drawing).

Top-k follows the seed's ``eval_accuracy.py``: a video is right when its label is among the ``k`` classes
ranked first (score descending, ties in class order). Videos with label -1 (unlabelled) are left out.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from vr.evaluation.results import ranked


def topk_correct(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per row: is ``labels[i]`` among the ``k`` best-ranked classes of ``scores[i]``?"""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return np.zeros(0, bool)
    top = ranked(scores)[:, : min(k, scores.shape[1])]
    return (top == labels[:, None]).any(axis=1)


def accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> float | None:
    """Top-``k`` accuracy over the labelled rows (None when no row is labelled)."""
    labels = np.asarray(labels)
    known = labels >= 0
    if not known.any():
        return None
    return float(topk_correct(scores[known], labels[known], k).mean())


def confusion_matrix(scores: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``(K, K)``: row = true class, column = top-1 prediction (labelled rows only)."""
    labels = np.asarray(labels)
    known = labels >= 0
    matrix = np.zeros((n_classes, n_classes), np.int64)
    if known.any():
        np.add.at(matrix, (labels[known], ranked(scores[known])[:, 0]), 1)
    return matrix


def per_class_accuracy(matrix: np.ndarray) -> list[float | None]:
    """Top-1 accuracy of each true class (None for a class with no video)."""
    totals = matrix.sum(axis=1)
    return [float(matrix[c, c] / totals[c]) if totals[c] else None for c in range(len(matrix))]


def confusion_image(matrix: np.ndarray, labels: Sequence[str], max_side: int = 1200) -> np.ndarray:
    """A BGR image of the row-normalised confusion matrix (viridis), class names and counts when room."""
    k = len(matrix)
    cell = int(np.clip(max_side // max(k, 1), 2, 48))
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.4
    show_names = cell >= 10
    margin = 8 + (
        max(cv2.getTextSize(str(n)[:24], font, scale, 1)[0][0] for n in labels) if show_names else 0
    )
    totals = matrix.sum(axis=1, keepdims=True)
    norm = np.divide(matrix, totals, out=np.zeros(matrix.shape, np.float64), where=totals > 0)
    cells = cv2.applyColorMap(np.round(norm * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)
    grid = cv2.resize(cells, (k * cell, k * cell), interpolation=cv2.INTER_NEAREST)
    if cell >= 24:
        for (r, c), n in np.ndenumerate(matrix):
            if n:
                colour = (0, 0, 0) if norm[r, c] > 0.6 else (255, 255, 255)
                text = str(n)
                (w, h), _ = cv2.getTextSize(text, font, scale, 1)
                org = (c * cell + (cell - w) // 2, r * cell + (cell + h) // 2)
                cv2.putText(grid, text, org, font, scale, colour, 1, cv2.LINE_AA)
    title_h = 24
    image = np.full((title_h + margin + k * cell + 8, margin + k * cell + 8, 3), 255, np.uint8)
    image[title_h + margin : title_h + margin + k * cell, margin : margin + k * cell] = grid
    cv2.putText(
        image, "rows: true class, columns: predicted", (4, 16), font, scale, (0, 0, 0), 1, cv2.LINE_AA
    )
    if show_names:
        top = np.full((k * cell, margin, 3), 255, np.uint8)  # column names, drawn sideways
        for i, name in enumerate(labels):
            y = i * cell + (cell + 8) // 2
            cv2.putText(
                image, str(name)[:24], (4, title_h + margin + y), font, scale, (0, 0, 0), 1, cv2.LINE_AA
            )
            cv2.putText(top, str(name)[:24], (4, y), font, scale, (0, 0, 0), 1, cv2.LINE_AA)
        image[title_h : title_h + margin, margin : margin + k * cell] = cv2.rotate(
            top, cv2.ROTATE_90_COUNTERCLOCKWISE
        )
    return image


def write_confusion_png(
    path: str | os.PathLike, matrix: np.ndarray, labels: Sequence[str], max_side: int = 1200
) -> Path:
    """Draw :func:`confusion_image` into the PNG ``path``."""
    path = Path(path)
    if not cv2.imwrite(str(path), confusion_image(matrix, labels, max_side)):
        raise OSError(f"cannot write {path}")
    return path
