"""The torch backend: a map-style dataset of clips decoded with OpenCV, batched by a DataLoader.

Workers get ``(epoch, item)`` keys from the batch sampler, so every clip is a function of the seed, the
epoch and the item only: the worker count changes speed, never the batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from vr.pipelines.decode import CORRUPT, decode_clip
from vr.pipelines.loader_base import ClipLoaderBase
from vr.pipelines.read import Skip, read_clip
from vr.pipelines.sampling import SamplingConfig, epoch_order


class ClipDataset(Dataset):
    """``dataset[(epoch, item)]`` -> ``(clip, RawClip metadata)`` or a :class:`Skip`."""

    def __init__(self, source, config: SamplingConfig, seed: int, mean, std):
        self.source, self.config, self.seed = source, config, seed
        self.mean, self.std = tuple(mean), tuple(std)

    def __len__(self) -> int:
        return len(self.source) * self.config.views

    def __getitem__(self, key: tuple[int, int]):
        epoch, item = key
        raw = read_clip(self.source, self.config, self.seed, epoch, item)
        if isinstance(raw, Skip):
            return raw
        clip = decode_clip(raw, self.source.modality, self.mean, self.std)
        if clip is None:
            return Skip(item, raw.video_id, CORRUPT)
        return clip, raw.label, raw.video_id, raw.item


class EpochBatchSampler(Sampler):
    """Batches of ``(epoch, item)`` keys in the seeded epoch order; the epoch advances on each pass."""

    def __init__(
        self,
        n_total: int,
        n: int,
        batch_size: int,
        seed: int,
        shuffle: bool,
        drop_last: bool,
        start_epoch: int,
    ):
        self.n_total, self.n, self.batch_size, self.seed = n_total, n, batch_size, seed
        self.shuffle, self.drop_last, self.epoch = shuffle, drop_last, start_epoch

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch = self.epoch
        self.epoch += 1
        order = epoch_order(self.n_total, self.seed, epoch, self.shuffle)[: self.n]
        for b in range(len(self)):
            yield [(epoch, int(i)) for i in order[b * self.batch_size : (b + 1) * self.batch_size]]


def collate(samples: list) -> dict:
    """Stack the good samples; keep the skips for the loader to count."""
    good = [s for s in samples if not isinstance(s, Skip)]
    batch = {
        "clip": torch.stack([s[0] for s in good]) if good else torch.empty(0),
        "label": torch.tensor([s[1] for s in good], dtype=torch.int64),
        "video_id": [s[2] for s in good],
        "index": torch.tensor([s[3] for s in good], dtype=torch.int64),
        "skipped": [(s.video_id, s.reason) for s in samples if isinstance(s, Skip)],
    }
    return batch


def _worker_init(_: int) -> None:
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


class TorchClipLoader(ClipLoaderBase):
    """Clips from a source through ``torch.utils.data.DataLoader`` workers (OpenCV JPEG decoding)."""

    backend = "torch"

    def __init__(
        self,
        source,
        config: SamplingConfig,
        batch_size: int,
        seed: int,
        mean,
        std,
        dtype: torch.dtype,
        num_workers: int,
        shuffle: bool,
        drop_last: bool,
        start_epoch: int,
        n_items: int,
        prefetch: int = 2,
    ):
        super().__init__(source, config, batch_size, dtype, n_items)
        self.sampler = EpochBatchSampler(
            len(source) * config.views, n_items, batch_size, seed, shuffle, drop_last, start_epoch
        )
        self.loader = DataLoader(
            ClipDataset(source, config, seed, mean, std),
            batch_sampler=self.sampler,
            num_workers=num_workers,
            collate_fn=collate,
            persistent_workers=num_workers > 0,
            prefetch_factor=prefetch if num_workers > 0 else None,
            worker_init_fn=_worker_init if num_workers > 0 else None,
            # Not fork: a child forked after the parent ran OpenCV's or OpenMP's thread pools can hang
            # (the demo and the trainer use both before their loaders start workers).
            multiprocessing_context="forkserver" if num_workers > 0 else None,
            pin_memory=torch.cuda.is_available(),
        )

    def __len__(self) -> int:
        return len(self.sampler)

    def _batches(self) -> Iterator[dict]:
        yield from self.loader
