"""`bench/gpu_check.py --cpu`: the steps with a CPU form run and assert, GPU-only ones are skipped with a
reason (never a pass), the report is on disk after every step, and a step past its budget is killed
with its whole process group."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.py"


def test_gpu_check_on_the_cpu(tmp_path):
    out = tmp_path / "report"
    cmd = [sys.executable, str(SCRIPT), "--cpu", "--out", str(out), "--budget", "400"]
    cmd += ["--only", "doctor,train,resume,eval,fp16,goal-bf16", "--step-budget", "resume=4"]
    started = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    last = proc.stdout.strip().splitlines()[-1]
    assert last == "gpu_check: 4 passed, 1 failed, 2 skipped", proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 1  # a failed step fails the run
    report = json.loads((out / "gpu_check.json").read_text())
    status = {s["step"]: s for s in report["steps"]}
    assert [s["step"] for s in report["steps"]] == [
        "data",
        "doctor",
        "train",
        "resume",
        "eval",
        "fp16",
        "goal-bf16",
    ]
    assert status["train"]["status"] == "passed" and len(status["train"]["losses"]) == 3
    assert status["eval"]["status"] == "passed" and "fp32" in status["eval"]["top1"]
    # killed at its budget, with everything it started
    assert status["resume"]["status"] == "failed" and "timed out after 4 s" in status["resume"]["detail"]
    time.sleep(1)
    leftover = [
        " ".join(p.info["cmdline"] or [])
        for p in psutil.process_iter(["cmdline", "create_time"])
        if p.info["create_time"] >= started - 1 and p.pid != os.getpid() and p.is_running()
        and "python" in " ".join(p.info["cmdline"] or [])
    ]  # fmt: skip
    assert not leftover, leftover  # nothing the run started outlives it
    # skipped steps say why and are not passes
    assert status["fp16"]["status"] == "skipped" and "needs a GPU" in status["fp16"]["detail"]
    assert status["goal-bf16"]["status"] == "skipped" and "goal" in status["goal-bf16"]["detail"]
    assert (out / "gpu_check.txt").read_text().strip().splitlines()[-1] == last
