"""Tiny motion-class frame folders and a manifest, rendered straight from the synthetic generator
(no video encoding), for tests of the loaders, training and evaluation."""

from __future__ import annotations

from pathlib import Path

import cv2

from vr.datasets.synth import SynthConfig, plan_videos, render_video
from vr.layout import commit_folder, image_name, temp_sibling
from vr.manifests.schema import Manifest, VideoRecord


def make_motion_frames(root: Path, config: SynthConfig) -> Path:
    """Frame folders ``root/frames/<class>/<id>/`` and ``root/manifest.jsonl`` (test groups -> "val")."""
    records = []
    for spec in plan_videos(config):
        final = root / "frames" / spec.class_name / spec.video_id
        tmp = temp_sibling(final)
        tmp.mkdir(parents=True, exist_ok=True)
        clip = render_video(config, spec)
        for i, frame in enumerate(clip, start=1):
            cv2.imwrite(str(tmp / image_name(i)), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        marker = {"n_frames": len(clip), "fps": config.fps, "width": config.width, "height": config.height}
        commit_folder(tmp, final, marker)
        subset = "val" if spec.group <= config.n_test_groups else "train"
        records.append(
            VideoRecord(
                spec.video_id,
                spec.class_name,
                spec.class_index,
                subset,
                f"{spec.class_name}/{spec.video_id}",
                len(clip),
                config.fps,
            )
        )
    path = root / "manifest.jsonl"
    Manifest(config.class_names, records, {"dataset": "synth"}).write(path)
    return path
