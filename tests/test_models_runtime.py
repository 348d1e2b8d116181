"""Every family under channels_last_3d, bfloat16 autocast, DDP and torch.compile (tiny widths, CPU).

torch.compile: every family is captured as ONE graph (``fullgraph=True``) with ``backend="aot_eager"``
(dynamo capture plus AOT autograd's forward/backward graphs, no code generation), eval output and training
gradients compared with eager. Inductor (generated C++ kernels) compiles the eval forward of every
family: about 145 s for the first eight with a cold cache on 2 cores. Its training step is left out (75 s
more for R3D-18 alone); a one-off check gave gradients within 2.7e-3 of eager for every family.
"""

from __future__ import annotations

import copy
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from vr.models import create_model, list_models, model_info
from vr.runtime import backward_guard

pytestmark = pytest.mark.usefixtures("one_thread")

FAMILIES = {
    "r3d18": ({"widen_factor": 1 / 16, "shortcut": "A"}, (8, 32, 32)),
    "preact_r3d50": ({"widen_factor": 1 / 16, "layers": (1, 1, 1, 1)}, (8, 32, 32)),
    "resnext3d50": ({"widen_factor": 0.25, "cardinality": 8, "layers": (1, 1, 1, 1)}, (8, 32, 32)),
    "r2plus1d18": ({"widen_factor": 1 / 16}, (8, 32, 32)),
    "densenet3d121": ({"growth_rate": 4, "num_init_features": 8, "block_config": (1, 1, 1, 1)}, (16, 32, 32)),
    "p3d63": ({"widen_factor": 1 / 16, "layers": (1, 1, 1, 1)}, (16, 32, 32)),
    "i3d_r50": ({"widen_factor": 1 / 16, "layers": (1, 2, 2, 1)}, (8, 32, 32)),
    "wrn3d50": ({"widen_factor": 1 / 16, "layers": (1, 1, 1, 1)}, (8, 32, 32)),
    "x3d_xs": ({"width_factor": 0.5, "layers": (1, 2, 1, 1), "head_hidden": 32}, (4, 32, 32)),
    "ipcsn_50": ({"widen_factor": 1 / 16, "layers": (1, 1, 1, 1)}, (8, 32, 32)),
    "slowfast_r50_8x8": ({"widen_factor": 1 / 8, "layers": (1, 1, 1, 1)}, (8, 32, 32)),
    "mc3_18": ({"widen_factor": 1 / 16, "layers": (1, 1, 1, 1)}, (8, 32, 32)),
    "s3d": ({"widen_factor": 1 / 16}, (8, 32, 32)),
}


def _model_and_clip(name: str, channels: int = 3, batch: int = 2):
    torch.manual_seed(0)
    kwargs, clip = FAMILIES[name]
    return create_model(name, 5, in_channels=channels, **kwargs), torch.randn(batch, channels, *clip)


def _loss(out: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out, torch.arange(len(out)) % out.shape[1])


def _grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters()}


def _assert_grads_close(got: dict, expected: dict, **tol) -> None:
    assert got.keys() == expected.keys()
    for n, g in got.items():
        assert torch.isfinite(g).all(), n
        torch.testing.assert_close(g, expected[n], msg=lambda m, n=n: f"{n}: {m}", **tol)


def test_every_registered_family_is_covered():
    assert {model_info(n).family for n in list_models()} == {model_info(n).family for n in FAMILIES}


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


@pytest.fixture(scope="module")
def gloo_group(tmp_path_factory):
    store = tmp_path_factory.mktemp("gloo") / "store"
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_ddp_single_process(gloo_group, name):
    model, x = _model_and_clip(name)
    reference = copy.deepcopy(model)
    torch.manual_seed(1)  # the same dropout masks (I3D, P3D)
    _loss(reference(x)).backward()
    ddp = DistributedDataParallel(model)
    torch.manual_seed(1)
    _loss(ddp(x)).backward()  # the gradients go through gloo's all-reduce (a mean over one rank)
    _assert_grads_close(_grads(model), _grads(reference), rtol=1e-5, atol=1e-7)


DDP_FAMILY = "densenet3d121"  # tests/test_train.py trains r3d10 with two processes


def _ddp_rank(rank: int, store: str, out: str) -> None:
    """One of two gloo ranks: one SGD step on its half of the batch, then save grads and parameters."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        model, x = _model_and_clip(DDP_FAMILY, batch=4)
        model.eval()  # BatchNorm on running stats: a half-batch's statistics would differ from the batch's
        ddp = DistributedDataParallel(model)
        half = slice(2 * rank, 2 * rank + 2)
        F.cross_entropy(ddp(x[half]), (torch.arange(4) % 5)[half]).backward()
        grads = _grads(model)
        torch.optim.SGD(model.parameters(), lr=0.1).step()
        torch.save(
            {"grads": grads, "params": dict(model.named_parameters())}, os.path.join(out, f"{rank}.pt")
        )
    finally:
        dist.destroy_process_group()


def test_ddp_two_processes_match_the_full_batch(tmp_path):
    mp.spawn(_ddp_rank, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2)
    ranks = [torch.load(tmp_path / f"{r}.pt") for r in range(2)]
    model, x = _model_and_clip(DDP_FAMILY, batch=4)
    model.eval()
    _loss(model(x)).backward()
    for saved in ranks:
        _assert_grads_close(saved["grads"], _grads(model), rtol=0, atol=1e-5)
    for n, p in ranks[0]["params"].items():
        assert torch.equal(p, ranks[1]["params"][n]), n  # both ranks hold the same weights after the step
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    for n, p in model.named_parameters():
        torch.testing.assert_close(ranks[0]["params"][n], p.detach(), rtol=0, atol=1e-6)


def _compiled_grads_and_eager(name: str, backend: str) -> tuple[dict, dict]:
    """Check the compiled eval output against eager, then return (compiled, eager) training gradients."""
    model, x = _model_and_clip(name)
    compiled = torch.compile(model, backend=backend, fullgraph=True)  # fullgraph: a graph break fails
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)
    model.train()
    torch.manual_seed(1)  # the same dropout masks (I3D, P3D)
    _loss(model(x)).backward()
    eager = _grads(model)
    model.zero_grad()
    torch.manual_seed(1)
    _loss(compiled(x)).backward()
    return _grads(model), eager


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_torch_compile_graph_and_autograd_match_eager(name):
    torch._dynamo.reset()
    got, eager = _compiled_grads_and_eager(name, "aot_eager")
    _assert_grads_close(got, eager, rtol=1e-5, atol=1e-6)  # the same aten kernels: equal to rounding


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_torch_compile_inductor_matches_eager(name):
    torch._dynamo.reset()  # else dynamo's recompile limit silently falls back to eager after a few models
    model, x = _model_and_clip(name)
    model.eval()
    compiled = torch.compile(model, fullgraph=True)  # inductor: generated C++ kernels
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


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_onnx_export_matches_eager(name, tmp_path):
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    from vr.models.export import export_onnx

    model, x = _model_and_clip(name)
    model.eval()
    path = export_onnx(model, tmp_path / f"{name}.onnx", x[:1])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"clip": x.numpy()})  # batch 2 through the dynamic batch axis
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(torch.from_numpy(got), expected, rtol=1e-4, atol=1e-4)
