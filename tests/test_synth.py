"""The synthetic motion dataset: real encoded files, UCF101 layout, determinism, and that only motion
(not appearance) tells its classes apart."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.cli import invoke

from vr.datasets.synth import SynthConfig, generate
from vr.video.ffmpeg_bin import ffmpeg_exe

SMALL = [
    "--classes",
    "3",
    "--videos-per-class",
    "4",
    "--clips-per-group",
    "2",
    "--frames",
    "8",
    "--size",
    "64x48",
    "--jobs",
    "2",
    "--quiet",
]


def run(*args: str):
    return invoke(list(args), catch_exceptions=False)


def read_frames(path: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return np.stack(frames)


def codec_of(path: Path) -> str:
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    match = re.search(r"Video: (\w+)", out.stderr)
    assert match, out.stderr
    return match.group(1)


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "synth.json"
    }


@pytest.mark.parametrize(
    ("codec", "ext", "decoded"),
    [
        ("mpeg4", ".avi", "mpeg4"),
        ("h264", ".mp4", "h264"),
        ("vp9", ".webm", "vp9"),
        ("mjpeg", ".avi", "mjpeg"),
    ],
)
def test_synth_writes_real_videos_in_ucf101_layout(tmp_path, codec, ext, decoded):
    out = tmp_path / "synth"
    result = run("datasets", "synth", str(out), *SMALL, "--codec", codec)
    assert result.exit_code == 0, result.output
    videos = sorted((out / "videos").rglob("*" + ext))
    assert len(videos) == 3 * 4
    for video in videos:
        assert re.fullmatch(r"v_(\w+)_g\d\d_c\d\d" + re.escape(ext), video.name)
        assert video.name.split("_")[1] == video.parent.name
    frames = read_frames(videos[0])
    assert frames.shape == (8, 48, 64, 3)
    assert codec_of(videos[-1]) == decoded

    ann = out / "annotations"
    classes = [line.split() for line in (ann / "classInd.txt").read_text().splitlines()]
    assert [int(i) for i, _ in classes] == [1, 2, 3]
    train = [line.split() for line in (ann / "trainlist01.txt").read_text().splitlines()]
    test = (ann / "testlist01.txt").read_text().split()
    assert all(len(item) == 2 for item in train) and all("/" in t for t in test)
    names = {name: int(i) for i, name in classes}
    assert all(names[path.split("/")[0]] == int(label) for path, label in train)
    listed = {p for p, _ in train} | set(test)
    assert listed == {str(v.relative_to(out / "videos")) for v in videos}

    def groups(paths):
        return {re.search(r"v_(\w+_g\d\d)_", p).group(1) for p in paths}

    assert groups(test) and groups(p for p, _ in train)
    assert not groups(test) & groups(p for p, _ in train), "a group is in both train and test"


def test_synth_is_deterministic_for_a_seed_and_any_job_count(tmp_path):
    config = SynthConfig(
        classes=2, videos_per_class=4, clips_per_group=2, frames=6, width=48, height=32, codec="h264", seed=3
    )
    generate(tmp_path / "a", config, jobs=1)
    generate(tmp_path / "b", config, jobs=2)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    other = SynthConfig(**{**config.__dict__, "seed": 4})
    generate(tmp_path / "c", other, jobs=2)
    assert set(digest(tmp_path / "c")) == set(digest(tmp_path / "a"))
    assert digest(tmp_path / "c") != digest(tmp_path / "a")


def test_synth_resumes_and_refuses_a_different_dataset(tmp_path):
    out = tmp_path / "synth"
    assert run("datasets", "synth", str(out), *SMALL).exit_code == 0
    before = digest(out)
    victim = sorted((out / "videos").rglob("*.avi"))[5]
    victim.unlink()
    (victim.parent / f".tmp-{victim.name}.999").write_bytes(b"half a video")  # left by a killed run
    assert run("datasets", "synth", str(out), *SMALL).exit_code == 0
    assert digest(out) == before
    assert not list((out / "videos").rglob(".tmp-*"))

    different = run("datasets", "synth", str(out), *SMALL, "--seed", "1")
    assert different.exit_code == 2
    assert "already holds a different synthetic dataset" in different.output
    assert "Traceback" not in different.output
    assert run("datasets", "synth", str(out), *SMALL, "--seed", "1", "--overwrite").exit_code == 0
    assert digest(out) != before

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    refused = run("datasets", "synth", str(foreign), *SMALL)
    assert refused.exit_code == 2 and "not a vr dataset" in refused.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent-parent/out"], "does not exist"),
        (["{tmp}/out", "--classes", "0"], "--classes"),
        (["{tmp}/out", "--codec", "theora"], "--codec"),
        (["{tmp}/out", "--size", "65x48"], "even"),
        (["{tmp}/out", "--size", "big"], "WxH"),
        (["{tmp}/out", "--videos-per-class", "4", "--clips-per-group", "4"], "different groups"),
    ],
)
def test_synth_bad_arguments_are_one_line_usage_errors(tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = invoke(["datasets", "synth", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    assert len(result.output.strip().splitlines()[-1]) < 200


# --- Only temporal information separates the classes ------------------------------------------------


def appearance_features(frames: np.ndarray) -> np.ndarray:
    """What one frame shows: a tiny thumbnail and colour statistics of the middle frame."""
    frame = frames[len(frames) // 2].astype(np.float32)
    thumb = cv2.resize(frame, (8, 6), interpolation=cv2.INTER_AREA).ravel()
    return np.concatenate([thumb, frame.mean((0, 1)), frame.std((0, 1))])


def motion_features(frames: np.ndarray) -> np.ndarray:
    """How consecutive frames differ: mean flow, and median curl and divergence inside moving regions."""
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    feats = []
    for a, b in zip(grey[:-1], grey[1:], strict=False):
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 9, 3, 5, 1.1, 0)
        u, v = flow[..., 0], flow[..., 1]
        moving = np.hypot(u, v) > 0.2
        inside = cv2.erode(moving.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        if inside.sum() < 10:
            continue
        du_dy, du_dx = np.gradient(u)
        dv_dy, dv_dx = np.gradient(v)
        feats.append(
            [
                u[moving].mean(),
                v[moving].mean(),
                np.median((dv_dx - du_dy)[inside]),
                np.median((du_dx + dv_dy)[inside]),
            ]
        )
    return np.mean(feats, axis=0)


def nearest_mean_accuracy(train_x, train_y, test_x, test_y) -> float:
    mu, sd = train_x.mean(0), train_x.std(0) + 1e-6
    train_x, test_x = (train_x - mu) / sd, (test_x - mu) / sd
    classes = np.unique(train_y)
    centroids = np.stack([train_x[train_y == c].mean(0) for c in classes])
    pred = classes[np.argmin(((test_x[:, None] - centroids[None]) ** 2).sum(-1), axis=1)]
    return float((pred == test_y).mean())


@pytest.fixture(scope="module")
def motion_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("motion")
    config = SynthConfig(classes=8, videos_per_class=12, clips_per_group=3, frames=16, width=96, height=72)
    generate(root, config, jobs=2)
    ann = root / "annotations"
    train = [line.split()[0] for line in (ann / "trainlist01.txt").read_text().splitlines()]
    test = (ann / "testlist01.txt").read_text().split()
    labels = {name: i for i, name in enumerate(config.class_names)}

    def load(paths):
        clips = [read_frames(root / "videos" / p) for p in paths]
        return clips, np.array([labels[p.split("/")[0]] for p in paths])

    return load(train), load(test), 1 / config.classes


def test_single_frames_do_not_tell_the_class_but_motion_does(motion_dataset):
    (train_clips, train_y), (test_clips, test_y), chance = motion_dataset
    appearance = nearest_mean_accuracy(
        np.stack([appearance_features(c) for c in train_clips]),
        train_y,
        np.stack([appearance_features(c) for c in test_clips]),
        test_y,
    )
    motion = nearest_mean_accuracy(
        np.stack([motion_features(c) for c in train_clips]),
        train_y,
        np.stack([motion_features(c) for c in test_clips]),
        test_y,
    )
    assert appearance <= chance + 0.2, f"one frame classifies {appearance:.0%} (chance {chance:.0%})"
    assert motion >= 0.9, f"motion features classify only {motion:.0%}"
