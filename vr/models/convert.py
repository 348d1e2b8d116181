"""Public checkpoints -> ``vr`` state dicts, and strict loading with explicit head/modality options.

Sources and their (documented, complete) renamings:

* ``kenshohara`` (3D-ResNets-PyTorch: ``r3d*_K_200ep.pth``, R(2+1)D, pre-act, wide, ResNeXt, DenseNet):
  unwrap ``{'arch', 'state_dict', ...}``, strip ``module.``; names are otherwise identical.
* ``p3d`` (pseudo-3d-pytorch ``p3d_{rgb,flow}_199.checkpoint.pth.tar``): unwrap, strip ``module.``,
  ``conv1_custom`` -> ``conv1``, and every 4-D (Conv2d, stage 4) weight gets a temporal axis of 1.
* ``i3d-caffe2`` (video-nonlocal-net ``.pkl`` of numpy blobs): ``conv1_w`` -> ``conv1.weight``,
  ``res_conv1_bn_{s,b,rm,riv}`` -> ``bn1.{weight,bias,running_mean,running_var}``,
  ``res{L}_{B}_branch2{a,b,c}_w`` -> ``layer{L-1}.{B}.conv{1,2,3}.weight`` (``..._bn_*`` -> ``bn{1,2,3}``),
  ``res{L}_{B}_branch1_w``/``_bn_*`` -> ``layer{L-1}.{B}.downsample.{0,1}``, ``pred_{w,b}`` -> ``fc``;
  ``model_iter``, ``lr`` and ``*_momentum`` blobs are dropped; any other blob keeps its name (so a
  strict load reports it).
* ``pytorchvideo`` (unwrap ``model_state``), ``torchvision`` and ``mmaction2`` (unwrap ``state_dict``):
  see :mod:`vr.models.importers`.
* ``vr``: a ``vr`` checkpoint (``arch``, ``model_args``, ``state_dict``); unwrapped only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vr.models.files import CheckpointError, load_checkpoint
from vr.models.importers import (
    convert_mmaction2,
    convert_pytorchvideo,
    convert_torchvision,
    is_mmaction2,
    is_pytorchvideo,
    is_torchvision,
)

SOURCES = ("kenshohara", "p3d", "i3d-caffe2", "pytorchvideo", "torchvision", "mmaction2", "vr")


# --------------------------------------------------------------------------- conversion


def _unwrap(obj: Any) -> dict[str, Any]:
    for wrapper in ("state_dict", "model_state"):
        if isinstance(obj, Mapping) and isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"expected a state dict (a mapping), got {type(obj).__name__}")
    return {k[len("module.") :] if k.startswith("module.") else k: v for k, v in obj.items()}


def detect_source(obj: Any) -> str:
    """Which of :data:`SOURCES` a loaded checkpoint comes from, judged by its keys."""
    if isinstance(obj, Mapping) and "blobs" in obj:
        return "i3d-caffe2"
    if isinstance(obj, Mapping) and "model_args" in obj and "state_dict" in obj:
        return "vr"
    keys = set(_unwrap(obj))
    if "conv1_w" in keys or "pred_w" in keys:
        return "i3d-caffe2"
    if "conv1_custom.weight" in keys:
        return "p3d"
    if is_pytorchvideo(keys):
        return "pytorchvideo"
    if is_torchvision(keys):
        return "torchvision"
    if is_mmaction2(keys):
        return "mmaction2"
    return "kenshohara"


_C2_SUFFIX = {"s": "weight", "b": "bias", "rm": "running_mean", "riv": "running_var", "w": "weight"}
_C2_BRANCH2 = re.compile(r"^res(\d+)_(\d+)_branch2([abc])_(w|bn_s|bn_b|bn_rm|bn_riv)$")
_C2_BRANCH1 = re.compile(r"^res(\d+)_(\d+)_branch1_(w|bn_s|bn_b|bn_rm|bn_riv)$")
_C2_FIXED = {
    "conv1_w": "conv1.weight",
    "res_conv1_bn_s": "bn1.weight",
    "res_conv1_bn_b": "bn1.bias",
    "res_conv1_bn_rm": "bn1.running_mean",
    "res_conv1_bn_riv": "bn1.running_var",
    "pred_w": "fc.weight",
    "pred_b": "fc.bias",
}


def caffe2_blob_to_key(name: str) -> str | None:
    """The ``vr`` key of a non-local-net blob; ``None`` for training state (iter, lr, momentum)."""
    if name in ("model_iter", "lr") or name.endswith("_momentum"):
        return None
    if name in _C2_FIXED:
        return _C2_FIXED[name]
    if m := _C2_BRANCH2.match(name):
        layer, block, branch, kind = m.groups()
        n = "abc".index(branch) + 1
        module = f"conv{n}" if kind == "w" else f"bn{n}"
        return f"layer{int(layer) - 1}.{block}.{module}.{_C2_SUFFIX[kind.rsplit('_', 1)[-1]]}"
    if m := _C2_BRANCH1.match(name):
        layer, block, kind = m.groups()
        module = "0" if kind == "w" else "1"
        return f"layer{int(layer) - 1}.{block}.downsample.{module}.{_C2_SUFFIX[kind.rsplit('_', 1)[-1]]}"
    return name


def _to_tensor(value: Any, key: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    raise CheckpointError(f"{key}: expected an array, got {type(value).__name__}")


def convert_state_dict(state_dict: Any, source: str = "auto") -> dict[str, torch.Tensor]:
    """Convert a loaded public checkpoint (or its state dict / blob dict) to ``vr`` parameter names."""
    if source == "auto":
        source = detect_source(state_dict)
    if source in ("kenshohara", "vr"):
        return {k: _to_tensor(v, k) for k, v in _unwrap(state_dict).items()}
    if source == "p3d":
        out = {}
        for k, v in _unwrap(state_dict).items():
            t = _to_tensor(v, k)
            if k.startswith("conv1_custom."):
                k = "conv1." + k[len("conv1_custom.") :]
            out[k] = t.unsqueeze(2) if t.dim() == 4 else t
        return out
    if source == "pytorchvideo":
        return convert_pytorchvideo({k: _to_tensor(v, k) for k, v in _unwrap(state_dict).items()})
    if source == "torchvision":
        return convert_torchvision({k: _to_tensor(v, k) for k, v in _unwrap(state_dict).items()})
    if source == "mmaction2":
        return convert_mmaction2({k: _to_tensor(v, k) for k, v in _unwrap(state_dict).items()})
    if source == "i3d-caffe2":
        blobs = state_dict.get("blobs", state_dict) if isinstance(state_dict, Mapping) else state_dict
        if not isinstance(blobs, Mapping):
            raise CheckpointError(f"expected a dict of Caffe2 blobs, got {type(blobs).__name__}")
        out = {}
        for name, value in blobs.items():
            key = caffe2_blob_to_key(name)
            if key is not None:
                out[key] = _to_tensor(value, name)
        return out
    raise CheckpointError(f"unknown checkpoint source {source!r}; choose one of auto, {', '.join(SOURCES)}")


# --------------------------------------------------------------------------- loading into a model


def classifier(model: nn.Module) -> tuple[str, nn.Linear]:
    """The model's final linear layer and its attribute name (``fc`` or ``classifier``)."""
    for name in ("fc", "classifier"):
        head = getattr(model, name, None)
        if isinstance(head, nn.Linear):
            return name, head
    raise CheckpointError(f"{type(model).__name__} has no 'fc' or 'classifier' linear head")


