"""What a benchmark ran on, for its record."""

from __future__ import annotations

import os
import platform
from typing import Any


def cpu_name() -> str:
    """The processor's model name (Linux), else what ``platform`` says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def describe(device=None) -> dict[str, Any]:
    """The machine: CPU, usable cores, torch threads and version, and the GPU when ``device`` is one."""
    import torch

    info: dict[str, Any] = {
        "cpu": cpu_name(),
        "cpus": usable_cpus(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if device is not None and device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def resolve_device(name: str):
    """``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N`` as a ``torch.device``."""
    import torch

    from vr.errors import VrError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise VrError(f"not a device: {name!r} (auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise VrError(f"--device {name}: no CUDA GPU is available here")
    return device
