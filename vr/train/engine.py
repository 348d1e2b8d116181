"""One training epoch and one validation pass over a clip loader."""

from __future__ import annotations

import contextlib
import math
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from vr.errors import VrError


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop finishes its step, then the run saves a checkpoint and exits."""

    def __init__(self) -> None:
        self.requested = False
        self.signum = 0
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested, self.signum = True, signum

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Diverged(VrError, RuntimeError):
    """Training met a non-finite loss."""


@dataclass
class EpochStats:
    """Sums over one pass (so ranks can add them up), and their means. ``steps``: batches of the epoch
    done (counting those of an earlier, interrupted run); ``interrupted``: the pass stopped early (a
    signal, or ``error``: the data could not be read)."""

    loss_sum: float
    correct: float
    clips: int
    seconds: float
    interrupted: bool = False
    steps: int = 0
    error: str | None = None
    dropped: int = 0  # batches not trained on: one clip with BatchNorm, or a non-finite loss skipped

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
    should_stop: Callable[[bool], bool] | None = None,
    on_step: Callable[[EpochStats], None] | None = None,
    resume: EpochStats | None = None,
    skip_nonfinite: bool = False,
    progress: bool = True,
    desc: str = "train",
) -> EpochStats:
    """Train for one pass over ``loader`` (gradient accumulation over ``accumulate`` batches).

    ``resume``: the stats of an earlier run of this epoch that stopped after ``resume.steps`` batches (the
    loader starts after them). A stop (``stop``, or ``should_stop(requested)``, which DDP uses to stop
    every rank at the same step) or a :class:`~vr.storage.StorageError` ends the pass at the last
    optimizer step, so that the returned stats and the model agree; ``on_step(stats)`` runs after every
    optimizer step (periodic checkpoints).

    A batch of one clip (skipped bad samples can leave one) is not trained on when the model has
    BatchNorm, which cannot normalise a single value, as ``drop_last`` would; a non-finite loss raises
    :class:`Diverged`, or with ``skip_nonfinite`` the batch is left out. Both are counted in
    ``dropped``.
    """
    from vr.storage import StorageError

    model.train()
    first = resume.steps if resume else 0
    total = len(loader) if hasattr(loader, "__len__") else None
    if max_steps is not None and total is not None:
        total = min(total, max(0, max_steps - first))
    generator = None
    if shuffle_frames_seed is not None:
        generator = torch.Generator().manual_seed(shuffle_frames_seed)
    base = resume or EpochStats(0.0, 0.0, 0, 0.0)
    loss_sum, correct, seen, dropped = base.loss_sum, base.correct, float(base.clips), base.dropped
    committed = EpochStats(loss_sum, correct, int(seen), base.seconds, steps=first, dropped=dropped)
    batchnorm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    start = time.perf_counter() - base.seconds
    optimizer.zero_grad(set_to_none=True)
    bar = tqdm(total=total, desc=desc, unit="batch", disable=not progress, leave=False)
    step, error, stopped = first, None, False
    batches = iter(loader)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            break
        except StorageError as e:
            error = str(e)
            break
        step += 1
        bar.update(1)
        clip, label = to_device(batch, device, channels_last)
        if label.numel() < 2 and batchnorm:
            dropped += 1
        else:
            if generator is not None:
                clip = shuffle_time(clip, generator)
            with backward_guard(device, precision):
                with autocast(device, precision):
                    logits = model(clip)
                    loss = F.cross_entropy(logits.float(), label, label_smoothing=label_smoothing)
                value = loss.item()
                if math.isfinite(value):
                    scaler.scale(loss / accumulate).backward()
            if not math.isfinite(value):
                if not skip_nonfinite:
                    bar.close()
                    raise Diverged(
                        f"{desc}: the loss is {value} at batch {step} (learning rate too high, or bad data); "
                        "lower --lr, or pass --skip-nonfinite to leave such batches out"
                    )
                dropped += 1
            else:
                n = label.numel()
                loss_sum += value * n
                correct += (logits.argmax(1) == label).sum().item()
                seen += n
        elapsed = time.perf_counter() - start
        bar.set_postfix(
            loss=f"{loss_sum / max(seen, 1):.3f}",
            acc=f"{correct / max(seen, 1):.3f}",
            clips_s=f"{seen / elapsed:.1f}",
        )
        if step % accumulate == 0:
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            committed = EpochStats(loss_sum, correct, int(seen), elapsed, steps=step, dropped=dropped)
            if on_step is not None:
                on_step(committed)
            requested = stop is not None and stop.requested
            last = total is not None and step - first >= total
            if not last and (should_stop(requested) if should_stop is not None else requested):
                stopped = True
                break
        if max_steps is not None and step >= max_steps:
            break
    bar.close()
    if stopped or error:  # the batches after the last optimizer step are redone on resume
        optimizer.zero_grad(set_to_none=True)
        return EpochStats(
            committed.loss_sum,
            committed.correct,
            committed.clips,
            time.perf_counter() - start,
            interrupted=True,
            steps=committed.steps,
            error=error,
            dropped=committed.dropped,
        )
    if step % accumulate:
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
    return EpochStats(loss_sum, correct, int(seen), time.perf_counter() - start, steps=step, dropped=dropped)


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
