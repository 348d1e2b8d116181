"""The 3D CNN model package: registry, architectures, checkpoint converters.

>>> from vr.models import create_model, load_pretrained
>>> model = create_model("r3d50", num_classes=101, in_channels=2)  # a Flow R3D-50 for UCF101
>>> load_pretrained(model, "r3d50_K_200ep.pth", n_pretrain_classes=700)  # doctest: +SKIP

Families (``list_models()``; ``vr models list`` shows each with its clip, size and sources): r3d10..200,
preact_r3d10..200, wrn3d50..200, resnext3d50..200, densenet3d121..264, r2plus1d10..200 (3D-ResNets
seed), p3d63/131/199 (P3D), i3d_r50 (non-local baseline, MMAction2), i3d_r50_8x8, slow_r50,
slowfast_r50_4x16/8x8, x3d_xs..l, ircsn/ipcsn_50..152 (PyTorchVideo, MMAction2), r3d_18, mc3_18,
r2plus1d_18 (torchvision). ``in_channels=2`` is the Flow modality for all of them. Parameter names
follow the originals; :mod:`vr.models.convert` and :mod:`vr.models.importers` list the renamings.
"""

from vr.models import csn, densenet, i3d, p3d, resnet, s3d, slowfast, tvresnet, x3d  # noqa: F401  (register the families)
from vr.models.checkpoint import convert_weights, model_checkpoint, model_from_checkpoint, read_pretrained
from vr.models.convert import SOURCES, convert_state_dict, detect_source, load_pretrained
from vr.models.files import CheckpointError, load_caffe2_pickle, load_checkpoint, save_checkpoint
from vr.models.profile import ClipSizeError, check_clip, count_flops, count_params
from vr.models.registry import (
    ModelInfo,
    UnknownModelError,
    create_model,
    list_models,
    model_info,
    register_model,
)

__all__ = [
    "SOURCES",
    "CheckpointError",
    "ClipSizeError",
    "ModelInfo",
    "UnknownModelError",
    "check_clip",
    "convert_state_dict",
    "convert_weights",
    "count_flops",
    "count_params",
    "create_model",
    "detect_source",
    "list_models",
    "load_caffe2_pickle",
    "load_checkpoint",
    "load_pretrained",
    "model_checkpoint",
    "model_from_checkpoint",
    "model_info",
    "read_pretrained",
    "register_model",
    "save_checkpoint",
]
