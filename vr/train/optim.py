"""Optimizers, parameter groups for fine-tuning, and learning-rate schedules."""

from __future__ import annotations

import math

import torch
from torch import nn

from vr.train.config import TrainConfig


def _stage_names(model: nn.Module) -> list[str]:
    """Top-level child names in forward order (conv1, bn1, layer1, ..., fc)."""
    return [name for name, _ in model.named_children()]


def param_groups(model: nn.Module, config: TrainConfig) -> list[dict]:
    """Parameter groups: frozen stages before ``ft_begin_module``; with ``layer_lr_decay``, each stage
    before the last gets the next stage's learning rate times the decay (P3D's fine-tuning policy)."""
    stages = _stage_names(model)
    first = 0
    if config.ft_begin_module:
        if config.ft_begin_module not in stages:
            raise ValueError(
                f"--ft-begin-module {config.ft_begin_module!r} is not a top-level module; choose from "
                f"{', '.join(stages)}"
            )
        first = stages.index(config.ft_begin_module)
    groups = []
    trainable = [s for s in stages[first:] if any(True for _ in getattr(model, s).parameters())]
    for i, stage in enumerate(stages):
        params = list(getattr(model, stage).parameters())
        if not params:
            continue
        if i < first:
            for p in params:
                p.requires_grad_(False)
            continue
        scale = 1.0
        if config.layer_lr_decay is not None:
            scale = config.layer_lr_decay ** (len(trainable) - 1 - trainable.index(stage))
        groups.append({"params": params, "lr": config.lr * scale, "name": stage, "lr_scale": scale})
    return groups


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum, dampening, nesterov), Adam or AdamW over :func:`param_groups`."""
    groups = param_groups(model, config)
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            groups,
            lr=config.lr,
            momentum=config.momentum,
            dampening=0.0 if config.nesterov else config.dampening,
            nesterov=config.nesterov,
            weight_decay=config.weight_decay,
        )
    cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return cls(groups, lr=config.lr, weight_decay=config.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    """Epoch-level schedule: multistep (milestones, gamma), plateau (on val loss), cosine with warmup."""
    if config.schedule == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, config.milestones, config.gamma)
    if config.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, "min", factor=config.gamma, patience=config.plateau_patience
        )
    if config.schedule == "cosine":
        warmup, total = config.warmup_epochs, config.epochs

        def factor(epoch: int) -> float:
            if epoch < warmup:
                return (epoch + 1) / (warmup + 1)
            progress = (epoch - warmup) / max(1, total - warmup)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the last (head) group, the one the seed logs."""
    return float(optimizer.param_groups[-1]["lr"])
