"""The torch backend: a map-style dataset of clips decoded with OpenCV, batched by a DataLoader.

Workers get ``(epoch, item)`` keys from the batch sampler, so every clip is a function of the seed, the
epoch and the item only: the worker count changes speed, never the batches.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from vr.pipelines.decode import CORRUPT, decode_clip
from vr.pipelines.loader_base import ClipLoaderBase, LoaderOptions
from vr.pipelines.order import EpochOrder
from vr.pipelines.read import Fatal, Skip, read_clips
from vr.pipelines.sampling import SamplingConfig
from vr.threads import single_thread_worker


class ClipDataset(Dataset):
    """``dataset[(epoch, item)]`` -> ``(clip, RawClip metadata)`` or a :class:`Skip`.

    A DataLoader worker asks for a whole batch (``__getitems__``) and reads it together: the training
    order keeps runs of neighbouring videos of a shard together, so a batch takes a few ranged reads.
    """

    def __init__(self, source, config: SamplingConfig, seed: int, mean, std):
        self.source, self.config, self.seed = source, config, seed
        self.mean, self.std = tuple(mean), tuple(std)

    def __len__(self) -> int:
        return len(self.source) * self.config.views

    def _decode(self, raw):
        if isinstance(raw, Skip):
            return raw
        clip = decode_clip(raw, self.source.modality, self.mean, self.std)
        if clip is None:
            return Skip(raw.item, raw.video_id, CORRUPT)
        return clip, raw.label, raw.video_id, raw.item

    def __getitem__(self, key: tuple[int, int]):
        return self.__getitems__([key])[0]

    def __getitems__(self, keys: list[tuple[int, int]]) -> list:
        return [self._decode(raw) for raw in read_clips(self.source, self.config, self.seed, keys)]


class EpochBatchSampler(Sampler):
    """Batches of ``(epoch, item)`` keys in the rank's epoch order; the epoch advances on each pass.

    ``start_batch``: the first pass starts at this batch of its epoch (resuming mid-epoch).
    """

    def __init__(
        self, order: EpochOrder, batch_size: int, drop_last: bool, start_epoch: int, start_batch: int = 0
    ):
        self.order, self.batch_size, self.drop_last = order, batch_size, drop_last
        self.epoch, self.start_batch = start_epoch, start_batch

    @property
    def n_batches(self) -> int:
        """Batches in a whole epoch."""
        n = len(self.order)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __len__(self) -> int:
        """Batches the next pass yields."""
        return self.n_batches - self.start_batch

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch, first = self.epoch, self.start_batch
        self.epoch, self.start_batch = epoch + 1, 0
        items = self.order.items(epoch)
        for b in range(first, self.n_batches):
            yield [(epoch, int(i)) for i in items[b * self.batch_size : (b + 1) * self.batch_size]]


def collate(samples: list) -> dict:
    """Stack the good samples; keep the skips for the loader to count."""
    good = [s for s in samples if not isinstance(s, Skip)]
    batch = {
        "clip": torch.stack([s[0] for s in good]) if good else torch.empty(0),
        "label": torch.tensor([s[1] for s in good], dtype=torch.int64),
        "video_id": [s[2] for s in good],
        "index": torch.tensor([s[3] for s in good], dtype=torch.int64),
        "skipped": [
            (s.video_id, s.reason) for s in samples if isinstance(s, Skip) and not isinstance(s, Fatal)
        ],
        "fatal": next((s.reason for s in samples if isinstance(s, Fatal)), None),
    }
    return batch


def _worker_init(_: int) -> None:
    single_thread_worker()  # the workers are the parallelism: one thread each for torch, OpenCV, OpenMP


class TorchClipLoader(ClipLoaderBase):
    """Clips from a source through ``torch.utils.data.DataLoader`` workers (OpenCV JPEG decoding)."""

    backend = "torch"

    def __init__(self, source, config: SamplingConfig, order: EpochOrder, options: LoaderOptions, mean, std):
        super().__init__(source, config, order, options, mean, std)
        o = options
        self.sampler = EpochBatchSampler(order, o.batch_size, o.drop_last, o.start_epoch, o.start_batch)
        pin_memory = torch.cuda.is_available() if o.pin_memory is None else o.pin_memory
        num_workers, prefetch = o.num_workers, o.prefetch
        context = multiprocessing.get_context("forkserver")
        # workers fork from a server that has imported torch, OpenCV and vr once, instead of each importing
        # them while its loader waits (no effect once the server runs; it starts no threads)
        context.set_forkserver_preload([__name__])
        self.loader = DataLoader(
            ClipDataset(source, config, o.seed, mean, std),
            batch_sampler=self.sampler,
            num_workers=num_workers,
            collate_fn=collate,
            persistent_workers=num_workers > 0,
            prefetch_factor=prefetch if num_workers > 0 else None,
            worker_init_fn=_worker_init if num_workers > 0 else None,
            # Not fork: a child forked after the parent ran OpenCV's or OpenMP's thread pools can hang
            # (the demo and the trainer use both before their loaders start workers).
            multiprocessing_context=context if num_workers > 0 else None,
            pin_memory=pin_memory,
        )

    def __len__(self) -> int:
        return len(self.sampler)

    def _batches(self) -> Iterator[dict]:
        yield from self.loader
