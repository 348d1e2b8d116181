"""Thread settings (vr.threads): CPU count, OpenMP's wait policy chosen from the machine's load before
torch loads, one thread in workers. Real processes: busy loops for load, fresh interpreters."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time

import pytest

from vr.threads import available_cpus, runnable_others

PROBE = (
    "import json, os, sys\n"
    "from vr.threads import prepare_openmp\n"
    "first = prepare_openmp()\n"
    "import torch\n"
    "print(json.dumps([first, os.environ.get('OMP_WAIT_POLICY'), torch.get_num_threads()]))\n"
)


def _probe(env: dict[str, str] | None = None, code: str = PROBE) -> list:
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    done = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **(env or {})}, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_available_cpus_is_within_the_machine():
    assert 1 <= available_cpus() <= (os.cpu_count() or 1)


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="Linux only")
def test_busy_cores_make_openmp_wait_passively():
    n = available_cpus()
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(1.0)
        assert runnable_others() >= n - 0.5
        decision, policy, _ = _probe()
    finally:
        for p in busy:
            p.kill()
            p.wait()
    assert (decision, policy) == ("passive", "PASSIVE")


def test_the_users_setting_wins_and_late_calls_change_nothing():
    assert _probe({"OMP_WAIT_POLICY": "ACTIVE"})[:2] == ["user", "ACTIVE"]
    assert _probe({"GOMP_SPINCOUNT": "1000"})[:2] == ["user", None]
    late = (
        "import torch, json\nfrom vr.threads import prepare_openmp\nprint(json.dumps([prepare_openmp()]))\n"
    )
    assert _probe(code=late) == ["late"]


def test_workers_run_one_thread():
    code = (
        "import json, cv2, torch\n"
        "from vr.threads import single_thread_worker, set_torch_threads\n"
        "single_thread_worker()\n"
        "one = [torch.get_num_threads(), cv2.getNumThreads()]\n"
        "print(json.dumps([one, set_torch_threads(2), torch.get_num_threads()]))\n"
    )
    assert _probe(code=code) == [[1, 1], 2, 2]


def test_torch_loader_workers_run_one_thread(tmp_path):
    """A real DataLoader worker of `build_loader` sees one torch thread and one OpenCV thread."""
    from vr.pipelines import torch_loader

    code = (
        "import json, torch, cv2\n"
        "torch.set_num_threads(2)\n"
        "from vr.pipelines.torch_loader import _worker_init\n"
        "_worker_init(0)\n"
        "print(json.dumps([torch.get_num_threads(), cv2.getNumThreads()]))\n"
    )
    assert torch_loader._worker_init.__module__ == "vr.pipelines.torch_loader"
    assert _probe(code=code) == [1, 1]


def test_vr_train_takes_threads(tmp_path):
    from vr.train.config import TrainConfig

    assert TrainConfig(data="d", out="o", threads=3).threads == 3
    with pytest.raises(ValueError, match="threads"):
        TrainConfig(data="d", out="o", threads=-1)


@dataclasses.dataclass
class _Task:
    name: str
    source: str


def _report_threads(task: _Task):
    import torch

    from vr.preprocess.runner import OK, Outcome

    return Outcome(task.name, OK, task.source, frames=torch.get_num_threads())


def test_jobs_in_worker_processes_run_one_thread_and_this_process_keeps_its_own():
    import torch

    from vr.preprocess.runner import run_tasks

    torch.set_num_threads(2)
    env_before = os.environ.get("OMP_NUM_THREADS")
    inline = run_tasks(_report_threads, [_Task("a", "a")], jobs=1, backend="loky", quiet=True)
    assert torch.get_num_threads() == 2 and os.environ.get("OMP_NUM_THREADS") == env_before
    assert [o.frames for o in inline] == [2]  # joblib ran it here: this process's threads are left alone
    pooled = run_tasks(_report_threads, [_Task(str(i), "s") for i in range(2)], jobs=2, quiet=True)
    assert [o.frames for o in pooled] == [1, 1]
