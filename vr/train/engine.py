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

from vr.errors import VrError
from vr.progress import progress_bar
from vr.runtime import autocast, backward_guard, to_device


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
    dropped: int = 0  # clips read but not trained on: a batch of one with BatchNorm, a non-finite loss

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.clips, 1)

    @property
    def acc(self) -> float:
        return self.correct / max(self.clips, 1)

    @property
    def clips_per_s(self) -> float:
        return self.clips / max(self.seconds, 1e-9)


def shuffle_time(clip: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Permute the frames of every clip (N, C, T, H, W) independently: the frame-shuffled control."""
    n, t = clip.shape[0], clip.shape[2]
    order = torch.stack([torch.randperm(t, generator=generator) for _ in range(n)])
    index = order.view(n, 1, t, 1, 1).expand(-1, clip.shape[1], -1, clip.shape[3], clip.shape[4])
    return clip.gather(2, index.to(clip.device))


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
    sync: Callable[[list[float]], list[float]] | None = None,
    on_step: Callable[[EpochStats], None] | None = None,
    reduce_grads: Callable[[], None] | None = None,
    resume: EpochStats | None = None,
    skip_nonfinite: bool = False,
    progress: bool = True,
    desc: str = "train",
) -> EpochStats:
    """Train for one pass over ``loader`` (gradient accumulation over ``accumulate`` batches).

    ``resume``: the stats of an earlier run of this epoch that stopped after ``resume.steps`` batches (the
    loader starts after them). A stop (``stop``) or a :class:`~vr.storage.StorageError` ends the pass at
    the last optimizer step, so that the returned stats and the model agree; ``on_step(stats)`` runs
    after every optimizer step (periodic checkpoints).

    A batch with no clips (its samples all unreadable), or with one clip when the model has BatchNorm
    (which cannot normalise a single value), is not trained on, as ``drop_last`` would; a non-finite loss
    raises :class:`Diverged`, or with ``skip_nonfinite`` the batch is left out. Both are counted in
    ``dropped``.

    ``sync`` (DDP: a sum over the ranks) makes those decisions the ranks': a batch is left out and a stop
    happens on every rank at once, or on none, so no rank waits for a gradient the others never send.

    Under DDP with ``accumulate`` > 1 the micro-batches before the last of each window run under the
    wrapper's ``no_sync()``: gradients are summed over the ranks once a window, not once a micro-batch.
    Where a window ends without that last reducing backward (its last batch left out, an epoch's
    partial last window), ``reduce_grads`` (the ranks' mean of the gradients) does it before the step.
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
    bar = progress_bar(total=total, desc=desc, unit="batch", disable=not progress, leave=False)
    step, error, stopped = first, None, False
    no_sync = getattr(model, "no_sync", None) if sync is not None and accumulate > 1 else None
    unreduced = False  # a backward under no_sync left gradients the ranks have not yet averaged
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
        n = len(batch["video_id"])
        skip = n == 0 or (n < 2 and batchnorm)
        requested = stop is not None and stop.requested
        if sync is not None:  # every rank leaves this batch out, and stops, or none does
            skip_any, stop_any = sync([float(skip), float(requested)])
            skip, requested = skip_any > 0, stop_any > 0
        if skip:
            dropped += n
        else:
            clip, label = to_device(batch, device, channels_last)
            if generator is not None:
                clip = shuffle_time(clip, generator)
            # DDP: a micro-batch before the window's last keeps its gradients local (forward included:
            # DDP decides in the forward whether the backward reduces)
            local = no_sync is not None and step % accumulate != 0
            window = no_sync() if local else contextlib.nullcontext()
            with window, backward_guard(device, precision):
                with autocast(device, precision):
                    logits = model(clip)
                    loss = F.cross_entropy(logits.float(), label, label_smoothing=label_smoothing)
                value = loss.item()
                finite = math.isfinite(value)
                if not finite and not skip_nonfinite:
                    bar.close()
                    raise Diverged(
                        f"{desc}: the loss is {value} at batch {step} (learning rate too high, or bad data); "
                        "lower --lr, or pass --skip-nonfinite to leave such batches out"
                    )
                if finite or sync is not None:  # DDP: every rank's backward, or the reduction never ends
                    scaler.scale(loss / accumulate).backward()
                    unreduced = local
            if sync is not None and skip_nonfinite:
                finite = sync([float(not finite)])[0] == 0
                if not finite:  # the reduced gradients hold NaN now: leave the window out on every rank
                    optimizer.zero_grad(set_to_none=True)
            if not finite:
                dropped += n
            else:
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
            if unreduced and reduce_grads is not None:
                reduce_grads()
            unreduced = False
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            committed = EpochStats(loss_sum, correct, int(seen), elapsed, steps=step, dropped=dropped)
            if on_step is not None:
                on_step(committed)
            last = total is not None and step - first >= total
            if requested and not last:
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
        if unreduced and reduce_grads is not None:
            reduce_grads()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
    return EpochStats(loss_sum, correct, int(seen), time.perf_counter() - start, steps=step, dropped=dropped)
