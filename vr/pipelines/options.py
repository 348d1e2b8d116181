"""How a loader runs (:class:`LoaderOptions`), importing nothing heavy, so that the training config and
the command line can hold one."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

from vr.pipelines.backends import LOADERS

# set per process by whoever runs the loader (the trainer: DDP rank, GPU, the epoch it resumes in)
RUNTIME = frozenset(
    {
        "rank",
        "world_size",
        "dtype",
        "drop_last",
        "even_ranks",
        "start_epoch",
        "start_batch",
        "device_id",
        "pin_memory",
    }
)


@dataclass(frozen=True)
class LoaderOptions:
    """How a loader runs (not which clips it draws).

    ``backend``: ``torch`` (DataLoader workers) or ``dali``. ``rank``/``world_size``: the DDP rank, whose
    share of each epoch :class:`~vr.pipelines.order.EpochOrder` deals. ``even_ranks`` (training only):
    every rank gets ``videos // world_size`` videos an epoch, so DDP ranks run the same number of steps.
    ``start_epoch``/``start_batch``: where the first pass starts (resuming mid-epoch). ``device_id``
    (DALI only): the GPU to decode on (nvJPEG) and deliver to; None decodes on the CPU. ``dali_decoder``
    (DALI only): ``dali`` (DALI's decoder) or ``workers`` (its Python workers decode); None: ``dali`` on a
    GPU, ``workers`` on the CPU. ``pin_memory`` (torch only): page-locked batches for fast, asynchronous
    copies to a GPU; None: when one is present (pass False when training on the CPU anyway).
    ``storage_options``/``cache_dir``: for a shard folder at a URL.
    """

    backend: str = "torch"
    batch_size: int = 8
    num_workers: int = 2
    seed: int = 0
    rank: int = 0
    world_size: int = 1
    dtype: Any = None  # the clips' torch dtype; None: float32
    drop_last: bool = False
    even_ranks: bool = True
    start_epoch: int = 0
    start_batch: int = 0
    mean_dataset: str = "kinetics"
    device_id: int | None = None
    num_threads: int = 2
    prefetch: int = 2
    dali_decoder: str | None = None
    pin_memory: bool | None = None
    storage_options: dict[str, Any] | None = None
    cache_dir: str | os.PathLike | None = None

    def __post_init__(self) -> None:
        if self.backend not in LOADERS:
            raise ValueError(f"backend must be one of {', '.join(LOADERS)}, got {self.backend!r}")
        if self.batch_size < 1 or self.num_workers < 0 or self.num_threads < 1 or self.prefetch < 1:
            raise ValueError("batch_size, num_threads, prefetch must be >= 1 and num_workers >= 0")
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank must be in [0, {self.world_size}), got {self.rank}")

    def to_json(self) -> dict[str, Any]:
        """The options a run chose, as saved in its config (what the trainer sets per process, such as
        the rank, the GPU and where an epoch starts, is left out)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in RUNTIME}
