"""Which videos a DDP rank visits in an epoch, and in which order: shard-aware, seeded, O(N / ranks).

Training (``shuffle``): each epoch the shards are permuted (seeded by ``seed`` and the epoch) and laid
end to end; rank ``r`` of ``R`` takes the ``r``-th of ``R`` equal contiguous spans of that sequence (the
``N mod R`` videos left over sit out that epoch, different ones each epoch), so every rank reads whole
shards (and at most two partial ones) and every rank runs the same number of steps. Within its span the
order is locally shuffled in runs of ``run_length`` neighbouring videos of a shard (cut at a random phase
each epoch): run ``j`` gets the key ``j + U(0, window / run_length)`` and the runs are sorted by key, so a
video moves at most ``window`` places (a few shards' worth) and a loader reads each shard front to back, a
few shards at a time, whatever its worker count, and reads a run's videos with one request. This is
WebDataset's shard shuffle plus shuffle buffer, with wids' chunks, made a pure function of ``(seed,
epoch, rank)`` like MosaicML Streaming's: batches never depend on the number of loader workers, so both
backends yield the same batches and a resumed epoch continues with the same order. (``vr shard``
shuffles the videos when it writes the shards, so neighbours in a shard are unrelated videos.)

Evaluation (no shuffle): the videos in index order, cut into ``R`` contiguous spans of sizes differing by
at most one, so every video is visited exactly once; each video's views are consecutive.

Nothing here grows with the dataset beyond one rank's share of one epoch: an ``int64`` per item.
"""

from __future__ import annotations

import zlib

import numpy as np

WINDOW_SHARDS = 4  # the local shuffle moves a video at most this many (average) shards' worth of places
RUN_LENGTH = 4  # neighbouring videos of a shard that stay together in the training order


def rank_span(n: int, rank: int, world_size: int, even: bool) -> tuple[int, int]:
    """``[begin, end)`` of rank ``rank`` among ``n`` items: equal spans of ``n // world_size`` when
    ``even``, else spans whose sizes differ by at most one that cover all ``n``."""
    if even:
        per = n // world_size
        return rank * per, (rank + 1) * per
    return n * rank // world_size, n * (rank + 1) // world_size


class EpochOrder:
    """The items (``video * views + view``) a rank visits in each epoch, in order.

    ``shard_sizes``: videos per shard, in index order (all ones for a source without shards).
    """

    def __init__(
        self,
        shard_sizes: np.ndarray,
        views: int,
        seed: int,
        shuffle: bool,
        rank: int = 0,
        world_size: int = 1,
        even: bool = True,
        window_shards: float = WINDOW_SHARDS,
        run_length: int = RUN_LENGTH,
    ):
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        self.shard_sizes = np.asarray(shard_sizes, np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.shard_sizes)])
        self.n_videos = int(self.starts[-1])
        self.views, self.seed, self.shuffle = views, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.even = even and shuffle
        mean_shard = self.n_videos / max(len(self.shard_sizes), 1)
        self.window = max(1.0, window_shards * mean_shard)
        self.run_length = max(1, min(run_length, int(mean_shard) or 1))
        begin, end = rank_span(self.n_videos, rank, world_size, self.even)
        self.n_rank_videos = end - begin
        self._cached: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        """Items per epoch on this rank."""
        return self.n_rank_videos * self.views

    def __getstate__(self) -> dict:
        """Small (a loader worker gets a copy): shard sizes compressed, derived arrays dropped."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("_cached", "shard_sizes", "starts")}
        return {**state, "shard_sizes": zlib.compress(self.shard_sizes.tobytes())}

    def __setstate__(self, state: dict) -> None:
        sizes = np.frombuffer(zlib.decompress(state.pop("shard_sizes")), np.int64)
        self.__dict__.update(state, shard_sizes=sizes, _cached=None)
        self.starts = np.concatenate([[0], np.cumsum(sizes)])

    def items(self, epoch: int) -> np.ndarray:
        """The items of ``epoch`` in visiting order (the last epoch asked for is kept)."""
        if self._cached is None or self._cached[0] != epoch:
            videos = self._videos(epoch)
            items = (videos[:, None] * self.views + np.arange(self.views)).ravel()
            self._cached = (epoch, items)
        return self._cached[1]

    def _videos(self, epoch: int) -> np.ndarray:
        begin, end = rank_span(self.n_videos, self.rank, self.world_size, self.even)
        if not self.shuffle:
            return np.arange(begin, end, dtype=np.int64)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, epoch, 2**31 - 1]))
        perm = rng.permutation(len(self.shard_sizes))
        sizes = self.shard_sizes[perm]
        ends = np.cumsum(sizes)
        first = int(np.searchsorted(ends, begin, side="right"))
        last = int(np.searchsorted(ends - sizes, end, side="left"))
        local = np.random.default_rng(np.random.SeedSequence([self.seed, epoch, 2**31 - 2, self.rank]))
        run, phase = self.run_length, int(local.integers(0, self.run_length))
        pieces, runs, n_runs = [], [], 0
        for k in range(first, last):  # the shards (whole, or cut at the span's ends) of this rank
            shard_begin = int(ends[k] - sizes[k])
            lo, hi = max(begin, shard_begin), min(end, int(ends[k]))
            if hi > lo:
                origin = int(self.starts[perm[k]]) - shard_begin
                pieces.append(np.arange(lo + origin, hi + origin, dtype=np.int64))
                runs.append(n_runs + (np.arange(hi - lo) + phase) // run)  # runs never cross shards
                n_runs = int(runs[-1][-1]) + 1
        if not pieces:
            return np.zeros(0, np.int64)
        videos, runs = np.concatenate(pieces), np.concatenate(runs)
        keys = np.arange(n_runs) + local.uniform(0.0, max(1.0, self.window / run), n_runs)
        return videos[np.argsort(keys[runs], kind="stable")]
