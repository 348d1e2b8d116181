"""The torch TV-L1 solver against real OpenCV DualTVL1, on real video frames and synthetic textures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from helpers.cli import invoke

from vr import layout
from vr.preprocess.flow.engines import TVL1Params, get_engine
from vr.preprocess.flow.tvl1_ops import (
    median_blur,
    median_of_sorted_columns,
    remap_cubic,
    resize_linear,
    sorting_network,
)
from vr.preprocess.flow.tvl1_torch import TorchTVL1, pyramid_sizes

SIZE = (96, 72)  # (width, height) of the test frames
BOUND = 20.0  # the flow JPG clipping bound


@pytest.fixture(autouse=True)
def _threads():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _opencv_flow(prev: np.ndarray, nxt: np.ndarray, gamma: float = 0.0) -> np.ndarray:
    # positional: the binding's keyword for inner iterations is misspelt ("innnerIterations")
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create(0.25, 0.15, 0.3, 5, 5, 0.01, 30, 10, 0.8, gamma, 5)
    return tvl1.calc(prev, nxt, None)


def _epe(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b, axis=-1).mean())


def _quantise(flow: np.ndarray) -> np.ndarray:
    return np.round((np.clip(flow, -BOUND, BOUND) + BOUND) * (255 / (2 * BOUND))).astype(np.uint8)


def _frame_pairs(path, starts=(10, 40), size=SIZE) -> list[tuple[np.ndarray, np.ndarray]]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) <= max(starts) + 1:
        ok, frame = cap.read()
        if not ok:
            break
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        frames.append(cv2.resize(gray, size, interpolation=cv2.INTER_AREA))
    cap.release()
    assert len(frames) > max(starts) + 1, f"{path} is too short"
    return [(frames[s], frames[s + 1]) for s in starts]


def _texture_pair(shift: tuple[float, float], size=SIZE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random texture (sum of sinusoids) and the same texture moved exactly by ``shift`` (dx, dy)."""
    rng = np.random.default_rng(seed)
    waves = [
        (rng.uniform(0.5, 1.0), rng.uniform(0.05, 0.35), rng.uniform(0, np.pi), rng.uniform(0, 6.3))
        for _ in range(24)
    ]
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)

    def sample(dx: float, dy: float) -> np.ndarray:
        return sum(
            a * np.sin(f * (np.cos(t) * (x - dx) + np.sin(t) * (y - dy)) + ph) for a, f, t, ph in waves
        )

    prev, nxt = sample(0.0, 0.0), sample(*shift)
    lo, hi = prev.min(), prev.max()
    return tuple(
        np.clip(np.round(30 + 195 * (im - lo) / (hi - lo)), 0, 255).astype(np.uint8) for im in (prev, nxt)
    )


@pytest.fixture(scope="module")
def real_pairs(sample_videos) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        pair
        for stem in ("bikes", "carphone_pristine", "bigbuckbunny")
        for pair in _frame_pairs(sample_videos[stem])
    ]


# --- the operators against their OpenCV counterparts ---------------------------------------------------


def test_resize_linear_matches_cv2():
    img = np.random.default_rng(1).uniform(0, 255, (72, 96)).astype(np.float32)
    down = cv2.resize(img, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_LINEAR)
    ours = resize_linear(torch.from_numpy(img), down.shape, (1 / 0.8, 1 / 0.8)).numpy()
    np.testing.assert_allclose(ours, down, atol=1e-3)
    up = cv2.resize(down, (96, 72), interpolation=cv2.INTER_LINEAR)
    ours_up = resize_linear(
        torch.from_numpy(down), (72, 96), (down.shape[0] / 72, down.shape[1] / 96)
    ).numpy()
    np.testing.assert_allclose(ours_up, up, atol=1e-3)
    assert [s[::-1] for s in pyramid_sizes(72, 96, 5, 0.8)[1:2]] == [down.shape[::-1]]


