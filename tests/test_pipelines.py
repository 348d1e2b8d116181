"""Sampling, sources and the torch backend of ``vr.pipelines`` on tiny real JPEG shards and folders."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from helpers.shards import SIZE, flow_frames, frame_index, jpg, make_folders, make_shards, rgb_frame

from vr.modality import mean_std
from vr.pipelines import SourceError, build_loader
from vr.pipelines.decode import decode_clip
from vr.pipelines.read import RawClip
from vr.pipelines.sampling import (
    CORNER_SCALES,
    Box,
    ClipSpec,
    SamplingConfig,
    center_box,
    clip_spec,
    loop_pad,
    multiscale_corner_box,
    random_resized_box,
    sample_rng,
    temporal_center,
    temporal_random,
    temporal_uniform,
    three_crop_boxes,
)

VIDEOS = [(f"vid{i}", i % 3, 6 + 3 * i) for i in range(7)]  # 6..24 frames


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return make_shards(tmp_path_factory.mktemp("shards"), VIDEOS, per_shard=2)


def red_indices(clip: torch.Tensor) -> list[int]:
    """Frame indices of an RGB clip (C, T, H, W) normalised with the Kinetics statistics."""
    mean, std = mean_std("rgb")
    red = clip[0].float().mean(dim=(1, 2)) * std[0] + mean[0]
    return [frame_index(v) for v in red.tolist()]


# ---- sampling ---------------------------------------------------------------------------------------


def test_loop_pad_and_random_crop_follow_the_seed():
    assert loop_pad([3, 4, 5], 8) == [3, 4, 5, 3, 4, 5, 3, 4]
    for seed in range(50):
        pos = temporal_random(np.random.default_rng(seed), 40, 16)
        assert pos == list(range(pos[0], pos[0] + 16)) and 0 <= pos[0] <= 40 - 16 - 1
        strided = temporal_random(np.random.default_rng(seed), 40, 8, stride=2)
        assert np.all(np.diff(strided) == 2) and strided[0] % 2 == 0
    assert temporal_random(np.random.default_rng(0), 5, 8) == [0, 1, 2, 3, 4, 0, 1, 2]
    assert temporal_center(40, 16) == list(range(12, 28))
    begins = {temporal_random(np.random.default_rng(s), 20, 16)[0] for s in range(200)}
    assert begins == {0, 1, 2, 3}  # the seed's randint(0, n - L - 1)


def test_uniform_clips_cover_the_video():
    clips = temporal_uniform(100, 16, 5)
    starts = [c[0] for c in clips]
    assert starts[0] == 0 and clips[-1][-1] == 99
    assert max(np.diff(starts)) - min(np.diff(starts)) <= 1
    assert all(c == list(range(c[0], c[0] + 16)) for c in clips)
    assert temporal_uniform(100, 16, 1) == [list(range(42, 58))] == [temporal_center(100, 16)]
    assert temporal_uniform(9, 3, 1) == [[3, 4, 5]]
    assert temporal_uniform(10, 16, 2)[0] == loop_pad(list(range(10)), 16)


def test_spatial_boxes_stay_inside_and_match_the_seed():
    w, h = 160, 120
    sides, corners = set(), set()
    for seed in range(300):
        rng = np.random.default_rng(seed)
        b = multiscale_corner_box(rng, w, h)
        assert b.x >= 0 and b.y >= 0 and b.x + b.w <= w and b.y + b.h <= h and b.w == b.h
        sides.add(b.w)
        corners.add((b.x, b.y, b.w))
        r = random_resized_box(rng, w, h)
        assert r.x >= 0 and r.y >= 0 and r.x + r.w <= w and r.y + r.h <= h
        assert 0.2 <= r.w * r.h / (w * h) <= 1.0 and 0.7 <= r.w / r.h <= 1.4
    assert sides == {int(120 * s) for s in CORNER_SCALES}
    assert (0, 0, 120) in corners and (40, 0, 120) in corners and (20, 0, 120) in corners
    assert center_box(w, h) == Box(20, 0, 120, 120)
    assert three_crop_boxes(w, h) == [Box(0, 0, 120, 120), Box(20, 0, 120, 120), Box(40, 0, 120, 120)]
    assert three_crop_boxes(90, 150)[2] == Box(0, 60, 90, 90)


def test_clip_spec_depends_on_seed_epoch_video_only():
    cfg = SamplingConfig(clip_len=4, size=16, train_crop="corner")
    first = [clip_spec(cfg, 7, 0, v, 0, 30, 64, 48) for v in range(20)]
    again = [clip_spec(cfg, 7, 0, v, 0, 30, 64, 48) for v in reversed(range(20))][::-1]
    assert first == again
    assert first != [clip_spec(cfg, 7, 1, v, 0, 30, 64, 48) for v in range(20)]
    assert {s.flip for s in first} == {True, False}
    assert sample_rng(1, 2, 3).random() == sample_rng(1, 2, 3).random()


# ---- decoding --------------------------------------------------------------------------------------


def test_flip_negates_flow_x():
    x, y = flow_frames(3)
    raw = RawClip([[jpg(x), jpg(y)]] * 2, ClipSpec((0, 1), Box(0, 0, SIZE, SIZE), False, SIZE), 0, "v", 0)
    plain = decode_clip(raw, "flow", *mean_std("flow")).numpy()
    raw.spec = ClipSpec((0, 1), Box(0, 0, SIZE, SIZE), True, SIZE)
    flipped = decode_clip(raw, "flow", *mean_std("flow")).numpy()
    # x: (255 - v - 128) / 128 == -(v - 128) / 128 - 1/128, mirrored; y: only mirrored
    np.testing.assert_allclose(flipped[0], -plain[0][:, :, ::-1] - 1 / 128, atol=1e-6)
    np.testing.assert_allclose(flipped[1], plain[1][:, :, ::-1], atol=1e-6)
    assert plain[0, 0, 0, 0] < 0 < plain[0, 0, 0, -1]  # ramp: left is leftward flow


def test_rgb_channel_order_and_crop():
    frame = rgb_frame(5, 48, 32)
    raw = RawClip([[jpg(frame)]], ClipSpec((0,), Box(16, 0, 32, 32), False, 32), 0, "v", 0)
    clip = decode_clip(raw, "rgb", (0, 0, 0), (1, 1, 1)).numpy()
    assert clip.shape == (3, 1, 32, 32)
    assert abs(clip[0].mean() - (8 * 5 + 4)) < 2  # red first: RGB, not BGR
    np.testing.assert_allclose(clip[1, 0, 0], frame[0, 16:, 1], atol=4)


# ---- sources -----------------------------------------------------------------------------------------


def test_missing_shard_and_wrong_modality_fail_at_start(tmp_path):
    folder = make_shards(tmp_path / "a", VIDEOS[:4], per_shard=2, modality="rgb")
    with pytest.raises(SourceError, match="hold rgb frames only"):
        build_loader(folder, modality="flow", backend="torch")
    assert len(build_loader(folder, backend="torch", subset="train", num_workers=0).source) == 4
    (folder / "train-000001.tar").unlink()
    with pytest.raises(SourceError, match="missing: train-000001.tar"):
        build_loader(folder, backend="torch")
    with pytest.raises(SourceError, match="hold subset 'train', not 'val'"):
        build_loader(folder, backend="torch", subset="val")
    with pytest.raises(SourceError, match="index.json: missing"):
        build_loader(tmp_path, backend="torch")


def test_ddp_ranks_see_disjoint_samples_covering_the_set(shards):
    seen = []
    for rank in range(3):
        loader = build_loader(
            shards,
            mode="eval",
            clip_len=2,
            size=8,
            batch_size=4,
            backend="torch",
            num_workers=0,
            rank=rank,
            world_size=3,
        )
        ids = [v for b in loader for v in b["video_id"]]
        assert len(ids) == loader.n_items
        seen.append(set(ids))
    assert sum(len(s) for s in seen) == len(VIDEOS)
    assert set.union(*seen) == {v[0] for v in VIDEOS}
    # training: each epoch the shards are dealt afresh; both ranks run 7 // 2 = 3 videos, disjoint
    train = [
        build_loader(shards, batch_size=2, backend="torch", num_workers=0, rank=r, world_size=2)
        for r in (0, 1)
    ]
    assert [t.n_items for t in train] == [3, 3] and [len(t) for t in train] == [2, 2]
    epochs = [[{v for b in t for v in b["video_id"]} for t in train] for _ in range(6)]
    for rank0, rank1 in epochs:
        assert len(rank0) == len(rank1) == 3 and not rank0 & rank1
    assert len({frozenset(e[0]) for e in epochs}) > 1  # a rank's share changes from epoch to epoch
    assert set.union(*(e[0] | e[1] for e in epochs)) == {v[0] for v in VIDEOS}
    with pytest.raises(SourceError, match="no videos for rank 4 of 8"):
        build_loader(shards, backend="torch", rank=4, world_size=8)


def test_seed_layout_folders_load_in_temporal_order(tmp_path):
    manifest = make_folders(tmp_path / "frames", VIDEOS[:3])
    path = tmp_path / "m.jsonl"
    manifest.write(path)
    loader = build_loader(
        path,
        frames_root=tmp_path / "frames",
        mode="eval",
        clip_len=4,
        size=16,
        batch_size=2,
        backend="torch",
        num_workers=0,
    )
    batches = list(loader)
    assert [v for b in batches for v in b["video_id"]] == ["vid0", "vid1", "vid2"]
    # the seed's centre crop of 6 and 9 frames: positions n//2 - 2 ... (frame numbers are 1-based)
    assert [red_indices(c) for c in batches[0]["clip"]] == [[2, 3, 4, 5], [3, 4, 5, 6]]
    flow = build_loader(
        path,
        modality="flow",
        frames_root=tmp_path / "frames",
        mode="eval",
        clip_len=4,
        size=16,
        batch_size=3,
        backend="torch",
        num_workers=0,
    )
    (b,) = list(flow)
    assert b["clip"].shape == (3, 2, 4, 16, 16)
    y = b["clip"][0, 1].mean(dim=(1, 2)) * 128 + 128
    assert [frame_index(v) for v in y.tolist()] == [1, 2, 3, 4]  # 5 flow pairs: centre 0..3


# ---- torch loader ------------------------------------------------------------------------------------


def test_train_clips_read_back_in_order_and_are_deterministic(shards):
    kw = dict(clip_len=8, size=16, batch_size=3, backend="torch", seed=3, train_crop="corner")
    loader = build_loader(shards, num_workers=0, **kw)
    assert len(loader) == 3
    epoch0, epoch1 = list(loader), list(loader)
    ids0 = [v for b in epoch0 for v in b["video_id"]]
    assert sorted(ids0) == sorted(v[0] for v in VIDEOS) and [len(b["video_id"]) for b in epoch0] == [3, 3, 1]
    assert ids0 != [v for b in epoch1 for v in b["video_id"]]
    n_frames = {v[0]: v[2] for v in VIDEOS}
    for b in epoch0:
        for clip, vid in zip(b["clip"], b["video_id"], strict=True):
            idx = red_indices(clip)
            n = n_frames[vid]
            expected = list(range(idx[0], idx[0] + 8)) if n >= 8 else loop_pad(list(range(1, n + 1)), 8)
            assert idx == expected
    workers = build_loader(shards, num_workers=2, **kw)
    for a, b in zip(epoch0, workers, strict=True):
        assert a["video_id"] == b["video_id"]
        assert torch.equal(a["clip"], b["clip"])


def test_corrupt_samples_are_skipped_and_counted(tmp_path, caplog):
    videos = [*VIDEOS[:5], ("empty", 0, 0)]
    corrupt = {"vid1": "truncate", "vid3": "garbage", "vid4": "damage"}
    folder = make_shards(tmp_path, videos, per_shard=2, corrupt=corrupt)
    loader = build_loader(
        folder, mode="eval", clip_len=16, size=8, batch_size=2, backend="torch", num_workers=0
    )
    with caplog.at_level("WARNING", logger="vr.pipelines"):
        ids = [v for b in loader for v in b["video_id"]]
    assert ids == ["vid0", "vid2"] and len(loader) == 3
    skipped = dict(loader.skipped)
    assert sorted(skipped) == ["empty", "vid1", "vid3", "vid4"]
    assert all("corrupt JPEG" in skipped[v] for v in corrupt)  # vid4: headers fine, scan data not
    assert skipped["empty"] == "no rgb frames"
    assert sum("skipped 4 bad sample(s)" in r.message for r in caplog.records) == 1
    list(loader)  # the next epoch reports again, once
    assert sum("skipped 4 bad sample(s)" in r.message for r in caplog.records) == 2


def test_eval_multiclip_multicrop_and_dtype(shards):
    loader = build_loader(
        shards,
        mode="eval",
        clip_len=4,
        size=16,
        batch_size=9,
        backend="torch",
        num_workers=0,
        n_clips=3,
        n_crops=3,
        dtype=torch.bfloat16,
        drop_last=True,
    )
    assert loader.n_items == 9 * len(VIDEOS) and len(loader) == len(VIDEOS)
    b = next(iter(loader))
    assert b["clip"].dtype == torch.bfloat16 and b["clip"].shape == (9, 3, 4, 16, 16)
    assert b["video_id"] == ["vid0"] * 9 and b["index"].tolist() == list(range(9))
    starts = [red_indices(c)[0] for c in b["clip"][::3]]
    assert starts == [1, 2, 3]  # 6 frames, 4-frame clips: first to last possible start
    # 3 crops of a square frame are the same box
    assert torch.equal(b["clip"][0], b["clip"][1])


def test_build_loader_rejects_bad_arguments(shards):
    with pytest.raises(ValueError, match="backend"):
        build_loader(shards, backend="tf")
    with pytest.raises(ValueError, match="n_crops"):
        build_loader(shards, backend="torch", n_crops=5)
    with pytest.raises(SourceError, match="modality"):
        build_loader(shards, modality="depth", backend="torch")
    index = json.loads((shards / "index.json").read_text())
    assert index["n_samples"] == len(VIDEOS)
    assert cv2.imdecode(np.frombuffer(jpg(rgb_frame(1)), np.uint8), cv2.IMREAD_COLOR).shape == (SIZE, SIZE, 3)


@pytest.mark.parametrize("modality", ["rgb", "flow"])
def test_shards_from_vr_shard_load_like_their_frame_folders(tmp_path, modality):
    from vr.shards import ShardOptions, build_shards

    manifest = make_folders(tmp_path / "frames", VIDEOS)
    manifest.write(tmp_path / "m.jsonl")
    options = ShardOptions(modality="both", allow_unmarked=True, max_count=3, shuffle=False)  # same order
    frames = tmp_path / "frames"
    build_shards(tmp_path / "m.jsonl", tmp_path / "sh", options, frames=frames, flow=frames, progress=False)
    kw = dict(
        modality=modality, mode="eval", clip_len=8, size=16, batch_size=4, backend="torch", num_workers=0
    )
    from_shards = list(build_loader(tmp_path / "sh", **kw))
    from_folders = list(build_loader(tmp_path / "m.jsonl", frames_root=frames, **kw))
    for a, b in zip(from_shards, from_folders, strict=True):
        assert a["video_id"] == b["video_id"] and torch.equal(a["label"], b["label"])
        assert torch.equal(a["clip"], b["clip"])
    labels = {v.id: v.label_index for v in manifest.videos}
    assert [labels[v] for b in from_shards for v in b["video_id"]] == [
        x for b in from_shards for x in b["label"].tolist()
    ]
