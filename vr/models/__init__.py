"""The 3D CNN model package: registry, architectures, checkpoint converters.

>>> from vr.models import create_model
>>> model = create_model("r3d18", num_classes=101, in_channels=2)  # a Flow R3D-18
"""

from vr.models import densenet, i3d, p3d, resnet  # noqa: F401  (register the families)
from vr.models.convert import (
    SOURCES,
    CheckpointError,
    convert_state_dict,
    detect_source,
    load_caffe2_pickle,
    load_checkpoint,
    load_pretrained,
)
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
    "convert_state_dict",
    "detect_source",
    "load_caffe2_pickle",
    "load_checkpoint",
    "load_pretrained",
    "ModelInfo",
    "UnknownModelError",
    "create_model",
    "list_models",
    "model_info",
    "register_model",
]
