"""Make the golden fixtures in ``tests/data/golden`` from the ORIGINAL implementations.

Run it in a throwaway environment that has the originals (never in ``vr``'s own)::

    python -m venv --system-site-packages /tmp/golden && . /tmp/golden/bin/activate
    pip install --no-deps pytorchvideo==0.1.5 fvcore iopath   # --only pytorchvideo
    pip install --no-deps torchvision==0.28.0                 # --only torchvision
    pip install --no-deps mmengine "mmcv-lite<2.2" addict yapf einops   # --only mmaction2
    python tests/golden/generate.py --only pytorchvideo --only torchvision
    python tests/golden/generate.py --only mmaction2 --mmaction2 /path/to/mmaction2  # a git clone
    python tests/golden/generate.py --only kenshohara --kenshohara /path/to/3D-ResNets-PyTorch  # a clone

The kenshohara fixtures need only torch: the seed's ``models/*.py`` are imported from the clone, with two
of its bugs bridged by subclasses here (never by editing or copying its files): its pre-activation and
ResNeXt blocks take ``inplanes`` where its trunk passes ``in_planes=``, and ``ResNeXt`` passes
``n_classes`` positionally into the trunk's ``widen_factor``. The P3D fixtures (``--only p3d --p3d
/path/to/pseudo-3d-pytorch``) build the original P3D at full width, whose widths are literals, and
narrow every layer with :func:`narrow` (the original ``forward`` runs unchanged); so does the Caffe2 I3D
fixture (``--only i3d-caffe2 --i3d /path/to/pytorch-resnet3d``), from Tushar-N's I3D ResNet-50, whose
weights are written as the Caffe2 pickle of video-nonlocal-net (blob names: the inverse of that
repository's ``utils/convert_weights.py``).

Each fixture is a ``.pt`` file: ``source``, ``model`` and ``model_args`` (the ``vr`` model that must
reproduce it), ``checkpoint`` (the original model's state dict in its own key names, wrapped as the
original project saves it), ``frames`` (uint8 clips), ``upsample`` and ``expected`` (the original's
fp32 eval-mode output for ``frames / 127.5 - 1``, nearest-upsampled ``upsample`` times in H and W).
Models are built small (reduced width/depth), with seeded random weights, batch-norm parameters and
running statistics randomised, every float rounded to float16 (stored so; ``expected`` is computed in
float32 from those exact values). ``full_size_keys.json.gz`` holds the key names and shapes of the
originals at full size, for the strict-fit test.

This script imports the originals, so it is not part of the package and nothing of theirs is copied
into ``vr``; the fixtures hold only random weights and outputs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import types
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

OUT = Path(__file__).resolve().parents[1] / "data" / "golden"


def randomize(model: nn.Module, seed: int) -> nn.Module:
    """Seeded weights with non-trivial batch norms, every float rounded to float16 values."""
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.copy_(t.half().float())
    return model.eval()


def shorten(model: nn.Module, blocks: int) -> nn.Module:
    """Keep the first ``blocks`` residual blocks of every stage (the originals take a depth of 50 or more
    only; their stages run whatever blocks their ``res_blocks`` list holds)."""
    for m in model.modules():
        if isinstance(getattr(m, "res_blocks", None), nn.ModuleList):
            m.res_blocks = m.res_blocks[:blocks]
    return model


def half_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}


def clip(frames: torch.Tensor, upsample: int) -> torch.Tensor:
    x = frames.float() / 127.5 - 1.0
    return x.repeat_interleave(upsample, -1).repeat_interleave(upsample, -2)


def save_fixture(
    name: str,
    *,
    source: str,
    model: str,
    model_args: dict,
    original: nn.Module,
    checkpoint: dict,
    frames_shape: tuple[int, ...],
    upsample: int = 1,
    forward: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
    seed: int = 0,
) -> None:
    torch.manual_seed(seed + 1)
    frames = torch.randint(0, 256, frames_shape, dtype=torch.uint8)
    with torch.no_grad():
        x = clip(frames, upsample)
        expected = forward(original, x) if forward else original(x)
    fixture = {
        "source": source,
        "model": model,
        "model_args": model_args,
        "checkpoint": checkpoint,
        "frames": frames,
        "upsample": upsample,
        "expected": expected.float(),
    }
    path = OUT / f"{name}.pt"
    torch.save(fixture, path)
    print(f"{path.name}: {path.stat().st_size / 1024:.0f} kB, output {tuple(expected.shape)}")


def full_size_keys(entries: dict[str, dict]) -> None:
    """Merge ``entries`` (name -> source, model, model_args, keys) into full_size_keys.json.gz."""
    path = OUT / "full_size_keys.json.gz"
    table = json.loads(gzip.decompress(path.read_bytes())) if path.exists() else {}
    table.update(entries)
    path.write_bytes(gzip.compress(json.dumps(table, sort_keys=True).encode(), mtime=0))


def key_shapes(model: nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


# --------------------------------------------------------------------------- PyTorchVideo


def _stub_torchvision() -> None:
    """pytorchvideo.models.head imports torchvision.ops.RoIAlign (detection heads only); torchvision
    has no CPU wheel here, so stand a stub in for it when it is missing."""
    try:
        _import_torchvision()
    except ImportError:
        tv, ops = types.ModuleType("torchvision"), types.ModuleType("torchvision.ops")
        ops.RoIAlign = object
        tv.ops = ops
        sys.modules["torchvision"], sys.modules["torchvision.ops"] = tv, ops


def pytorchvideo() -> None:
    _stub_torchvision()
    from pytorchvideo.models import hub
    from pytorchvideo.models.csn import create_csn
    from pytorchvideo.models.resnet import create_resnet
    from pytorchvideo.models.slowfast import create_slowfast
    from pytorchvideo.models.x3d import create_x3d

    def wrap(model: nn.Module) -> dict:
        return {"model_state": half_state(model)}

    # X3D: depth factor 0.5 -> blocks (1, 1, 3, 2): SE on and off, stride and width changes.
    x3d = randomize(
        create_x3d(
            input_clip_length=4,
            input_crop_size=64,
            model_num_class=5,
            depth_factor=0.5,
            width_factor=0.5,
            head_dim_out=32,
            head_activation=None,
        ),
        0,
    )
    save_fixture(
        "pytorchvideo_x3d",
        source="pytorchvideo",
        model="x3d_xs",
        model_args={"num_classes": 5, "width_factor": 0.5, "layers": [1, 1, 3, 2], "head_hidden": 32},
        original=x3d,
        checkpoint=wrap(x3d),
        frames_shape=(2, 3, 4, 32, 32),
        upsample=2,
    )
    csn = randomize(
        shorten(
            create_csn(
                model_depth=50,
                model_num_class=5,
                stem_dim_out=4,
                stem_pool=nn.MaxPool3d,
                head_pool_kernel_size=(1, 2, 2),
            ),
            2,
        ),
        1,
    )
    save_fixture(
        "pytorchvideo_ircsn50",
        source="pytorchvideo",
        model="ircsn_50",
        model_args={"num_classes": 5, "widen_factor": 0.0625, "layers": [2, 2, 2, 2]},
        original=csn,
        checkpoint=wrap(csn),
        frames_shape=(2, 3, 8, 32, 32),
        upsample=2,
    )
    slow = randomize(
        shorten(
            create_resnet(
                model_num_class=5,
                stem_dim_out=4,
                stem_conv_kernel_size=(1, 7, 7),
                head_pool_kernel_size=(4, 2, 2),
            ),
            2,
        ),
        2,
    )
    save_fixture(
        "pytorchvideo_slow_r50",
        source="pytorchvideo",
        model="slow_r50",
        model_args={"num_classes": 5, "widen_factor": 0.0625, "layers": [2, 2, 2, 2]},
        original=slow,
        checkpoint=wrap(slow),
        frames_shape=(2, 3, 4, 32, 32),
        upsample=2,
    )
    i3d = randomize(
        shorten(
            create_resnet(
                model_num_class=5,
                stem_dim_out=4,
                stem_conv_kernel_size=(5, 7, 7),
                stage1_pool=nn.MaxPool3d,
                stage_conv_a_kernel_size=(
                    (3, 1, 1),
                    [(3, 1, 1), (1, 1, 1)],
                    [(3, 1, 1), (1, 1, 1)],
                    [(1, 1, 1), (3, 1, 1)],
                ),
                head_pool_kernel_size=(4, 2, 2),
            ),
            2,
        ),
        3,
    )
    save_fixture(
        "pytorchvideo_i3d_r50",
        source="pytorchvideo",
        model="i3d_r50_8x8",
        model_args={"num_classes": 5, "widen_factor": 0.0625, "layers": [2, 2, 2, 2]},
        original=i3d,
        checkpoint=wrap(i3d),
        frames_shape=(2, 3, 8, 32, 32),
        upsample=2,
    )
    for variant, alpha, kernel in (("8x8", 4, 7), ("4x16", 8, 5)):
        slowfast = randomize(
            shorten(
                create_slowfast(
                    model_num_class=5,
                    stem_dim_outs=(8, 1),
                    slowfast_fusion_conv_kernel_size=(kernel, 1, 1),
                    slowfast_fusion_conv_stride=(alpha, 1, 1),
                    head_pool_kernel_sizes=((16 // alpha, 2, 2), (16, 2, 2)),
                ),
                1,
            ),
            4,
        )
        save_fixture(
            f"pytorchvideo_slowfast_r50_{variant}",
            source="pytorchvideo",
            model=f"slowfast_r50_{variant}",
            model_args={"num_classes": 5, "widen_factor": 0.125, "layers": [1, 1, 1, 1]},
            original=slowfast,
            checkpoint=wrap(slowfast),
            frames_shape=(2, 3, 16, 32, 32),
            upsample=2,
            forward=lambda m, x, a=alpha: m([x[:, :, ::a], x]),
        )

    full = {}
    with torch.device("meta"):
        for name, make, model in (
            ("x3d_xs", lambda: hub.x3d_xs(), "x3d_xs"),
            ("x3d_s", lambda: hub.x3d_s(), "x3d_s"),
            ("x3d_m", lambda: hub.x3d_m(), "x3d_m"),
            ("x3d_l", lambda: hub.x3d_l(), "x3d_l"),
            ("csn_r101", lambda: hub.csn_r101(), "ircsn_101"),
            ("slow_r50", lambda: hub.slow_r50(), "slow_r50"),
            ("i3d_r50", lambda: hub.i3d_r50(), "i3d_r50_8x8"),
            ("slowfast_r50", lambda: hub.slowfast_r50(), "slowfast_r50_8x8"),
        ):
            full[f"pytorchvideo_{name}"] = {
                "source": "pytorchvideo",
                "model": model,
                "model_args": {"num_classes": 400},
                "keys": key_shapes(make()),
            }
    full_size_keys(full)


# --------------------------------------------------------------------------- torchvision


def _import_torchvision():
    """torchvision's wheel here is built for a CUDA torch: its compiled ops do not load, and its fake-op
    registrations then fail at import. The video models need neither, so skip the registrations."""
    sys.modules.setdefault(
        "torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations")
    )
    from torchvision.models import video

    return video


def torchvision() -> None:
    video = _import_torchvision()
    full = {}
    for seed, name in enumerate(("r3d_18", "mc3_18", "r2plus1d_18")):
        make = getattr(video, name)
        original = make(num_classes=5)
        # Reduced width: rebuild the layers at 1/16 of torchvision's widths through its own builders.
        blocks, builder = {
            "r3d_18": (video.resnet.BasicBlock, [video.resnet.Conv3DSimple] * 4),
            "mc3_18": (
                video.resnet.BasicBlock,
                [video.resnet.Conv3DSimple] + [video.resnet.Conv3DNoTemporal] * 3,
            ),
            "r2plus1d_18": (video.resnet.BasicBlock, [video.resnet.Conv2Plus1D] * 4),
        }[name]
        small = _small_video_resnet(video, name, blocks, builder)
        small = randomize(small, 10 + seed)
        save_fixture(
            f"torchvision_{name}",
            source="torchvision",
            model=name,
            model_args={"num_classes": 5, "widen_factor": 0.0625},
            original=small,
            checkpoint=half_state(small),
            frames_shape=(2, 3, 8, 32, 32),
            upsample=1,
            seed=seed,
        )
        with torch.device("meta"):
            full[f"torchvision_{name}"] = {
                "source": "torchvision",
                "model": name,
                "model_args": {"num_classes": 400},
                "keys": key_shapes(make()),
            }
        del original
    # S3D at 1/8 width: its widths are literals, so its ``features`` are rebuilt from its own blocks (the
    # forward and head are its own); 16x224x224 clips, the smallest its 2x7x7 head window takes.
    s3d_module = sys.modules["torchvision.models.video.s3d"]  # (``video.s3d`` is the function)
    s3d = s3d_module.S3D(num_classes=5)
    s3d.features, s3d.classifier[1] = _small_s3d_features(s3d_module), nn.Conv3d(128, 5, 1)
    s3d = randomize(s3d, 14)
    save_fixture(
        "torchvision_s3d",
        source="torchvision",
        model="s3d",
        model_args={"num_classes": 5, "widen_factor": 0.125},
        original=s3d,
        checkpoint=half_state(s3d),
        frames_shape=(2, 3, 16, 28, 28),
        upsample=8,
        seed=4,
    )
    with torch.device("meta"):
        full["torchvision_s3d"] = {
            "source": "torchvision",
            "model": "s3d",
            "model_args": {"num_classes": 400},
            "keys": key_shapes(s3d_module.S3D(num_classes=400)),
        }
    full_size_keys(full)


def _small_s3d_features(s3d) -> nn.Sequential:
    """torchvision's S3D ``features`` at 1/8 of its widths, built from its own classes."""
    from functools import partial

    from torchvision.ops.misc import Conv3dNormActivation

    norm = partial(nn.BatchNorm3d, eps=0.001, momentum=0.001)
    inception = [
        (24, 8, 12, 16, 2, 4, 4), (32, 16, 16, 24, 4, 12, 8), "pool3",
        (60, 24, 12, 26, 2, 6, 8), (64, 20, 14, 28, 3, 8, 8), (64, 16, 16, 32, 3, 8, 8),
        (64, 14, 18, 36, 4, 8, 8), (66, 32, 20, 40, 4, 16, 16), "pool2",
        (104, 32, 20, 40, 4, 16, 16), (104, 48, 24, 48, 6, 16, 16),
    ]  # fmt: skip
    layers = [
        s3d.TemporalSeparableConv(3, 8, 7, 2, 3, norm),
        nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        Conv3dNormActivation(8, 8, kernel_size=1, stride=1, norm_layer=norm),
        s3d.TemporalSeparableConv(8, 24, 3, 1, 1, norm),
        nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
    ]
    for spec in inception:
        if spec == "pool3":
            layers.append(nn.MaxPool3d(kernel_size=(3, 3, 3), stride=(2, 2, 2), padding=(1, 1, 1)))
        elif spec == "pool2":
            layers.append(nn.MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=(0, 0, 0)))
        else:
            layers.append(s3d.SepInceptionBlock3D(*spec, norm))
    return nn.Sequential(*layers)


