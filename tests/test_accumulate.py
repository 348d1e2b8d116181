"""Gradient accumulation under DDP (2 gloo processes): the micro-batches before a window's last run under
``no_sync()``, so gradients are summed over the ranks once a window, with the same result as summing
them every micro-batch, also when a window's last batch is left out."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
from torch.nn.parallel import DistributedDataParallel

from vr.models import create_model
from vr.train.config import TrainConfig
from vr.train.distributed import DistInfo
from vr.train.engine import train_epoch

ACCUMULATE = 2


def _batches(rank: int, empty: set[int]) -> list[dict]:
    """Six batches of two clips for ``rank`` (different on each rank); those in ``empty`` have none."""
    out = []
    for i in range(6):
        g = torch.Generator().manual_seed(100 * rank + i)
        n = 0 if i in empty else 2
        out.append(
            {
                "clip": torch.randn(n, 3, 4, 16, 16, generator=g),
                "label": torch.randint(0, 3, (n,), generator=g),
                "video_id": [f"v{i}_{k}" for k in range(n)],
            }
        )
    return out


class _Recording(torch.optim.SGD):
    """SGD at learning rate 0 that keeps the gradients of every step: what the ranks' reduction gave
    (the weights stay put, so both ways see the same model at every step)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__(model.parameters(), lr=0.0)
        self.named = list(model.named_parameters())
        self.steps: list[dict[str, torch.Tensor]] = []

    def step(self, closure=None):
        self.steps.append({n: p.grad.clone() for n, p in self.named if p.grad is not None})
        return super().step(closure)


def _rank(rank: int, store: str, out: str, empty: list[int]) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    info = DistInfo(rank, 2, rank, "cpu")
    try:
        results = {}
        for how in ("per_window", "per_batch"):
            torch.manual_seed(0)
            model = create_model("r3d10", 3, widen_factor=0.125)
            # buffers not broadcast: DDP broadcasts them in each forward that syncs, so the two ways
            # would differ by when BatchNorm's running statistics are shared, not by the gradients
            ddp = DistributedDataParallel(model, broadcast_buffers=False)
            calls = [0]

            def counting(state, bucket, calls=calls):
                calls[0] += 1
                return allreduce_hook(state, bucket)

            ddp.register_comm_hook(None, counting)
            optimizer = _Recording(model)
            scaler = torch.amp.GradScaler("cpu", enabled=False)
            train_epoch(
                ddp,
                _batches(rank, set(empty)),
                optimizer,
                scaler,
                torch.device("cpu"),
                TrainConfig(data="-", out="-", accumulate=ACCUMULATE),
                # without dist, train_epoch does not know it runs under DDP: it reduces every micro-batch
                dist=info if how == "per_window" else None,
                progress=False,
            )
            results[how] = {"steps": optimizer.steps, "calls": calls[0]}
        torch.save(results, os.path.join(out, f"{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _run(tmp_path, empty: list[int]) -> list[dict]:
    mp.spawn(_rank, args=(str(tmp_path / "store"), str(tmp_path), empty), nprocs=2)
    return [torch.load(tmp_path / f"{r}.pt") for r in range(2)]


def _same_steps(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys() and x
        for name in x:
            torch.testing.assert_close(x[name], y[name], rtol=1e-5, atol=1e-6)


def test_ddp_accumulation_reduces_once_a_window_with_the_same_result(tmp_path):
    ranks = _run(tmp_path, empty=[])
    for r in ranks:
        assert r["per_window"]["calls"] * ACCUMULATE == r["per_batch"]["calls"] > 0
        _same_steps(r["per_window"]["steps"], r["per_batch"]["steps"])
        assert len(r["per_window"]["steps"]) == 6 // ACCUMULATE
    _same_steps(ranks[0]["per_window"]["steps"], ranks[1]["per_window"]["steps"])  # the ranks agree


def test_a_window_whose_last_batch_is_left_out_is_still_reduced(tmp_path):
    ranks = _run(tmp_path, empty=[1])  # window 1: a backward under no_sync, then an empty batch
    for r in ranks:
        _same_steps(r["per_window"]["steps"], r["per_batch"]["steps"])
    _same_steps(ranks[0]["per_window"]["steps"], ranks[1]["per_window"]["steps"])
