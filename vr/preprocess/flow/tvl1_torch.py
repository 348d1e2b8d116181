"""Batched TV-L1 optical flow in torch that follows OpenCV contrib's DualTVL1 step by step.

The Zach-Pock-Bischof duality scheme as ``cv::optflow::DualTVL1OpticalFlow`` runs it: a pyramid built by
``INTER_LINEAR`` resizes with ``scale_step``, ``warps`` bicubic warps per scale, an outer loop that median
filters the flow, an inner loop of thresholding / primal / dual steps, and the stopping rule
``sum |u_k - u_{k-1}|^2 <= epsilon^2 * H * W``. Every pair of a batch keeps its own stopping state, so a
pair gives the same flow alone and inside any batch.
"""

from __future__ import annotations

import numpy as np
import torch

from vr.preprocess.flow.tvl1_ops import (
    centered_gradient,
    divergence,
    forward_gradient,
    median_blur,
    remap_cubic,
    resize_linear,
)

_FLOAT_EPS = float(np.finfo(np.float32).eps)
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}  # precision names
_MIN_SCALE_SIDE = 16  # OpenCV drops pyramid levels narrower or shorter than this


def pyramid_sizes(height: int, width: int, nscales: int, scale_step: float) -> list[tuple[int, int]]:
    """Image sizes of OpenCV's pyramid, finest first (``round(side * scale_step)``, stop below 16 px)."""
    sizes = [(height, width)]
    for _ in range(1, nscales):
        h, w = sizes[-1]
        h, w = round(h * scale_step), round(w * scale_step)
        if h < _MIN_SCALE_SIDE or w < _MIN_SCALE_SIDE:
            break
        sizes.append((h, w))
    return sizes


