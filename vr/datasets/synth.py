"""The synthetic motion dataset: a stand-in for UCF101 that only temporal models can solve.

Layout (UCF101's)::

    OUT/videos/<Class>/v_<Class>_gNN_cNN.<avi|mp4|webm>
    OUT/annotations/classInd.txt, trainlist01.txt, testlist01.txt
    OUT/synth.json                      the parameters (identifies the dataset; resuming checks it)

Each class is one motion pattern of :mod:`vr.datasets.motion`. Clips of one group share background and
objects (as a UCF101 group shares actors and scene); the first ~7/25 of the groups of every class are
the test set, the rest train, so no scene is in both. Every video is a function of (seed, class, group,
clip) alone: the same seed gives the same files whatever the job count or order.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from vr import __version__
from vr.datasets.encode import CODECS, write_video
from vr.datasets.motion import MOTIONS, make_scene, make_track, render_clip
from vr.errors import VrError
from vr.locks import LOCK, output_lock

IDENTITY_FILE = "synth.json"
TEST_GROUP_FRACTION = 7 / 25  # UCF101: groups 1-7 of 25 are split 1's test set


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of a synthetic dataset; equal configs give identical datasets."""

    classes: int = 8
    videos_per_class: int = 16
    clips_per_group: int = 4
    frames: int = 32
    width: int = 160
    height: int = 120
    fps: float = 25.0
    codec: str = "mpeg4"
    objects: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.classes <= len(MOTIONS):
            raise ValueError(f"classes must be between 1 and {len(MOTIONS)}, got {self.classes}")
        if self.codec not in CODECS:
            raise ValueError(f"unknown codec {self.codec!r}; choose from {', '.join(CODECS)}")
        if self.width % 2 or self.height % 2 or self.width < 16 or self.height < 16:
            raise ValueError(f"size {self.width}x{self.height} must be even and at least 16x16")
        if self.frames < 2:
            raise ValueError("frames must be at least 2")
        if self.clips_per_group < 1 or self.objects < 1 or self.fps <= 0:
            raise ValueError("clips_per_group, objects and fps must be positive")
        if self.n_groups < 2:
            raise ValueError(
                f"videos_per_class ({self.videos_per_class}) must exceed clips_per_group "
                f"({self.clips_per_group}) so that train and test get different groups"
            )

    @property
    def class_names(self) -> list[str]:
        return list(MOTIONS)[: self.classes]

    @property
    def n_groups(self) -> int:
        return math.ceil(self.videos_per_class / self.clips_per_group)

    @property
    def n_test_groups(self) -> int:
        return min(self.n_groups - 1, max(1, round(self.n_groups * TEST_GROUP_FRACTION)))


@dataclass(frozen=True)
class VideoSpec:
    """One video to generate."""

    class_index: int
    class_name: str
    group: int  # 1-based
    clip: int  # 1-based

    @property
    def video_id(self) -> str:
        return f"v_{self.class_name}_g{self.group:02d}_c{self.clip:02d}"


def plan_videos(config: SynthConfig) -> list[VideoSpec]:
    """Every video of the dataset in a fixed order."""
    specs = []
    for ci, name in enumerate(config.class_names):
        for k in range(config.videos_per_class):
            g, c = divmod(k, config.clips_per_group)
            specs.append(VideoSpec(ci, name, g + 1, c + 1))
    return specs


def render_video(config: SynthConfig, spec: VideoSpec) -> np.ndarray:
    """The frames of one video, (T, H, W, 3) uint8, a pure function of (config, spec)."""
    scene_rng = np.random.default_rng([config.seed, spec.class_index, spec.group, 0])
    clip_rng = np.random.default_rng([config.seed, spec.class_index, spec.group, spec.clip])
    scene = make_scene(scene_rng, config.width, config.height, config.objects)
    tracks = [
        make_track(clip_rng, spec.class_name, config.frames, config.width, config.height)
        for _ in scene.sprites
    ]
    return render_clip(scene, tracks, clip_rng, config.frames)


def video_path(root: Path, config: SynthConfig, spec: VideoSpec) -> Path:
    return root / "videos" / spec.class_name / (spec.video_id + CODECS[config.codec].extension)


def _make_video(root: Path, config: SynthConfig, spec: VideoSpec) -> bool:
    """Render and encode one video unless it exists; True when written."""
    path = video_path(root, config, spec)
    if path.exists():
        return False
    write_video(path, render_video(config, spec), config.fps, config.codec)
    return True


def write_annotations(root: Path, config: SynthConfig) -> None:
    """classInd.txt, trainlist01.txt and testlist01.txt in UCF101's formats."""
    ann = root / "annotations"
    ann.mkdir(parents=True, exist_ok=True)
    ext = CODECS[config.codec].extension
    train, test = [], []
    for spec in plan_videos(config):
        rel = f"{spec.class_name}/{spec.video_id}{ext}"
        if spec.group <= config.n_test_groups:
            test.append(rel)
        else:
            train.append(f"{rel} {spec.class_index + 1}")
    class_ind = [f"{i + 1} {name}" for i, name in enumerate(config.class_names)]
    for name, lines in (("classInd.txt", class_ind), ("trainlist01.txt", train), ("testlist01.txt", test)):
        (ann / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


class DatasetExistsError(VrError, RuntimeError):
    """The output folder holds something other than this dataset."""


def _claim_folder(root: Path, config: SynthConfig, overwrite: bool) -> None:
    """Make ``root`` ours: resume the same dataset, refuse a different one unless ``overwrite``."""
    identity = {"vr_synth": 1, **asdict(config)}
    marker = root / IDENTITY_FILE
    if root.exists() and any(p.name != LOCK for p in root.iterdir()):
        try:
            existing = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            existing = None
        if existing is not None:
            existing.pop("created_with", None)
        if existing != identity:
            if not overwrite:
                what = "a different synthetic dataset" if existing else "files that are not a vr dataset"
                raise DatasetExistsError(f"{root} already holds {what}; use --overwrite to replace it")
            for sub in ("videos", "annotations"):
                shutil.rmtree(root / sub, ignore_errors=True)
            marker.unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({**identity, "created_with": f"vr {__version__}"}, indent=2) + "\n")


def generate(
    root: str | Path,
    config: SynthConfig,
    jobs: int = 1,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """Generate (or finish generating) the dataset under ``root``; returns every video path.

    ``progress`` is called with 1 after each video.
    """
    root = Path(root)
    with output_lock(root, "`vr datasets synth`"):
        _claim_folder(root, config, overwrite)
        specs = plan_videos(config)
        for name in config.class_names:
            (root / "videos" / name).mkdir(parents=True, exist_ok=True)
        for stale in (root / "videos").glob("*/.tmp-*"):
            stale.unlink(missing_ok=True)
        tasks = (delayed(_make_video)(root, config, spec) for spec in specs)
        for _ in Parallel(n_jobs=jobs, return_as="generator_unordered")(tasks):
            if progress is not None:
                progress(1)
        write_annotations(root, config)
    return [video_path(root, config, spec) for spec in specs]
