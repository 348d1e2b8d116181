"""Where and how tensors compute: the one owner of device choice, precision and autocast, cuDNN settings
and host-to-device moves. Training, evaluation, inference and `vr bench` all import it (none of them
imports the trainer for it), so a GPU run of any of them is set up the same way.

Device rule: ``auto`` is the GPU where there is one, else the CPU. Under a launcher that starts one
process per GPU (torchrun, Slurm), a process's GPU is ``LOCAL_RANK % visible GPUs``: launchers that
give each process a single visible GPU (``--gpus-per-task=1``, ``CUDA_VISIBLE_DEVICES`` per rank) have
``LOCAL_RANK`` 1, 2, … and one device, where ``cuda:LOCAL_RANK`` would be an invalid ordinal. A chosen
GPU is made the current one (:func:`use_device`), so nothing (pinned-memory threads, a library's
default stream, NCCL) lands on GPU 0 by accident.

Module constants import nothing heavy (the command line reads them for its choices); the functions
import torch when called.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import TYPE_CHECKING, Any

from vr.errors import VrError

if TYPE_CHECKING:
    import torch

log = logging.getLogger("vr.runtime")

PRECISIONS = ("fp32", "bf16", "fp16")
DEVICE_HELP = "auto (a CUDA GPU when present), cpu, cuda or cuda:N"


class DeviceError(VrError, ValueError):
    """A device or precision this machine cannot give."""


def resolve_device(name: str = "auto", local_rank: int | None = None) -> torch.device:
    """The device ``name`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``) means on this machine; asking for
    a missing GPU is a :class:`DeviceError`. ``local_rank`` (default: ``LOCAL_RANK`` when the process
    was started by a launcher with ``WORLD_SIZE`` > 1) picks this process's GPU for ``auto``/``cuda``
    by the module's rule; an explicit ``cuda:N`` is kept."""
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise DeviceError(f"--device {name!r}: not a device; use {DEVICE_HELP}")
    if device.type == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DeviceError(f"--device {name}: this machine has no CUDA GPU (use --device cpu)")
    count = torch.cuda.device_count()
    if device.index is not None:
        if device.index >= count:
            raise DeviceError(f"--device {name}: this process sees {count} GPU(s) ({_visible()})")
        return device
    if local_rank is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    return torch.device("cuda", (local_rank or 0) % count)


def _visible() -> str:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return f"CUDA_VISIBLE_DEVICES={visible}" if visible is not None else "all visible"


_SLOT: list = []  # this process's held GPU slot: (file descriptor, slot)


def worker_slot(folder: str | os.PathLike | None = None) -> int:
    """The lowest free worker slot on this machine (0, 1, 2, ...), held until the process ends.

    Slots are lock files in ``folder`` (default: a per-user folder in the temporary directory), each held
    with ``flock`` by a live process, so the ``k`` workers running on a machine hold slots ``0..k-1``
    whichever launched them (joblib, Dask, Ray), and a dead worker's slot is free again. GPU workers use
    it as ``slot % visible GPUs``: spread evenly, not by process id."""
    import fcntl
    import tempfile

    if _SLOT:
        return _SLOT[0][1]
    folder = os.fspath(folder or os.path.join(tempfile.gettempdir(), f"vr-worker-slots-{os.getuid()}"))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    slot = 0
    while True:
        fd = os.open(os.path.join(folder, f"slot-{slot}"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            slot += 1
            continue
        _SLOT.append((fd, slot))
        return slot


def worker_device() -> torch.device:
    """The device of a preprocessing worker: ``cuda:(slot % visible GPUs)``, made current, on a GPU
    machine (under Ray, the GPU Ray gave it); the CPU otherwise."""
    import torch

    if not torch.cuda.is_available():
        return torch.device("cpu")
    device = torch.device("cuda", worker_slot() % torch.cuda.device_count())
    torch.cuda.set_device(device)
    return device


def use_device(device: torch.device, *, benchmark: bool = True) -> torch.device:
    """Make ``device`` current for this process: on a GPU ``torch.cuda.set_device`` (before any CUDA
    work or process group) and cuDNN's autotuner (``benchmark``: clips have fixed shapes, so it picks
    the fastest 3D kernels once; training, evaluation, inference and `vr bench` all run with it, so
    their speeds describe the same setup). Returns ``device``."""
    import torch

    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = benchmark
    return device


def check_precision(precision: str, device: torch.device, training: bool = True) -> None:
    """Raise :class:`DeviceError` for a precision ``device`` cannot run well: bf16 on a GPU older than
    Ampere (compute capability 8.0: its 3D convolutions would be emulated), and for ``training`` fp16
    off a GPU (no loss scaling there); warn for bf16 training on a CPU (see :func:`backward_guard`)."""
    import torch

    if precision not in PRECISIONS:
        raise DeviceError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if training and precision == "fp16" and device.type != "cuda":
        raise DeviceError("--precision fp16 needs a GPU; use bf16 on the CPU")
    if precision == "bf16" and device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        if major < 8:
            name = torch.cuda.get_device_name(device)
            raise DeviceError(
                f"--precision bf16: {name} (compute capability {major}.{minor}) has no bf16 units "
                "(Ampere, 8.0, and newer do); use --precision fp16"
            )
    if training and precision == "bf16" and device.type == "cpu":
        log.warning(
            "--precision bf16 on the CPU: the conv3d backward runs without oneDNN (its bf16 kernels give "
            "non-finite gradients), which was 50x slower than fp32 on a CPU without AVX512-BF16/AMX"
        )


def autocast(device: torch.device, precision: str):
    """Mixed-precision context for ``precision`` in fp32/bf16/fp16 (fp32: none)."""
    import torch

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
    import torch

    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = previous


def to_device(
    batch: dict[str, Any], device: torch.device, channels_last: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """A loader batch's clips (``channels_last_3d`` when asked) and labels on ``device``, copied without
    blocking the host (the loaders pin memory on a GPU)."""
    import torch

    clip = batch["clip"].to(device, non_blocking=True)
    if channels_last:
        clip = clip.contiguous(memory_format=torch.channels_last_3d)
    return clip, batch["label"].to(device, non_blocking=True)