def test_remap_cubic_matches_cv2_with_zero_border():
    rng = np.random.default_rng(2)
    img = rng.uniform(0, 255, (40, 52)).astype(np.float32)
    flow = (rng.standard_normal((2, 40, 52)) * 4).astype(np.float32)  # reaches well past the borders
    yy, xx = np.mgrid[0:40, 0:52].astype(np.float32)
    ref = cv2.remap(img, xx + flow[0], yy + flow[1], cv2.INTER_CUBIC)
    ours = remap_cubic(torch.from_numpy(img)[None, None], torch.from_numpy(flow)[None])[0, 0].numpy()
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def _run(program, values: np.ndarray) -> dict[int, np.ndarray]:
    slots = dict(enumerate(values))
    for dst, is_max, a, b in program:
        slots[dst] = np.maximum(slots[a], slots[b]) if is_max else np.minimum(slots[a], slots[b])
    return slots


@pytest.mark.parametrize("n", [3, 5, 7])
def test_min_max_networks_sort_and_take_medians(n):
    values = np.random.default_rng(n).standard_normal((n * n, 400))
    values[:, :40] = np.round(values[:, :40])  # ties
    program, outs = sorting_network(n)
    slots = _run(program, values[:n])
    np.testing.assert_array_equal(np.stack([slots[o] for o in outs]), np.sort(values[:n], axis=0))
    columns = np.sort(values.reshape(n, n, -1), axis=1).reshape(n * n, -1)  # id = column * n + rank
    program, out = median_of_sorted_columns(n)
    np.testing.assert_array_equal(_run(program, columns)[out], np.median(values, axis=0))


def test_median_blur_matches_cv2():
    u = np.random.default_rng(3).standard_normal((2, 30, 41)).astype(np.float32)
    ours = median_blur(torch.from_numpy(u), 5).numpy()
    for k in range(2):
        np.testing.assert_array_equal(ours[k], cv2.medianBlur(u[k], 5))


# --- the solver against OpenCV DualTVL1 --------------------------------------------------------------


def test_defaults_mirror_opencv():
    cv = cv2.optflow.DualTVL1OpticalFlow_create()
    ours = TorchTVL1()
    assert (ours.tau, ours.lambda_, ours.theta, ours.gamma) == (
        cv.getTau(),
        cv.getLambda(),
        cv.getTheta(),
        cv.getGamma(),
    )
    assert (ours.nscales, ours.warps, ours.epsilon) == (
        cv.getScalesNumber(),
        cv.getWarpingsNumber(),
        cv.getEpsilon(),
    )
    assert (ours.inner_iterations, ours.outer_iterations) == (
        cv.getInnerIterations(),
        cv.getOuterIterations(),
    )
    assert (ours.scale_step, ours.median_filtering) == (cv.getScaleStep(), cv.getMedianFiltering())


def test_matches_opencv_on_real_frames(real_pairs):
    pairs = real_pairs + [_texture_pair((2.3, -1.6))]
    prev = np.stack([p for p, _ in pairs])
    nxt = np.stack([n for _, n in pairs])
    flows = TorchTVL1(max_batch=len(pairs))(prev, nxt)  # all pairs solved together
    assert flows.shape == (len(pairs), SIZE[1], SIZE[0], 2) and flows.dtype == np.float32
    for (p, n), flow in zip(pairs, flows, strict=True):
        ref = _opencv_flow(p, n)
        assert _epe(flow, ref) < 0.1
        q_ours, q_ref = _quantise(flow), _quantise(ref)
        close = np.abs(q_ours.astype(int) - q_ref.astype(int)) <= 2
        assert close.mean() >= 0.99


def test_non_default_parameters_match_opencv(real_pairs):
    # scale_step 0.5 with 10 scales also runs into OpenCV's 16-pixel floor, which ends the pyramid early
    params = dict(
        tau=0.2, lambda_=0.1, theta=0.4, nscales=10, warps=3, epsilon=0.005,
        inner_iterations=20, outer_iterations=5, scale_step=0.5, gamma=0.0, median_filtering=3,
    )  # fmt: skip
    solver = TorchTVL1(**params)
    prev, nxt = real_pairs[0]
    ref = cv2.optflow.DualTVL1OpticalFlow_create(*params.values()).calc(prev, nxt, None)  # same order
    assert _epe(solver(prev, nxt), ref) < 0.1


