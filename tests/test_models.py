"""vr.models: registry, wiring of every architecture (RGB and Flow), checkpoint loading options."""

from __future__ import annotations

import gzip
import json
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from vr.models import (
    CheckpointError,
    UnknownModelError,
    convert_state_dict,
    create_model,
    list_models,
    load_caffe2_pickle,
    load_pretrained,
    model_info,
)
from vr.models.convert import check_fits

GOLDEN = Path(__file__).parent / "data" / "golden"

DESIGN_NAMES = (
    [f"r3d{d}" for d in (10, 18, 34, 50, 101, 152, 200)]
    + [f"preact_r3d{d}" for d in (18, 34, 50, 101, 152, 200)]
    + ["wrn3d50"]
    + [f"resnext3d{d}" for d in (50, 101, 152, 200)]
    + [f"densenet3d{d}" for d in (121, 169, 201, 264)]
    + [f"r2plus1d{d}" for d in (10, 18, 34, 50, 101, 152, 200)]
    + ["p3d63", "p3d131", "p3d199", "i3d_r50"]
)


def tiny_kwargs(name: str) -> dict:
    """Full depth, minimal width: the test is about wiring, not capacity."""
    if name.startswith("densenet3d"):
        return {"growth_rate": 2, "num_init_features": 4, "bn_size": 1}
    if name.startswith("resnext3d"):
        return {"widen_factor": 0.25, "cardinality": 8}
    if name.startswith("wrn3d"):
        return {"widen_factor": 1 / 32, "k": 1}
    if name.startswith("x3d"):
        return {"width_factor": 0.25, "head_hidden": 16}
    if name.startswith("slowfast"):
        return {"widen_factor": 1 / 8}
    return {"widen_factor": 1 / 32}


def tiny_clip(name: str) -> tuple[int, int, int]:
    if name.startswith(("p3d", "densenet3d")):
        return (16, 32, 32)  # P3D pools time 16 -> 1 before its 2D stage; DenseNet has 4 x 2 pools
    if name.startswith(("i3d", "slowfast", "s3d")):
        return (8, 32, 32)  # S3D: stride 8 in time, 32 in space
    return (4, 16, 16)


@pytest.fixture(autouse=True)
def _threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread avoids synchronisation overhead
    yield
    torch.set_num_threads(previous)


def test_registry_has_every_design_model():
    names = list_models()
    assert set(DESIGN_NAMES) <= set(names)
    assert list_models("p3d*") == ["p3d63", "p3d131", "p3d199"]
    assert model_info("i3d_r50").clip == (32, 224, 224)
    assert model_info("p3d199").sources == ("p3d",)


@pytest.mark.parametrize("name", list_models())
def test_forward_shape_rgb_and_flow(name):
    torch.manual_seed(0)
    for channels in (3, 2):
        model = create_model(name, num_classes=5, in_channels=channels, **tiny_kwargs(name)).eval()
        x = torch.randn(2, channels, *tiny_clip(name))
        with torch.no_grad():
            out = model(x)
            single = model(x[1:])
        assert out.shape == (2, 5)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out[1:], single, rtol=1e-4, atol=1e-5)  # no mixing across the batch
        assert model.model_args["in_channels"] == channels


def test_unknown_name_lists_close_names():
    with pytest.raises(UnknownModelError, match="r3d18") as info:
        create_model("r3d19", num_classes=3)
    assert "close names" in str(info.value)
    with pytest.raises(UnknownModelError, match="r2plus1d18"):
        create_model("r2plus1d_19", num_classes=3)


