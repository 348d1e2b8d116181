"""`vr doctor`: every part of the machine `vr` uses, found for real (no part mocked)."""

from __future__ import annotations

import json

import torch
from helpers.cli import run


def test_doctor_names_every_part_with_a_status_and_a_fix_for_what_is_missing():
    out = run("doctor")
    for part in ("Python", "torch", "gloo", "DALI", "ffmpeg", "ffmpeg decoders", "OpenCV TV-L1", "CPUs"):
        assert any(line.startswith(part) for line in out.splitlines()), part
    checks = json.loads(run("doctor", "--json"))
    by_name = {c["name"]: c for c in checks}
    assert {c["status"] for c in checks} <= {"ok", "warn", "missing"}
    assert all(c["fix"] for c in checks if c["status"] != "ok")  # nothing missing without a way out
    assert by_name["OpenCV TV-L1"]["status"] == "ok"  # opencv-contrib is a dependency
    assert "h264" in by_name["ffmpeg decoders"]["detail"]
    assert by_name["torch"]["detail"].startswith(torch.__version__)
    if torch.cuda.is_available():
        assert by_name["GPU 0"]["status"] == "ok" and by_name["nvJPEG"]["status"] == "ok"
    else:
        assert (
            by_name["CUDA GPUs"]["status"] == "missing" and by_name["nvJPEG / NVDEC"]["status"] == "missing"
        )
