"""`vr doctor`: what this machine can do for `vr`, a line a part, each ok, missing or a warning with how
to fix it. On a GPU it decodes a JPEG with DALI's nvJPEG (``mixed``) decoder for real, so "is DALI
actually using my GPU?" has an answer, not a guess.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from typing import Any

OK, WARN, MISSING = "ok", "warn", "missing"
DECODERS = ("h264", "hevc", "mpeg4", "vp9", "av1", "mjpeg")


@dataclass
class Check:
    """One part of the machine: ``status`` ok/warn/missing, what was found, and how to fix it."""

    name: str
    status: str
    detail: str
    fix: str = ""


def _safe(name: str, fn) -> list[Check]:
    try:
        return fn()
    except Exception as e:  # a broken install is a finding, not a crash
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        return [Check(name, MISSING, f"{type(e).__name__}: {first}", "reinstall it: pip install -e .")]


def _torch() -> list[Check]:
    import torch

    checks = [
        Check("torch", OK, f"{torch.__version__}, CUDA build {torch.version.cuda or 'none (CPU build)'}")
    ]
    if not torch.cuda.is_available():
        why = "a CPU build of torch" if torch.version.cuda is None else "no CUDA device or driver"
        checks.append(
            Check(
                "CUDA GPUs",
                MISSING,
                f"none ({why})",
                "on a GPU machine install a CUDA build of torch (https://pytorch.org/get-started/)",
            )
        )
        return checks
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        bf16 = "bf16" if p.major >= 8 else "no bf16 (use --precision fp16)"
        checks.append(
            Check(
                f"GPU {i}",
                OK,
                f"{p.name}, {p.total_memory / 2**30:.1f} GiB, compute {p.major}.{p.minor}, {bf16}",
            )
        )
    import torch.distributed as dist

    if dist.is_nccl_available():
        version = ".".join(map(str, torch.cuda.nccl.version()))
        checks.append(Check("NCCL", OK, f"{version} (multi-GPU DDP)"))
    else:
        checks.append(Check("NCCL", MISSING, "not in this torch build", "a CUDA build of torch ships NCCL"))
    return checks


def _gloo() -> list[Check]:
    import torch.distributed as dist

    if dist.is_gloo_available():
        return [Check("gloo", OK, "CPU DDP (torchrun on CPUs, barriers)")]
    return [Check("gloo", MISSING, "not in this torch build", "reinstall torch")]


def _dali() -> list[Check]:
    try:
        import nvidia.dali as dali
        import nvidia.dali.backend as backend
    except ImportError:
        return [Check("DALI", MISSING, "not installed", "pip install nvidia-dali-cuda130 (Linux x86_64)")]
    gpus = backend.GetCUDADeviceCount()
    checks = [Check("DALI", OK, f"{dali.__version__}, sees {gpus} GPU(s); CPU pipelines run everywhere")]
    if gpus == 0:
        checks.append(
            Check(
                "nvJPEG / NVDEC",
                MISSING,
                "DALI sees no GPU: JPEG decoding on the CPU, raw H.264/MPEG-4 needs frames extracted first",
                "a GPU and its driver (nvidia-smi should list it)",
            )
        )
        return checks
    checks.append(_nvjpeg_decode())
    return checks


def _nvjpeg_decode() -> Check:
    """Decode one real JPEG with DALI's mixed (nvJPEG) decoder on GPU 0."""
    import cv2
    import numpy as np
    from nvidia.dali import fn, pipeline_def, types

    image = np.zeros((32, 48, 3), np.uint8)
    image[:, 16:32] = (200, 60, 20)
    data = np.frombuffer(cv2.imencode(".jpg", image)[1].tobytes(), np.uint8)

    @pipeline_def(batch_size=1, num_threads=1, device_id=0)
    def pipe():
        encoded = fn.external_source(source=lambda: [data], batch=True, cycle=False)
        return fn.decoders.image(encoded, device="mixed", output_type=types.RGB)

    p = pipe()
    p.build()
    (out,) = p.run()
    shape = tuple(out.as_cpu().at(0).shape)
    if shape != (32, 48, 3):
        return Check("nvJPEG", WARN, f"decoded a 48x32 JPEG to shape {shape}", "report it")
    return Check("nvJPEG", OK, "a JPEG decoded on GPU 0 by DALI's mixed decoder; NVDEC reads raw videos")


def _ffmpeg() -> list[Check]:
    from vr.video.ffmpeg_bin import ffmpeg_exe

    exe = ffmpeg_exe()
    version = subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, text=True, timeout=30)
    line = version.stdout.splitlines()[0] if version.stdout else "?"
    listed = subprocess.run([exe, "-hide_banner", "-decoders"], capture_output=True, text=True, timeout=30)
    names = {parts[1] for parts in (ln.split() for ln in listed.stdout.splitlines()) if len(parts) > 1}
    have = [d for d in DECODERS if d in names or f"lib{d}" in names or (d == "av1" and "libdav1d" in names)]
    lacking = [d for d in DECODERS if d not in have]
    checks = [Check("ffmpeg", OK, f"{exe}: {line.removeprefix('ffmpeg version ').split(' Copyright')[0]}")]
    status = OK if not lacking else WARN
    fix = "" if not lacking else "apt-get install ffmpeg, or set VR_FFMPEG to a build with them"
    detail = f"decoders: {', '.join(have)}" + (f"; lacking {', '.join(lacking)}" if lacking else "")
    checks.append(Check("ffmpeg decoders", status, detail, fix))
    return checks


def _opencv() -> list[Check]:
    import cv2

    if hasattr(cv2, "optflow") and hasattr(cv2.optflow, "DualTVL1OpticalFlow_create"):
        return [Check("OpenCV TV-L1", OK, f"{cv2.__version__}, cv2.optflow.DualTVL1OpticalFlow_create")]
    return [
        Check(
            "OpenCV TV-L1",
            MISSING,
            f"{cv2.__version__} without the contrib modules",
            "pip uninstall opencv-python opencv-python-headless; pip install opencv-contrib-python-headless",
        )
    ]


def _cpus() -> list[Check]:
    from vr.threads import WAIT_POLICY_ENV, available_cpus, runnable_others

    cpus, listed = available_cpus(), os.cpu_count()
    others = runnable_others(samples=10)
    busy = others is not None and others >= 0.5
    policy = os.environ.get(WAIT_POLICY_ENV) or ("PASSIVE (others want the cores)" if busy else "spinning")
    detail = (
        f"{cpus} usable of {listed} ({platform.machine()}); torch threads {cpus} a process, one a worker; "
        f"OpenMP wait: {policy}"
    )
    return [Check("CPUs", OK, detail)]


def run_checks() -> list[Check]:
    """Every check, in the order a user reads them."""
    parts = [
        ("torch", _torch),
        ("gloo", _gloo),
        ("DALI", _dali),
        ("ffmpeg", _ffmpeg),
        ("OpenCV TV-L1", _opencv),
        ("CPUs", _cpus),
    ]
    out = [Check("Python", OK, platform.python_version())]
    for name, fn in parts:
        out += _safe(name, fn)
    return out


def to_json(checks: list[Check]) -> list[dict[str, Any]]:
    return [asdict(c) for c in checks]


def table(checks: list[Check]) -> str:
    """One line a check: name, status, what was found, and ``-> fix`` where there is one."""
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        fix = f"\n{' ' * (width + 11)}-> {c.fix}" if c.fix else ""
        lines.append(f"{c.name.ljust(width)}  {c.status:<7}  {c.detail}{fix}")
    return "\n".join(lines)
