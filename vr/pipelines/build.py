"""``build_loader``: one entry point for both backends and both kinds of source."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from vr.manifests.schema import Manifest
from vr.pipelines.loader_base import ClipLoaderBase
from vr.pipelines.normalize import mean_std
from vr.pipelines.sampling import SamplingConfig
from vr.pipelines.sources import FolderSource, ShardSource, SourceError

BACKENDS = ("dali", "torch")


def open_source(
    source,
    modality: str = "rgb",
    rank: int = 0,
    world_size: int = 1,
    frames_root: str | os.PathLike | None = None,
    flow_root: str | os.PathLike | None = None,
    subset: str | None = None,
):
    """A :class:`ShardSource` for a shard folder, a :class:`FolderSource` for a manifest (file or object).

    A manifest needs ``frames_root`` (RGB) or ``flow_root`` (Flow; defaults to ``frames_root``, where
    ``vr`` writes flow beside the frames). ``subset`` selects a manifest's videos; a shard folder holds
    one subset and must match it. A ready source object is returned as is.
    """
    if isinstance(source, ShardSource | FolderSource):
        return source
    if isinstance(source, str | os.PathLike) and Path(source).is_dir():
        return ShardSource(source, modality, rank, world_size, subset)
    if isinstance(source, Manifest) or (isinstance(source, str | os.PathLike) and Path(source).is_file()):
        root = frames_root if modality == "rgb" else (flow_root or frames_root)
        if root is None:
            raise SourceError(
                f"a manifest source needs {'frames_root' if modality == 'rgb' else 'flow_root'}"
            )
        return FolderSource(source, root, modality, subset, rank, world_size)
    raise SourceError(f"{source}: neither a shard folder (with index.json) nor a manifest file")


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
    mean_dataset: str = "kinetics",
    device_id: int | None = None,
    num_threads: int = 2,
    prefetch: int = 2,
    dali_decoder: str | None = None,
) -> ClipLoaderBase:
    """A loader of ``(N, C, T, size, size)`` clips; iterate it once per epoch.

    ``source``: a shard folder (``index.json`` + tars; rank ``r`` reads shards ``r::world_size``), a
    manifest path or :class:`~vr.manifests.schema.Manifest` with ``frames_root``/``flow_root`` in the
    seeds' layout (rank ``r`` reads videos ``r::world_size``), or a source object.
    ``mode="train"``: one clip per video, random temporal crop (``train_t_crop``), ``train_crop`` in
    ``random`` (RandomResizedCrop), ``corner`` (multi-scale corner crop) or ``center``, random flip,
    shuffled by ``seed`` and epoch. ``mode="eval"``: ``n_clips x n_crops`` clips per video (uniform
    clips, centre or 3 crops), in order. ``even_ranks`` (training only): every rank's epoch has the
    smallest rank's number of videos (a random subset each epoch), so DDP ranks run the same number of
    steps. ``device_id`` (DALI only): the GPU to decode on (nvJPEG) and deliver to; None decodes on the
    CPU. ``dali_decoder`` (DALI only): ``dali`` (DALI's decoder) or ``workers`` (its Python workers
    decode); None: ``dali`` on a GPU, ``workers`` on the CPU. Each batch is a dict, see
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
    src = open_source(source, modality, rank, world_size, frames_root, flow_root, subset)
    if len(src) == 0:
        raise SourceError(f"{source}: no videos for rank {rank} of {world_size}")
    mean, std = mean_std(src.modality, mean_dataset)
    videos = min(src.rank_sizes) if even_ranks and mode == "train" else len(src)
    common = dict(
        source=src,
        config=config,
        batch_size=batch_size,
        seed=seed,
        mean=mean,
        std=std,
        dtype=dtype,
        num_workers=num_workers,
        shuffle=mode == "train",
        drop_last=drop_last,
        start_epoch=start_epoch,
        prefetch=prefetch,
        n_items=videos * config.views,
    )
    if backend == "torch":
        from vr.pipelines.torch_loader import TorchClipLoader

        return TorchClipLoader(**common)
    from vr.pipelines.dali_loader import DaliClipLoader

    return DaliClipLoader(**common, device_id=device_id, num_threads=num_threads, decoder=dali_decoder)