def test_matches_opencv_at_full_size(sample_videos):
    ((prev, nxt),) = _frame_pairs(sample_videos["bikes"], starts=(10,), size=(340, 256))
    ours, ref = TorchTVL1()(prev, nxt), _opencv_flow(prev, nxt)
    assert _epe(ours, ref) < 0.1
    assert (np.abs(_quantise(ours).astype(int) - _quantise(ref).astype(int)) <= 2).mean() >= 0.99


@pytest.mark.parametrize("shift", [(3.0, -2.0), (1.5, 0.75)])
def test_known_translation_recovered_by_both(shift):
    prev, nxt = _texture_pair(shift)
    inner = (slice(8, -8), slice(8, -8))
    ours = TorchTVL1()(prev, nxt)
    ref = _opencv_flow(prev, nxt)
    for flow in (ours, ref):
        np.testing.assert_allclose(np.median(flow[inner].reshape(-1, 2), axis=0), shift, atol=0.1)
    assert _epe(ours, ref) < 0.1


def test_gamma_term_matches_opencv(real_pairs):
    prev, nxt = real_pairs[0]
    ours = TorchTVL1(gamma=0.1)(prev, nxt)
    assert _epe(ours, _opencv_flow(prev, nxt, gamma=0.1)) < 0.1
    assert np.abs(ours - TorchTVL1()(prev, nxt)).max() > 0  # the term is really used


def test_pair_alone_equals_pair_in_batch(real_pairs):
    batch = real_pairs[:4]
    prev = np.stack([p for p, _ in batch])
    nxt = np.stack([n for _, n in batch])
    together = TorchTVL1(max_batch=4)(prev, nxt)
    for k in (0, 3):
        alone = TorchTVL1()(prev[k], nxt[k])
        np.testing.assert_allclose(alone, together[k], rtol=0, atol=1e-5)
    # checking for finished pairs only every 7th iteration (as on a GPU) masks them in between
    sparse_checks = TorchTVL1(max_batch=4, check_every=7)(prev, nxt)
    np.testing.assert_allclose(sparse_checks, together, rtol=0, atol=1e-5)


def test_input_forms_agree():
    prev, nxt = _texture_pair((1.0, 0.5), size=(40, 32))
    solver = TorchTVL1(nscales=2, warps=2)
    flow = solver(prev, nxt)
    assert flow.shape == (32, 40, 2) and isinstance(flow, np.ndarray)
    as_tensor = solver(torch.from_numpy(prev)[None], torch.from_numpy(nxt)[None])
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.shape == (1, 32, 40, 2)
    np.testing.assert_array_equal(as_tensor[0].numpy(), flow)
    as_float = solver(prev.astype(np.float32) / 255, nxt.astype(np.float32) / 255)  # OpenCV's 0..1 convention
    np.testing.assert_allclose(as_float, flow, atol=1e-4)
    with pytest.raises(ValueError):
        solver(prev, nxt[:-1])


@pytest.fixture(scope="module")
def fp32_flow(real_pairs) -> np.ndarray:
    return TorchTVL1()(*real_pairs[0])


@pytest.mark.parametrize(("precision", "bar_fp32", "bar_opencv"), [("fp16", 0.1, 0.1), ("bf16", 0.15, 0.25)])
def test_half_precisions_against_fp32_and_opencv(real_pairs, fp32_flow, precision, bar_fp32, bar_opencv):
    # Measured on this 96x72 bikes pair, mean EPE to fp32 / to OpenCV: fp16 0.041 / 0.033 px,
    # bf16 0.083 / 0.076 px. At 340x256 (bikes, carphone) fp16 is 0.016-0.022 px from fp32; bf16's 8-bit
    # mantissa misses the 0.1 px bar there (0.07-0.41 px), so its bars here are looser.
    prev, nxt = real_pairs[0]
    ours = get_engine("torch", TVL1Params(), precision)(prev[None], nxt[None])[0]  # the engine path
    assert ours.dtype == np.float32 and np.isfinite(ours).all()
    assert np.abs(ours - fp32_flow).max() > 0  # really computed in the lower precision
    assert _epe(ours, fp32_flow) < bar_fp32
    assert _epe(ours, _opencv_flow(prev, nxt)) < bar_opencv


