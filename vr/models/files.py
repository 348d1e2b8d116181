"""Checkpoint files, in one place: reading them (``torch.save`` files, with ``weights_only=True`` unless the
caller trusts the file; the Caffe2 blob pickles of the non-local baseline, through an unpickler that admits
numpy arrays only) and writing them (atomically). Every way a file can be wrong (missing, empty, truncated,
text, an unsafe pickle) is one :class:`CheckpointError` naming it."""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vr.errors import VrError
from vr.redact import redact
from vr.writing import atomic_write


class CheckpointError(VrError, ValueError):
    """A checkpoint that cannot be read, converted or does not fit the model."""


class _Caffe2Unpickler(pickle.Unpickler):
    """Unpickles only dicts, lists, numbers, strings and numpy arrays/scalars/dtypes."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "OrderedDict"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to unpickle {module}.{name} (only numpy arrays are allowed)"
            )
        if module.startswith("numpy.core."):
            module = "numpy._core." + module[len("numpy.core.") :]
        return super().find_class(module, name)


def load_caffe2_pickle(path: str | Path) -> dict[str, np.ndarray]:
    """Read a Caffe2 weights pickle (``{'blobs': {name: ndarray}}``, Python 2 era, latin-1 strings).

    It unpickles nothing but builtin containers/numbers/strings and numpy ``ndarray``/``dtype``/scalars:
    any other global in the stream raises :class:`CheckpointError` before it is imported.
    """
    try:
        with open(path, "rb") as f:
            data = _Caffe2Unpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a Caffe2 blob pickle ({exc})") from exc
    if isinstance(data, Mapping) and "blobs" in data:
        data = data["blobs"]
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{path}: expected a dict of blobs, got {type(data).__name__}")
    return dict(data)


def load_checkpoint(path: str | os.PathLike, weights_only: bool = True) -> Any:
    """Load a checkpoint file: ``.pkl`` as a Caffe2 blob pickle, anything else with ``torch.load``
    (``weights_only``: refuse every object but tensors and plain containers; keep it for files you did
    not make). Raises :class:`CheckpointError` naming the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if path.suffix == ".pkl":
        return load_caffe2_pickle(path)
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file, not a checkpoint")
    if not zipfile.is_zipfile(path) and not _legacy_torch_file(path):
        raise CheckpointError(f"{path}: not a checkpoint (neither a torch.save file nor a Caffe2 .pkl)")
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused by the safe loader ({_first_line(exc)}); load it with weights_only=False "
            "(--trusted, --unsafe-pickle) only if you trust where it came from"
        ) from None
    except Exception as exc:  # truncated zips, damaged records, anything torch.load trips over
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({type(exc).__name__}: {_first_line(exc)})"
        ) from None


def _legacy_torch_file(path: Path) -> bool:
    """A pre-1.6 ``torch.save`` file (a pickle stream starting with its protocol marker)."""
    with open(path, "rb") as f:
        return f.read(1) == b"\x80"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# the parts of a checkpoint that hold tensors and numbers only; every other part (config, data_info,
# labels, ...) is redacted before it is written
_STATE_PARTS = frozenset({"state_dict", "optimizer", "scheduler", "scaler", "rng_state"})


def save_checkpoint(path: str | os.PathLike, content: Mapping[str, Any]) -> None:
    """Write ``content`` to ``path`` atomically (a crash or a full disk never leaves half a checkpoint
    under the final name), every part but the tensors' passed through :func:`vr.redact.redact`."""
    clean = {k: v if k in _STATE_PARTS else redact(v) for k, v in content.items()}
    atomic_write(path, lambda f: torch.save(clean, f))