def test_unknown_kwarg_names_the_model():
    with pytest.raises(TypeError, match="r3d18 takes no argument no_such_option; it takes .*widen_factor"):
        create_model("r3d18", num_classes=3, no_such_option=1)


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("r3d10", {"widen_factor": "abc"}, r"r3d10: widen_factor='abc' is not a number"),
        ("r3d10", {"no_max_pool": "yes"}, r"no_max_pool='yes' is not true or false"),
        ("r3d10", {"conv1_t_size": 3.5}, r"conv1_t_size=3.5 is not an integer"),
        ("r3d10", {"shortcut": 1}, r"shortcut=1 is not a string"),
        ("i3d_r50", {"widen_factor": float("nan")}, r"i3d_r50: widen_factor=nan is not a number"),
        ("p3d63", {"dropout": "x"}, r"p3d63: dropout='x' is not a number"),
        ("densenet3d121", {"growth_rate": "x" * 500}, r"growth_rate='xxx.*\.\.\. is not an integer"),
    ],
)
def test_model_arguments_of_the_wrong_kind_are_named(name, kwargs, message):
    from vr.models.registry import ModelArgumentError

    with pytest.raises(ModelArgumentError, match=message):
        create_model(name, 3, **kwargs)


def test_r3d_options_change_the_network():
    with torch.device("meta"):
        base = create_model("r3d18", 3)
    assert base.conv1.kernel_size == (7, 7, 7) and base.conv1.stride == (1, 2, 2)
    assert isinstance(base.maxpool, nn.MaxPool3d)
    assert isinstance(base.layer2[0].downsample, nn.Sequential)
    with torch.device("meta"):
        a = create_model(
            "r3d18", 3, shortcut="A", conv1_t_size=3, conv1_t_stride=2, no_max_pool=True, widen_factor=0.5
        )
    assert a.conv1.kernel_size == (3, 7, 7) and a.conv1.stride == (2, 2, 2) and a.conv1.out_channels == 32
    assert a.maxpool is None
    assert not list(a.layer2[0].downsample.parameters())
    with pytest.raises(ValueError, match="shortcut"):
        create_model("r3d18", 3, shortcut="C")


def test_shortcut_a_pads_zero_channels():
    model = create_model("r3d18", 3, shortcut="A", widen_factor=0.125).eval()
    x = torch.randn(1, 8, 4, 6, 6)
    y = model.layer2[0].downsample(x)
    assert y.shape == (1, 16, 2, 3, 3)
    torch.testing.assert_close(y[:, :8], x[:, :, ::2, ::2, ::2])
    assert (y[:, 8:] == 0).all()


def test_r2plus1d_mid_planes_formula():
    with torch.device("meta"):
        model = create_model("r2plus1d18", 3)
        flow = create_model("r2plus1d18", 3, in_channels=2)
    # stem: 3*64*7*7*7 // (3*7*7 + 7*64) = 110; layer1 block: 64*64*27 // (64*9 + 3*64) = 144
    assert model.conv1_s.out_channels == 110 and model.conv1_t.kernel_size == (7, 1, 1)
    assert model.layer1[0].conv1_s.out_channels == 144
    assert flow.conv1_s.out_channels == 110 and flow.conv1_s.in_channels == 2


@pytest.mark.parametrize("st", [("A", "B", "C"), ("A", "B"), ("A",), ("C",), ("B", "A")])
def test_p3d_structure_cycles(st):
    with torch.device("meta"):
        model = create_model("p3d63", 3, st_struct=st)
    units = [
        blk.plan[1][0].structure for layer in (model.layer1, model.layer2, model.layer3) for blk in layer
    ]
    assert units == [st[i % len(st)] for i in range(13)]
    assert all(blk.conv_normal.kernel_size == (1, 3, 3) for blk in model.layer4)


def test_p3d_rejects_unknown_structure():
    with pytest.raises(ValueError, match="st_struct"):
        create_model("p3d63", 3, st_struct=("A", "D"))


