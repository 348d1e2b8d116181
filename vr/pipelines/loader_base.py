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
from collections.abc import Iterator

import torch

from vr.pipelines.options import LoaderOptions
from vr.pipelines.order import EpochOrder
from vr.pipelines.sampling import SamplingConfig
from vr.storage import StorageError

log = logging.getLogger("vr.pipelines")


class ClipLoaderBase:
    """Iterating gives one epoch of batches; each new pass is the next epoch.

    ``order`` (:class:`~vr.pipelines.order.EpochOrder`) says which items this rank visits each epoch;
    ``n_items`` is their number (videos x views). ``options``: how it runs (:class:`LoaderOptions`);
    ``mean``/``std``: the normalisation, per channel, in pixel units.
    """

    backend = ""

    def __init__(self, source, config: SamplingConfig, order: EpochOrder, options: LoaderOptions, mean, std):
        self.source, self.config, self.order, self.options = source, config, order, options
        self.batch_size, self.dtype = options.batch_size, options.dtype or torch.float32
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
