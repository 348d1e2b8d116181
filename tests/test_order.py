"""The epoch order (:mod:`vr.pipelines.order`): which videos each DDP rank visits, in which order."""

from __future__ import annotations

import numpy as np
import pytest

from vr.pipelines.order import EpochOrder, rank_span

SHARDS = np.array([40, 25, 40, 40, 3, 40, 40, 33, 40, 40, 39, 40])  # uneven, like a real folder's tail


def shard_of(videos: np.ndarray, sizes: np.ndarray = SHARDS) -> np.ndarray:
    return np.searchsorted(np.cumsum(sizes), videos, side="right")


def test_training_epochs_are_seeded_permutations_that_change_each_epoch():
    order = EpochOrder(SHARDS, views=1, seed=7, shuffle=True)
    epochs = [order.items(e) for e in range(3)]
    for items in epochs:
        assert sorted(items.tolist()) == list(range(SHARDS.sum()))
    assert not np.array_equal(epochs[0], epochs[1])
    again = EpochOrder(SHARDS, views=1, seed=7, shuffle=True)
    assert np.array_equal(again.items(1), epochs[1]) and np.array_equal(again.items(0), epochs[0])
    assert not np.array_equal(EpochOrder(SHARDS, 1, 8, True).items(0), epochs[0])


def test_reading_is_shard_local_a_few_shards_at_a_time():
    order = EpochOrder(SHARDS, views=1, seed=0, shuffle=True)
    items = order.items(0)
    shards = shard_of(items)
    # every window of 32 consecutive clips draws on a few shards, never on the whole folder
    touched = [len(set(shards[i : i + 32])) for i in range(len(items) - 32)]
    assert max(touched) <= 7 < len(SHARDS)
    # each shard is taken up once and finished soon after: its clips span a few shards' worth of places
    for shard in range(len(SHARDS)):
        where = np.flatnonzero(shards == shard)
        assert where.max() - where.min() < SHARDS[shard] + 2 * order.window
    # runs: most clips follow their neighbour in the shard, so a batch needs few ranged reads
    assert np.mean(np.diff(items) == 1) > 0.5
    # and the shards themselves come in a different order every epoch
    firsts = {tuple(dict.fromkeys(shard_of(order.items(e)).tolist()))[:3] for e in range(5)}
    assert len(firsts) > 1


def test_ranks_split_each_epoch_evenly_and_disjointly():
    world = 3
    orders = [EpochOrder(SHARDS, 1, 0, True, rank=r, world_size=world) for r in range(world)]
    n = int(SHARDS.sum())
    seen_over_epochs = [set() for _ in range(world)]
    for epoch in range(4):
        parts = [o.items(epoch) for o in orders]
        assert [len(p) for p in parts] == [n // world] * world == [len(o) for o in orders]
        union = np.concatenate(parts)
        assert len(set(union.tolist())) == len(union)  # disjoint
        assert n - len(union) == n % world  # only the remainder sits out
        for r, p in enumerate(parts):
            seen_over_epochs[r] |= set(p.tolist())
            assert len(set(shard_of(p).tolist())) <= len(SHARDS) // world + 2  # whole shards, mostly
    assert all(len(s) > n // world for s in seen_over_epochs)  # the shards are dealt afresh each epoch


def test_evaluation_visits_every_video_once_in_order_with_its_views_together():
    world = 4
    parts = [EpochOrder(SHARDS, 3, 0, False, rank=r, world_size=world).items(0) for r in range(world)]
    items = np.concatenate(parts)
    assert items.tolist() == list(range(3 * SHARDS.sum()))
    assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 3
    assert np.array_equal(parts[1], EpochOrder(SHARDS, 3, 0, False, rank=1, world_size=world).items(5))


def test_without_shards_every_video_is_its_own_unit():
    order = EpochOrder(np.ones(50, np.int64), 1, 0, True)
    items = order.items(0)
    assert sorted(items.tolist()) == list(range(50)) and np.mean(np.diff(items) == 1) < 0.2


def test_cost_does_not_grow_with_the_whole_dataset():
    """A rank computes its own share only: 1,000,000 videos over 64 ranks is 15,625 items each."""
    sizes = np.full(4000, 250)
    order = EpochOrder(sizes, 1, 0, True, rank=63, world_size=64)
    items = order.items(0)
    assert len(items) == 1_000_000 // 64 and len(set(shard_of(items, sizes).tolist())) <= 4000 // 64 + 2


def test_rank_spans_and_bad_ranks():
    assert [rank_span(10, r, 3, even=True) for r in range(3)] == [(0, 3), (3, 6), (6, 9)]
    assert [rank_span(10, r, 3, even=False) for r in range(3)] == [(0, 3), (3, 6), (6, 10)]
    with pytest.raises(ValueError, match="rank"):
        EpochOrder(SHARDS, 1, 0, True, rank=3, world_size=3)
