"""`vr infer` on real encoded videos: its clips are the loaders' clips of the preprocessed video."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.checkpoints import make_checkpoint
from helpers.cli import invoke

from vr import layout
from vr.datasets.encode import write_video
from vr.evaluation.infer import Predictor, training_data_info, video_clips
from vr.manifests.schema import Manifest, VideoRecord
from vr.pipelines.loader import build_loader
from vr.preprocess.flow.tvl1 import FlowOptions, FlowTask, flow_video
from vr.preprocess.frames import FrameOptions, FrameTask, extract_video
from vr.video.find import video_files

LABELS = [f"class{c}" for c in range(7)]
SHORT = 32  # decoding short side (the "training data" here is preprocessed at this size)
CLIP = dict(clip_len=4, frame_stride=2, size=24)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """A real MPEG-4 AVI: a random texture moving 2 px right and 1 px down a frame (14 frames, 64x48)."""
    rng = np.random.default_rng(0)
    texture = cv2.resize(rng.integers(0, 256, (10, 12, 3), np.uint8), (96, 80), interpolation=cv2.INTER_CUBIC)
    frames = np.stack([texture[t : t + 48, 2 * t : 2 * t + 64] for t in range(14)])
    return write_video(tmp_path_factory.mktemp("video") / "moving.avi", frames, fps=25)


def loader_clips(manifest: Path, root: Path, modality: str, n_frames: int, n_clips: int, n_crops: int):
    Manifest(LABELS, [VideoRecord("v", "class0", 0, "val", "class0/v", n_frames)]).write(manifest)
    loader = build_loader(
        manifest, modality, mode="eval", **CLIP, batch_size=n_clips * n_crops, backend="torch", num_workers=0,
        n_clips=n_clips, n_crops=n_crops, frames_root=root, flow_root=root,
    )  # fmt: skip
    return next(iter(loader))["clip"].numpy()


def test_flow_clips_are_the_loaders_clips_of_flow_tvl1(video, tmp_path):
    flow_video(
        FlowTask("class0/v", str(video), str(tmp_path / "flow/class0/v"), True, FlowOptions(size=SHORT))
    )
    n = layout.read_marker(tmp_path / "flow/class0/v")["n_frames"]
    expected = loader_clips(tmp_path / "m.jsonl", tmp_path / "flow", "flow", n, 3, 3)
    ours = video_clips(video, "flow", **CLIP, n_clips=3, n_crops=3, short_side=SHORT)
    assert ours.shape == (9, 2, 4, 24, 24) and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, expected)
    assert np.abs(ours[:, 0]).mean() > 0.05  # real motion, not a blank field


def test_rgb_clips_match_extracted_frames(video, tmp_path):
    extract_video(
        FrameTask("class0/v", str(video), str(tmp_path / "frames/class0/v"), FrameOptions(size=SHORT))
    )
    n = layout.read_marker(tmp_path / "frames/class0/v")["n_frames"]
    expected = loader_clips(tmp_path / "m.jsonl", tmp_path / "frames", "rgb", n, 4, 1)
    ours = video_clips(video, "rgb", **CLIP, n_clips=4, short_side=SHORT)
    assert ours.shape == expected.shape == (4, 3, 4, 24, 24)
    # the frames are ffmpeg's JPEGs there and OpenCV's here: equal up to compression noise
    assert np.abs(ours - expected).mean() < 0.1  # about 6 grey levels at this tiny size
    shifted = np.roll(expected, 1, axis=2)  # one clip frame off: far larger than that noise
    assert np.abs(ours - shifted).mean() > 4 * np.abs(ours - expected).mean()


def test_predictor_scores_rgb_and_flow(video, tmp_path):
    for modality in ("rgb", "flow"):
        ckpt = make_checkpoint(tmp_path / f"{modality}.pth", modality, LABELS)
        predictor = Predictor(ckpt, n_clips=3, batch_size=2, short_side=SHORT, device="cpu")
        [prediction] = predictor.predict([video])
        assert prediction.error is None and prediction.n_clips == 3
        assert prediction.scores.shape == (7,) and prediction.scores.sum() == pytest.approx(1, abs=1e-5)
        results = predictor.results([prediction])
        assert results.ids == [str(video)] and results.modality == modality


def test_short_side_comes_from_the_training_data(video, tmp_path):
    extract_video(FrameTask("class0/v", str(video), str(tmp_path / "frames/class0/v"), FrameOptions(size=40)))
    manifest = tmp_path / "m.jsonl"
    Manifest(LABELS, [VideoRecord("v", "class0", 0, "train", "class0/v", 14)]).write(manifest)
    config = {"data": str(manifest), "frames_root": str(tmp_path / "frames"), "train_subset": "train"}
    assert training_data_info({"modality": "rgb", "config": config})["short_side"] == 40
    missing = {"modality": "rgb", "config": {**config, "data": str(tmp_path / "x")}}
    assert training_data_info(missing).get("short_side") is None
    assert training_data_info({"modality": "rgb"}).get("short_side") is None


def test_cli_infer_reports_bad_files_and_goes_on(video, tmp_path):
    ckpt = make_checkpoint(tmp_path / "rgb.pth", "rgb", LABELS)
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "a.avi").write_bytes(video.read_bytes())
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    (folder / "notes.txt").write_text("not a video")
    assert [p.name for p in video_files([folder])] == ["a.avi", "broken.mp4"]
    args = ["infer", str(ckpt), str(folder), "--short-side", str(SHORT), "--n-clips", "2", "--quiet"]
    result = invoke([*args, "--topk", "3"])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith("a.avi  (2 clips)") and len(lines) == 4
    assert "broken.mp4" not in result.stdout and "error: " in result.stderr and "broken.mp4" in result.stderr
    scores = [float(line.split()[1]) for line in lines[1:]]
    assert scores == sorted(scores, reverse=True)
    result = invoke([*args, "--json", "--topk", "2"])
    data = json.loads(result.stdout)
    assert result.exit_code == 1 and list(data["results"]) == [str(folder / "a.avi")]
    assert len(data["results"][str(folder / "a.avi")]) == 2 and list(data["errors"]) == [
        str(folder / "broken.mp4")
    ]
    assert data["labels"] == LABELS and data["modality"] == "rgb"


def test_cli_infer_bad_arguments(tmp_path):
    ckpt = make_checkpoint(tmp_path / "rgb.pth", "rgb", LABELS)
    (tmp_path / "empty").mkdir()
    result = invoke(["infer", str(ckpt), str(tmp_path / "empty")])
    assert result.exit_code == 2 and "no video files" in result.output
    result = invoke(["infer", str(ckpt), str(tmp_path / "missing.mp4")])
    assert result.exit_code == 2
    (tmp_path / "junk.pth").write_bytes(b"junk")
    result = invoke(["infer", str(tmp_path / "junk.pth"), str(ckpt)])
    assert result.exit_code == 1 and "not a checkpoint" in result.output and "Traceback" not in result.output


def test_checkpoint_keeps_the_preprocessing_for_infer(video, tmp_path):
    """A Flow model's checkpoint remembers the short side, bound and TV-L1 parameters of its training
    flow, so `vr infer` reproduces the training clips after the training data is gone."""
    import shutil

    from vr.models import load_checkpoint, save_checkpoint
    from vr.pipelines.loader import open_source
    from vr.pipelines.sources import data_info
    from vr.preprocess.flow.engines import TVL1Params

    params = TVL1Params(nscales=2, warps=2, epsilon=0.05)
    options = FlowOptions(engine="opencv", size=40, bound=10.0, params=params)
    flow_video(FlowTask("class0/v", str(video), str(tmp_path / "flow/class0/v"), True, options))
    n = layout.read_marker(tmp_path / "flow/class0/v")["n_frames"]
    expected = loader_clips(tmp_path / "m.jsonl", tmp_path / "flow", "flow", n, 3, 1)
    info = data_info(open_source(tmp_path / "m.jsonl", "flow", flow_root=tmp_path / "flow"))
    assert info["short_side"] == 40 and info["flow"]["bound"] == 10.0
    assert info["flow"]["params"]["nscales"] == 2
    ckpt_path = make_checkpoint(tmp_path / "flow.pth", "flow", LABELS)
    save_checkpoint(ckpt_path, {**load_checkpoint(ckpt_path), "data_info": info})
    shutil.rmtree(tmp_path / "flow")

    predictor = Predictor(ckpt_path, n_clips=3, device="cpu")
    assert (predictor.short_side, predictor.short_side_origin) == (40, "training data")
    args = predictor.clip_args
    assert args["bound"] == 10.0 and args["tvl1"] == params
    ours = video_clips(video, "flow", **CLIP, n_clips=3, short_side=40, bound=10.0, tvl1=args["tvl1"])
    np.testing.assert_array_equal(ours, expected)
    default = video_clips(video, "flow", **CLIP, n_clips=3, short_side=40)
    assert not np.array_equal(default, expected)  # the remembered bound and parameters mattered
