"""``build_loader``: one entry point for both backends and both kinds of source.

What a loader draws is a :class:`~vr.pipelines.sampling.SamplingConfig`; how it runs (backend, batch,
workers, DDP rank, where to start, remote storage) is a :class:`LoaderOptions`. Both hold the one set of
defaults ``vr train`` and ``vr eval`` use too.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from vr.modality import mean_std
from vr.pipelines.backends import BACKENDS
from vr.pipelines.loader_base import ClipLoaderBase, LoaderOptions
from vr.pipelines.order import EpochOrder
from vr.pipelines.sampling import SamplingConfig
from vr.pipelines.sources import SourceError, open_source

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
    if o.backend not in BACKENDS:  # dali-video: the raw-video reader of vr.pipelines.video
        raise ValueError(
            f"build_loader reads shard and frame folders ({', '.join(BACKENDS)}), not {o.backend!r}"
        )
    src = open_source(source, modality, frames_root, flow_root, subset, o.storage_options, o.cache_dir)
    train = sampling.mode == "train"
    order = EpochOrder(src.shard_sizes, sampling.views, o.seed, train, o.rank, o.world_size, o.even_ranks)
    if len(order) == 0:
        raise SourceError(f"{source}: no videos for rank {o.rank} of {o.world_size} ({len(src)} in all)")
    n_batches = len(order) // o.batch_size if o.drop_last else -(-len(order) // o.batch_size)
    if not 0 <= o.start_batch < max(n_batches, 1):
        raise ValueError(f"start_batch must be in [0, {n_batches}), got {o.start_batch}")
    mean, std = mean_std(src.modality, o.mean_dataset)
    if o.backend == "torch":
        from vr.pipelines.torch_loader import TorchClipLoader

        return TorchClipLoader(src, sampling, order, o, mean, std)
    from vr.pipelines.dali_loader import DaliClipLoader

    return DaliClipLoader(src, sampling, order, o, mean, std)