def test_i3d_inflation_pattern_and_clip():
    with torch.device("meta"):
        model = create_model("i3d_r50", 3)
    pattern = [
        [blk.conv1.kernel_size[0] for blk in layer]
        for layer in (model.layer1, model.layer2, model.layer3, model.layer4)
    ]
    assert pattern == [[3, 3, 3], [3, 1, 3, 1], [3, 1, 3, 1, 3, 1], [1, 3, 1]]
    assert model.conv1.kernel_size == (5, 7, 7) and model.conv1.stride == (2, 2, 2)
    small = create_model("i3d_r50", 3, widen_factor=1 / 32).eval()
    with torch.no_grad():
        t = small.layer4(
            small.layer3(
                small.layer2(
                    small.stage_pools[0](
                        small.layer1(
                            small.maxpool(small.relu(small.bn1(small.conv1(torch.randn(1, 3, 32, 32, 32)))))
                        )
                    )
                )
            )
        ).shape[2]
    assert t == 4  # 32 frames -> 16 (conv1) -> 8 (pool1) -> 4 (pool after res2)


def _full_size_entries() -> dict:
    return json.loads(gzip.decompress((GOLDEN / "full_size_keys.json.gz").read_bytes()))


@pytest.mark.parametrize("entry", sorted(_full_size_entries()))
def test_full_size_originals_fit(entry):
    """Key names and shapes of the originals at full size (public checkpoint layout) fit strictly."""
    spec = _full_size_entries()[entry]
    with torch.device("meta"):
        model = create_model(spec["model"], **spec["model_args"])
        state = {k: torch.empty(shape) for k, shape in spec["keys"].items()}
    if spec["source"] == "i3d-caffe2":
        state = {"blobs": {**state, "model_iter": 1, "lr": 0.1, "conv1_w_momentum": state["conv1_w"]}}
    check_fits(model, convert_state_dict(state, spec["source"]))


def _r3d_checkpoint(num_classes: int, in_channels: int = 3) -> tuple[nn.Module, dict]:
    torch.manual_seed(1)
    src = create_model("r3d10", num_classes, in_channels=in_channels, widen_factor=1 / 16)
    sd = {f"module.{k}": v.clone() for k, v in src.state_dict().items()}
    return src, {"epoch": 200, "arch": "resnet-10", "state_dict": sd, "optimizer": {"state": {}}}


def test_load_pretrained_replaces_the_head():
    src, ckpt = _r3d_checkpoint(num_classes=7)
    model = create_model("r3d10", 4, widen_factor=1 / 16)
    with pytest.raises(CheckpointError, match=r"fc\.weight.*\(7, 32\).*\(4, 32\).*n_pretrain_classes"):
        load_pretrained(model, ckpt)
    with pytest.raises(CheckpointError, match="7 classes"):
        load_pretrained(model, ckpt, n_pretrain_classes=9)
    wider = create_model("r3d10", 4, widen_factor=1 / 8)
    with pytest.raises(CheckpointError, match="shape mismatch: conv1.weight"):
        load_pretrained(wider, ckpt, n_pretrain_classes=7)
    assert wider.fc.out_features == 4  # a failed load leaves the model as it was
    load_pretrained(model, ckpt, n_pretrain_classes=7)
    assert model.fc.out_features == 4 and model.model_args["num_classes"] == 4
    torch.testing.assert_close(model.layer4[0].conv2.weight, src.layer4[0].conv2.weight)
    torch.testing.assert_close(model.bn1.running_var, src.bn1.running_var)
    again = load_pretrained(create_model("r3d10", 7, widen_factor=1 / 16), ckpt, new_num_classes=11)
    assert again.fc.out_features == 11


def test_load_pretrained_rgb_to_flow():
    src, ckpt = _r3d_checkpoint(num_classes=7)
    flow = create_model("r3d10", 7, in_channels=2, widen_factor=1 / 16)
    with pytest.raises(CheckpointError, match="input channels"):
        load_pretrained(flow, ckpt, in_channels_from_rgb=False)
    load_pretrained(flow, ckpt)
    mean = src.conv1.weight.mean(dim=1, keepdim=True)
    torch.testing.assert_close(flow.conv1.weight, mean.expand(-1, 2, -1, -1, -1))
    x = torch.randn(1, 2, 4, 16, 16)
    assert flow.eval()(x).shape == (1, 7)


