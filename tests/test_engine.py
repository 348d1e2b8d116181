"""`train_epoch` with non-finite losses: a NaN loss stops the run before the optimizer step it would
spoil, or with ``skip_nonfinite`` its window is left out, the others trained on as usual."""

from __future__ import annotations

import pytest
import torch

from vr.models import create_model
from vr.train.config import TrainConfig
from vr.train.engine import Diverged, train_epoch


def _batches(nan_at: set[int], n_batches: int = 6) -> list[dict]:
    out = []
    for i in range(n_batches):
        g = torch.Generator().manual_seed(i)
        clip = torch.randn(2, 3, 4, 16, 16, generator=g)
        if i in nan_at:
            clip[0, 0, 0, 0, 0] = float("nan")
        out.append({"clip": clip, "label": torch.tensor([0, 1]), "video_id": [f"v{i}a", f"v{i}b"]})
    return out


class _Counting(torch.optim.SGD):
    def __init__(self, params, **kw) -> None:
        super().__init__(params, **kw)
        self.steps = 0

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


def _train(batches, lr: float = 0.01, **config):
    torch.manual_seed(0)
    model = create_model("r3d10", 2, widen_factor=0.125)
    optimizer = _Counting(model.parameters(), lr=lr)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    cfg = TrainConfig(data="-", out="-", **config)
    stats = train_epoch(model, batches, optimizer, scaler, torch.device("cpu"), cfg, progress=False)
    return model, optimizer, stats


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_nan_loss_raises_before_the_step_and_names_the_batch():
    clean, _, _ = _train(_batches(set(), n_batches=2))
    before = _weights(clean)  # the model after the two batches before the NaN one
    torch.manual_seed(0)
    model = create_model("r3d10", 2, widen_factor=0.125)
    optimizer = _Counting(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    with pytest.raises(Diverged, match=r"the loss is nan at batch 3.*--skip-nonfinite"):
        train_epoch(
            model,
            _batches({2}),
            optimizer,
            scaler,
            torch.device("cpu"),
            TrainConfig(data="-", out="-"),
            progress=False,
        )
    assert optimizer.steps == 2
    for name, value in model.named_parameters():  # (BatchNorm's running statistics saw the NaN input)
        torch.testing.assert_close(value, before[name], msg=name)


@pytest.mark.parametrize("accumulate", [1, 2])
def test_skip_nonfinite_leaves_out_the_window_and_trains_on(accumulate):
    model, optimizer, stats = _train(_batches({3}), accumulate=accumulate, skip_nonfinite=True)
    windows = 6 // accumulate
    assert optimizer.steps == windows - 1
    assert stats.dropped == 2 * accumulate
    assert stats.clips == 12 - 2 * accumulate
    assert stats.steps == 6 and not stats.interrupted
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert 0 < stats.loss < 10 and 0 <= stats.acc <= 1


def test_loss_and_accuracy_read_once_a_window_are_the_batches():
    batches = _batches(set())
    model, optimizer, stats = _train(batches, lr=0.0, accumulate=4)  # lr 0: the same model every batch
    assert optimizer.steps == 2 and stats.clips == 12 and stats.dropped == 0
    losses, correct = [], 0
    with torch.no_grad():
        for b in batches:  # train mode, as the epoch ran: BatchNorm normalises with each batch's statistics
            logits = model.train()(b["clip"])
            losses.append(torch.nn.functional.cross_entropy(logits, b["label"]).item())
            correct += int((logits.argmax(1) == b["label"]).sum())
    assert stats.loss == pytest.approx(sum(losses) / len(losses), rel=1e-6)
    assert stats.acc == correct / 12
