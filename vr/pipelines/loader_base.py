"""What both backends share: the batch format, dtype conversion, and the once-per-epoch skip report.

Every batch is a dict::

    {"clip": (N, C, T, H, W) float32/bfloat16, "label": (N,) int64 (-1 when unlabelled),
     "video_id": list[str], "index": (N,) int64 item index (video * views + view)}

Bad samples are left out of their batch (so N can be below ``batch_size``, and 0: a batch whose samples
were all bad is still yielded, so every DDP rank sees the same number of batches); after each epoch the loader
logs one warning with their count and keeps them in ``loader.skipped`` as ``(video_id, reason)``. Storage
that fails (a shard unreachable after retries, truncated, or not as indexed) raises
:class:`~vr.storage.StorageError` in the process iterating the loader.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from vr.pipelines.backends import BACKENDS
from vr.pipelines.order import EpochOrder
from vr.pipelines.sampling import SamplingConfig
from vr.storage import StorageError

log = logging.getLogger("vr.pipelines")


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
    dtype: torch.dtype = torch.float32
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
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.batch_size < 1 or self.num_workers < 0 or self.num_threads < 1 or self.prefetch < 1:
            raise ValueError("batch_size, num_threads, prefetch must be >= 1 and num_workers >= 0")
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank must be in [0, {self.world_size}), got {self.rank}")


class ClipLoaderBase:
    """Iterating gives one epoch of batches; each new pass is the next epoch.

    ``order`` (:class:`~vr.pipelines.order.EpochOrder`) says which items this rank visits each epoch;
    ``n_items`` is their number (videos x views). ``options``: how it runs (:class:`LoaderOptions`);
    ``mean``/``std``: the normalisation, per channel, in pixel units.
    """

    backend = ""

    def __init__(self, source, config: SamplingConfig, order: EpochOrder, options: LoaderOptions, mean, std):
        self.source, self.config, self.order, self.options = source, config, order, options
        self.batch_size, self.dtype = options.batch_size, options.dtype
        self.mean, self.std = tuple(mean), tuple(std)
        self.n_items = len(order)
        self.n_batches = (
            self.n_items // self.batch_size if options.drop_last else -(-self.n_items // self.batch_size)
        )
        self.labels: list[str] = list(getattr(source, "labels", []))
        self.skipped: list[tuple[str, str]] = []
        self.epochs_done = 0

    def __len__(self) -> int:
        raise NotImplementedError

    def _batches(self) -> Iterator[dict]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[dict]:
        skipped: list[tuple[str, str]] = []
        for batch in self._batches():
            fatal = batch.pop("fatal", None)
            if fatal:
                raise StorageError(fatal)
            skipped.extend(batch.pop("skipped"))
            if batch["clip"].dtype != self.dtype:
                batch["clip"] = batch["clip"].to(self.dtype)
            yield batch  # even with no clips left: DDP ranks must see the same number of batches
        self.skipped = skipped
        self.epochs_done += 1
        if skipped:
            first = "; ".join(f"{vid}: {why}" for vid, why in skipped[:3])
            log.warning(
                "%s loader, epoch %d: skipped %d bad sample(s) (%s%s)",
                self.backend,
                self.epochs_done - 1,
                len(skipped),
                first,
                " ..." if len(skipped) > 3 else "",
            )
