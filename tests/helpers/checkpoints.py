"""A tiny ``vr`` checkpoint (r3d10 at 1/8 width, 4x32x32 clips) written the way `vr train` writes one."""

from __future__ import annotations

from pathlib import Path

import torch

from vr.models import create_model, save_checkpoint

CLIP = (4, 32, 32)
LABELS = [f"class{c}" for c in range(7)]


def make_checkpoint(path: Path, modality: str = "rgb", labels: list[str] = LABELS, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    in_channels = 3 if modality == "rgb" else 2
    model = create_model("r3d10", num_classes=len(labels), in_channels=in_channels, widen_factor=0.125)
    save_checkpoint(
        path,
        dict(
            arch="r3d10",
            model_args=model.model_args,
            modality=modality,
            state_dict=model.state_dict(),
            labels=list(labels),
            clip=list(CLIP),
            config={"clip_len": CLIP[0], "frame_stride": 1, "size": CLIP[1], "modality": modality},
            epoch=1,
        ),
    )
    return path