def _small_video_resnet(video, name: str, block, builders) -> nn.Module:
    """torchvision's ``VideoResNet`` at 1/16 width: its widths 64..512 are literals, so patch the class
    (in this process only) to scale them; the stems are torchvision's own at that width."""
    resnet = video.resnet

    class Small(resnet.VideoResNet):
        def __init__(self, *args, **kwargs):
            nn.Module.__init__(self)
            self.inplanes = 4
            self.stem = stem
            self.layer1 = self._make_layer(block, builders[0], 4, 2, stride=1)
            self.layer2 = self._make_layer(block, builders[1], 8, 2, stride=2)
            self.layer3 = self._make_layer(block, builders[2], 16, 2, stride=2)
            self.layer4 = self._make_layer(block, builders[3], 32, 2, stride=2)
            self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
            self.fc = nn.Linear(32, 5)

    if name == "r2plus1d_18":
        stem = nn.Sequential(
            nn.Conv3d(3, 2, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
            nn.BatchNorm3d(2),
            nn.ReLU(inplace=True),
            nn.Conv3d(2, 4, (3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False),
            nn.BatchNorm3d(4),
            nn.ReLU(inplace=True),
        )
    else:
        stem = nn.Sequential(
            nn.Conv3d(3, 4, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(4),
            nn.ReLU(inplace=True),
        )
    return Small()


# --------------------------------------------------------------------------- MMAction2


def _import_mmaction2(src: Path):
    """MMAction2's model files from a source tree (``git clone https://github.com/open-mmlab/mmaction2``;
    its PyPI wheel lacks files), with ``mmengine`` and ``mmcv-lite<2.2`` installed. Only the backbone,
    head and loss modules are imported: ``mmaction.models``' own ``__init__`` pulls in every model."""
    sys.path.insert(0, str(src))
    root = src / "mmaction" / "models"
    for name in ("models", "models.backbones", "models.heads", "models.losses"):
        module = types.ModuleType(f"mmaction.{name}")
        module.__path__ = [str(root / name.removeprefix("models").lstrip(".").replace(".", "/"))]
        sys.modules[f"mmaction.{name}"] = module
    sys.modules["mmaction.models"].__path__ = [str(root)]
    import importlib

    importlib.import_module("mmaction.models.losses.cross_entropy_loss")
    names = (
        "backbones.resnet3d",
        "backbones.resnet3d_slowfast",
        "backbones.resnet3d_slowonly",
        "backbones.resnet3d_csn",
        "backbones.x3d",
    )
    heads = ("heads.i3d_head", "heads.slowfast_head", "heads.x3d_head")
    return {n.rsplit(".", 1)[1]: importlib.import_module(f"mmaction.models.{n}") for n in names + heads}


class _Recognizer(nn.Module):
    """MMAction2's ``Recognizer3D`` at test time, reduced to what the weights see: backbone, then head."""

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone, self.cls_head = backbone, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cls_head(self.backbone(x))


def mmaction2(src: Path) -> None:
    mm = _import_mmaction2(src)

    def wrap(model: nn.Module) -> dict:
        return {"meta": {"mmaction2": "golden"}, "state_dict": half_state(model)}

    # X3D at a quarter of X3D-S's width, depth factor 0.5 (blocks 1, 1, 3, 2); the head's 2048-wide
    # hidden layer is a literal there, so it is rebuilt 32 wide (the forward is theirs).
    x3d = mm["x3d"].X3D(gamma_w=0.25, gamma_b=2.25, gamma_d=0.5)
    head = mm["x3d_head"].X3DHead(num_classes=5, in_channels=x3d.feat_dim, fc1_bias=False)
    head.fc1, head.fc2 = nn.Linear(x3d.feat_dim, 32, bias=False), nn.Linear(32, 5)
    model = randomize(_Recognizer(x3d, head), 20)
    save_fixture(
        "mmaction2_x3d",
        source="mmaction2",
        model="x3d_s",
        model_args={
            "num_classes": 5,
            "width_factor": 2 / 3,
            "layers": [1, 1, 3, 2],
            "head_hidden": 32,
            "shortcut_norm": True,
        },
        original=model,
        checkpoint=wrap(model),
        frames_shape=(2, 3, 4, 32, 32),
        upsample=2,
    )
    for mode, seed in (("ir", 21), ("ip", 22)):
        csn = mm["resnet3d_csn"].ResNet3dCSN(
            depth=50, pretrained=None, base_channels=4, stage_blocks=(2, 2, 2, 2), with_pool2=False,
            bottleneck_mode=mode,
        )  # fmt: skip
        head = mm["i3d_head"].I3DHead(num_classes=5, in_channels=csn.feat_dim)
        model = randomize(_Recognizer(csn, head), seed)
        save_fixture(
            f"mmaction2_{mode}csn50",
            source="mmaction2",
            model=f"{mode}csn_50",
            model_args={"num_classes": 5, "widen_factor": 0.0625, "layers": [2, 2, 2, 2], "bn_eps": 1e-3},
            original=model,
            checkpoint=wrap(model),
            frames_shape=(2, 3, 8, 32, 32),
            upsample=2,
        )
    for variant, alpha, kernel in (("8x8", 4, 7), ("4x16", 8, 5)):
        slowfast = mm["resnet3d_slowfast"].ResNet3dSlowFast(
            resample_rate=alpha,
            speed_ratio=alpha,
            channel_ratio=8,
            slow_pathway=dict(
                type="resnet3d", depth=50, pretrained=None, lateral=True, fusion_kernel=kernel,
                conv1_kernel=(1, 7, 7), conv1_stride_t=1, pool1_stride_t=1, inflate=(0, 0, 1, 1),
                base_channels=8, stage_blocks=(1, 1, 1, 1),
            ),
            fast_pathway=dict(
                type="resnet3d", depth=50, pretrained=None, lateral=False, base_channels=1,
                conv1_kernel=(5, 7, 7), conv1_stride_t=1, pool1_stride_t=1, stage_blocks=(1, 1, 1, 1),
            ),
        )  # fmt: skip
        head = mm["slowfast_head"].SlowFastHead(num_classes=5, in_channels=256 + 32)
        model = randomize(_Recognizer(slowfast, head), 23)
        save_fixture(
            f"mmaction2_slowfast_r50_{variant}",
            source="mmaction2",
            model=f"slowfast_r50_{variant}",
            model_args={
                "num_classes": 5,
                "widen_factor": 0.125,
                "layers": [1, 1, 1, 1],
                "fusion_norm": False,
            },
            original=model,
            checkpoint=wrap(model),
            frames_shape=(2, 3, 16, 32, 32),
            upsample=2,
        )
    # SlowOnly R50 8x8 (``slowonly_r50_8xb16-8x8x1``: the Slow pathway alone, no pool2).
    slow = mm["resnet3d_slowonly"].ResNet3dSlowOnly(
        depth=50, pretrained=None, lateral=False, base_channels=4, stage_blocks=(2, 2, 2, 2)
    )
    head = mm["i3d_head"].I3DHead(num_classes=5, in_channels=slow.feat_dim)
    model = randomize(_Recognizer(slow, head), 24)
    save_fixture(
        "mmaction2_slow_r50",
        source="mmaction2",
        model="slow_r50",
        model_args={"num_classes": 5, "widen_factor": 0.0625, "layers": [2, 2, 2, 2]},
        original=model,
        checkpoint=wrap(model),
        frames_shape=(2, 3, 8, 32, 32),
        upsample=2,
    )
    # I3D R50 (``i3d_imagenet-pretrained-r50_8xb8-32x2x1``): 5x7x7 stem with stride 2 in time, a padded
    # 1x3x3 max pool with stride 2 in time, pool2 after stage 1; inflation as the non-local baseline's.
    i3d = mm["resnet3d"].ResNet3d(
        depth=50, pretrained=None, pretrained2d=False, base_channels=4, stage_blocks=(2, 2, 2, 2),
        conv1_kernel=(5, 7, 7), conv1_stride_t=2, pool1_stride_t=2,
        inflate=((1, 1), (1, 0), (1, 0), (0, 1)),
    )  # fmt: skip
    head = mm["i3d_head"].I3DHead(num_classes=5, in_channels=i3d.feat_dim)
    model = randomize(_Recognizer(i3d, head), 25)
    save_fixture(
        "mmaction2_i3d_r50",
        source="mmaction2",
        model="i3d_r50",
        model_args={
            "num_classes": 5,
            "widen_factor": 0.0625,
            "layers": [2, 2, 2, 2],
            "stem_pool": "1x3x3",
        },
        original=model,
        checkpoint=wrap(model),
        frames_shape=(2, 3, 16, 32, 32),
        upsample=2,
    )

    full = {}
    with torch.device("meta"):
        slow = mm["resnet3d_slowonly"].ResNet3dSlowOnly(depth=50, pretrained=None, lateral=False)
        head = mm["i3d_head"].I3DHead(num_classes=400, in_channels=2048)
        full["mmaction2_slow_r50"] = ("slow_r50", {}, _Recognizer(slow, head))
        i3d = mm["resnet3d"].ResNet3d(
            depth=50, pretrained=None, pretrained2d=False, conv1_kernel=(5, 7, 7), conv1_stride_t=2,
            pool1_stride_t=2, inflate=((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0)),
        )  # fmt: skip
        head = mm["i3d_head"].I3DHead(num_classes=400, in_channels=2048)
        full["mmaction2_i3d_r50"] = ("i3d_r50", {"stem_pool": "1x3x3"}, _Recognizer(i3d, head))
        x3d = mm["x3d"].X3D(gamma_w=1, gamma_b=2.25, gamma_d=2.2)
        head = mm["x3d_head"].X3DHead(num_classes=400, in_channels=x3d.feat_dim, fc1_bias=False)
        full["mmaction2_x3d_s"] = ("x3d_s", {"shortcut_norm": True}, _Recognizer(x3d, head))
        for mode in ("ir", "ip"):
            csn = mm["resnet3d_csn"].ResNet3dCSN(
                depth=152, pretrained=None, with_pool2=False, bottleneck_mode=mode
            )
            head = mm["i3d_head"].I3DHead(num_classes=400, in_channels=2048)
            full[f"mmaction2_{mode}csn_152"] = (f"{mode}csn_152", {"bn_eps": 1e-3}, _Recognizer(csn, head))
        slowfast = mm["resnet3d_slowfast"].ResNet3dSlowFast(
            resample_rate=4, speed_ratio=4, channel_ratio=8,
            slow_pathway=dict(
                type="resnet3d", depth=50, pretrained=None, lateral=True, fusion_kernel=7,
                conv1_kernel=(1, 7, 7), conv1_stride_t=1, pool1_stride_t=1, inflate=(0, 0, 1, 1),
            ),
        )  # fmt: skip
        head = mm["slowfast_head"].SlowFastHead(num_classes=400, in_channels=2304)
        full["mmaction2_slowfast_r50_8x8"] = (
            "slowfast_r50_8x8",
            {"fusion_norm": False},
            _Recognizer(slowfast, head),
        )
        full = {
            name: {
                "source": "mmaction2",
                "model": model,
                "model_args": {"num_classes": 400, **args},
                "keys": key_shapes(original),
            }
            for name, (model, args, original) in full.items()
        }
    full_size_keys(full)


# --------------------------------------------------------------------------- 3D-ResNets (kenshohara)


def _import_kenshohara(src: Path):
    """The seed's ``models`` package (it imports ``utils`` from the repository root, which imports
    scikit-learn for its metrics: a stub stands in when it is missing, the models never call it)."""
    sys.path.insert(0, str(src))
    import importlib

    try:
        import sklearn.metrics  # noqa: F401
    except ImportError:
        sk, metrics = types.ModuleType("sklearn"), types.ModuleType("sklearn.metrics")
        metrics.precision_recall_fscore_support = None
        sk.metrics = metrics
        sys.modules["sklearn"], sys.modules["sklearn.metrics"] = sk, metrics

    names = ("resnet", "pre_act_resnet", "wide_resnet", "resnext", "resnet2p1d", "densenet")
    return types.SimpleNamespace(**{n: importlib.import_module(f"models.{n}") for n in names})


def kenshohara(src: Path) -> None:
    """The 3D-ResNets seed's families, reduced in width and depth, saved as its training script saves
    checkpoints (``epoch``, ``arch``, ``state_dict``; one as a bare state dict)."""
    m = _import_kenshohara(src)
    from utils import partialclass  # the seed's own helper, from its repository root

    class PreActBasic(m.pre_act_resnet.PreActivationBasicBlock):  # the trunk passes in_planes=
        def __init__(self, in_planes, planes, stride=1, downsample=None):
            super().__init__(in_planes, planes, stride, downsample)

    class PreActBottleneck(m.pre_act_resnet.PreActivationBottleneck):
        def __init__(self, in_planes, planes, stride=1, downsample=None):
            super().__init__(in_planes, planes, stride, downsample)

    class ResNeXtBottleneck(m.resnext.ResNeXtBottleneck):
        def __init__(self, in_planes, planes, cardinality, stride=1, downsample=None):
            super().__init__(in_planes, planes, cardinality, stride, downsample)

    def resnext(layers, cardinality, widen_factor, n_classes, **kw):
        """``ResNeXt`` as its __init__ means to build it (trunk arguments by name), same modules."""
        net = m.resnext.ResNeXt.__new__(m.resnext.ResNeXt)
        block = partialclass(ResNeXtBottleneck, cardinality=cardinality)
        m.resnet.ResNet.__init__(
            net, block, layers, m.resnext.get_inplanes(), widen_factor=widen_factor, n_classes=n_classes, **kw
        )
        net.fc = nn.Linear(cardinality * 32 * ResNeXtBottleneck.expansion, n_classes)  # as ResNeXt sets it
        return net

    one = [1, 1, 1, 1]
    r = m.resnet
    cases = [  # name, vr model, vr model_args, the original, frames shape, upsample, bare state dict
        ("kenshohara_r3d18", "r3d18", {"num_classes": 7, "widen_factor": 0.03125},
         lambda: r.generate_model(18, widen_factor=0.03125, n_classes=7), (2, 3, 8, 32, 32), 1, False),
        ("kenshohara_r3d10_flow_shortcutA", "r3d10",
         {"num_classes": 5, "in_channels": 2, "shortcut": "A", "no_max_pool": True, "conv1_t_size": 3,
          "conv1_t_stride": 2, "widen_factor": 0.0625},
         lambda: r.generate_model(10, n_input_channels=2, shortcut_type="A", no_max_pool=True,
                                  conv1_t_size=3, conv1_t_stride=2, widen_factor=0.0625, n_classes=5),
         (1, 2, 8, 24, 24), 1, False),
        ("kenshohara_preact_r3d18", "preact_r3d18", {"num_classes": 7, "widen_factor": 0.03125},
         lambda: r.ResNet(PreActBasic, [2, 2, 2, 2], r.get_inplanes(), widen_factor=0.03125, n_classes=7),
         (1, 3, 8, 32, 32), 1, False),
        ("kenshohara_preact_r3d50", "preact_r3d50", {"num_classes": 7, "widen_factor": 0.0625, "layers": one},
         lambda: r.ResNet(PreActBottleneck, one, r.get_inplanes(), widen_factor=0.0625, n_classes=7),
         (1, 3, 8, 32, 32), 1, False),
        ("kenshohara_wrn3d50", "wrn3d50", {"num_classes": 7, "k": 2, "widen_factor": 0.03125, "layers": one},
         lambda: r.ResNet(m.wide_resnet.WideBottleneck, one, [x * 2 for x in r.get_inplanes()],
                          widen_factor=0.03125, n_classes=7), (1, 3, 8, 32, 32), 1, False),
        ("kenshohara_resnext3d50", "resnext3d50",
         {"num_classes": 7, "cardinality": 8, "widen_factor": 0.25, "layers": one, "conv1_t_size": 1},
         lambda: resnext(one, 8, 0.25, 7, conv1_t_size=1), (1, 3, 8, 32, 32), 1, False),
        ("kenshohara_r2plus1d18", "r2plus1d18", {"num_classes": 7, "widen_factor": 0.03125},
         lambda: m.resnet2p1d.generate_model(18, widen_factor=0.03125, n_classes=7),
         (1, 3, 8, 32, 32), 1, False),
        ("kenshohara_r2plus1d50_flow", "r2plus1d50",
         {"num_classes": 6, "in_channels": 2, "widen_factor": 0.0625, "layers": one},
         lambda: m.resnet2p1d.ResNet(m.resnet2p1d.Bottleneck, one, m.resnet2p1d.get_inplanes(),
                                     n_input_channels=2, widen_factor=0.0625, n_classes=6),
         (1, 2, 8, 32, 32), 1, True),
        ("kenshohara_densenet3d121", "densenet3d121",
         {"num_classes": 7, "num_init_features": 8, "growth_rate": 4, "block_config": [2, 3, 4, 2]},
         lambda: m.densenet.DenseNet(num_init_features=8, growth_rate=4, block_config=(2, 3, 4, 2),
                                     num_classes=7),
         (1, 3, 16, 32, 32), 2, False),
    ]  # fmt: skip
    for i, (name, model, model_args, build, shape, upsample, bare) in enumerate(cases):
        original = randomize(build(), seed=100 + i)
        state = half_state(original)
        checkpoint = state if bare else {"epoch": 200, "arch": model, "state_dict": state}
        save_fixture(
            name,
            source="kenshohara",
            model=model,
            model_args=model_args,
            original=original,
            checkpoint=checkpoint,
            frames_shape=shape,
            upsample=upsample,
            seed=100 + i,
        )


# --------------------------------------------------------------------------- P3D (qijiezhao)


def narrow(model: nn.Module, factor: float, keep_in: int, num_classes: int) -> nn.Module:
    """Every conv, batch norm and linear layer of ``model`` with ``factor`` times its channels (the first
    conv keeps its ``keep_in`` inputs, the last linear gives ``num_classes``): a small copy of a network
    whose widths are literals in its code, for a network whose forward reads sizes from its tensors."""

    def scaled(n: int) -> int:
        return max(1, round(n * factor))

    for parent in list(model.modules()):
        for name, m in list(parent.named_children()):
            if isinstance(m, nn.Conv2d | nn.Conv3d):
                first = m.in_channels == keep_in and m is next(
                    x for x in model.modules() if isinstance(x, nn.Conv2d | nn.Conv3d)
                )
                new = type(m)(
                    m.in_channels if first else scaled(m.in_channels),
                    scaled(m.out_channels),
                    m.kernel_size,
                    m.stride,
                    m.padding,
                    m.dilation,
                    m.groups,
                    m.bias is not None,
                )
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                new = type(m)(scaled(m.num_features), m.eps, m.momentum)
            elif isinstance(m, nn.Linear):
                new = nn.Linear(scaled(m.in_features), num_classes, m.bias is not None)
            else:
                continue
            setattr(parent, name, new)
    return model


def p3d(src: Path) -> None:
    """qijiezhao/pseudo-3d-pytorch's P3D-63 (RGB, A-B-C blocks) and a shallow Flow P3D (A-B blocks),
    saved as its training saved them (``module.`` keys for the second: DataParallel)."""
    sys.path.insert(0, str(src))
    import p3d_model

    cases = [  # name, vr model_args, layers, modality, ST structure, width factor, DataParallel keys
        ("p3d63_rgb", [3, 4, 6, 3], "RGB", ("A", "B", "C"), 0.03125, False),
        ("p3d_flow_AB", [1, 2, 2, 1], "Flow", ("A", "B"), 0.0625, True),
    ]
    for i, (name, layers, modality, st, factor, parallel) in enumerate(cases):
        channels = 3 if modality == "RGB" else 2
        original = p3d_model.P3D(p3d_model.Bottleneck, layers, modality=modality, num_classes=7, ST_struc=st)
        original = randomize(narrow(original, factor, channels, 7), seed=200 + i)
        state = half_state(original)
        if parallel:
            state = {f"module.{k}": v for k, v in state.items()}
        save_fixture(
            name,
            source="p3d",
            model="p3d63",
            model_args={
                "num_classes": 7,
                "in_channels": channels,
                "layers": layers,
                "st_struct": list(st),
                "widen_factor": factor,
            },  # fmt: skip
            original=original,
            checkpoint={"epoch": 10, "arch": "P3D", "state_dict": state},
            frames_shape=(1, channels, 16, 40, 40),
            upsample=4,
            seed=200 + i,
        )


# --------------------------------------------------------------------------- I3D (Caffe2 blobs)


def caffe2_blob_name(key: str) -> str | None:
    """video-nonlocal-net's blob name of a parameter of Tushar-N's ``I3Res50`` (None: not saved)."""
    import re

    suffix = {"weight": "w", "bias": "b", "running_mean": "rm", "running_var": "riv"}
    fixed = {"conv1.weight": "conv1_w", "fc.weight": "pred_w", "fc.bias": "pred_b"}
    if key.endswith("num_batches_tracked"):
        return None
    if key in fixed:
        return fixed[key]
    if key.startswith("bn1."):
        end = key.split(".")[-1]
        return "res_conv1_bn_" + ("s" if end == "weight" else suffix.get(end, ""))
    match = re.fullmatch(r"layer(\d)\.(\d+)\.(conv|bn)(\d)\.(\w+)", key)
    if match:
        layer, block, kind, module, end = match.groups()
        stem = f"res{int(layer) + 1}_{block}_branch2{'abc'[int(module) - 1]}"
        return f"{stem}_w" if kind == "conv" else f"{stem}_bn_" + ("s" if end == "weight" else suffix[end])
    match = re.fullmatch(r"layer(\d)\.(\d+)\.downsample\.(\d)\.(\w+)", key)
    if match:
        layer, block, module, end = match.groups()
        stem = f"res{int(layer) + 1}_{block}_branch1"
        return f"{stem}_w" if module == "0" else f"{stem}_bn_" + ("s" if end == "weight" else suffix[end])
    return None


def i3d_caffe2(src: Path) -> None:
    """Tushar-N's I3D ResNet-50 (no non-local blocks), narrowed, its weights saved as video-nonlocal-net's
    Caffe2 pickle (``{"blobs": {name: float16 array}}``, with the ``*_momentum``, ``model_iter`` and
    ``lr`` blobs of a real one, which the converter skips)."""
    import pickle

    import numpy as np

    sys.path.insert(0, str(src))
    from models import resnet as tushar

    original = tushar.I3Res50(num_classes=7, use_nl=False)
    original = randomize(narrow(original, 0.03125, 3, 7), seed=300)
    blobs = {}
    for key, value in original.state_dict().items():
        name = caffe2_blob_name(key)
        if name is None:
            assert key.endswith("num_batches_tracked"), key
            continue
        blobs[name] = value.half().numpy()
    for name in ("conv1_w", "pred_w"):  # the solver's state, which real checkpoints carry
        blobs[f"{name}_momentum"] = blobs[name] * 0
    blobs["model_iter"], blobs["lr"] = 400000, np.array(1e-4, np.float32)
    (OUT / "i3d_r50_caffe2.pkl").write_bytes(pickle.dumps({"blobs": blobs}, protocol=2))
    save_fixture(
        "i3d_r50_caffe2",
        source="i3d-caffe2",
        model="i3d_r50",
        model_args={"num_classes": 7, "widen_factor": 0.03125},
        original=original,
        checkpoint="i3d_r50_caffe2.pkl",
        frames_shape=(1, 3, 32, 32, 32),
        upsample=2,
        forward=lambda m, x: m.forward_single(x),
        seed=300,
    )


SOURCES = {
    "pytorchvideo": pytorchvideo,
    "torchvision": torchvision,
    "mmaction2": mmaction2,
    "kenshohara": kenshohara,
    "p3d": p3d,
    "i3d-caffe2": i3d_caffe2,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(SOURCES), action="append", help="sources to make")
    parser.add_argument("--mmaction2", type=Path, help="an MMAction2 source tree (for mmaction2)")
    parser.add_argument("--kenshohara", type=Path, help="a 3D-ResNets-PyTorch source tree (for kenshohara)")
    parser.add_argument("--p3d", type=Path, help="a pseudo-3d-pytorch source tree (for p3d)")
    parser.add_argument("--i3d", type=Path, help="a pytorch-resnet3d source tree (for i3d-caffe2)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.only or sorted(SOURCES):
        if name == "mmaction2":
            if args.mmaction2 is None:
                parser.error("mmaction2 needs --mmaction2 SRC (a clone of open-mmlab/mmaction2)")
            mmaction2(args.mmaction2)
        elif name == "kenshohara":
            if args.kenshohara is None:
                parser.error("kenshohara needs --kenshohara SRC (a clone of kenshohara/3D-ResNets-PyTorch)")
            kenshohara(args.kenshohara)
        elif name == "p3d":
            if args.p3d is None:
                parser.error("p3d needs --p3d SRC (a clone of qijiezhao/pseudo-3d-pytorch)")
            p3d(args.p3d)
        elif name == "i3d-caffe2":
            if args.i3d is None:
                parser.error("i3d-caffe2 needs --i3d SRC (a clone of Tushar-N/pytorch-resnet3d)")
            i3d_caffe2(args.i3d)
        else:
            SOURCES[name]()


if __name__ == "__main__":
    main()
