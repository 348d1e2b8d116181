"""flow-tvl1 and flow-preview with real OpenCV TV-L1 on synthetic frames and real encoded videos."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.cli import invoke

from vr import layout
from vr.preprocess.flow.engines import ENGINES, TVL1Params, get_engine, opencv_engine, register_engine
from vr.preprocess.flow.io import dequantize, quantize, read_pair
from vr.preprocess.flow.tvl1 import FlowOptions, flow_tvl1
from vr.preprocess.runner import FAILED, OK, SKIPPED
from vr.video.ffmpeg_bin import ffmpeg_exe

SHIFT = (3, -2)  # content moves 3 px right and 2 px up per frame: flow (x, y) = (3, -2)


def textured(size: int = 128, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).uniform(0, 255, (size, size)).astype(np.float32)
    return cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 1.5), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def shifted_frames(n: int, side: int = 64) -> list[np.ndarray]:
    """``n`` crops of one texture, each moved by SHIFT from the previous one."""
    base, (dx, dy), r0, c0 = textured(), SHIFT, 40, 30
    return [base[r0 - k * dy : r0 - k * dy + side, c0 - k * dx : c0 - k * dx + side] for k in range(n)]


def write_frames(folder: Path, frames: list[np.ndarray], marker: bool = True) -> None:
    folder.mkdir(parents=True)
    for i, frame in enumerate(frames, 1):
        cv2.imwrite(str(folder / layout.image_name(i)), frame, [cv2.IMWRITE_JPEG_QUALITY, 100])
    if marker:
        (folder / layout.COMPLETE_MARKER).write_text(json.dumps({"n_frames": len(frames)}))


def interior_median(flow: np.ndarray, margin: int = 12) -> np.ndarray:
    return np.median(flow[margin:-margin, margin:-margin].reshape(-1, 2), axis=0)


def test_quantization_convention():
    bound = 20.0
    values = np.array([-30, -20, -0.1, 0, 0.1, 3, 20, 30], np.float32)
    codes = quantize(values, bound)
    assert codes.tolist() == [0, 0, 127, 128, 128, 147, 255, 255]  # round(255 * (f + 20) / 40)
    inside = np.linspace(-bound, bound, 1001, dtype=np.float32)
    assert np.abs(dequantize(quantize(inside, bound), bound) - inside).max() <= bound / 255 + 1e-5


def test_opencv_engine_recovers_a_known_translation():
    frames = np.stack(shifted_frames(3))
    flow = get_engine("opencv", TVL1Params())(frames[:-1], frames[1:])
    assert flow.shape == (2, 64, 64, 2) and flow.dtype == np.float32
    for pair in flow:
        np.testing.assert_allclose(interior_median(pair), SHIFT, atol=0.1)


def test_flow_from_frame_folders(tmp_path):
    write_frames(tmp_path / "frames" / "move" / "v1", shifted_frames(4))
    write_frames(tmp_path / "frames" / "flat_seed_style", shifted_frames(3), marker=False)  # no marker
    outcomes = flow_tvl1(tmp_path / "frames", tmp_path / "flow", FlowOptions(batch=2), jobs=1, quiet=True)
    assert sorted((o.name, o.status, o.frames) for o in outcomes) == [
        ("flat_seed_style", OK, 2),
        ("move/v1", OK, 3),
    ]
    folder = tmp_path / "flow" / "move" / "v1"
    marker = layout.read_marker(folder)
    assert (marker["n_pairs"], marker["n_frames"], marker["bound"], marker["engine"]) == (
        3,
        4,
        20.0,
        "opencv",
    )
    assert marker["params"]["inner_iterations"] == 30
    assert sorted(p.name for p in folder.glob("flow_*.jpg")) == [
        *(layout.flow_names(i)[0] for i in (1, 2, 3)),
        *(layout.flow_names(i)[1] for i in (1, 2, 3)),
    ]
    for i in (1, 2, 3):
        np.testing.assert_allclose(interior_median(read_pair(folder, i)), SHIFT, atol=0.3)
    again = flow_tvl1(tmp_path / "frames", tmp_path / "flow", jobs=1, quiet=True)
    assert {o.status for o in again} == {SKIPPED}


def test_flow_from_video_and_bad_input(tmp_path):
    src = tmp_path / "videos" / "move"
    src.mkdir(parents=True)
    frames = [np.repeat(f[..., None], 3, axis=2) for f in shifted_frames(6)]
    cmd = [ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "64x64", "-r", "25"]
    cmd += ["-i", "pipe:", "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", str(src / "clip one.mp4")]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True)
    (src / "broken.mp4").write_text("not a video")
    outcomes = flow_tvl1(
        tmp_path / "videos", tmp_path / "flow", FlowOptions(size=64), from_video=True, jobs=1, quiet=True
    )
    status = {o.name: (o.status, o.frames, o.reason) for o in outcomes}
    assert status["move/clip one"][:2] == (OK, 5)
    assert status["move/broken"][0] == FAILED and status["move/broken"][2]
    np.testing.assert_allclose(
        interior_median(read_pair(tmp_path / "flow/move/clip one", 3)), SHIFT, atol=0.3
    )
    report = json.loads((tmp_path / "flow" / "_report.json").read_text())
    assert [f["name"] for f in report["failures"]] == ["move/broken"]


def test_engine_is_pluggable(tmp_path):
    calls = []

    @register_engine("test-zero")
    def zero_engine(params: TVL1Params):
        def engine(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
            calls.append(prev.shape[0])
            return np.zeros((*prev.shape, 2), np.float32)

        return engine

    try:
        write_frames(tmp_path / "frames" / "c" / "v", shifted_frames(6))
        options = FlowOptions(engine="test-zero", batch=2)
        flow_tvl1(tmp_path / "frames", tmp_path / "flow", options, jobs=1, backend="threading", quiet=True)
        assert calls == [2, 2, 1]  # 5 pairs in batches of 2
        x = cv2.imread(str(tmp_path / "flow/c/v" / layout.flow_names(5)[0]), cv2.IMREAD_GRAYSCALE)
        assert (x == 128).all()
        with pytest.raises(ValueError, match="unknown flow engine"):
            flow_tvl1(tmp_path / "frames", tmp_path / "x", FlowOptions(engine="nope"), quiet=True)
    finally:
        ENGINES.pop("test-zero")


def test_cli_flow_and_preview(tmp_path):
    write_frames(tmp_path / "frames" / "c" / "v", shifted_frames(5))
    write_frames(tmp_path / "frames" / "c" / "single", shifted_frames(1))
    args = ["preprocess", "flow-tvl1", str(tmp_path / "frames"), str(tmp_path / "flow"), "-j", "1", "-q"]
    result = invoke([*args, "--nscales", "3", "--bound", "10"])
    assert result.exit_code == 1 and "fewer than 2 frames" in result.output  # the 1-frame video
    assert layout.read_marker(tmp_path / "flow/c/v")["params"]["nscales"] == 3
    out = tmp_path / "preview.png"
    result = invoke(["preprocess", "flow-preview", str(tmp_path / "flow/c/v"), str(out), "-n", "3"])
    assert result.exit_code == 0, result.output
    strip = cv2.imread(str(out))
    assert strip.shape == (64, 3 * 64 + 2 * 2, 3)
    centre = strip[20:44, 20:44].reshape(-1, 3).mean(axis=0)
    assert centre.max() > 100  # uniform motion: one bright hue
    for bad in (["--fps", "5"], ["--engine", "nope"], ["--width", "8"], ["--scale-step", "1.5"]):
        assert invoke([*args, *bad]).exit_code == 2, bad


def test_torch_engine_writes_the_same_flow_files_as_opencv(tmp_path):
    write_frames(tmp_path / "frames" / "c" / "v", shifted_frames(4, side=48))
    for engine in ("opencv", "torch"):
        options = FlowOptions(engine=engine, batch=3)
        outcomes = flow_tvl1(
            tmp_path / "frames", tmp_path / engine, options, jobs=1, backend="threading", quiet=True
        )
        assert [o.status for o in outcomes] == [OK]
        assert layout.read_marker(tmp_path / engine / "c" / "v")["engine"] == engine
    for i in range(1, 4):
        for name in layout.flow_names(i):
            a = cv2.imread(str(tmp_path / "opencv/c/v" / name), cv2.IMREAD_GRAYSCALE).astype(int)
            b = cv2.imread(str(tmp_path / "torch/c/v" / name), cv2.IMREAD_GRAYSCALE).astype(int)
            assert (np.abs(a - b) <= 2).mean() >= 0.99
    x = read_pair(tmp_path / "torch/c/v", 2)
    assert np.allclose(interior_median(x), SHIFT, atol=0.25)


def test_an_engine_gives_the_same_flow_whatever_ran_before():
    """OpenCV's DualTVL1 object keeps buffers from frames of another size: a reused engine must not."""
    rng = np.random.default_rng(3)
    small = [cv2.GaussianBlur(rng.integers(0, 256, (32, 40), dtype=np.uint8), (5, 5), 2) for _ in range(2)]
    big = shifted_frames(2, side=48)
    big = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) if f.ndim == 3 else f for f in big]
    fresh = opencv_engine(TVL1Params())(big[0][None], big[1][None])
    reused = opencv_engine(TVL1Params())
    reused(small[0][None], small[1][None])
    assert np.array_equal(reused(big[0][None], big[1][None]), fresh)
