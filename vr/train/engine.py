"""One training epoch and one validation pass over a clip loader."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from vr.errors import VrError
from vr.progress import progress_bar
from vr.runtime import autocast, backward_guard, to_device

if TYPE_CHECKING:
    from vr.train.config import TrainConfig
    from vr.train.distributed import DistInfo


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


class _Window:
    """An accumulation window's batch losses and correct counts, kept on the device until its optimizer
    step reads them in one host sync, together with whether every loss is finite (on every rank)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.dtype = torch.float32 if device.type == "mps" else torch.float64
        self.clear()

    def clear(self) -> None:
        self.steps: list[tuple[int, int]] = []  # (batch, clips)
        self.clips = 0
        self.losses: list[torch.Tensor] = []
        self.correct: list[torch.Tensor] = []

    def add(self, step: int, loss: torch.Tensor, logits: torch.Tensor, label: torch.Tensor) -> None:
        n = int(label.shape[0])
        self.steps.append((step, n))
        self.clips += n
        self.losses.append(loss.detach().to(self.dtype) * n)
        self.correct.append((logits.detach().argmax(1) == label).sum().to(self.dtype))

    def read(self, dist: DistInfo | None) -> tuple[float, float, int, str | None]:
        """(loss sum, correct, clips, None) of the window, and empties it; the last item says where a
        loss is not finite instead (here, or on another DDP rank). Under DDP every rank must call it at
        the same step: it sums the count of non-finite losses over the ranks."""
        empty = torch.zeros(0, dtype=self.dtype, device=self.device)
        losses = torch.stack(self.losses) if self.losses else empty
        correct = torch.stack(self.correct).sum() if self.correct else empty.sum()
        bad = (~torch.isfinite(losses)).sum().to(self.dtype)
        if dist is not None and dist.enabled:
            import torch.distributed as collectives

            bad = bad.to(dist.device)  # the run's device: NCCL reduces CUDA tensors only
            collectives.all_reduce(bad)
        row = torch.stack([losses.sum(), correct, bad.to(self.device)]).tolist()  # the one host sync
        where = None
        if row[2]:
            values = losses.tolist()
            first = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
            if first is None:
                where = "not finite on another rank"
            else:
                step, n = self.steps[first]
                where = f"{values[first] / n} at batch {step}"
        clips = self.clips
        self.clear()
        return row[0], row[1], clips, where