def test_fp16_survives_full_contrast_edges():
    # 0/255 blocks: squared gradients near float16's 65504 limit must not overflow into inf/nan flows
    blocks = np.kron(np.random.default_rng(4).integers(0, 2, (6, 8)), np.ones((6, 6))) * 255
    prev = blocks.astype(np.uint8)
    nxt = np.roll(prev, (1, 2), axis=(0, 1))
    solver = dict(nscales=2, warps=2)
    half = TorchTVL1(dtype=torch.float16, **solver)(prev, nxt)
    assert np.isfinite(half).all()
    assert _epe(half, TorchTVL1(**solver)(prev, nxt)) < 0.1


def _frame_folder(path, root, n: int = 3, size=(48, 36)) -> None:
    cap = cv2.VideoCapture(str(path))
    folder = root / "c" / "v"
    folder.mkdir(parents=True)
    for i in range(1, n + 1):
        ok, frame = cap.read()
        assert ok
        small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(folder / layout.image_name(i)), small, [cv2.IMWRITE_JPEG_QUALITY, 100])
    cap.release()


def test_cli_precision_option(sample_videos, tmp_path):
    _frame_folder(sample_videos["bikes"], tmp_path / "frames")

    def flow_cli(dst: str, *extra: str):
        args = ["preprocess", "flow-tvl1", str(tmp_path / "frames"), str(tmp_path / dst), "-j", "1"]
        args += ["--backend", "threading", "-q", "--nscales", "2", "--warps", "2", "--batch", "2"]
        return invoke([*args, *extra])

    for precision in ("fp32", "fp16"):
        result = flow_cli(precision, "--engine", "torch", "--precision", precision)
        assert result.exit_code == 0, result.output
        assert layout.read_marker(tmp_path / precision / "c" / "v")["precision"] == precision
    files = sorted(p.name for p in (tmp_path / "fp16" / "c" / "v").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "fp32" / "c" / "v").iterdir())
    assert files == sorted([layout.COMPLETE_MARKER, *layout.flow_names(1), *layout.flow_names(2)])
    for name in (*layout.flow_names(1), *layout.flow_names(2)):
        a, b = (
            cv2.imread(str(tmp_path / p / "c" / "v" / name), cv2.IMREAD_GRAYSCALE) for p in ("fp32", "fp16")
        )
        assert (np.abs(a.astype(int) - b.astype(int)) <= 2).mean() >= 0.99
    result = flow_cli("bad", "--engine", "opencv", "--precision", "fp16")
    assert (
        result.exit_code == 2 and "needs engine torch" in result.output and "Traceback" not in result.output
    )
    assert flow_cli("bad", "--precision", "fp64").exit_code == 2


@pytest.mark.slow
def test_compiled_step_equals_eager():
    prev, nxt = _texture_pair((1.0, -0.5), size=(40, 32))
    eager = TorchTVL1(nscales=1, warps=2)(prev, nxt)
    compiled = TorchTVL1(nscales=1, warps=2, compile=True)(prev, nxt)
    np.testing.assert_allclose(compiled, eager, rtol=0, atol=1e-4)


@pytest.mark.gpu
@pytest.mark.parametrize("compile", [False, True])
def test_cuda_matches_opencv_and_is_batch_invariant(real_pairs, compile):
    prev = np.stack([p for p, _ in real_pairs[:4]])
    nxt = np.stack([n for _, n in real_pairs[:4]])
    solver = TorchTVL1(device="cuda", compile=compile)
    flows = solver(prev, nxt)
    for k in range(4):
        assert _epe(flows[k], _opencv_flow(prev[k], nxt[k])) < 0.1
    np.testing.assert_allclose(solver(prev[1], nxt[1]), flows[1], rtol=0, atol=1e-5)
