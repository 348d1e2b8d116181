"""One pass of a model over a clip loader: every clip's softmax scores, label and loss (validation in
`vr train`, `vr eval`)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from vr.progress import progress_bar
from vr.runtime import autocast, to_device


@torch.no_grad()
def predict(
    model: nn.Module,
    loader: Iterable[dict],
    device: torch.device,
    *,
    precision: str = "fp32",
    channels_last: bool = False,
    progress: bool = True,
    desc: str = "eval",
) -> tuple[list[str], torch.Tensor, torch.Tensor, torch.Tensor]:
    """Softmax scores of every clip: (video ids, scores (M, K) float32, labels (M,), losses (M,))."""
    model.eval()
    ids: list[str] = []
    scores, labels, losses = [], [], []
    total = len(loader) if hasattr(loader, "__len__") else None
    for batch in progress_bar(
        loader, total=total, desc=desc, unit="batch", disable=not progress, leave=False
    ):
        if not len(batch["video_id"]):  # every sample of the batch was unreadable
            continue
        clip, label = to_device(batch, device, channels_last)
        with autocast(device, precision):
            logits = model(clip).float()
        ids.extend(batch["video_id"])
        scores.append(logits.softmax(1).cpu())
        labels.append(label.cpu())
        valid = label >= 0
        loss = torch.zeros(len(label))
        if valid.any():
            loss[valid.cpu()] = F.cross_entropy(logits[valid], label[valid], reduction="none").cpu()
        losses.append(loss)
    if not ids:
        return [], torch.zeros(0, 0), torch.zeros(0, dtype=torch.long), torch.zeros(0)
    return ids, torch.cat(scores), torch.cat(labels), torch.cat(losses)
