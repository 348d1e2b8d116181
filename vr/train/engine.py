"""One training epoch and one validation pass over a clip loader."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop finishes its step, then the run saves a checkpoint and exits."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


@dataclass
class EpochStats:
    """Sums over one pass (so ranks can add them up), and their means."""

    loss_sum: float
    correct: float
    clips: int
    seconds: float
    interrupted: bool = False

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.clips, 1)

    @property
    def acc(self) -> float:
        return self.correct / max(self.clips, 1)

    @property
    def clips_per_s(self) -> float:
        return self.clips / max(self.seconds, 1e-9)


def autocast(device: torch.device, precision: str):
    """Mixed-precision context for ``precision`` in fp32/bf16/fp16."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def backward_guard(device: torch.device, precision: str):
    """Around a whole training step (forward and backward): with bf16 on the CPU, oneDNN is turned off,
    because torch 2.13's oneDNN bf16 conv3d backward gives non-finite weight gradients for some shapes
    (seen in R3D, R(2+1)D, P3D and I3D layers); the native kernels are exact."""
    if device.type == "cpu" and precision == "bf16":
        return _onednn_off()
    return contextlib.nullcontext()


@contextlib.contextmanager
def _onednn_off():
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = previous


def shuffle_time(clip: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Permute the frames of every clip (N, C, T, H, W) independently: the frame-shuffled control."""
    n, t = clip.shape[0], clip.shape[2]
    order = torch.stack([torch.randperm(t, generator=generator) for _ in range(n)])
    index = order.view(n, 1, t, 1, 1).expand(-1, clip.shape[1], -1, clip.shape[3], clip.shape[4])
    return clip.gather(2, index.to(clip.device))


def to_device(batch: dict, device: torch.device, channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    clip = batch["clip"].to(device, non_blocking=True)
    if channels_last:
        clip = clip.contiguous(memory_format=torch.channels_last_3d)
    return clip, batch["label"].to(device, non_blocking=True)


def train_epoch(
    model: nn.Module,
    loader: Iterable[dict],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    device: torch.device,
    *,
    precision: str = "fp32",
    channels_last: bool = False,
    accumulate: int = 1,
    label_smoothing: float = 0.0,
    shuffle_frames_seed: int | None = None,
    max_steps: int | None = None,
    stop: StopFlag | None = None,
    progress: bool = True,
    desc: str = "train",
) -> EpochStats:
    """Train for one pass over ``loader`` (gradient accumulation over ``accumulate`` batches)."""
    model.train()
    total = len(loader) if hasattr(loader, "__len__") else None
    if max_steps is not None and total is not None:
        total = min(total, max_steps)
    generator = None
    if shuffle_frames_seed is not None:
        generator = torch.Generator().manual_seed(shuffle_frames_seed)
    loss_sum = correct = seen = 0.0
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    bar = tqdm(total=total, desc=desc, unit="batch", disable=not progress, leave=False)
    step = 0
    for step, batch in enumerate(loader, start=1):
        clip, label = to_device(batch, device, channels_last)
        if generator is not None:
            clip = shuffle_time(clip, generator)
        with backward_guard(device, precision):
            with autocast(device, precision):
                logits = model(clip)
                loss = F.cross_entropy(logits.float(), label, label_smoothing=label_smoothing)
            scaler.scale(loss / accumulate).backward()
        if step % accumulate == 0:
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
        n = label.numel()
        loss_sum += loss.item() * n
        correct += (logits.argmax(1) == label).sum().item()
        seen += n
        elapsed = time.perf_counter() - start
        bar.update(1)
        bar.set_postfix(
            loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}", clips_s=f"{seen / elapsed:.1f}"
        )
        if (max_steps is not None and step >= max_steps) or (stop is not None and stop.requested):
            break
    if step % accumulate:
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
    bar.close()
    interrupted = bool(stop and stop.requested)
    return EpochStats(loss_sum, correct, int(seen), time.perf_counter() - start, interrupted)


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
    for batch in tqdm(loader, total=total, desc=desc, unit="batch", disable=not progress, leave=False):
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
