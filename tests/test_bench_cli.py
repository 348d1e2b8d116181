"""`vr bench loader|model|flow|extract` on real shards, frame folders and encoded videos, in-process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import run
from helpers.motion import make_motion_frames

from vr.bench.loader import verdict
from vr.bench.memory import peak_memory
from vr.bench.model import parse_clip
from vr.datasets.synth import SynthConfig
from vr.errors import VrError
from vr.shards import ShardOptions, build_shards

TINY_MODEL = ["--model-arg", "widen_factor=0.125"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bench")
    synth = SynthConfig(classes=2, videos_per_class=4, clips_per_group=2, frames=6, width=32, height=32)
    manifest = make_motion_frames(root, synth)
    shards = root / "shards"
    build_shards(manifest, shards, ShardOptions(subset="train"), frames=root / "frames", progress=False)
    return {"root": root, "manifest": manifest, "frames": root / "frames", "shards": shards}


def test_loader_on_shards_with_a_model_verdict(data, tmp_path):
    out = tmp_path / "loader.json"
    text = run(
        "bench", "loader", str(data["shards"]), "--clip-len", "4", "--size", "16", "--batch-size", "2",
        "--workers", "0", "--batches", "5", "--model", "r3d10", *TINY_MODEL, "--json", str(out), "-q",
    )  # fmt: skip
    record = json.loads(out.read_text())
    loader = record["loader"]
    assert loader["clips"] == 10  # 5 batches of 2, over more than one epoch of the 4 training videos
    assert loader["clips_per_s"] > 0 and loader["first_batch_s"] > 0
    assert record["model"]["clip"] == [4, 16, 16] and record["model"]["batch"] == 2
    assert record["verdict"] in text and ("keeps up" in record["verdict"] or "starves" in record["verdict"])
    assert record["machine"]["cpus"] >= 1


def test_loader_on_a_manifest_with_frames(data):
    record = json.loads(
        run(
            "bench",
            "loader",
            str(data["manifest"]),
            "--frames",
            str(data["frames"]),
            "--subset",
            "train",
            "--clip-len",
            "4",
            "--size",
            "16",
            "--batch-size",
            "2",
            "--workers",
            "0",
            "--batches",
            "2",
            "--json",
            "-",
            "-q",
        )  # fmt: skip
    )
    assert record["loader"]["clips"] == 4 and "model" not in record


def test_verdict_says_who_waits():
    assert "keeps up" in verdict(100.0, 50.0) and "2.0x" in verdict(100.0, 50.0)
    assert "starves the model by 4.0x" in verdict(25.0, 100.0)


@pytest.mark.parametrize("inference", [False, True])
def test_model_reports_rate_latency_and_memory(inference):
    args = ["bench", "model", "r3d10", "--clip", "4x16x16", "--batch", "2", "--steps", "2", "--warmup", "1"]
    args += [*TINY_MODEL, "--modality", "flow", "--json", "-", "-q"] + ["--inference"] * inference
    record = json.loads(run(*args))["model"]
    assert record["clip"] == [4, 16, 16] and record["in_channels"] == 2 and record["train"] is not inference
    assert record["clips_per_s"] > 0
    assert record["latency_ms"] == pytest.approx(1000 * 2 / record["clips_per_s"], rel=1e-6)
    if Path("/proc/self/clear_refs").exists():
        assert record["peak_bytes"] is not None and record["peak_bytes"] >= 0


def test_peak_memory_sees_an_allocation_that_is_freed_again():
    import torch

    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("no /proc/self/clear_refs on this platform")
    with peak_memory(torch.device("cpu")) as peak:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
        del block
    assert peak.bytes is not None and peak.bytes >= 60 * 2**20


def test_flow_on_a_sample_of_frame_folders(data):
    record = json.loads(
        run("bench", "flow", str(data["frames"]), "--sample", "2", "-j", "1", "--json", "-", "-q")
    )
    flow = record["flow"]
    assert flow["total_items"] == 8 and flow["items"] == 2 and flow["failed"] == 0
    assert flow["frames"] == 2 * 5  # 6 frames: 5 pairs a folder
    assert flow["projected_s"] == pytest.approx(8 * flow["seconds"] / 2)
    assert flow["settings"]["engine"] == "opencv"


def test_extract_on_a_sample_of_real_videos(sample_videos, tmp_path):
    src = tmp_path / "videos" / "walk"
    src.mkdir(parents=True)
    for stem in list(sample_videos)[:3]:
        shutil.copy(sample_videos[stem], src / f"{stem}.mp4")
    text = run("bench", "extract", str(tmp_path / "videos"), "--sample", "2", "--size", "64", "-j", "2", "-q")
    assert "projected" in text and "(3 videos)" in text and "2 videos (0 failed)" in text
    assert not any(tmp_path.glob("**/image_00001.jpg"))  # the sample's frames went to a temporary folder


def test_bad_input_is_one_line(data, tmp_path):
    assert "unknown model" in run("bench", "model", "r3d_nosuch", code=1)
    assert "not a clip size" in run("bench", "model", "r3d10", "--clip", "4x", code=1)
    assert "4x16x16 clip is too small" in run("bench", "model", "s3d", "--clip", "4x16x16", code=1)
    (tmp_path / "empty").mkdir()
    assert "no frame folders" in run("bench", "flow", str(tmp_path / "empty"), code=1)
    assert "no videos" in run("bench", "extract", str(tmp_path / "empty"), code=1)
    assert run("bench", "loader", str(tmp_path / "empty"), "--workers", "0", code=1).startswith("Error:")


def test_parse_clip():
    assert parse_clip("16x112x112") == (16, 112, 112) and parse_clip("8x56") == (8, 56, 56)
    for bad in ("16", "axbxc", "0x1x1", "1x2x3x4"):
        with pytest.raises(VrError):
            parse_clip(bad)


def test_loader_with_the_dali_backend(data):
    record = json.loads(
        run(
            "bench",
            "loader",
            str(data["shards"]),
            "--loader",
            "dali",
            "--clip-len",
            "4",
            "--size",
            "16",
            "--batch-size",
            "2",
            "--workers",
            "0",
            "--batches",
            "3",
            "--json",
            "-",
            "-q",
        )  # fmt: skip
    )
    assert record["loader"]["backend"] == "dali" and record["loader"]["clips"] == 6
