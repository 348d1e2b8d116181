"""extract-frames, probe and iter_frames on real encoded videos (real ffmpeg, real OpenCV)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.cli import invoke
from helpers.videos import CODECS, H, N, W, bar_frame, bar_position, encode

from vr import layout
from vr.preprocess.frames import FrameOptions, extract_frames
from vr.preprocess.runner import FAILED, OK, SKIPPED
from vr.video.decode import iter_frames
from vr.video.ffmpeg_bin import ffmpeg_exe
from vr.video.find import find_videos
from vr.video.probe import VideoError, probe


def opencv_frames(path: Path) -> list[np.ndarray]:
    """Every frame OpenCV's own decoder gives, as RGB."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            return frames
        frames.append(bgr[..., ::-1])


def read_folder(folder: Path) -> list[np.ndarray]:
    n = layout.read_marker(folder)["n_frames"]
    return [cv2.imread(str(folder / layout.image_name(i)))[..., ::-1] for i in range(1, n + 1)]


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (but the report) with its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "_report.json"
    }


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    """The same 12 bar frames encoded as AVI/MPEG-4, MP4/H.264 and WebM/VP9 under ``<class>/``."""
    root = tmp_path_factory.mktemp("src")
    (root / "bars").mkdir()
    frames = [bar_frame(k) for k in range(N)]
    return {s: encode(root / "bars" / f"clip{s.replace('.', '_')}{s}", frames) for s in CODECS}


@pytest.mark.parametrize("suffix", list(CODECS))
def test_probe_and_iter_frames(videos, suffix):
    info = probe(videos[suffix])
    assert (info.width, info.height, info.n_frames, info.fps) == (W, H, N, 25.0)
    assert info.duration == pytest.approx(N / 25, abs=0.05)
    frames = list(iter_frames(videos[suffix]))
    reference = opencv_frames(videos[suffix])
    assert len(frames) == len(reference) == N
    assert [bar_position(f) for f in frames] == list(range(N))
    for ours, theirs in zip(frames, reference, strict=True):
        assert np.abs(ours.astype(int) - theirs).mean() < 1.0
    small = list(iter_frames(videos[suffix], size=30))
    assert small[0].shape == (30, 40, 3) and len(small) == N
    assert next(iter_frames(videos[suffix], width=34, height=26)).shape == (26, 34, 3)
    assert len(list(iter_frames(videos[suffix], fps=12.5))) == N // 2


def test_rotation_and_cover_art(videos, tmp_path):
    """Displayed size for rotated videos; a cover picture is never taken for the video."""
    rotated, covered = tmp_path / "rotated.mp4", tmp_path / "covered.mp4"
    run = [ffmpeg_exe(), "-v", "error", "-y"]
    subprocess.run([*run, "-display_rotation", "90", "-i", videos[".mp4"], "-c", "copy", rotated], check=True)
    cover = tmp_path / "cover.png"
    cv2.imwrite(str(cover), np.full((120, 160, 3), 200, np.uint8))
    cmd = [*run, "-i", cover, "-i", videos[".mp4"], "-map", "0", "-map", "1", "-c", "copy"]
    subprocess.run([*cmd, "-disposition:v:0", "attached_pic", covered], check=True)
    assert (probe(rotated).width, probe(rotated).height) == (H, W)
    assert next(iter_frames(rotated)).shape == (W, H, 3)
    assert (probe(covered).width, probe(covered).n_frames) == (W, N)
    assert [bar_position(f) for f in iter_frames(covered)] == list(range(N))


def test_extract_frames_count_order_and_pixels(videos, tmp_path):
    outcomes = extract_frames(
        videos[".avi"].parents[1], tmp_path, options=FrameOptions(size=H), jobs=1, quiet=True
    )
    assert sorted(o.status for o in outcomes) == [OK] * 3
    for suffix, path in videos.items():
        folder = tmp_path / "bars" / path.stem
        marker = layout.read_marker(folder)
        assert marker["n_frames"] == N == layout.count_images(folder), suffix
        assert (marker["width"], marker["height"], marker["fps"]) == (W, H, 25.0)
        assert marker["source"] == str(path)
        ours = read_folder(folder)
        assert [bar_position(f) for f in ours] == list(range(N)), suffix
        for k, (mine, theirs) in enumerate(zip(ours, opencv_frames(path), strict=True)):
            assert np.abs(mine.astype(int) - theirs).mean() < 3.0, (suffix, k)
    report = json.loads((tmp_path / "_report.json").read_text())
    assert report["summary"]["ok"] == 3 and report["failures"] == []


