"""Converted public checkpoints reproduce the ORIGINAL implementations' outputs (golden fixtures).

Every fixture is made by ``tests/golden/generate.py`` from the ORIGINAL implementation (a clone of the
3D-ResNets, P3D or Tushar-N's I3D repository, or a throwaway install of PyTorchVideo, torchvision or
MMAction2; its docstring says how, and what a fixture holds): a seeded reduced-size model, randomised
batch norms, floats rounded to float16, and its eval-mode output of ``frames / 127.5 - 1``
(nearest-upsampled ``upsample`` times in H and W) computed in float32. The I3D checkpoint is a Caffe2
``.pkl`` beside its fixture, in video-nonlocal-net's blob names.
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
