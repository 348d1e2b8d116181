"""Run logs: the seed's tab-separated ``train.log``/``val.log``, and TensorBoard scalars when installed."""

from __future__ import annotations

import csv
import os
from pathlib import Path


class CsvLog:
    """Append-only tab-separated log with a header, as the 3D-ResNets seed writes them."""

    def __init__(self, path: str | os.PathLike, header: list[str], resume_after: int | None = None):
        self.path, self.header = Path(path), header
        rows: list[list[str]] = []
        if resume_after is not None and self.path.exists():
            with open(self.path, newline="") as f:
                rows = [r for r in csv.reader(f, delimiter="\t")][1:]
            rows = [r for r in rows if r and int(r[0]) <= resume_after]
        with open(self.path, "w", newline="") as f:
            writer = csv.writer(f, delimiter="\t")
            writer.writerow(header)
            writer.writerows(rows)

    def log(self, **values: float) -> None:
        with open(self.path, "a", newline="") as f:
            csv.writer(f, delimiter="\t").writerow([values[k] for k in self.header])


def read_log(path: str | os.PathLike) -> list[dict[str, float]]:
    """Rows of a :class:`CsvLog` as dicts of floats."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        return [{k: float(v) for k, v in row.items()} for row in reader]


class Scalars:
    """TensorBoard scalars under ``RUN/tb`` when the ``tensorboard`` package is installed; else nothing."""

    def __init__(self, folder: str | os.PathLike):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.writer = None
        else:
            self.writer = SummaryWriter(str(folder))

    def add(self, tag: str, value: float, step: int) -> None:
        if self.writer is not None:
            self.writer.add_scalar(tag, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
