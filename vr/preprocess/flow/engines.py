"""Pluggable TV-L1 engines: ``engine(prev, next) -> flow`` for batches of grayscale pairs.

An engine takes ``prev`` and ``next`` as ``(N, H, W)`` uint8 arrays and returns the flow from ``prev`` to
``next`` as ``(N, H, W, 2)`` float32 (``[..., 0]`` horizontal, ``[..., 1]`` vertical, in pixels:
``prev[y, x] ~ next[y + fy, x + fx]``). A factory registered under a name builds an engine from
``TVL1Params`` (and, for engines registered with more than fp32, a ``precision`` keyword); engines are
built once per worker thread (OpenCV's solver is not thread-safe).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, astuple, dataclass
from typing import Any

import numpy as np

from vr.runtime import PRECISIONS as RUNTIME_PRECISIONS

Engine = Callable[[np.ndarray, np.ndarray], np.ndarray]
EngineFactory = Callable[["TVL1Params"], Engine]


@dataclass(frozen=True)
class TVL1Params:
    """OpenCV contrib ``DualTVL1OpticalFlow`` parameters, with its defaults."""

    tau: float = 0.25
    lambda_: float = 0.15
    theta: float = 0.3
    nscales: int = 5
    warps: int = 5
    epsilon: float = 0.01
    inner_iterations: int = 30
    outer_iterations: int = 10
    scale_step: float = 0.8
    gamma: float = 0.0
    median_filtering: int = 5

    def __post_init__(self) -> None:
        positive = {"tau": self.tau, "lambda": self.lambda_, "theta": self.theta, "epsilon": self.epsilon}
        problems = [
            f"{k} must be a positive number, got {v}" for k, v in positive.items() if not 0 < v < math.inf
        ]
        if not 0 < self.tau <= 1:
            problems.append(f"tau is a time step in (0, 1] (0.25 is stable), got {self.tau}")
        if not 0 <= self.gamma < math.inf:
            problems.append(f"gamma must be >= 0, got {self.gamma}")
        if not 0 < self.scale_step < 1:
            problems.append(f"scale_step must be in (0, 1), got {self.scale_step}")
        counts = {
            "nscales": self.nscales,
            "warps": self.warps,
            "inner_iterations": self.inner_iterations,
            "outer_iterations": self.outer_iterations,
        }
        problems += [
            f"{k} must be an integer >= 1, got {v}"
            for k, v in counts.items()
            if not (isinstance(v, int) and v >= 1)
        ]
        if not (
            isinstance(self.median_filtering, int)
            and self.median_filtering >= 1
            and self.median_filtering % 2
        ):
            problems.append(
                f"median_filtering is a median filter size: odd and >= 1, got {self.median_filtering}"
            )
        if problems:
            raise ValueError("; ".join(problems))


PRECISIONS = RUNTIME_PRECISIONS  # compute precisions an engine may offer; fp32 is every engine's
ENGINES: dict[str, EngineFactory] = {}
ENGINE_PRECISIONS: dict[str, tuple[str, ...]] = {}
_local = threading.local()


def register_engine(
    name: str, precisions: tuple[str, ...] = ("fp32",)
) -> Callable[[EngineFactory], EngineFactory]:
    """Decorator registering an engine factory under ``name`` (e.g. ``--engine torch``). A factory offering
    more ``precisions`` than fp32 is called with ``precision=`` one of them whenever it is not fp32."""
    unknown = set(precisions) - set(PRECISIONS)
    if "fp32" not in precisions or unknown:
        raise ValueError(f"precisions must include fp32 and come from {PRECISIONS}, got {precisions}")

    def add(factory: EngineFactory) -> EngineFactory:
        ENGINES[name] = factory
        ENGINE_PRECISIONS[name] = tuple(precisions)
        return factory

    return add


def resolve_engine(name: str) -> str:
    """``auto`` is the torch engine on a CUDA GPU and OpenCV on the CPU (where OpenCV is faster)."""
    if name != "auto":
        return name
    import torch

    return "torch" if torch.cuda.is_available() else "opencv"


def check_precision(name: str, precision: str) -> None:
    """Raise ValueError unless engine ``name`` (or ``auto``, as resolved here) computes in ``precision``."""
    resolved = resolve_engine(name)
    if resolved not in ENGINES:
        raise ValueError(f"unknown flow engine {resolved!r}; choose from {', '.join(sorted(ENGINES))}")
    offered = ENGINE_PRECISIONS[resolved]
    if precision not in offered:
        others = sorted(n for n, p in ENGINE_PRECISIONS.items() if precision in p)
        engine = f"auto ({resolved} on this machine)" if name == "auto" else resolved
        raise ValueError(
            f"flow engine {engine} computes in {'/'.join(offered)} only; "
            f"precision {precision} needs engine {' or '.join(others) or '(none)'}"
        )


def get_engine(name: str, params: TVL1Params, precision: str = "fp32") -> Engine:
    """The engine ``name`` (or ``auto``) with ``params`` in ``precision``, built once per thread, reused."""
    check_precision(name, precision)
    name = resolve_engine(name)
    cache = _local.__dict__.setdefault("engines", {})
    key = (name, astuple(params), precision)
    if key not in cache:
        extra = {} if precision == "fp32" else {"precision": precision}
        cache[key] = ENGINES[name](params, **extra)
    return cache[key]


@register_engine("opencv")
def opencv_engine(params: TVL1Params) -> Engine:
    """OpenCV contrib's CPU DualTVL1, one pair at a time, single-threaded (parallelism is per video)."""
    import cv2

    cv2.setNumThreads(1)
    # One solver per frame size: a DualTVL1 object that has run on frames of another size keeps buffers
    # from them and gives different flow (0.35 px on 48x48 frames after 32x32 ones), so a worker's results
    # would depend on which videos it ran before.
    solvers: dict[tuple[int, ...], Any] = {}

    def solver_for(shape: tuple[int, ...]):
        if shape not in solvers:
            if len(solvers) >= 8:  # a few sizes at a time (videos of many aspect ratios): drop the oldest
                solvers.pop(next(iter(solvers)))
            solvers[shape] = cv2.optflow.DualTVL1OpticalFlow_create(
                tau=params.tau,
                lambda_=params.lambda_,
                theta=params.theta,
                nscales=params.nscales,
                warps=params.warps,
                epsilon=params.epsilon,
                innnerIterations=params.inner_iterations,  # sic: OpenCV's keyword has three n's
                outerIterations=params.outer_iterations,
                scaleStep=params.scale_step,
                gamma=params.gamma,
                medianFiltering=params.median_filtering,
                useInitialFlow=False,
            )
        return solvers[shape]

    def engine(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        out = np.empty((*prev.shape, 2), np.float32)
        solver = solver_for(prev.shape[1:])
        for i in range(prev.shape[0]):
            out[i] = solver.calc(prev[i], nxt[i], None)
        return out

    return engine


@register_engine("torch", precisions=PRECISIONS)
def torch_engine(params: TVL1Params, precision: str = "fp32") -> Engine:
    """The batched PyTorch TV-L1 of :mod:`vr.preprocess.flow.tvl1_torch`: the same algorithm and parameters as
    OpenCV's, many pairs at once, on CUDA when present (one thread per worker on the CPU). ``precision``
    is the compute dtype: fp32 (OpenCV's), fp16 (within 0.1 px of it) or bf16 (coarser, see the tests)."""
    import torch

    from vr.preprocess.flow.tvl1_torch import DTYPES, TorchTVL1
    from vr.runtime import worker_device

    # worker processes spread over the GPUs by their slot on the machine (each holds one CUDA context)
    device = worker_device()
    if device.type == "cpu":
        torch.set_num_threads(1)
    return TorchTVL1(**asdict(params), device=str(device), dtype=DTYPES[precision])


GPU_BATCH = 32  # pairs a torch-engine call solves on a GPU: the batch the 300 pairs/s goal is measured at
CPU_BATCH = 8


def default_batch(engine: str) -> int:
    """Pairs handed to ``engine`` at once when ``--batch`` is not given: :data:`GPU_BATCH` for the torch
    engine on a GPU (about 15 MB of GPU memory a 340x256 pair, 4 workers a GPU), :data:`CPU_BATCH`
    otherwise (the CPU solves pairs one by one anyway)."""
    if resolve_engine(engine) != "torch":
        return CPU_BATCH
    import torch

    return GPU_BATCH if torch.cuda.is_available() else CPU_BATCH


PROCESSES_PER_GPU = 4


def gpu_jobs(engine: str, jobs: int) -> int:
    """``jobs`` for a flow run: with the torch engine on GPUs, ``-1`` (all cores) means 4 processes per
    GPU (each holds a CUDA context of several hundred MB; more only queue on the same GPU)."""
    if jobs >= 0 or resolve_engine(engine) != "torch":
        return jobs
    import torch

    if not torch.cuda.is_available():
        return jobs
    return min(max(1, (os.cpu_count() or 1) + 1 + jobs), PROCESSES_PER_GPU * torch.cuda.device_count())
