"""``build_loader``: one entry point for both backends and both kinds of source."""

from __future__ import annotations

import os
from typing import Any

import torch

from vr.pipelines.loader_base import ClipLoaderBase
from vr.pipelines.normalize import mean_std
from vr.pipelines.order import EpochOrder
from vr.pipelines.sampling import SamplingConfig
from vr.pipelines.sources import SourceError, open_source

BACKENDS = ("dali", "torch")


def build_loader(
    source,
    modality: str = "rgb",
    mode: str = "train",
    clip_len: int = 16,
    frame_stride: int = 1,
    size: int = 112,
    batch_size: int = 8,
    backend: str = "dali",
    num_workers: int = 2,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    n_clips: int = 1,
    n_crops: int = 1,
    dtype: torch.dtype = torch.float32,
    *,
    frames_root: str | os.PathLike | None = None,
    flow_root: str | os.PathLike | None = None,
    subset: str | None = None,
    train_crop: str = "random",
    train_t_crop: str = "random",
    hflip: bool = True,
    drop_last: bool = False,
    even_ranks: bool = True,
    start_epoch: int = 0,
    start_batch: int = 0,
    mean_dataset: str = "kinetics",
    device_id: int | None = None,
    num_threads: int = 2,
    prefetch: int = 2,
    dali_decoder: str | None = None,
    storage_options: dict[str, Any] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> ClipLoaderBase:
    """A loader of ``(N, C, T, size, size)`` clips; iterate it once per epoch.

    ``source``: a shard folder, local or a URL (``https://``, ``s3://``, ``gs://``: anything ``fsspec``
    opens, with ``storage_options``; ``cache_dir`` keeps fetched shards on local disk), a manifest path
    or :class:`~vr.manifests.schema.Manifest` with ``frames_root``/``flow_root`` in the seeds' layout,
    or a source object. Which videos rank ``rank`` reads, in which order, is
    :class:`~vr.pipelines.order.EpochOrder`'s: shards permuted each epoch and dealt to the ranks, read
    near-sequentially. ``mode="train"``: one clip per video, random temporal crop (``train_t_crop``),
    ``train_crop`` in ``random`` (RandomResizedCrop), ``corner`` (multi-scale corner crop) or
    ``center``, random flip, order seeded by ``seed`` and the epoch. ``mode="eval"``: ``n_clips x
    n_crops`` clips per video (uniform clips, centre or 3 crops), every video once, in order.
    ``even_ranks`` (training only): every rank gets ``videos // world_size`` videos an epoch, so DDP
    ranks run the same number of steps. ``start_epoch``/``start_batch``: where the first pass starts
    (resuming mid-epoch). ``device_id`` (DALI only): the GPU to decode on (nvJPEG) and deliver to; None
    decodes on the CPU. ``dali_decoder`` (DALI only): ``dali`` (DALI's decoder) or ``workers`` (its
    Python workers decode); None: ``dali`` on a GPU, ``workers`` on the CPU. Each batch is a dict, see
    :mod:`vr.pipelines.loader_base`.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    config = SamplingConfig(
        mode=mode,
        clip_len=clip_len,
        frame_stride=frame_stride,
        size=size,
        train_crop=train_crop,
        train_t_crop=train_t_crop,
        hflip=hflip,
        n_clips=n_clips,
        n_crops=n_crops,
    )
    src = open_source(source, modality, frames_root, flow_root, subset, storage_options, cache_dir)
    order = EpochOrder(src.shard_sizes, config.views, seed, mode == "train", rank, world_size, even_ranks)
    if len(order) == 0:
        raise SourceError(f"{source}: no videos for rank {rank} of {world_size} ({len(src)} in all)")
    n_batches = len(order) // batch_size if drop_last else -(-len(order) // batch_size)
    if not 0 <= start_batch < max(n_batches, 1):
        raise ValueError(f"start_batch must be in [0, {n_batches}), got {start_batch}")
    mean, std = mean_std(src.modality, mean_dataset)
    common = dict(
        source=src,
        config=config,
        batch_size=batch_size,
        seed=seed,
        mean=mean,
        std=std,
        dtype=dtype,
        num_workers=num_workers,
        order=order,
        drop_last=drop_last,
        start_epoch=start_epoch,
        start_batch=start_batch,
        prefetch=prefetch,
    )
    if backend == "torch":
        from vr.pipelines.torch_loader import TorchClipLoader

        return TorchClipLoader(**common)
    from vr.pipelines.dali_loader import DaliClipLoader

    return DaliClipLoader(**common, device_id=device_id, num_threads=num_threads, decoder=dali_decoder)
