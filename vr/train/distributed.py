"""Distributed data parallel from torchrun's environment: NCCL (and gloo for CPU tensors) on GPUs, gloo on
the CPU. Collectives of this module put their tensors on the run's device, so the same code runs on both."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


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
        if device.type == "cuda":
            # both backends: NCCL for CUDA tensors, gloo for any CPU tensor a collective may meet
            dist.init_process_group("cpu:gloo,cuda:nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
    where = str(device) if device.type == "cuda" else "cpu"
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, where)


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