def test_load_pretrained_rgb_to_flow_adapts_both_slowfast_pathways():
    torch.manual_seed(0)
    rgb = create_model("slowfast_r50_8x8", 7, widen_factor=1 / 8, layers=(1, 1, 1, 1))
    flow = create_model("slowfast_r50_8x8", 7, in_channels=2, widen_factor=1 / 8, layers=(1, 1, 1, 1))
    load_pretrained(flow, {"state_dict": rgb.state_dict()})
    for pathway in ("slow", "fast"):
        expected = getattr(rgb, pathway).conv1.weight.mean(dim=1, keepdim=True).expand(-1, 2, -1, -1, -1)
        torch.testing.assert_close(getattr(flow, pathway).conv1.weight, expected)
    assert flow.eval()(torch.randn(1, 2, 8, 32, 32)).shape == (1, 7)


def test_slowfast_takes_a_fast_clip_or_a_pathway_pair():
    torch.manual_seed(0)
    model = create_model("slowfast_r50_4x16", 3, widen_factor=1 / 8, layers=(1, 1, 1, 1)).eval()
    x = torch.randn(2, 3, 16, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model([x[:, :, ::8], x]))
        assert not torch.allclose(model(x), model([x[:, :, 1::8], x]))


def test_x3d_layout_follows_the_paper():
    with torch.device("meta"):
        m = create_model("x3d_m", 400)
        large = create_model("x3d_l", 400)
    assert [len(getattr(m, f"layer{i}")) for i in range(1, 5)] == [3, 5, 11, 7]
    assert [len(getattr(large, f"layer{i}")) for i in range(1, 5)] == [5, 10, 25, 15]
    assert [getattr(m, f"layer{i}")[0].conv3.out_channels for i in range(1, 5)] == [24, 48, 96, 192]
    block = m.layer2[0]
    assert block.conv2.groups == block.conv2.in_channels == 108 and hasattr(block, "se2")
    assert not hasattr(m.layer2[1], "se2") and hasattr(m.layer2[2], "se2")
    assert m.conv5.out_channels == 432 and m.lin5.out_features == 2048
    assert m.conv1_t.groups == 24 and m.conv1_t.kernel_size == (5, 1, 1)
    assert len(m.layer1[0].downsample) == 1  # same width, stride only: a conv without norm


def test_csn_modes():
    with torch.device("meta"):
        ir, ip = create_model("ircsn_152", 400), create_model("ipcsn_152", 400)
    assert ir.layer3[0].conv2.groups == 256 and not hasattr(ir.layer3[0], "conv2_p")
    assert ip.layer3[0].conv2.groups == 256 and ip.layer3[0].conv2_p.kernel_size == (1, 1, 1)
    assert [len(getattr(ir, f"layer{i}")) for i in range(1, 5)] == [3, 8, 36, 3]
    with pytest.raises(ValueError, match="'ir' or 'ip'"):
        from vr.models.csn import csn

        csn(50, "xx", num_classes=3)


def test_load_pretrained_rejects_wrong_family_and_depth():
    _, ckpt = _r3d_checkpoint(num_classes=7)
    with pytest.raises(CheckpointError, match=r"missing: conv1_s\.weight.*unexpected: conv1\.weight"):
        load_pretrained(create_model("r2plus1d10", 7, widen_factor=1 / 16), ckpt)
    with pytest.raises(CheckpointError, match=r"missing: layer1\.1\."):
        load_pretrained(create_model("r3d18", 7, widen_factor=1 / 16), ckpt)
    with pytest.raises(CheckpointError, match=r"shape mismatch: conv1\.weight"):
        load_pretrained(create_model("r3d10", 7, widen_factor=1 / 8), ckpt)


def test_load_pretrained_from_file_is_weights_only(tmp_path):
    src, ckpt = _r3d_checkpoint(num_classes=7)
    path = tmp_path / "r3d10_K.pth"
    torch.save(ckpt, path)
    model = load_pretrained(create_model("r3d10", 7, widen_factor=1 / 16), path, source="kenshohara")
    torch.testing.assert_close(model.fc.weight, src.fc.weight)
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"state_dict": ckpt["state_dict"], "opts": _Opaque()}, unsafe)
    with pytest.raises(CheckpointError, match="weights_only=False"):
        load_pretrained(create_model("r3d10", 7, widen_factor=1 / 16), unsafe)
    load_pretrained(create_model("r3d10", 7, widen_factor=1 / 16), unsafe, weights_only=False)


