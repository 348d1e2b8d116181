"""Every family under channels_last_3d, bfloat16 autocast, DDP and torch.compile (tiny widths, CPU)."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from vr.models import create_model
from vr.train.engine import backward_guard

FAMILIES = {
    "r3d18": ({"widen_factor": 1 / 16, "shortcut": "A"}, (8, 32, 32)),
    "preact_r3d50": ({"widen_factor": 1 / 16, "layers": (1, 1, 1, 1)}, (8, 32, 32)),
    "resnext3d50": ({"widen_factor": 0.25, "cardinality": 8, "layers": (1, 1, 1, 1)}, (8, 32, 32)),
    "r2plus1d18": ({"widen_factor": 1 / 16}, (8, 32, 32)),
    "densenet3d121": ({"growth_rate": 4, "num_init_features": 8, "block_config": (1, 1, 1, 1)}, (16, 32, 32)),
    "p3d63": ({"widen_factor": 1 / 16, "layers": (1, 1, 1, 1)}, (16, 32, 32)),
    "i3d_r50": ({"widen_factor": 1 / 16, "layers": (1, 2, 2, 1)}, (8, 32, 32)),
}


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _model_and_clip(name: str, channels: int = 3, batch: int = 2):
    torch.manual_seed(0)
    kwargs, clip = FAMILIES[name]
    return create_model(name, 5, in_channels=channels, **kwargs), torch.randn(batch, channels, *clip)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_channels_last_3d_matches_contiguous(name):
    model, x = _model_and_clip(name, channels=2)
    model.eval()
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last_3d)
        got = model(x.to(memory_format=torch.channels_last_3d))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_bfloat16_autocast_forward_backward(name):
    model, x = _model_and_clip(name)
    model.eval()
    with torch.no_grad():
        reference = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x).float()
    scale = reference.abs().max().item()
    assert (low - reference).abs().max().item() < 0.1 * scale + 1e-2  # bf16 has 8 mantissa bits
    model.train()
    # The trainer's guard: oneDNN's bf16 conv3d backward gives non-finite gradients on the CPU.
    with backward_guard(torch.device("cpu"), "bf16"):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x.to(memory_format=torch.channels_last_3d))
        assert out.dtype == torch.bfloat16
        out.float().logsumexp(1).mean().backward()
    bad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not bad, f"missing or non-finite gradients: {bad[:5]}"


def test_ddp_single_process(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        for name in ("r3d18", "p3d63", "densenet3d121"):
            model, x = _model_and_clip(name)
            ddp = DistributedDataParallel(model)
            loss = ddp(x).logsumexp(1).mean()
            loss.backward()
            assert all(p.grad is not None for p in model.parameters())
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_torch_compile_matches_eager():
    model, x = _model_and_clip("r3d18")
    model.eval()
    compiled = torch.compile(model)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["r3d18", "r2plus1d18", "p3d63", "i3d_r50"])
def test_cuda_bf16_channels_last_training_step(name):
    model, x = _model_and_clip(name)
    model, x = model.cuda().eval(), x.cuda()
    with torch.no_grad():
        reference = model(x)
        model = model.to(memory_format=torch.channels_last_3d)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            low = model(x.contiguous(memory_format=torch.channels_last_3d)).float()
    assert (low - reference).abs().max().item() < 0.1 * reference.abs().max().item() + 1e-2
    model.train()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(x.contiguous(memory_format=torch.channels_last_3d))
    out.float().logsumexp(1).mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
