"""What a benchmark ran on, for its record."""

from __future__ import annotations

import platform
from typing import Any

from vr.threads import available_cpus


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


def describe(device=None) -> dict[str, Any]:
    """The machine: CPU, usable cores, torch threads and version, and the GPU when ``device`` is one."""
    import torch

    info: dict[str, Any] = {
        "cpu": cpu_name(),
        "cpus": available_cpus(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if device is not None and device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