def first_conv(model: nn.Module) -> tuple[str, nn.Conv3d]:
    """The first 3D convolution (the one that sees the input channels) and its qualified name."""
    return input_convs(model)[0]


def input_convs(model: nn.Module) -> list[tuple[str, nn.Conv3d]]:
    """Every 3D convolution that sees the input channels: the model's ``input_convs`` names (SlowFast:
    one per pathway), else the first Conv3d."""
    names = getattr(model, "input_convs", None)
    if names:
        return [(name, model.get_submodule(name)) for name in names]
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv3d):
            return [(name, module)]
    raise CheckpointError(f"{type(model).__name__} has no Conv3d")


def check_fits(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    limit: int = 5,
    overrides: Mapping[str, tuple[int, ...]] | None = None,
) -> None:
    """Raise :class:`CheckpointError` naming the first missing, unexpected and mis-shaped keys.

    ``overrides`` replaces the model's expected shape of some keys (a head about to be resized).
    """
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()} | dict(overrides or {})
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(s)}"
        for k, s in expected.items()
        if k in state and tuple(state[k].shape) != tuple(s)
    ]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes)):
        if items:
            more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
            problems.append(f"{len(items)} {label}: {'; '.join(items[:limit])}{more}")
    if problems:
        head_key = f"{classifier(model)[0]}.weight"
        rows = state[head_key].shape[0] if head_key in state else None
        hint = ""
        if rows is not None and rows != expected[head_key][0]:
            hint = f" (the checkpoint has {rows} classes: pass n_pretrain_classes={rows} for a new head)"
        raise CheckpointError("checkpoint does not fit the model: " + " | ".join(problems) + hint)


