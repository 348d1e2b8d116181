"""Image operators of OpenCV's DualTVL1, batched in torch (bit-compatible conventions, float rounding aside).

Every function works on batches: images are ``(N, H, W)`` or ``(N, C, H, W)`` tensors.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

_CUBIC_A = -0.75  # OpenCV's (and torch's) Keys cubic constant


def _linear_taps(n_out: int, n_in: int, scale: float, device: torch.device):
    """Source taps and weights of ``cv::resize`` INTER_LINEAR along one axis (half-pixel centres, clamped)."""
    pos = (torch.arange(n_out, dtype=torch.float64, device=device) + 0.5) * scale - 0.5
    i0 = torch.floor(pos)
    w = pos - i0
    i0 = i0.long()
    w = torch.where(i0 < 0, 0.0, w)
    i0 = i0.clamp(min=0)
    last = i0 >= n_in - 1
    w = torch.where(last, 0.0, w)
    i0 = torch.where(last, n_in - 1, i0)
    i1 = (i0 + 1).clamp(max=n_in - 1)
    return i0, i1, w


def resize_linear(x: torch.Tensor, size: tuple[int, int], scale: tuple[float, float]) -> torch.Tensor:
    """``cv::resize(..., INTER_LINEAR)`` of ``x`` (..., H, W) to ``size`` (h, w).

    ``scale`` is OpenCV's source-per-destination step (y, x): ``1/fx`` when the call gave ``fx``,
    ``H/h`` when it gave ``dsize``; the two differ when ``H*fx`` is not an integer.
    """
    h, w = size
    y0, y1, wy = _linear_taps(h, x.shape[-2], scale[0], x.device)
    x0, x1, wx = _linear_taps(w, x.shape[-1], scale[1], x.device)
    wy = wy.to(x.dtype)[:, None]
    wx = wx.to(x.dtype)
    rows = x[..., y0, :] * (1 - wy) + x[..., y1, :] * wy
    return rows[..., x0] * (1 - wx) + rows[..., x1] * wx


def _cubic_weights(t: torch.Tensor) -> torch.Tensor:
    """The four Keys weights (A=-0.75) for fractional offsets ``t`` in [0, 1): shape (..., 4)."""
    a = _CUBIC_A
    s = 1 - t
    c0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
    c1 = ((a + 2) * t - (a + 3)) * t * t + 1
    c2 = ((a + 2) * s - (a + 3)) * s * s + 1
    return torch.stack([c0, c1, c2, 1 - c0 - c1 - c2], dim=-1)


def remap_cubic(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``cv::remap(img, x + u, y + v, INTER_CUBIC)`` for images (N, C, H, W) and flow (N, 2, H, W).

    Taps outside the image read 0, as OpenCV's default constant border does (each tap on its own).
    Positions and weights are float32 at least: half-precision coordinates would lose whole pixels.
    """
    out_dtype = img.dtype
    work = torch.promote_types(img.dtype, torch.float32)
    img, flow = img.to(work), flow.to(work)
    n, c, h, w = img.shape
    pad = 4
    gy, gx = torch.meshgrid(
        torch.arange(h, device=img.device, dtype=flow.dtype),
        torch.arange(w, device=img.device, dtype=flow.dtype),
        indexing="ij",
    )
    mx = gx + flow[:, 0]
    my = gy + flow[:, 1]
    fx = torch.floor(mx)
    fy = torch.floor(my)
    wx = _cubic_weights(mx - fx).to(img.dtype)
    wy = _cubic_weights(my - fy).to(img.dtype)
    # Clamp far-away positions to where all four taps still fall in the zero padding.
    ix = fx.clamp(-3, w + 1).long() + (pad - 1)
    iy = fy.clamp(-3, h + 1).long() + (pad - 1)
    wp = w + 2 * pad
    flat = F.pad(img, (pad, pad, pad, pad)).reshape(n, c, -1)
    base = iy * wp + ix
    out = None
    for i in range(4):
        row = None
        for j in range(4):
            idx = (base + (i * wp + j)).reshape(n, 1, -1).expand(n, c, -1)
            tap = flat.gather(2, idx).reshape(n, c, h, w) * wx[:, None, ..., j]
            row = tap if row is None else row + tap
        row = row * wy[:, None, ..., i]
        out = row if out is None else out + row
    return out.to(out_dtype)


