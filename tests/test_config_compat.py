"""Run folders written before the training config was nested (tests/data/flat_config_run: a flat
config.json and a last.pth of r3d10 x1/32 on 4x16x16 clips, written by `vr train` of that time) still
evaluate, resume and reproduce."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers.cli import run
from helpers.shards import make_shards

from vr.evaluation.evaluate import clip_settings
from vr.train.config import TrainConfig
from vr.train.logs import read_log

OLD = Path(__file__).parent / "data" / "flat_config_run"
TRAIN = ["--model", "r3d10", "--model-arg", "widen_factor=0.03125", "--clip-len", "4", "--size", "16"]
TRAIN += ["--batch-size", "2", "--workers", "0", "--quiet", "--lr", "0.01"]


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    """The data the old run trained on (same videos, labels and shards)."""
    return make_shards(tmp_path_factory.mktemp("old") / "shards", [(f"v{i}", i % 2, 6) for i in range(8)], 4)


def test_an_old_checkpoint_evaluates_with_its_own_clip_settings(shards, tmp_path):
    ckpt = torch.load(OLD / "last.pth", weights_only=True)
    assert "clip_len" in ckpt["config"]  # flat, as written then
    assert clip_settings(ckpt) == {"clip_len": 4, "frame_stride": 1, "size": 16}
    out = tmp_path / "p.json"
    run(
        "eval",
        OLD / "last.pth",
        "--data",
        shards,
        "--output",
        out,
        "--n-clips",
        1,
        "--n-crops",
        1,
        "--workers",
        0,
    )
    assert len(json.loads(out.read_text())["results"]) == 8


def test_an_old_run_resumes(shards, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(OLD, copy)
    run("train", "--data", shards, "--out", copy, *TRAIN, "--epochs", "2", "--resume")
    assert [row["epoch"] for row in read_log(copy / "train.log")] == [1, 2]
    assert torch.load(copy / "last.pth", weights_only=True)["epoch"] == 2


def test_an_old_config_json_reproduces_its_run(shards, tmp_path):
    old = json.loads((OLD / "config.json").read_text())
    assert "clip_len" in old and "sampling" not in old  # the flat layout
    flat = tmp_path / "config.json"
    flat.write_text(json.dumps({**old, "data": str(shards)}))
    settings = TrainConfig.read(flat)
    assert settings["storage_options"] == {"retries": 3} and settings["clip_len"] == 4
    run("train", "--config", flat, "--out", tmp_path / "again", "--quiet")
    ckpt = torch.load(tmp_path / "again" / "last.pth", weights_only=True)
    assert ckpt["config"]["sampling"]["clip_len"] == 4  # nested now
    assert clip_settings({**ckpt, "clip": None}) == {"clip_len": 4, "frame_stride": 1, "size": 16}
    again = TrainConfig.read(tmp_path / "again" / "config.json")
    assert again["clip_len"] == 4 and again["storage_options"] == {"retries": 3} and again["workers"] == 0
    assert ckpt["model_args"]["widen_factor"] == 0.03125