def test_sample_clip_every_frame_and_fps(sample_videos, tmp_path):
    src = tmp_path / "src" / "carphone"
    src.mkdir(parents=True)
    clip = sample_videos["carphone_pristine"]
    os.symlink(clip, src / clip.name)
    full = extract_frames(
        tmp_path / "src", tmp_path / "full", options=FrameOptions(size=144), jobs=1, quiet=True
    )
    assert [o.status for o in full] == [OK]
    ours = read_folder(tmp_path / "full" / "carphone" / clip.stem)
    theirs = opencv_frames(clip)
    assert len(ours) == len(theirs) == 120 and ours[0].shape == (144, 176, 3)
    diffs = [np.abs(a.astype(int) - b).mean() for a, b in zip(ours, theirs, strict=True)]
    assert max(diffs) < 3.0
    options = FrameOptions(size=112, fps=5)
    resampled = extract_frames(tmp_path / "src", tmp_path / "fps5", options=options, jobs=1, quiet=True)
    marker = layout.read_marker(tmp_path / "fps5" / "carphone" / clip.stem)
    assert resampled[0].frames == marker["n_frames"] == 20  # 4.0 s at 5 fps
    assert (marker["width"], marker["height"], marker["fps"]) == (137, 112, 5)  # 176*112/144 = 136.9


def test_seed_scaling_rule(tmp_path):
    """Landscape: the height becomes --size; portrait: the width (the seed's scale=-1:S / S:-1)."""
    (tmp_path / "src" / "c").mkdir(parents=True)
    encode(tmp_path / "src" / "c" / "wide.mp4", [bar_frame(k, 100, 60) for k in range(3)])
    encode(tmp_path / "src" / "c" / "tall.mp4", [bar_frame(0, 60, 100)] * 3)
    extract_frames(tmp_path / "src", tmp_path / "out", options=FrameOptions(size=30), jobs=1, quiet=True)
    assert cv2.imread(str(tmp_path / "out/c/wide/image_00001.jpg")).shape == (30, 50, 3)
    assert cv2.imread(str(tmp_path / "out/c/tall/image_00001.jpg")).shape == (50, 30, 3)
    fixed = FrameOptions(size=None, width=34, height=26)
    extract_frames(tmp_path / "src", tmp_path / "fixed", options=fixed, jobs=1, quiet=True)
    assert cv2.imread(str(tmp_path / "fixed/c/tall/image_00003.jpg")).shape == (26, 34, 3)


def test_bad_inputs_are_reported_and_the_rest_done(videos, tmp_path):
    src = tmp_path / "src"
    bad = src / "bad ünï"
    bad.mkdir(parents=True)
    good = (src / "good vidéos" / "clip ünïcode 1.mp4").resolve()
    good.parent.mkdir()
    good.write_bytes(videos[".mp4"].read_bytes())
    (bad / "zero.avi").write_bytes(b"")
    (bad / "text.avi").write_text("this is not a video\n" * 50)
    (bad / "corrupt.mp4").write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4000, np.uint8)))
    big = encode(tmp_path / "big.webm", [bar_frame(k % N, 160, 120) for k in range(60)])
    (bad / "truncated.webm").write_bytes(big.read_bytes()[: big.stat().st_size // 2])
    cmd = [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "sine=duration=0.5", str(bad / "audio.mp4")]
    subprocess.run(cmd, check=True)
    locked = bad / "locked.avi"
    locked.write_bytes(videos[".avi"].read_bytes())
    locked.chmod(0)
    unreadable = not os.access(locked, os.R_OK)  # root reads anything: then the case cannot be made
    if not unreadable:
        locked.unlink()

    result = invoke(["preprocess", "extract-frames", str(src), str(tmp_path / "out"), "-j", "1"])
    locked.unlink(missing_ok=True)
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "out" / "_report.json").read_text())
    reasons = {Path(f["source"]).name: f["reason"] for f in report["failures"]}
    expected = {"zero.avi", "text.avi", "corrupt.mp4", "truncated.webm", "audio.mp4"} | (
        {"locked.avi"} if unreadable else set()
    )
    assert set(reasons) == expected
    assert reasons["zero.avi"] == "empty file (0 bytes)"
    assert reasons["audio.mp4"] == "no video stream"
    assert "Invalid data" in reasons["text.avi"]
    assert "truncated" in reasons["truncated.webm"]
    if unreadable:
        assert reasons["locked.avi"] == "permission denied"
    assert report["summary"] == {
        "total": len(expected) + 1,
        OK: 1,
        SKIPPED: 0,
        FAILED: len(expected),
        "warnings": 0,
        "frames": N,
    }
    for name in reasons:  # one line per failure at the end
        assert any(line.startswith("FAILED") and name in line for line in result.output.splitlines())
    assert layout.read_marker(tmp_path / "out" / "good vidéos" / "clip ünïcode 1")["n_frames"] == N
    assert not any((tmp_path / "out" / "bad ünï").iterdir())  # nothing left behind for failures
    with pytest.raises(VideoError, match="truncated"):
        list(iter_frames(bad / "truncated.webm"))