def train_epoch(
    model: nn.Module,
    loader: Iterable[dict],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    device: torch.device,
    config: TrainConfig,
    *,
    epoch: int = 1,
    dist: DistInfo | None = None,
    stop: StopFlag | None = None,
    on_step: Callable[[EpochStats], None] | None = None,
    resume: EpochStats | None = None,
    progress: bool = True,
    desc: str = "train",
) -> EpochStats:
    """Train epoch ``epoch`` (1-based) for one pass over ``loader`` as ``config`` says: precision,
    channels_last, gradient accumulation over ``accumulate`` batches, label smoothing, the frame-shuffled
    control, non-finite losses, ``max_steps_per_epoch``.

    ``resume``: the stats of an earlier run of this epoch that stopped after ``resume.steps`` batches (the
    loader starts after them). A stop (``stop``) or a :class:`~vr.storage.StorageError` ends the pass at
    the last optimizer step, so that the returned stats and the model agree; ``on_step(stats)`` runs
    after every optimizer step (periodic checkpoints).

    A batch with no clips (its samples all unreadable), or with one clip when the model has BatchNorm
    (which cannot normalise a single value), is not trained on, as ``drop_last`` would. A non-finite loss
    raises :class:`Diverged` before the optimizer step it would spoil; with ``skip_nonfinite`` that step's
    window of batches is left out instead. Both are counted in ``dropped``. The host waits for the device
    once an optimizer step (losses and accuracy stay on the device until then, read at once with the
    finiteness check), not after every forward.

    ``dist`` (DDP): the ranks decide together: a batch is left out, a window dropped and a stop happens
    on every rank at once, or on none, so no rank waits for a gradient the others never send. With
    ``accumulate`` > 1 the micro-batches before the last of each window run under the wrapper's
    ``no_sync()``: gradients are summed over the ranks once a window, not once a micro-batch; where a
    window ends without that last reducing backward (its last batch left out, an epoch's partial last
    window), the ranks' mean of the gradients is taken before the step.
    """
    from vr.storage import StorageError
    from vr.train.distributed import all_sum, average_gradients

    ddp = dist if dist is not None and dist.enabled else None
    accumulate, max_steps = config.accumulate, config.max_steps_per_epoch
    model.train()
    first = resume.steps if resume else 0
    total = len(loader) if hasattr(loader, "__len__") else None
    if max_steps is not None and total is not None:
        total = min(total, max(0, max_steps - first))
    generator = None
    if config.shuffle_frames:
        generator = torch.Generator().manual_seed(config.loader.seed * 1000 + epoch)
    committed = resume or EpochStats(0.0, 0.0, 0, 0.0)
    committed = dataclasses.replace(committed, steps=first, interrupted=False, error=None)
    dropped = committed.dropped  # batches left out before they reach a window
    batchnorm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    start = time.perf_counter() - committed.seconds
    optimizer.zero_grad(set_to_none=True)
    bar = progress_bar(total=total, desc=desc, unit="batch", disable=not progress, leave=False)
    no_sync = getattr(model, "no_sync", None) if ddp is not None and accumulate > 1 else None
    unreduced = False  # a backward under no_sync left gradients the ranks have not yet averaged
    window = _Window(device)

    def finish_window(step: int) -> EpochStats:
        """The optimizer step of the window that ends at batch ``step``, and the stats it commits."""
        nonlocal unreduced
        loss_sum, correct, clips, bad = window.read(ddp)
        if bad is not None and not config.skip_nonfinite:
            bar.close()
            raise Diverged(
                f"{desc}: the loss is {bad} (learning rate too high, or bad data); "
                "lower --lr, or pass --skip-nonfinite to leave such batches out"
            )
        done = committed
        if bad is not None:  # the gradients hold NaN or inf: the window is left out (on every rank)
            optimizer.zero_grad(set_to_none=True)
            loss_sum, correct, extra = 0.0, 0.0, clips
            clips = 0
        else:
            if unreduced:
                average_gradients(model, ddp)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            extra = 0
        unreduced = False
        return EpochStats(
            done.loss_sum + loss_sum,
            done.correct + correct,
            done.clips + clips,
            time.perf_counter() - start,
            steps=step,
            dropped=dropped + extra,
        )

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
        n = len(batch["video_id"])
        skip = n == 0 or (n < 2 and batchnorm)
        requested = stop is not None and stop.requested
        if ddp is not None:  # every rank leaves this batch out, and stops, or none does
            skip_any, stop_any = all_sum([float(skip), float(requested)], ddp)
            skip, requested = skip_any > 0, stop_any > 0
        if skip:
            dropped += n
        else:
            clip, label = to_device(batch, device, config.channels_last)
            if generator is not None:
                clip = shuffle_time(clip, generator)
            # DDP: a micro-batch before the window's last keeps its gradients local (forward included:
            # DDP decides in the forward whether the backward reduces)
            local = no_sync is not None and step % accumulate != 0
            reduce = no_sync() if local else contextlib.nullcontext()
            with reduce, backward_guard(device, config.precision):
                with autocast(device, config.precision):
                    logits = model(clip)
                    loss = F.cross_entropy(logits.float(), label, label_smoothing=config.label_smoothing)
                scaler.scale(loss / accumulate).backward()
                unreduced = local
            window.add(step, loss, logits, label)
        last_step = max_steps is not None and step >= max_steps
        if step % accumulate == 0:
            committed = finish_window(step)
            dropped = committed.dropped
            bar.set_postfix(
                loss=f"{committed.loss:.3f}",
                acc=f"{committed.acc:.3f}",
                clips_s=f"{committed.clips_per_s:.1f}",
            )
            if on_step is not None:
                on_step(committed)
            if requested and not (total is not None and step - first >= total):
                stopped = True
                break
        if last_step:
            break
    bar.close()
    if stopped or error:  # the batches after the last optimizer step are redone on resume
        optimizer.zero_grad(set_to_none=True)
        return dataclasses.replace(
            committed, seconds=time.perf_counter() - start, interrupted=True, error=error
        )
    if step % accumulate:  # the epoch's partial last window
        committed = finish_window(step)
    else:
        committed = dataclasses.replace(committed, dropped=dropped, steps=step)
    return dataclasses.replace(committed, seconds=time.perf_counter() - start, steps=step)
