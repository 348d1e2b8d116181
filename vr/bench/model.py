"""`vr bench model`: clips/s, latency and peak memory of a registered model on this device."""

from __future__ import annotations

import time
from dataclasses import dataclass

from vr.bench.memory import peak_memory
from vr.errors import VrError
from vr.progress import progress_bar
from vr.runtime import autocast, backward_guard, check_precision, use_device


@dataclass(frozen=True)
class ModelBench:
    """One model's measured speed: ``clips_per_s`` over the timed steps, ``latency_ms`` of one batch,
    ``peak_bytes`` the memory the model, its activations (and gradients, training) take at the peak."""

    model: str
    clip: tuple[int, int, int]
    in_channels: int
    batch: int
    train: bool
    precision: str
    channels_last: bool
    compiled: bool
    device: str
    steps: int
    clips_per_s: float
    latency_ms: float
    peak_bytes: int | None
    memory_kind: str


def parse_clip(text: str) -> tuple[int, int, int]:
    """``"16x112x112"`` (T x H x W) or ``"16x112"`` (T x side) as (T, H, W); VrError when malformed."""
    parts = text.lower().split("x")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) == 2:
        numbers.append(numbers[1])
    if len(numbers) != 3 or min(numbers) < 1:
        raise VrError(f"not a clip size: {text!r} (TxHxW, e.g. 16x112x112)")
    return numbers[0], numbers[1], numbers[2]


def measure_model(
    name: str,
    *,
    clip: tuple[int, int, int] | None = None,
    batch: int = 8,
    in_channels: int = 3,
    num_classes: int = 400,
    train: bool = True,
    precision: str = "fp32",
    channels_last: bool = False,
    compile: bool = False,
    device=None,
    warmup: int = 2,
    steps: int = 5,
    model_args: dict | None = None,
    progress: bool = True,
) -> ModelBench:
    """Time ``steps`` forward passes (``train=False``, eval mode, no gradients) or training steps (forward,
    cross-entropy, backward, SGD step) after ``warmup`` untimed ones, on random clips of ``clip`` (the
    model's default when None) and ``batch``; autocast to ``precision`` where it is not fp32."""
    import torch
    import torch.nn.functional as F

    from vr.models import check_clip, create_model, model_info

    if batch < 1 or steps < 1 or warmup < 0:
        raise VrError("batch and steps must be >= 1 and warmup >= 0")
    device = use_device(device or torch.device("cpu"))  # cuDNN's autotuner on, as in training
    check_precision(precision, device, training=train)
    clip = tuple(clip or model_info(name).clip)
    check_clip(name, clip, num_classes, in_channels, **(model_args or {}))
    torch.manual_seed(0)
    with peak_memory(device) as peak:
        model = create_model(name, num_classes, in_channels, **(model_args or {})).to(device)
        model.train(train)
        x = torch.randn(batch, in_channels, *clip, device=device)
        y = torch.randint(0, num_classes, (batch,), device=device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last_3d)
            x = x.contiguous(memory_format=torch.channels_last_3d)
        run = torch.compile(model) if compile else model
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9) if train else None

        def step() -> None:
            if optimizer is None:
                with torch.no_grad(), autocast(device, precision):
                    run(x)
                return
            optimizer.zero_grad(set_to_none=True)
            with backward_guard(device, precision):  # the training step as `vr train` runs it
                with autocast(device, precision):
                    loss = F.cross_entropy(run(x).float(), y)
                loss.backward()
            optimizer.step()

        sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
        bar = progress_bar(
            total=warmup + steps, desc=f"{name} steps", unit="step", disable=not progress, leave=False
        )
        with bar:
            for _ in range(warmup):
                step()
                bar.update()
            sync()
            start = time.perf_counter()
            for _ in range(steps):
                step()
                bar.update()
            sync()
            seconds = time.perf_counter() - start
    return ModelBench(
        model=name,
        clip=clip,  # type: ignore[arg-type]
        in_channels=in_channels,
        batch=batch,
        train=train,
        precision=precision,
        channels_last=channels_last,
        compiled=compile,
        device=str(device),
        steps=steps,
        clips_per_s=batch * steps / seconds,
        latency_ms=1000 * seconds / steps,
        peak_bytes=peak.bytes,
        memory_kind=peak.kind,
    )