def adapt_first_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """RGB -> Flow (any channel count): average the kernel over input channels, replicate it."""
    shape = list(weight.shape)
    shape[1] = in_channels
    return weight.float().mean(dim=1, keepdim=True).expand(shape).to(weight.dtype).contiguous()


_MODALITY_NAMES = {3: "RGB", 2: "Flow"}


def fitted_state(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    n_pretrain_classes: int | None = None,
    in_channels_from_rgb: bool = True,
) -> dict[str, torch.Tensor]:
    """``state`` (``vr`` key names) with the adaptations :func:`load_pretrained` makes (an RGB first conv
    averaged for another channel count), checked to fit ``model`` (the head at ``n_pretrain_classes``
    rows where given); :class:`CheckpointError` otherwise. It reads only the model's shapes, so it checks
    a model on the meta device as well: before one is allocated (see ``vr.models.checkpoint``)."""
    state = dict(state)
    head_name, head = classifier(model)
    for conv_name, conv in input_convs(model):
        conv_key = f"{conv_name}.weight"
        weight = state.get(conv_key)
        if weight is None or weight.dim() != 5 or weight.shape[1] == conv.in_channels:
            continue
        if not in_channels_from_rgb:
            raise CheckpointError(
                f"{conv_key}: checkpoint has {weight.shape[1]} input channels, model "
                f"{conv.in_channels}: a {_MODALITY_NAMES.get(int(weight.shape[1]), 'other')} "
                f"checkpoint for a {_MODALITY_NAMES.get(conv.in_channels, 'other')} model (RGB weights for "
                "a Flow model: in_channels_from_rgb=True, `vr train --rgb-to-flow`)"
            )
        state[conv_key] = adapt_first_conv(weight, conv.in_channels)
    overrides = {}
    if n_pretrain_classes is not None:
        rows = state.get(f"{head_name}.weight")
        if rows is not None and rows.shape[0] != n_pretrain_classes:
            raise CheckpointError(
                f"{head_name}.weight: checkpoint head has {rows.shape[0]} classes, not n_pretrain_classes="
                f"{n_pretrain_classes}"
            )
        overrides = {
            f"{head_name}.weight": (n_pretrain_classes, head.in_features),
            f"{head_name}.bias": (n_pretrain_classes,),
        }
    check_fits(model, state, overrides=overrides)
    return state


def load_pretrained(
    model: nn.Module,
    path_or_state: str | Path | Mapping[str, Any],
    source: str = "auto",
    *,
    n_pretrain_classes: int | None = None,
    new_num_classes: int | None = None,
    in_channels_from_rgb: bool = True,
    weights_only: bool = True,
) -> nn.Module:
    """Load a public or ``vr`` checkpoint into ``model`` strictly, with explicit adaptations.

    * ``n_pretrain_classes``: the checkpoint's head size. When given, the head is loaded at that size
      and then replaced by a freshly initialised one with ``new_num_classes`` outputs (default: the
      model's own). When ``None``, the heads must match.
    * ``in_channels_from_rgb``: when the checkpoint's first conv has a different number of input
      channels than the model (RGB weights, Flow model), average it over channels (two-stream practice);
      when ``False`` such a mismatch is an error.
    * ``weights_only``: passed to ``torch.load``; keep ``True`` for files you did not make.

    Anything else that does not fit raises :class:`CheckpointError`; nothing is loaded partially.
    """
    raw = (
        load_checkpoint(path_or_state, weights_only)
        if isinstance(path_or_state, (str, Path))
        else path_or_state
    )
    state = fitted_state(model, convert_state_dict(raw, source), n_pretrain_classes, in_channels_from_rgb)
    head_name, head = classifier(model)
    target_classes = head.out_features if new_num_classes is None else new_num_classes
    if n_pretrain_classes is not None:
        setattr(model, head_name, nn.Linear(head.in_features, n_pretrain_classes).to(head.weight.device))
    for key, value in model.state_dict().items():  # older files predate BN's num_batches_tracked
        if key.endswith("num_batches_tracked"):
            state.setdefault(key, torch.zeros_like(value))
    model.load_state_dict(state, strict=True)
    _, head = classifier(model)
    if head.out_features != target_classes:
        setattr(model, head_name, nn.Linear(head.in_features, target_classes).to(head.weight.device))
    if hasattr(model, "model_args"):
        model.model_args["num_classes"] = target_classes
    return model
