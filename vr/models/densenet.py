"""3D DenseNet-BC 121/169/201/264 (the 3D-ResNets seed's layout and parameter names).

``features`` holds conv1/norm1/(pool1)/denseblock{i}.denselayer{j}/transition{i}/norm5 and
``classifier`` is the head, exactly as in kenshohara/3D-ResNets-PyTorch, so its checkpoints load as is.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vr.models.blocks import init_weights
from vr.models.registry import register_model


class DenseLayer(nn.Sequential):
    """BN-ReLU-1x1x1 (``bn_size * growth`` wide) then BN-ReLU-3x3x3 (``growth``); output concatenated."""

    def __init__(self, cin: int, growth: int, bn_size: int, drop_rate: float):
        super().__init__()
        self.add_module("norm1", nn.BatchNorm3d(cin))
        self.add_module("relu1", nn.ReLU(inplace=True))
        self.add_module("conv1", nn.Conv3d(cin, bn_size * growth, 1, bias=False))
        self.add_module("norm2", nn.BatchNorm3d(bn_size * growth))
        self.add_module("relu2", nn.ReLU(inplace=True))
        self.add_module("conv2", nn.Conv3d(bn_size * growth, growth, 3, padding=1, bias=False))
        self.drop_rate = drop_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        new = F.dropout(super().forward(x), p=self.drop_rate, training=self.training)
        return torch.cat([x, new], 1)


class Transition(nn.Sequential):
    """BN-ReLU-1x1x1 conv halving the channels, then 2x2x2 average pooling."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.add_module("norm", nn.BatchNorm3d(cin))
        self.add_module("relu", nn.ReLU(inplace=True))
        self.add_module("conv", nn.Conv3d(cin, cout, 1, bias=False))
        self.add_module("pool", nn.AvgPool3d(2, stride=2))


class DenseNet3d(nn.Module):
    def __init__(
        self,
        block_config: Sequence[int],
        *,
        num_classes: int,
        in_channels: int = 3,
        growth_rate: int = 32,
        num_init_features: int = 64,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        conv1_t_size: int = 7,
        conv1_t_stride: int = 1,
        no_max_pool: bool = False,
    ):
        super().__init__()
        stem: list[tuple[str, nn.Module]] = [
            (
                "conv1",
                nn.Conv3d(
                    in_channels,
                    num_init_features,
                    (conv1_t_size, 7, 7),
                    stride=(conv1_t_stride, 2, 2),
                    padding=(conv1_t_size // 2, 3, 3),
                    bias=False,
                ),
            ),
            ("norm1", nn.BatchNorm3d(num_init_features)),
            ("relu1", nn.ReLU(inplace=True)),
        ]
        if not no_max_pool:
            stem.append(("pool1", nn.MaxPool3d(3, stride=2, padding=1)))
        self.features = nn.Sequential()
        for name, module in stem:
            self.features.add_module(name, module)
        n = num_init_features
        for i, num_layers in enumerate(block_config):
            block = nn.Sequential()
            for j in range(num_layers):
                block.add_module(
                    f"denselayer{j + 1}", DenseLayer(n + j * growth_rate, growth_rate, bn_size, drop_rate)
                )
            self.features.add_module(f"denseblock{i + 1}", block)
            n += num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}", Transition(n, n // 2))
                n //= 2
        self.features.add_module("norm5", nn.BatchNorm3d(n))
        self.classifier = nn.Linear(n, num_classes)
        init_weights(self, zero_linear_bias=True)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.features(x))
        return torch.flatten(F.adaptive_avg_pool3d(x, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


_CONFIGS = {121: (6, 12, 24, 16), 169: (6, 12, 32, 32), 201: (6, 12, 48, 32), 264: (6, 12, 64, 48)}


def _register(depth: int, config: tuple[int, ...]) -> None:
    def fn(
        num_classes: int, in_channels: int = 3, block_config: Sequence[int] = config, **kwargs
    ) -> DenseNet3d:
        return DenseNet3d(block_config, num_classes=num_classes, in_channels=in_channels, **kwargs)

    fn.__doc__ = f"3D DenseNet-{depth} (growth 32, 64 initial features)."
    register_model(
        fn, name=f"densenet3d{depth}", family="3D DenseNet", sources=("kenshohara",), args_from=(DenseNet3d,)
    )


for _depth, _config in _CONFIGS.items():
    _register(_depth, _config)