def centered_gradient(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Half central differences; one-sided half differences on the borders (OpenCV's ``centeredGradient``)."""
    xp = torch.cat([x[..., :, :1], x, x[..., :, -1:]], dim=-1)
    yp = torch.cat([x[..., :1, :], x, x[..., -1:, :]], dim=-2)
    dx = 0.5 * (xp[..., :, 2:] - xp[..., :, :-2])
    dy = 0.5 * (yp[..., 2:, :] - yp[..., :-2, :])
    return dx, dy


def forward_gradient(x: torch.Tensor) -> torch.Tensor:
    """Forward differences of ``x`` (..., H, W) as (..., 2, H, W), 0 on the last column (x) and row (y)."""
    g = x.new_empty((*x.shape[:-2], 2, *x.shape[-2:]))
    torch.sub(x[..., :, 1:], x[..., :, :-1], out=g[..., 0, :, :-1])
    g[..., 0, :, -1] = 0
    torch.sub(x[..., 1:, :], x[..., :-1, :], out=g[..., 1, :-1, :])
    g[..., 1, -1, :] = 0
    return g


def divergence(p: torch.Tensor) -> torch.Tensor:
    """Backward-difference divergence of ``p`` (..., 2, H, W), zero before the first row and column.

    Minus the adjoint of ``forward_gradient``.
    """
    px, py = p[..., 0, :, :], p[..., 1, :, :]
    div = px + py
    div[..., :, 1:] -= px[..., :, :-1]
    div[..., 1:, :] -= py[..., :-1, :]
    return div


Program = tuple[tuple[int, bool, int, int], ...]  # (out_id, is_max, a_id, b_id) min/max operations


def _batcher_pairs(n: int, merge_only: bool = False) -> list[tuple[int, int]]:
    """Compare-exchange pairs of Batcher's odd-even merge sort for ``n`` (a power of two) wires.

    ``merge_only``: just the last stage, which merges two sorted halves.
    """
    pairs = []
    p = n // 2 if merge_only else 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return pairs


class _NetworkBuilder:
    """Records min/max operations of compare-exchange networks; ``None`` wires hold +inf."""

    def __init__(self, n_inputs: int) -> None:
        self.next_id = n_inputs
        self.ops: list[tuple[int, bool, int, int]] = []

    def run(self, wires: list[int | None], pairs: list[tuple[int, int]]) -> list[int | None]:
        wires = list(wires)
        for a, b in pairs:
            va, vb = wires[a], wires[b]
            if vb is None:  # min(x, inf) = x stays, inf stays
                continue
            if va is None:
                wires[a], wires[b] = vb, None
                continue
            lo, hi = self.next_id, self.next_id + 1
            self.next_id += 2
            self.ops += [(lo, False, va, vb), (hi, True, va, vb)]
            wires[a], wires[b] = lo, hi
        return wires

    def sort(self, wires: list[int | None]) -> list[int | None]:
        size = 1 << (len(wires) - 1).bit_length()
        return self.run(wires + [None] * (size - len(wires)), _batcher_pairs(size))[: len(wires)]

    def merge(self, a: list[int | None], b: list[int | None]) -> list[int | None]:
        size = 1 << (max(len(a), len(b)) - 1).bit_length()
        a, b = a + [None] * (size - len(a)), b + [None] * (size - len(b))
        return self.run(a + b, _batcher_pairs(2 * size, merge_only=True))

    def program(self, outputs: list[int]) -> Program:
        """The recorded operations that ``outputs`` depend on, in order."""
        live, kept = set(outputs), []
        for op in reversed(self.ops):
            if op[0] in live:
                kept.append(op)
                live.update(op[2:])
        return tuple(reversed(kept))


@functools.lru_cache
def sorting_network(n: int) -> tuple[Program, tuple[int, ...]]:
    """A min/max program sorting ``n`` inputs: (program, ids of the sorted outputs)."""
    net = _NetworkBuilder(n)
    outs = net.sort(list(range(n)))
    return net.program(outs), tuple(outs)


@functools.lru_cache
def median_of_sorted_columns(k: int) -> tuple[Program, int]:
    """Median of a k x k window given its k columns already sorted (input id ``column * k + rank``).

    Merges the sorted columns pairwise (Batcher merges), pruned to what the middle rank needs.
    """
    net = _NetworkBuilder(k * k)

    def merged(cols: list[int]) -> list[int | None]:
        if len(cols) == 1:
            return [cols[0] * k + r for r in range(k)]
        half = len(cols) // 2
        return net.merge(merged(cols[:half]), merged(cols[half:]))

    out = merged(list(range(k)))[k * k // 2]
    return net.program([out]), out


def _run_program(values: dict[int, torch.Tensor], program: Program, outputs) -> list[torch.Tensor]:
    """Evaluate a min/max program on tensors, freeing each intermediate after its last use."""
    keep = set(outputs)
    last_use = {v: k for k, op in enumerate(program) for v in op[2:]}
    for k, (dst, is_max, a, b) in enumerate(program):
        values[dst] = torch.maximum(values[a], values[b]) if is_max else torch.minimum(values[a], values[b])
        for v in (a, b):
            if last_use[v] == k and v not in keep:
                del values[v]
    return [values[o] for o in outputs]


def median_blur(x: torch.Tensor, ksize: int) -> torch.Tensor:
    """``cv::medianBlur`` (replicated border) of ``x`` (..., H, W) with an odd square window.

    Exact, with min/max networks only: each padded column of ``ksize`` pixels is sorted once (shared by
    the ``ksize`` windows that contain it), then every window merges its sorted columns.
    """
    r = ksize // 2
    h, w = x.shape[-2:]
    xp = F.pad(x.reshape(-1, 1, h, w), (r, r, r, r), mode="replicate")[:, 0]
    sort_program, sorted_ids = sorting_network(ksize)
    rows = _run_program({i: xp[:, i : i + h] for i in range(ksize)}, sort_program, sorted_ids)
    median_program, out = median_of_sorted_columns(ksize)
    windows = {j * ksize + rank: rows[rank][..., j : j + w] for j in range(ksize) for rank in range(ksize)}
    (median,) = _run_program(windows, median_program, [out])
    return median.reshape(x.shape)
