"""ONNX export of ``vr`` models, and an onnxruntime parity check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn


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
