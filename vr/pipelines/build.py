"""``build_loader``: one entry point for both backends and both kinds of source.

What a loader draws is a :class:`~vr.pipelines.sampling.SamplingConfig`; how it runs (backend, batch,
workers, DDP rank, where to start, remote storage) is a :class:`LoaderOptions`. Both hold the one set of
defaults ``vr train`` and ``vr eval`` use too.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

import torch

from vr.pipelines.loader_base import ClipLoaderBase
from vr.pipelines.normalize import mean_std
from vr.pipelines.order import EpochOrder
from vr.pipelines.sampling import SamplingConfig
from vr.pipelines.sources import SourceError, open_source

BACKENDS = ("torch", "dali")


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


_SAMPLING = {f.name for f in dataclasses.fields(SamplingConfig)}
_OPTIONS = {f.name for f in dataclasses.fields(LoaderOptions)}


def build_loader(
    source,
    modality: str = "rgb",
    sampling: SamplingConfig | None = None,
    options: LoaderOptions | None = None,
    *,
    frames_root: str | os.PathLike | None = None,
    flow_root: str | os.PathLike | None = None,
    subset: str | None = None,
    **fields: Any,
) -> ClipLoaderBase:
    """A loader of ``(N, C, T, size, size)`` clips; iterate it once per epoch.

    ``source``: a shard folder, local or a URL (``https://``, ``s3://``, ``gs://``: anything ``fsspec``
    opens), a manifest path or :class:`~vr.manifests.schema.Manifest` with ``frames_root``/``flow_root``
    in the seeds' layout, or a source object. ``subset`` selects a manifest's videos; a shard folder holds
    one subset and must match it. ``sampling`` (:class:`SamplingConfig`) and ``options``
    (:class:`LoaderOptions`) default to their defaults; any of their fields may also be given by name
    (``build_loader(folder, mode="eval", clip_len=8, batch_size=4)``), which replaces it.

    Which videos rank ``rank`` reads, in which order, is :class:`~vr.pipelines.order.EpochOrder`'s:
    shards permuted each epoch and dealt to the ranks, read near-sequentially; in evaluation every video
    once, in order. Each batch is a dict, see :mod:`vr.pipelines.loader_base`.
    """
    unknown = set(fields) - _SAMPLING - _OPTIONS
    if unknown:
        raise TypeError(f"build_loader() got unexpected keyword argument(s) {', '.join(sorted(unknown))}")
    sampling = dataclasses.replace(
        sampling or SamplingConfig(), **{k: v for k, v in fields.items() if k in _SAMPLING}
    )
    options = dataclasses.replace(
        options or LoaderOptions(), **{k: v for k, v in fields.items() if k in _OPTIONS}
    )
    o = options
    src = open_source(source, modality, frames_root, flow_root, subset, o.storage_options, o.cache_dir)
    train = sampling.mode == "train"
    order = EpochOrder(src.shard_sizes, sampling.views, o.seed, train, o.rank, o.world_size, o.even_ranks)
    if len(order) == 0:
        raise SourceError(f"{source}: no videos for rank {o.rank} of {o.world_size} ({len(src)} in all)")
    n_batches = len(order) // o.batch_size if o.drop_last else -(-len(order) // o.batch_size)
    if not 0 <= o.start_batch < max(n_batches, 1):
        raise ValueError(f"start_batch must be in [0, {n_batches}), got {o.start_batch}")
    mean, std = mean_std(src.modality, o.mean_dataset)
    common = dict(
        source=src,
        config=sampling,
        batch_size=o.batch_size,
        seed=o.seed,
        mean=mean,
        std=std,
        dtype=o.dtype,
        num_workers=o.num_workers,
        order=order,
        drop_last=o.drop_last,
        start_epoch=o.start_epoch,
        start_batch=o.start_batch,
        prefetch=o.prefetch,
    )
    if o.backend == "torch":
        from vr.pipelines.torch_loader import TorchClipLoader

        pin = torch.cuda.is_available() if o.pin_memory is None else o.pin_memory
        return TorchClipLoader(**common, pin_memory=pin)
    from vr.pipelines.dali_loader import DaliClipLoader

    return DaliClipLoader(**common, device_id=o.device_id, num_threads=o.num_threads, decoder=o.dali_decoder)
