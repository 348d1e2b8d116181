"""``vr`` model checkpoints (arch, model_args, state_dict, labels) and public-weight conversion."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vr.modality import MODALITIES, from_channels
from vr.models.convert import (
    classifier,
    convert_state_dict,
    detect_source,
    first_conv,
    fitted_state,
    load_pretrained,
)
from vr.models.files import CheckpointError, load_checkpoint
from vr.models.importers import implied_model_args
from vr.models.registry import create_model, model_info


def model_checkpoint(model: nn.Module, labels: Sequence[str] | None = None) -> dict[str, Any]:
    """The ``vr`` checkpoint dict of a model made by :func:`vr.models.create_model`.

    ``modality`` (``rgb``/``flow``, from the input channels) is included for ``vr eval``/``vr infer``.
    """
    if not hasattr(model, "arch") or not hasattr(model, "model_args"):
        raise CheckpointError("model was not made by vr.models.create_model (no arch/model_args)")
    in_channels = model.model_args.get("in_channels", 3)
    try:
        name = str(from_channels(in_channels))
    except ValueError:
        name = f"{in_channels}ch"
    return {
        "arch": model.arch,
        "model_args": dict(model.model_args),
        "state_dict": model.state_dict(),
        "labels": list(labels) if labels is not None else None,
        "modality": name,
    }


def load_model(
    checkpoint: str | os.PathLike | Mapping[str, Any], *, trusted: bool = False
) -> tuple[nn.Module, dict]:
    """The one way a ``vr`` checkpoint (a path or its dict) becomes a network: every command that
    turns a file into a model (eval, infer, export, and what builds on them) goes through here.

    The file is read with ``weights_only`` unless ``trusted``; its ``arch``, ``model_args``, labels
    and modality are checked against each other; the network is built on the meta device and checked
    against the file's tensors (:func:`build_fitting`) before it is allocated, so a file cannot ask for
    more memory than its weights hold; the weights load strictly. Returns ``(model in eval mode,
    checkpoint dict)``; a file without labels (``vr convert-weights`` of public weights) gets class
    indices as labels and ``unnamed_labels``. Raises :class:`CheckpointError` naming the file.
    """
    where = os.fspath(checkpoint) if isinstance(checkpoint, (str, os.PathLike)) else "checkpoint"
    ckpt = (
        load_checkpoint(checkpoint, not trusted) if isinstance(checkpoint, (str, os.PathLike)) else checkpoint
    )
    if not isinstance(ckpt, Mapping) or not {"arch", "state_dict"} <= set(ckpt):
        have = sorted(map(str, ckpt)) if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise CheckpointError(
            f"{where}: not a vr checkpoint (needs arch, model_args, state_dict; has {have})"
        )
    ckpt = dict(ckpt)
    args = ckpt.get("model_args") or {}
    if not isinstance(args, Mapping) or not all(isinstance(k, str) for k in args):
        raise CheckpointError(f"{where}: model_args is not a mapping of argument names")
    args = dict(args)
    labels = ckpt.get("labels")
    if labels is None:
        n = args.get("num_classes")
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 1_000_000:
            raise CheckpointError(f"{where}: has neither labels nor a number of classes")
        ckpt.update(labels=[str(i) for i in range(n)], unnamed_labels=True)
    elif not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise CheckpointError(f"{where}: labels must be a non-empty list of names")
    name = ckpt.get("modality")
    if name is None:
        try:
            name = str(from_channels(args.get("in_channels", 3)))
        except ValueError as e:
            raise CheckpointError(f"{where}: {e}") from None
    if name not in MODALITIES:
        raise CheckpointError(f"{where}: unknown modality {name!r} ({' or '.join(MODALITIES)})")
    ckpt["modality"] = name
    channels = MODALITIES[name].channels
    args = {"num_classes": len(ckpt["labels"]), "in_channels": channels, **args}
    if args["in_channels"] != channels:
        raise CheckpointError(
            f"{where}: a {name} checkpoint needs {channels} input channels, "
            f"its model has {args['in_channels']}"
        )
    if args["num_classes"] != len(ckpt["labels"]):
        raise CheckpointError(f"{where}: {args['num_classes']} outputs but {len(ckpt['labels'])} labels")
    state = convert_state_dict(ckpt, "vr")
    try:
        model = build_fitting(ckpt["arch"], state, in_channels_from_rgb=False, **args)
        model = load_pretrained(model, state, source="vr", in_channels_from_rgb=False)
    except CheckpointError as e:
        raise CheckpointError(f"{where}: {e}" if where not in str(e) else str(e)) from None
    except (ValueError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"{where}: cannot rebuild {ckpt['arch']!r}: {str(e).splitlines()[0]}") from None
    return model.eval(), ckpt


def model_from_checkpoint(checkpoint: str | Path | Mapping[str, Any], weights_only: bool = True) -> nn.Module:
    """The network of a ``vr`` checkpoint (path or dict), weights loaded strictly (:func:`load_model`)."""
    return load_model(checkpoint, trusted=not weights_only)[0]


def build_fitting(
    name: str,
    state: Mapping[str, torch.Tensor],
    *,
    n_pretrain_classes: int | None = None,
    in_channels_from_rgb: bool = True,
    **model_args: Any,
) -> nn.Module:
    """``create_model(name, **model_args)`` once the same model on the meta device has been found to fit
    ``state`` (as :func:`load_pretrained` will load it): model arguments read from a file (a ``vr``
    checkpoint's, those a public network implies) never allocate a network its tensors do not fill."""
    with torch.device("meta"):
        probe = create_model(name, **model_args)
    fitted_state(probe, state, n_pretrain_classes, in_channels_from_rgb)
    return create_model(name, **model_args)


def read_pretrained(
    src: str | Path, model_name: str, source: str = "auto", *, weights_only: bool = True
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """A public or ``vr`` checkpoint converted to ``vr`` key names, and the options of ``model_name``
    its network needs: those a public network implies (e.g. MMAction2's CSN batch-norm epsilon, its I3D
    stem pool) or a ``vr`` checkpoint's saved ``model_args`` (its width, depth, options)."""
    raw = load_checkpoint(src, weights_only)
    source = detect_source(raw) if source == "auto" else source
    state = convert_state_dict(raw, source)
    accepted = model_info(model_name).args
    saved = raw.get("model_args") if source == "vr" and isinstance(raw, Mapping) else None
    if isinstance(saved, Mapping):
        return state, {k: v for k, v in saved.items() if k in accepted}
    return state, implied_model_args(state, source, accepted)


def convert_weights(
    src: str | Path,
    model_name: str,
    source: str = "auto",
    *,
    num_classes: int | None = None,
    in_channels: int | None = None,
    model_args: Mapping[str, Any] | None = None,
    weights_only: bool = True,
) -> nn.Module:
    """Build ``model_name`` and load a public checkpoint into it.

    The number of classes and input channels default to the checkpoint's; a different ``num_classes``
    gets a new head, a different ``in_channels`` an averaged first conv (see :func:`load_pretrained`).
    Options the source's network needs (e.g. MMAction2's CSN batch-norm epsilon) are added unless
    ``model_args`` sets them.
    """
    state, implied = read_pretrained(src, model_name, source, weights_only=weights_only)
    kwargs = {**implied, **(model_args or {})}
    with torch.device("meta"):
        probe = create_model(model_name, num_classes=1, **kwargs)
    head_name, _ = classifier(probe)
    conv_name, _ = first_conv(probe)
    head, conv = state.get(f"{head_name}.weight"), state.get(f"{conv_name}.weight")
    if head is None or conv is None:
        raise CheckpointError(
            f"{src}: no {head_name}.weight / {conv_name}.weight after conversion; "
            f"is it a {model_name} checkpoint?"
        )
    n_ckpt = int(head.shape[0])
    n_pretrain = n_ckpt if num_classes else None
    model = build_fitting(
        model_name,
        state,
        n_pretrain_classes=n_pretrain,
        num_classes=num_classes or n_ckpt,
        in_channels=in_channels or int(conv.shape[1]),
        **kwargs,
    )
    return load_pretrained(model, state, "vr", n_pretrain_classes=n_pretrain)
