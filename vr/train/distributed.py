"""Distributed data parallel from torchrun's environment: NCCL on GPUs, gloo on the CPU. Collectives of
this module put their tensors on the run's device, so the same code runs on both, and a GPU run needs
no gloo at all (gloo binds to the address the host name resolves to, which in many containers is
127.0.0.1: a group that NCCL alone would form fails to start)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from vr.errors import VrError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"  # where collective tensors live: NCCL reduces CUDA tensors only

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group torchrun describes (``RANK``/``WORLD_SIZE``); a single process otherwise.

    ``device`` is this process's device as :func:`vr.runtime.resolve_device` chose it (on a GPU:
    ``LOCAL_RANK % visible GPUs``, already current); the group is bound to it (``device_id``).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        try:
            if backend == "nccl":  # bound to this rank's GPU: barriers and objects go through NCCL too
                dist.init_process_group("nccl", device_id=device)
            else:
                dist.init_process_group("gloo")
        except (RuntimeError, ValueError, OSError) as e:  # DistNetworkError, DistStoreError, gloo's own
            raise DistributedError(_init_failure(backend, e)) from None
    where = str(device) if device.type == "cuda" else "cpu"
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, where)


class DistributedError(VrError, RuntimeError):
    """The process group could not be formed."""


def _init_failure(backend: str, error: BaseException) -> str:
    """One line: what failed, with the environment that decides it and the way out."""
    first = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
    where = f"MASTER_ADDR={os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    rank = f"rank {os.environ.get('RANK', '?')} of {os.environ.get('WORLD_SIZE', '?')}"
    variable = "NCCL_SOCKET_IFNAME" if backend == "nccl" else "GLOO_SOCKET_IFNAME"
    chosen = os.environ.get(variable)
    hint = (
        f"{variable}={chosen} is set: is that interface up on every node?"
        if chosen
        else f"if this host's name resolves to 127.0.0.1 (common in containers), set {variable} to the "
        "network interface the nodes reach each other on (e.g. eth0)"
    )
    return f"{backend} could not form the process group ({rank}, {where}): {first}; {hint}"


def gather_objects(value, info: DistInfo) -> list:
    """Every rank's ``value`` (picklable), in rank order; ``[value]`` in a single process."""
    if not info.enabled:
        return [value]
    out: list = [None] * info.world_size
    dist.all_gather_object(out, value)
    return out


def all_sum(values: list[float], info: DistInfo) -> list[float]:
    """Element-wise sum of ``values`` over all ranks."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return t.tolist()


def average_gradients(model: torch.nn.Module, info: DistInfo) -> None:
    """Average every parameter's gradient over the ranks, as DDP's own reduction does (for the windows
    whose last backward ran under ``no_sync``); every rank holds the same set of gradients."""
    if not info.enabled:
        return
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= info.world_size


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
