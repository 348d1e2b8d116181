"""bench/train.py's core on a tiny model and shard set: both configurations train and give a rate."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

from helpers.motion import make_motion_frames

from vr.datasets.synth import SynthConfig
from vr.shards import ShardOptions, build_shards

BENCH = Path(__file__).parents[1] / "bench" / "train.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_train", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_compare_gives_clips_per_second_for_both_configurations(tmp_path):
    bench = load_bench()
    synth = SynthConfig(classes=2, videos_per_class=4, clips_per_group=2, frames=6, width=32, height=32)
    manifest = make_motion_frames(tmp_path, synth)
    shards = tmp_path / "shards"
    build_shards(manifest, shards, ShardOptions(subset="train"), frames=tmp_path / "frames", progress=False)
    assert bench.prepare_data(shards, videos_per_class=1, jobs=1) == shards  # a shard folder is used as is
    setup = bench.Setup(
        data=shards,
        out=tmp_path / "runs",
        model="r3d10",
        model_args={"widen_factor": 0.125},
        clip_len=4,
        size=16,
        batch=2,
        workers=0,
        device="cpu",
    )
    rates = bench.compare(setup, steps=2, warmup=1)  # 3 steps > 1 epoch of 2 batches: epochs wrap
    assert set(rates) == {"baseline", "vr"}
    for row in rates.values():
        assert row["clips_per_s"] > 0 and row["s_per_step"] > 0
        assert math.isfinite(row["loss"])
    assert (tmp_path / "runs" / "vr0" / "config.json").read_text().count('"bf16"') == 1
