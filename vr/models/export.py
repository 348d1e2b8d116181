"""ONNX export of ``vr`` models and checkpoints, and an onnxruntime parity check."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vr.errors import VrError


def export_onnx(
    model: nn.Module, path: str | Path, example: torch.Tensor, opset: int = 18, dynamo: bool = True
) -> Path:
    """Export ``model`` (eval, float32) to ONNX, dynamic batch axis: input ``clip``, output ``logits``."""
    path = Path(path)
    model = model.eval()
    kwargs: dict = {"input_names": ["clip"], "output_names": ["logits"], "opset_version": opset}
    if dynamo:
        kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch", min=1)},)
        kwargs["verbose"] = False
    else:
        kwargs["dynamic_axes"] = {"clip": {0: "batch"}, "logits": {0: "batch"}}
    with torch.no_grad():
        torch.onnx.export(model, (example,), str(path), dynamo=dynamo, **kwargs)
    return path


def onnx_max_abs_diff(model: nn.Module, path: str | Path, x: torch.Tensor) -> float:
    """Largest |torch - onnxruntime (CPU)| over the outputs for input ``x``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        expected = model.eval()(x).numpy()
    return float(np.abs(got - expected).max())


class ExportError(VrError, RuntimeError):
    """A checkpoint that cannot be exported here (a missing exporter package, an operator it refuses)."""


@dataclass
class Exported:
    """What :func:`export_checkpoint` wrote: the file, the model, its example clip (T, H, W) and the
    largest difference to onnxruntime (None when not checked)."""

    path: Path
    arch: str
    clip: tuple[int, int, int]
    max_abs_diff: float | None


def export_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    clip: tuple[int, int, int] | None = None,
    opset: int = 18,
    legacy: bool = False,
    check: bool = True,
) -> Exported:
    """A ``vr`` checkpoint to ONNX at ``out`` (input ``clip`` N x C x T x H x W, dynamic N; output
    ``logits``); ``clip`` defaults to the model's; ``legacy`` uses the TorchScript exporter; ``check``
    compares with onnxruntime when it is installed."""
    from vr.models import check_clip, model_info
    from vr.models.checkpoint import model_from_checkpoint

    out = Path(out)
    if not out.resolve().parent.is_dir():
        raise ExportError(f"{out}: folder {out.resolve().parent} does not exist")
    model = model_from_checkpoint(checkpoint).eval()
    shape = tuple(clip or model_info(model.arch).clip)
    check_clip(model.arch, shape, **model.model_args)  # a clean error, before the exporter's traceback
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing and not legacy:
        raise ExportError(
            f"the ONNX exporter needs {' and '.join(missing)} (pip install {' '.join(missing)})"
        )
    example = torch.randn(
        1, model.model_args.get("in_channels", 3), *shape, generator=torch.Generator().manual_seed(0)
    )
    try:
        export_onnx(model, out, example, opset=opset, dynamo=not legacy)
    except Exception as exc:  # the exporters raise many types; report one line
        raise ExportError(f"ONNX export failed: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    diff = None
    if check and importlib.util.find_spec("onnxruntime") is not None:
        diff = onnx_max_abs_diff(model, out, example)
    return Exported(out, model.arch, shape, diff)
