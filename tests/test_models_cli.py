"""`vr models list`, `vr convert-weights`, `vr export onnx` on real files (the golden fixtures)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from helpers.cli import invoke
from torch.utils.flop_counter import FlopCounterMode

from vr.models import create_model
from vr.models.checkpoint import model_from_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

GOLDEN = Path(__file__).parent / "data" / "golden"


def _run(*args: str):
    return invoke(list(args), catch_exceptions=False)


def _clip(fixture: dict) -> torch.Tensor:
    x = fixture["frames"].float() / 127.5 - 1.0
    f = fixture["upsample"]
    return x.repeat_interleave(f, -1).repeat_interleave(f, -2)


def test_models_list_counts_params_and_flops():
    result = _run("models", "list", "r3d18", "-q")
    assert result.exit_code == 0, result.output
    header, row = result.output.strip().splitlines()
    assert header.split()[:2] == ["model", "family"]
    cells = row.split()
    assert cells[0] == "r3d18" and cells[-1] == "kenshohara" and cells[-2] == "16x112x112"
    with torch.device("meta"):
        model = create_model("r3d18", 400)
        x = torch.empty(1, 3, 16, 112, 112)
    params = sum(p.numel() for p in model.parameters())
    with FlopCounterMode(display=False) as counter:  # torch's own counter, an independent method
        model(x)
    assert cells[3] == f"{params / 1e6:.2f}"
    assert cells[4] == f"{counter.get_total_flops() / 1e9:.1f}"


def test_models_list_bad_pattern_is_a_usage_error():
    result = _run("models", "list", "nosuch*")
    assert result.exit_code == 2 and "no model matches" in result.output


def test_convert_weights_kenshohara_roundtrip(tmp_path):
    fixture = torch.load(GOLDEN / "kenshohara_r3d18.pt", weights_only=True)
    src = tmp_path / "r3d18_K_200ep.pth"
    torch.save(fixture["checkpoint"], src)
    dst = tmp_path / "r3d18.pt"
    result = _run(
        "convert-weights", str(src), str(dst), "--model", "r3d18", "--model-arg", "widen_factor=0.03125"
    )
    assert result.exit_code == 0, result.output
    ckpt = torch.load(dst, weights_only=True)
    assert ckpt["arch"] == "r3d18" and ckpt["labels"] is None and ckpt["modality"] == "rgb"
    assert ckpt["model_args"] == {"num_classes": 7, "in_channels": 3, "widen_factor": 0.03125}
    model = model_from_checkpoint(dst).eval()
    with torch.no_grad():
        out = model(_clip(fixture))
    torch.testing.assert_close(out, fixture["expected"], rtol=1e-5, atol=1e-5)


def test_convert_weights_source_choices_are_the_converters():
    from vr.commands.models import convert_weights_cmd
    from vr.models import SOURCES

    (option,) = [p for p in convert_weights_cmd.params if p.name == "source"]
    assert list(option.type.choices) == ["auto", *SOURCES]


@pytest.mark.parametrize(
    "name",
    [
        "mmaction2_slowfast_r50_8x8",
        "mmaction2_ipcsn50",
        "mmaction2_i3d_r50",
        "mmaction2_slow_r50",
        "torchvision_r2plus1d_18",
        "torchvision_s3d",
    ],
)
def test_convert_weights_of_other_zoos(tmp_path, name):
    """An MMAction2 recognizer checkpoint (``backbone.``/``cls_head.``, its network's options implied: no
    norm in SlowFast's laterals, CSN's epsilon, I3D's stem pool) and torchvision state dicts,
    auto-detected, reproduce the original's output through `vr convert-weights` and the vr checkpoint it
    writes."""
    fixture = torch.load(GOLDEN / f"{name}.pt", weights_only=True)
    src, dst = tmp_path / "public.pth", tmp_path / "vr.pt"
    torch.save(fixture["checkpoint"], src)
    args = []
    for key in ("widen_factor", "layers"):
        if key not in fixture["model_args"]:
            continue
        value = fixture["model_args"][key]
        args += ["--model-arg", f"{key}={','.join(map(str, value)) if isinstance(value, list) else value}"]
    result = _run("convert-weights", str(src), str(dst), "--model", fixture["model"], *args)
    assert result.exit_code == 0, result.output
    ckpt = torch.load(dst, weights_only=True)
    implied = {k: v for k, v in fixture["model_args"].items() if k in ("fusion_norm", "bn_eps", "stem_pool")}
    assert implied.items() <= ckpt["model_args"].items()
    model = model_from_checkpoint(dst).eval()
    with torch.no_grad():
        out = model(_clip(fixture))
    torch.testing.assert_close(out, fixture["expected"], rtol=1e-5, atol=1e-5)


def test_convert_weights_caffe2_new_head_and_flow(tmp_path):
    dst = tmp_path / "i3d.pt"
    result = _run(
        "convert-weights", str(GOLDEN / "i3d_r50_caffe2.pkl"), str(dst), "--model", "i3d_r50",
        "--num-classes", "3", "--in-channels", "2", "--model-arg", "widen_factor=0.03125",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    model = model_from_checkpoint(dst)
    assert model.fc.out_features == 3 and model.conv1.in_channels == 2
    assert model.arch == "i3d_r50"


def test_convert_weights_errors_are_one_line(tmp_path):
    src = GOLDEN / "i3d_r50_caffe2.pkl"
    result = _run("convert-weights", str(src), str(tmp_path / "x.pt"), "--model", "i3d_r5")
    assert result.exit_code == 2 and "close names: i3d_r50" in result.output
    result = _run("convert-weights", str(src), str(tmp_path / "x.pt"), "--model", "r3d50", "--model-arg", "x")
    assert result.exit_code == 2 and "KEY=VALUE" in result.output
    result = _run("convert-weights", str(src), str(tmp_path / "x.pt"), "--model", "r3d50")
    assert result.exit_code == 1
    assert "does not fit" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("onnx", "onnxscript", "onnxruntime")),
    reason="needs onnx, onnxscript and onnxruntime",
)
def test_export_onnx_matches_torch(tmp_path):
    import onnxruntime as ort

    fixture = torch.load(GOLDEN / "p3d_flow_AB.pt", weights_only=True)
    src = tmp_path / "p3d_flow.pth.tar"
    torch.save(fixture["checkpoint"], src)
    ckpt = tmp_path / "p3d.pt"
    args = [
        "--model-arg",
        "layers=[1,2,2,1]",
        "--model-arg",
        "st_struct=A,B",
        "--model-arg",
        "widen_factor=0.0625",
    ]
    assert _run("convert-weights", str(src), str(ckpt), "--model", "p3d63", *args).exit_code == 0
    out = tmp_path / "p3d.onnx"
    result = _run("export", "onnx", str(ckpt), str(out))  # the default P3D clip, 16x160x160
    assert result.exit_code == 0, result.output
    assert "max |torch - onnxruntime|" in result.output
    model = model_from_checkpoint(ckpt).eval()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for x in (_clip(fixture), torch.randn(2, 2, 16, 160, 160)):  # the fixture clip; batch 2 (dynamic axis)
        (got,) = session.run(None, {"clip": x.numpy()})
        with torch.no_grad():
            expected = model(x)
        torch.testing.assert_close(torch.from_numpy(got), expected, rtol=1e-4, atol=1e-4)


def test_export_onnx_rejects_a_non_vr_checkpoint(tmp_path):
    src = tmp_path / "plain.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, src)
    result = _run("export", "onnx", str(src), str(tmp_path / "m.onnx"))
    assert result.exit_code == 1 and "not a vr checkpoint" in result.output


def test_export_onnx_refuses_a_clip_the_model_cannot_take(tmp_path):
    from vr.models import create_model, model_checkpoint

    ckpt = tmp_path / "s3d.pt"
    torch.save(model_checkpoint(create_model("s3d", 3, widen_factor=1 / 16)), ckpt)
    result = _run("export", "onnx", str(ckpt), str(tmp_path / "m.onnx"), "--clip", "4", "16", "16")
    assert result.exit_code == 1 and "4x16x16 clip is too small" in result.output, result.output
    assert not (tmp_path / "m.onnx").exists()
