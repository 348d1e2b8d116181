"""Converted public checkpoints reproduce the ORIGINAL implementations' outputs (golden fixtures).

The 3D-ResNets (kenshohara_*), P3D (p3d*), PyTorchVideo, torchvision and MMAction2 fixtures are made
by ``tests/golden/generate.py`` (it imports the originals from a clone or a throwaway environment; its
docstring says how, and what a fixture holds). The Caffe2 I3D fixture (i3d_r50_caffe2) came from an
earlier generator that was kept outside the repo; it ran Tushar-N/pytorch-resnet3d (models/resnet.py)
fetched from GitHub, its widths 64..512 replaced by a width list in a scratch copy to keep the file
small, and wrote a Caffe2 ``.pkl`` beside its fixture (blob names of video-nonlocal-net, checked against
Tushar-N's ``utils/convert_weights.py`` regexes). Every fixture: seeded reduced-size model, randomised
batch norms, floats rounded to float16, eval-mode output of ``frames / 127.5 - 1`` (nearest-upsampled
``upsample`` times in H and W) computed in float32.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vr.models import convert_state_dict, create_model, detect_source, load_caffe2_pickle

pytestmark = pytest.mark.usefixtures("one_thread")

GOLDEN = Path(__file__).parent / "data" / "golden"
FIXTURES = sorted(p.stem for p in GOLDEN.glob("*.pt"))


def _fixture(name: str) -> dict:
    fixture = torch.load(GOLDEN / f"{name}.pt", weights_only=True)
    if isinstance(fixture["checkpoint"], str):
        fixture["checkpoint"] = load_caffe2_pickle(GOLDEN / fixture["checkpoint"])
    return fixture


def _clip(fixture: dict) -> torch.Tensor:
    x = fixture["frames"].float() / 127.5 - 1.0
    f = fixture["upsample"]
    return x.repeat_interleave(f, -1).repeat_interleave(f, -2)


def test_fixtures_present():
    assert len(FIXTURES) >= 26
    sources = {_fixture(name)["source"] for name in FIXTURES}
    assert {"kenshohara", "p3d", "i3d-caffe2", "pytorchvideo", "torchvision", "mmaction2"} <= sources
    assert sum(p.stat().st_size for p in GOLDEN.iterdir()) < 8 * 2**20


@pytest.mark.parametrize("name", FIXTURES)
def test_converted_checkpoint_matches_original(name):
    torch.manual_seed(0)
    fixture = _fixture(name)
    state = convert_state_dict(fixture["checkpoint"], fixture["source"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    model = create_model(fixture["model"], **fixture["model_args"]).eval()
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        out = model(_clip(fixture))
    expected = fixture["expected"]
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", FIXTURES)
def test_auto_detects_source(name):
    fixture = _fixture(name)
    assert detect_source(fixture["checkpoint"]) == fixture["source"]
    auto = convert_state_dict(fixture["checkpoint"], "auto")
    assert auto.keys() == convert_state_dict(fixture["checkpoint"], fixture["source"]).keys()