class _Opaque:
    """An arbitrary pickled object, which the safe loader must refuse."""


class _Exploit:
    def __reduce__(self):
        return (Path("/tmp/vr-should-not-exist").touch, ())


def test_caffe2_pickle_refuses_anything_but_arrays(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"blobs": {"conv1_w": _Exploit()}}, protocol=2))
    with pytest.raises(CheckpointError, match="refusing to unpickle"):
        load_caffe2_pickle(path)
    assert not Path("/tmp/vr-should-not-exist").exists()
    blobs = load_caffe2_pickle(GOLDEN / "i3d_r50_caffe2.pkl")
    assert blobs["model_iter"] == 400000 and "conv1_w" in blobs


def test_convert_rejects_unknown_source():
    with pytest.raises(CheckpointError, match="unknown checkpoint source"):
        convert_state_dict({}, "caffe")


@pytest.mark.parametrize("name", ["x3d_xs", "slowfast_r50_4x16", "slow_r50", "ircsn_50", "ipcsn_50"])
def test_newer_families_start_from_their_originals_initialisation(name):
    """Every residual branch's last batch norm at zero scale (each block starts as its shortcut), the
    classifier small; ``zero_init_residual=False`` keeps the 3D-ResNets initialisation."""
    from vr.models.blocks import ResidualBlock

    narrow = {} if "x3d" in name else {"widen_factor": 0.25}
    model = create_model(name, 6, **narrow)
    blocks = [m for m in model.modules() if isinstance(m, ResidualBlock)]
    assert blocks and all(b.bn3.weight.abs().max() == 0 for b in blocks)
    assert model.fc.weight.std() < 0.02 and model.fc.bias.abs().max() == 0
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        assert model.eval()(x).abs().max() < 1.0  # small first logits
    plain = create_model(name, 6, zero_init_residual=False, **narrow)
    assert all(b.bn3.weight.min() == 1 for b in plain.modules() if isinstance(b, ResidualBlock))


def test_i3d_stem_pool_names_its_choices():
    with pytest.raises(ValueError, match="stem_pool='3x3x3' is not one of 2x3x3, 1x3x3"):
        create_model("i3d_r50", 5, stem_pool="3x3x3")


def test_implied_options_only_those_the_target_model_takes(tmp_path):
    """MMAction2's I3D loaded into PyTorchVideo's 8x8 I3D (no stem_pool option): built as the user chose."""
    from vr.models import convert_weights

    fixture = torch.load(GOLDEN / "mmaction2_i3d_r50.pt", weights_only=True)
    src = tmp_path / "i3d.pth"
    torch.save(fixture["checkpoint"], src)
    args = {k: fixture["model_args"][k] for k in ("widen_factor", "layers")}
    assert convert_weights(src, "i3d_r50", model_args=args).model_args["stem_pool"] == "1x3x3"
    assert "stem_pool" not in convert_weights(src, "i3d_r50_8x8", model_args=args).model_args


def test_a_checkpoint_cannot_ask_for_a_network_its_tensors_do_not_fill(tmp_path):
    """Model arguments read from a file (here a widen factor of 1000: terabytes) are checked against the
    file's tensors on the meta device before anything is allocated."""
    from vr.models import CheckpointError, convert_weights, model_checkpoint, model_from_checkpoint

    ckpt = model_checkpoint(create_model("r3d10", 3, widen_factor=0.125))
    ckpt["model_args"]["widen_factor"] = 1000.0
    path = tmp_path / "hostile.pt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="does not fit"):
        model_from_checkpoint(path)
    with pytest.raises(CheckpointError, match="does not fit"):
        convert_weights(path, "r3d10")