class TorchTVL1:
    """TV-L1 flow for batches of grayscale pairs, with OpenCV DualTVL1's parameters and defaults.

    Call with ``prev`` and ``next`` shaped (N, H, W) or (H, W): numpy arrays or torch tensors, uint8
    (0..255) or floating point (0..1, scaled by 255 as OpenCV does). Returns the flow (N, H, W, 2) float32
    (or (H, W, 2) for 2-D input), ``[..., 0]`` horizontal; numpy for numpy input, else a tensor on ``device``.
    ``dtype`` is the compute precision (float32 mirrors OpenCV; float64, float16 and bfloat16
    are options: see ``DTYPES``);
    ``compile=True`` runs the iterations through ``torch.compile`` (the first call compiles, slowly).
    ``max_batch`` caps the pairs solved together (default: all on a GPU, 1 on the CPU, where batching
    only costs cache misses); ``check_every`` is how often, in inner iterations, the host asks whether
    any pair still runs (default 1 on the CPU, 8 on a GPU). Neither changes the result.
    """

    def __init__(
        self,
        tau: float = 0.25,
        lambda_: float = 0.15,
        theta: float = 0.3,
        nscales: int = 5,
        warps: int = 5,
        epsilon: float = 0.01,
        inner_iterations: int = 30,
        outer_iterations: int = 10,
        scale_step: float = 0.8,
        gamma: float = 0.0,
        median_filtering: int = 5,
        device: str | torch.device | None = None,
        dtype: torch.dtype = torch.float32,
        check_every: int | None = None,
        max_batch: int | None = None,
        compile: bool = False,
    ) -> None:
        if nscales < 1 or warps < 1 or inner_iterations < 1 or outer_iterations < 1:
            raise ValueError("nscales, warps, inner_iterations and outer_iterations must be >= 1")
        if not 0 < scale_step < 1:
            raise ValueError(f"scale_step must be in (0, 1), got {scale_step}")
        if median_filtering > 1 and median_filtering % 2 == 0:
            raise ValueError(f"median_filtering must be odd, got {median_filtering}")
        self.tau, self.lambda_, self.theta, self.gamma = tau, lambda_, theta, gamma
        self.nscales, self.warps, self.epsilon = nscales, warps, epsilon
        self.inner_iterations, self.outer_iterations = inner_iterations, outer_iterations
        self.scale_step, self.median_filtering = scale_step, median_filtering
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.dtype = dtype
        on_cpu = self.device.type == "cpu"
        self.check_every = check_every or (1 if on_cpu else 8)
        self.max_batch = max_batch or (1 if on_cpu else None)
        # torch.compile fuses each step into a few kernels. Symbolic shapes: one compile serves every
        # pyramid level and batch size (static shapes would hit dynamo's recompile limit).
        self._step = torch.compile(tvl1_step, dynamic=True) if compile else tvl1_step

    def __call__(
        self, prev: np.ndarray | torch.Tensor, next: np.ndarray | torch.Tensor
    ) -> np.ndarray | torch.Tensor:
        as_numpy = isinstance(prev, np.ndarray)
        i0, i1 = self._to_tensor(prev), self._to_tensor(next)
        if i0.shape != i1.shape:
            raise ValueError(f"prev and next differ in shape: {tuple(i0.shape)} vs {tuple(i1.shape)}")
        single = i0.dim() == 2
        if single:
            i0, i1 = i0[None], i1[None]
        if i0.dim() != 3 or min(i0.shape[1:]) < 3:
            raise ValueError(f"expected (N, H, W) or (H, W) images of at least 3x3, got {tuple(i0.shape)}")
        with torch.no_grad():
            chunk = self.max_batch or len(i0)
            flow = torch.cat(
                [self.solve(i0[k : k + chunk], i1[k : k + chunk]) for k in range(0, len(i0), chunk)]
            )
            flow = flow.permute(0, 2, 3, 1).float()
        if single:
            flow = flow[0]
        return flow.cpu().numpy() if as_numpy else flow

    def _to_tensor(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x
        if t.dtype == torch.uint8:
            return t.to(self.device, self.dtype)
        if t.is_floating_point():  # OpenCV's convention for float images: 0..1, scaled by 255
            return (t.to(self.device, torch.promote_types(self.dtype, torch.float32)) * 255).to(self.dtype)
        raise TypeError(f"images must be uint8 or floating point, got {t.dtype}")

    def solve(self, i0: torch.Tensor, i1: torch.Tensor) -> torch.Tensor:
        """Flow (N, 2, H, W) between grey images (N, H, W) on the 0..255 scale, in ``self.dtype``."""
        sizes = pyramid_sizes(i0.shape[1], i0.shape[2], self.nscales, self.scale_step)
        step = (1 / self.scale_step, 1 / self.scale_step)
        pyr0, pyr1 = [i0], [i1]
        for size in sizes[1:]:
            pyr0.append(resize_linear(pyr0[-1], size, step))
            pyr1.append(resize_linear(pyr1[-1], size, step))
        channels = 3 if self.gamma != 0 else 2
        u = i0.new_zeros((i0.shape[0], channels, *sizes[-1]))
        for s in range(len(sizes) - 1, -1, -1):
            u = self._one_scale(pyr0[s], pyr1[s], u)
            if s == 0:
                break
            (h, w), (hs, ws) = sizes[s - 1], sizes[s]
            u = resize_linear(u, (h, w), (hs / h, ws / w))
            u[:, :2] = u[:, :2] * (1 / self.scale_step)  # u3 (gamma) is not a displacement
        return u[:, :2]

    def _one_scale(self, i0: torch.Tensor, i1: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        n, channels, h, w = u.shape
        consts = (self.lambda_ * self.theta, self.tau / self.theta, self.theta, self.gamma)
        # OpenCV compares a float32 sum with a float32 threshold
        scaled_eps = float(np.float32(self.epsilon * self.epsilon * h * w))
        i1x, i1y = centered_gradient(i1)
        images = torch.stack([i1, i1x, i1y], dim=1)
        p = u.new_zeros((n, channels, 2, h, w))  # dual variables, reset per scale (not per warp)
        for _ in range(self.warps):
            warped = remap_cubic(images, u[:, :2])
            i1w, i1wx, i1wy = warped.unbind(1)
            grad = i1wx * i1wx + i1wy * i1wy
            rho_c = i1w - i1wx * u[:, 0] - i1wy * u[:, 1] - i0
            gx = torch.stack([i1wx, i1wy] + ([torch.full_like(i1wx, self.gamma)] if channels == 3 else []), 1)
            fields = (gx, grad, consts[0] * grad, grad > _FLOAT_EPS, rho_c)
            error = torch.full((n,), float("inf"), device=u.device, dtype=torch.float64)
            for _ in range(self.outer_iterations):
                if not bool((error > scaled_eps).any()):
                    break
                if self.median_filtering > 1:
                    u = median_step(u, error, scaled_eps, self.median_filtering)
                u, p, error = self._inner_loop(u, p, error, scaled_eps, fields, consts)
        return u

    def _inner_loop(self, u, p, error, scaled_eps, fields, consts):
        """Up to ``inner_iterations`` steps. When a pair stops, the pairs still running are gathered into a
        sub-batch, so finished pairs cost nothing; results are the same as with the whole batch."""
        idx = None  # rows of the working sub-batch in the full batch; None: the whole batch
        su, sp, se, sf = u, p, error, fields
        for k in range(self.inner_iterations):
            if k % self.check_every == 0 and not bool((se > scaled_eps).all()):
                if idx is not None:
                    u[idx], p[idx], error[idx] = su, sp, se
                running = error > scaled_eps
                if not bool(running.any()):
                    return u, p, error
                idx = running.nonzero()[:, 0]
                su, sp, se, sf = u[idx], p[idx], error[idx], tuple(f[idx] for f in fields)
            # at a check every pair of the working set runs; between checks some may stop and are masked
            su, sp, se = self._step(su, sp, se, scaled_eps, *sf, *consts, self.check_every > 1)
            if idx is None:
                u, p, error = su, sp, se
        if idx is not None:
            u[idx], p[idx], error[idx] = su, sp, se
        return u, p, error


def median_step(u: torch.Tensor, error: torch.Tensor, scaled_eps: float, ksize: int) -> torch.Tensor:
    """Median filter the displacement channels of the pairs that still run (error above ``scaled_eps``)."""
    active = (error > scaled_eps)[:, None, None, None]
    filtered = torch.where(active, median_blur(u[:, :2], ksize), u[:, :2])
    return torch.cat([filtered, u[:, 2:]], dim=1)


def tvl1_step(
    u: torch.Tensor,
    p: torch.Tensor,
    error: torch.Tensor,
    scaled_eps: float,
    gx: torch.Tensor,
    grad: torch.Tensor,
    lt_grad: torch.Tensor,
    grad_ok: torch.Tensor,
    rho_c: torch.Tensor,
    lt: float,
    taut: float,
    theta: float,
    gamma: float,
    masked: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One thresholding / primal / dual step, applied to the pairs whose error is still above ``scaled_eps``.

    ``u`` (N, C, H, W) is the flow (C=3 with the gamma channel), ``p`` (N, C, 2, H, W) its dual variable,
    ``gx`` (N, C, H, W) the warped gradient (and gamma), ``grad`` its squared norm, ``lt_grad`` = lt*grad,
    ``grad_ok`` = grad > FLT_EPSILON, ``rho_c`` the constant part of the linearised residual,
    ``lt`` = lambda*theta, ``taut`` = tau/theta. Returns the new
    ``u``, ``p`` and per-pair error (sum of squared flow change, float64). ``masked=False`` skips the
    per-pair masking when the caller knows that every pair still runs.
    """
    rho = rho_c + (gx[:, 0] * u[:, 0] + gx[:, 1] * u[:, 1])
    if u.shape[1] == 3:
        rho = rho + gamma * u[:, 2]
    neg_rho = -rho
    coef = torch.where(
        neg_rho > lt_grad,  # rho < -lt*grad
        lt,
        torch.where(rho > lt_grad, -lt, torch.where(grad_ok, neg_rho / grad, 0.0)),
    )
    v = u + coef[:, None] * gx
    u_new = v + theta * divergence(p)
    diff = u_new - u
    new_error = (diff * diff).sum(dim=(1, 2, 3), dtype=torch.float64)
    g = forward_gradient(u_new)
    ng = 1 + taut * torch.hypot(g[:, :, 0], g[:, :, 1])
    p_new = (p + taut * g) / ng[:, :, None]
    if not masked:
        return u_new, p_new, new_error
    active = error > scaled_eps
    return (
        torch.where(active[:, None, None, None], u_new, u),
        torch.where(active[:, None, None, None, None], p_new, p),
        torch.where(active, new_error, error),
    )
