"""Key renamings of the PyTorchVideo, torchvision and MMAction2 checkpoints (used by
:func:`vr.models.convert.convert_state_dict`). Each maps one source key to its ``vr`` key, or ``None``
for a key that holds no weight; an unknown key keeps its name, so a strict load names it.

* ``pytorchvideo`` (``{'model_state': ...}`` or a bare state dict of a ``Net``): ``blocks.0`` is the stem
  (``conv`` -> ``conv1``; X3D's ``conv.conv_t``/``conv.conv_xy`` -> ``conv1_s``/``conv1_t``; ``norm`` ->
  ``bn1``), the n-th block holding ``res_blocks`` is stage n (``branch2.conv_{a,b,c}``/``norm_{a,b,c}`` ->
  ``conv{1,2,3}``/``bn{1,2,3}``, X3D's ``norm_b.0``/``norm_b.1.block.{0,2}`` -> ``bn2``/``se2.fc{1,2}``,
  ``branch1_{conv,norm}`` -> ``downsample.{0,1}``), the head's ``proj`` -> ``fc`` and X3D's
  ``pool.{pre_conv,pre_norm,post_conv}`` -> ``conv5``/``bn5``/``lin5`` (a 1x1x1 conv to a linear
  weight). SlowFast: ``multipathway_blocks.{0,1}`` -> ``slow.``/``fast.``, ``blocks.{i}.multipathway_fusion.
  {conv_fast_to_slow,norm}`` -> ``fuse{i}.{conv,bn}``.
* ``torchvision`` (``r3d_18``, ``mc3_18``, ``r2plus1d_18`` state dicts): ``stem.{0,1}`` -> ``conv1``/``bn1``
  (R(2+1)D: ``stem.{0,1,3,4}`` -> ``conv1_s``/``bn1_s``/``conv1_t``/``bn1_t``), ``conv{n}.{0,1}`` ->
  ``conv{n}``/``bn{n}`` (R(2+1)D: ``conv{n}.0.{0,1,3}``/``conv{n}.1`` -> ``conv{n}_s``/``bn{n}_s``/
  ``conv{n}_t``/``bn{n}_t``); ``downsample`` and ``fc`` keep their names. S3D: ``features.{i}`` ->
  ``stem``/``conv2``/``conv3``/``mixed_3b``...``mixed_5c`` (each ``Conv3dNormActivation``'s ``0``/``1`` ->
  ``conv``/``bn``, a separable conv's ``0``/``1`` -> ``spatial``/``temporal``, a branch's ``0``/``1`` ->
  ``reduce``/``sep``, ``branch3.1`` -> ``branch3.proj``), ``classifier.1`` (a 1x1x1 conv) -> ``fc``.
* ``mmaction2`` (recognizer checkpoints ``{'meta', 'state_dict'}``: ``backbone.``/``cls_head.``): every
  ``ConvModule``'s ``.conv``/``.bn`` -> ``conv{x}``/``bn{x}`` of its name (``conv1_t.bn`` -> ``bn1``,
  ``downsample.{conv,bn}`` -> ``downsample.{0,1}``), ip-CSN's ``conv2.0``/``conv2.1`` ->
  ``conv2_p``/``conv2`` (ir-CSN's lone ``conv2.0`` -> ``conv2``), X3D's ``se_module`` -> ``se2``,
  SlowFast's ``{slow,fast}_path`` -> ``slow``/``fast`` and ``slow_path.conv1_lateral``/
  ``layer{i}_lateral`` -> ``fuse0``/``fuse{i}``; heads: ``fc_cls`` -> ``fc``, X3D's ``fc1``/``fc2`` ->
  ``lin5``/``fc``. SlowFast's head concatenates (fast, slow) where ``vr`` has (slow, fast): its
  columns are swapped. :func:`implied_model_args` names the options such a network needs (CSN's
  batch-norm epsilon 1e-3, X3D's shortcut norm, SlowFast's laterals without norm, I3D's padded 1x3x3
  stem pool).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import torch

from vr.models.s3d import INCEPTION_WIDTHS

S3D_BLOCKS = tuple(INCEPTION_WIDTHS)
_PTV_BRANCH2 = {
    "conv_a": "conv1",
    "norm_a": "bn1",
    "conv_b": "conv2",
    "norm_b": "bn2",
    "norm_b.0": "bn2",
    "norm_b.1.block.0": "se2.fc1",
    "norm_b.1.block.2": "se2.fc2",
    "conv_c": "conv3",
    "norm_c": "bn3",
}
_PTV_STEM = {"conv": "conv1", "conv.conv_t": "conv1_s", "conv.conv_xy": "conv1_t", "norm": "bn1"}
_PTV_HEAD = {"proj": "fc", "pool.pre_conv": "conv5", "pool.pre_norm": "bn5", "pool.post_conv": "lin5"}
_PTV_PATHWAY = re.compile(r"^blocks\.(\d+)\.multipathway_blocks\.([01])\.(.+)$")
_PTV_FUSION = re.compile(r"^blocks\.(\d+)\.multipathway_fusion\.(conv_fast_to_slow|norm)\.(\w+)$")
_PTV_RES = re.compile(r"^res_blocks\.(\d+)\.(branch1_conv|branch1_norm|branch2\.[\w.]+?)\.(\w+)$")
_PTV_BLOCK = re.compile(r"^blocks\.(\d+)\.(.+)$")


def _ptv_stage_numbers(keys: list[str]) -> dict[int, int]:
    """``blocks`` index -> stage number (1..4), in order of the blocks that hold residual stages."""
    indexes = sorted({int(m.group(1)) for k in keys if (m := _PTV_BLOCK.match(k)) and "res_blocks." in k})
    return {index: n + 1 for n, index in enumerate(indexes)}


def _ptv_local(rest: str, stage: int | None, prefix: str) -> str | None:
    """A key inside one pathway: ``rest`` below its ``blocks.{i}`` (or ``multipathway_blocks.{p}``)."""
    module, _, param = rest.rpartition(".")
    if stage is None:
        return f"{prefix}{_PTV_STEM[module]}.{param}" if module in _PTV_STEM else None
    m = _PTV_RES.match(rest)
    if not m:
        return None
    block, branch, param = m.groups()
    if branch.startswith("branch1"):
        name = "downsample.0" if branch == "branch1_conv" else "downsample.1"
    else:
        name = _PTV_BRANCH2.get(branch[len("branch2.") :])
        if name is None:
            return None
    return f"{prefix}layer{stage}.{block}.{name}.{param}"


def pytorchvideo_key(key: str, stages: Mapping[int, int]) -> str:
    if m := _PTV_FUSION.match(key):
        index, module, param = m.groups()
        return f"fuse{index}.{'conv' if module == 'conv_fast_to_slow' else 'bn'}.{param}"
    if m := _PTV_PATHWAY.match(key):
        index, pathway, rest = m.groups()
        stage = stages.get(int(index)) if int(index) else None
        found = _ptv_local(rest, stage, "slow." if pathway == "0" else "fast.")
        return found or key
    if m := _PTV_BLOCK.match(key):
        index, rest = int(m.group(1)), m.group(2)
        module, _, param = rest.rpartition(".")
        if module in _PTV_HEAD:
            return f"{_PTV_HEAD[module]}.{param}"
        found = _ptv_local(rest, stages.get(index) if index else None, "")
        return found or key
    return key


def convert_pytorchvideo(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    stages = _ptv_stage_numbers(list(state))
    out = {}
    for key, value in state.items():
        new = pytorchvideo_key(key, stages)
        if new == "lin5.weight" and value.dim() == 5:
            value = value.flatten(1)
        out[new] = value
    return out


def is_pytorchvideo(keys: set[str]) -> bool:
    return any(k.startswith("blocks.") and ("res_blocks." in k or "multipathway" in k) for k in keys)


_TV_R2PLUS1D_STEM = {"0": "conv1_s", "1": "bn1_s", "3": "conv1_t", "4": "bn1_t"}
_TV_CONV = re.compile(r"^(layer\d+\.\d+)\.conv(\d)\.(\d)\.(?:(\d)\.)?(\w+)$")


def torchvision_key(key: str, r2plus1d: bool) -> str:
    if key.startswith("stem."):
        _, index, param = key.split(".", 2)
        if r2plus1d:
            return f"{_TV_R2PLUS1D_STEM[index]}.{param}" if index in _TV_R2PLUS1D_STEM else key
        return {"0": f"conv1.{param}", "1": f"bn1.{param}"}.get(index, key)
    if m := _TV_CONV.match(key):
        block, n, outer, inner, param = m.groups()
        if inner is None:  # conv{n}.0: the convolution (R3D, MC3), conv{n}.1: the norm after it
            module = f"conv{n}" if outer == "0" else f"bn{n}_t" if r2plus1d else f"bn{n}"
            return f"{block}.{module}.{param}"
        name = {"0": "conv{}_s", "1": "bn{}_s", "3": "conv{}_t"}.get(inner)
        return f"{block}.{name.format(n)}.{param}" if outer == "0" and name else key
    return key


_TV_S3D_FEATURES = {
    "0": "stem",
    "2": "conv2",
    "3": "conv3",
    **{str(i): name for i, name in zip((5, 6, 8, 9, 10, 11, 12, 14, 15), S3D_BLOCKS, strict=True)},
}
_TV_S3D = re.compile(r"^features\.(\d+)\.(.+)\.(\w+)$")
_CBR = {"0": "conv", "1": "bn"}  # torchvision's Conv3dNormActivation: conv, norm, activation
_SEP = {"0": "spatial", "1": "temporal"}  # its TemporalSeparableConv
_S3D_PATHS = [  # a module path inside one ``features`` entry -> ours
    (re.compile(r"^([01])$"), lambda m: _CBR[m[1]]),
    (re.compile(r"^([01])\.([01])$"), lambda m: f"{_SEP[m[1]]}.{_CBR[m[2]]}"),
    (re.compile(r"^branch0\.([01])$"), lambda m: f"branch0.{_CBR[m[1]]}"),
    (re.compile(r"^branch([12])\.0\.([01])$"), lambda m: f"branch{m[1]}.reduce.{_CBR[m[2]]}"),
    (
        re.compile(r"^branch([12])\.1\.([01])\.([01])$"),
        lambda m: f"branch{m[1]}.sep.{_SEP[m[2]]}.{_CBR[m[3]]}",
    ),
    (re.compile(r"^branch3\.1\.([01])$"), lambda m: f"branch3.proj.{_CBR[m[1]]}"),
]


def _s3d_module(path: str) -> str | None:
    return next((name(m) for pattern, name in _S3D_PATHS if (m := pattern.match(path))), None)


def torchvision_s3d_key(key: str) -> str:
    if key.startswith("classifier.1."):
        return f"fc.{key[len('classifier.1.') :]}"
    m = _TV_S3D.match(key)
    if m and m.group(1) in _TV_S3D_FEATURES and (inner := _s3d_module(m.group(2))):
        return f"{_TV_S3D_FEATURES[m.group(1)]}.{inner}.{m.group(3)}"
    return key


def convert_torchvision(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if "features.0.0.0.weight" in state:  # S3D
        out = {torchvision_s3d_key(k): v for k, v in state.items()}
        if isinstance(out.get("fc.weight"), torch.Tensor) and out["fc.weight"].dim() == 5:
            out["fc.weight"] = out["fc.weight"].flatten(1)  # its 1x1x1 convolution head
        return out
    r2plus1d = "stem.3.weight" in state
    return {torchvision_key(k, r2plus1d): v for k, v in state.items()}


def is_torchvision(keys: set[str]) -> bool:
    return "stem.0.weight" in keys or "features.0.0.0.weight" in keys


_MM_CONV = re.compile(r"^(.*?)(conv\w*|downsample)\.(conv|bn)\.(\w+)$")
_MM_CSN = re.compile(r"^(.*\.)conv2\.([01])\.(conv|bn)\.(\w+)$")
_MM_LATERAL = re.compile(r"^slow_path\.(conv1|layer(\d))_lateral\.conv\.(\w+)$")


def _mm_backbone_key(key: str, ip_blocks: set[str]) -> str:
    if m := _MM_LATERAL.match(key):
        stem, layer, param = m.groups()
        return f"fuse{0 if stem == 'conv1' else int(layer)}.conv.{param}"
    for path, ours in (("slow_path.", "slow."), ("fast_path.", "fast.")):
        if key.startswith(path):
            return ours + _mm_backbone_key(key[len(path) :], ip_blocks)
    key = key.replace(".se_module.", ".se2.")
    if m := _MM_CSN.match(key):
        block, index, kind, param = m.groups()
        suffix = "_p" if block in ip_blocks and index == "0" else ""
        return f"{block}{kind}2{suffix}.{param}"
    if m := _MM_CONV.match(key):
        prefix, name, kind, param = m.groups()
        if name == "downsample":
            return f"{prefix}downsample.{0 if kind == 'conv' else 1}.{param}"
        if name == "conv1_t" and kind == "bn":  # X3D's stem: conv1_s, conv1_t, then its norm
            return f"{prefix}bn1.{param}"
        return f"{prefix}{name if kind == 'conv' else 'bn' + name[len('conv') :]}.{param}"
    return key


def convert_mmaction2(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    ip_blocks = {
        k[len("backbone.") : -len("conv2.1.conv.weight")] for k in state if k.endswith(".conv2.1.conv.weight")
    }
    x3d = any(k.endswith("cls_head.fc2.weight") for k in state)
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("backbone."):
            out[_mm_backbone_key(key[len("backbone.") :], ip_blocks)] = value
        elif key.startswith("cls_head."):
            name, _, param = key[len("cls_head.") :].rpartition(".")
            ours = {"fc_cls": "fc", "fc2": "fc", "fc1": "lin5" if x3d else "fc1"}.get(name, name)
            out[f"{ours}.{param}"] = value
        else:
            out[key] = value
    fast = [k for k in out if k.startswith("fast.layer4.") and k.endswith(".conv3.weight")]
    if fast and "fc.weight" in out:  # SlowFast: (fast, slow) columns -> (slow, fast)
        width = out[max(fast)].shape[0]
        weight = out["fc.weight"]
        out["fc.weight"] = torch.cat([weight[:, width:], weight[:, :width]], 1)
    return out


def is_mmaction2(keys: set[str]) -> bool:
    return any(k.startswith(("backbone.", "cls_head.")) for k in keys)


def implied_model_args(
    state: Mapping[str, torch.Tensor], source: str, accepted: Iterable[str] | None = None
) -> dict[str, object]:
    """Model options a converted checkpoint of ``source`` needs beyond the architecture's defaults; with
    ``accepted`` (the target model's arguments) only those it takes: the others describe a network the
    user did not choose (MMAction2's I3D stem pool for ``i3d_r50_8x8``); a strict load checks the rest."""
    args = _mmaction2_args(state) if source == "mmaction2" else {}
    if accepted is None:
        return args
    accepted = set(accepted)
    return {k: v for k, v in args.items() if k in accepted}


def _mmaction2_args(state: Mapping[str, torch.Tensor]) -> dict[str, object]:
    args: dict[str, object] = {}
    stem = state.get("conv1.weight")
    if stem is not None and stem.dim() == 5 and stem.shape[2] == 5:
        args["stem_pool"] = "1x3x3"  # I3D: ResNet3d's padded 1x3x3 stem pool
    if "fuse0.conv.weight" in state and "fuse0.bn.weight" not in state:
        args["fusion_norm"] = False
    if "conv1_t.weight" in state and "layer1.0.downsample.1.weight" in state:
        args["shortcut_norm"] = True
    depthwise = state.get("layer1.0.conv2.weight")
    if (
        depthwise is not None
        and depthwise.dim() == 5
        and depthwise.shape[1] == 1
        and "conv1_t.weight" not in state
    ):
        args["bn_eps"] = 1e-3  # CSN: Caffe2-trained (VMZ) weights
    return args