def test_layouts(tmp_path):
    for rel in ["train/abseiling/a.mp4", "val/abseiling/b.mp4", "test/c.mp4", "test/d.txt", "archery/e.webm"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).touch()
    names = [v.name for v in find_videos(tmp_path, "kinetics")]
    assert names == ["archery/e", "test/c", "abseiling/a", "abseiling/b"]
    assert [v.name for v in find_videos(tmp_path / "test", "activitynet")] == ["c"]
    assert find_videos(tmp_path, "ucf101") == []  # .avi only
    assert [v.name for v in find_videos(tmp_path, "ucf101", (".mp4",))] == ["test/c"]


def test_resume_skips_and_overwrite(videos, tmp_path):
    src = videos[".avi"].parents[1]
    extract_frames(src, tmp_path, options=FrameOptions(size=24), jobs=1, quiet=True)
    stale = layout.temp_sibling(tmp_path / "bars" / "clip_avi").with_suffix(".99999")
    stale.mkdir()
    (stale / "image_00001.jpg").write_bytes(b"junk")
    again = extract_frames(src, tmp_path, options=FrameOptions(size=24), jobs=1, quiet=True)
    assert {o.status for o in again} == {SKIPPED}
    assert not stale.exists()  # leftovers of killed runs are removed
    redo = extract_frames(src, tmp_path, options=FrameOptions(size=24), jobs=1, quiet=True, overwrite=True)
    assert {o.status for o in redo} == {OK}


def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path):
    src = tmp_path / "src" / "c"
    src.mkdir(parents=True)
    for i in range(6):
        encode(src / f"v{i}.avi", [bar_frame((k + i) % 30, 240, 180) for k in range(100)])
    cmd = [sys.executable, "-m", "vr", "preprocess", "extract-frames", str(tmp_path / "src")]
    args = ["--size", "120", "-j", "1", "-q"]
    subprocess.run([*cmd, str(tmp_path / "ref"), *args], check=True)

    out = tmp_path / "out"
    log = open(tmp_path / "stderr.txt", "w+")  # noqa: SIM115 - read back in the assertion below
    proc = subprocess.Popen([*cmd, str(out), *args], start_new_session=True, stderr=log)
    started = time.monotonic()
    deadline = started + 60
    while time.monotonic() < deadline and proc.poll() is None:
        folders = list((out / "c").glob("*")) if (out / "c").is_dir() else []
        done = [f for f in folders if layout.is_complete(f)]
        if done and any(f.name.startswith(layout.TMP_PREFIX) for f in folders):
            break
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole job: the CLI and its ffmpeg
    proc.wait()
    final = [f for f in (out / "c").iterdir() if not f.name.startswith(layout.TMP_PREFIX)]
    complete = [f for f in final if layout.is_complete(f)]
    assert complete == final  # a video's own folder appears only once complete (temps are hidden)
    log.seek(0)
    seen = sorted(f.name for f in (out / "c").iterdir()) if (out / "c").is_dir() else []
    assert 0 < len(complete) < 6, (
        f"the run was not interrupted mid-way: exit {proc.returncode} after "
        f"{time.monotonic() - started:.1f} s, folders {seen}, stderr {log.read()[-2000:]!r}"
    )
    for folder in complete:  # what looks complete is complete
        assert layout.count_images(folder) == layout.read_marker(folder)["n_frames"] == 100
    subprocess.run([*cmd, str(out), *args], check=True)
    assert tree(out) == tree(tmp_path / "ref")


def test_dask_backend_on_local_cluster(videos, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        outcomes = extract_frames(
            videos[".avi"].parents[1], tmp_path, backend="dask", address=cluster.scheduler_address, quiet=True
        )
    assert sorted(o.status for o in outcomes) == [OK] * 3
    assert all(layout.read_marker(tmp_path / "bars" / p.stem)["n_frames"] == N for p in videos.values())


def test_cli_usage_errors(tmp_path):
    base = ["preprocess", "extract-frames", str(tmp_path), str(tmp_path / "o")]
    for extra in (["--width", "10"], ["--quality", "0"], ["--backend", "spark"], ["--dataset", "x"]):
        result = invoke(base + extra)
        assert result.exit_code == 2 and "Traceback" not in result.output, extra
    missing = invoke(["preprocess", "extract-frames", str(tmp_path / "nope"), str(tmp_path / "o")])
    assert missing.exit_code == 2
    empty = invoke([*base, "-q"])  # nothing to do is said, not silently done
    assert empty.exit_code == 2 and "no videos for --dataset folder" in empty.output
