"""Thread counts, set deliberately wherever work runs.

* The process that trains or evaluates runs torch with ``threads`` intra-op threads (default: the CPUs
  it may use, :func:`available_cpus`, which respects the affinity mask and a cgroup CPU quota).
* Every loader and preprocessing worker runs torch, OpenCV and OpenMP with one thread
  (:func:`single_thread_worker`): the workers are the parallelism.
* OpenMP's waiting threads spin by default (libgomp: about 300,000 polls before sleeping). On a quiet
  machine that is the fastest, but when other processes want the same cores each parallel region waits
  for a descheduled thread while its siblings burn their time slices: a 2-thread training step ran 5x
  slower with two busy processes on 2 cores, where it should get half the machine. :func:`prepare_openmp`
  looks at how many other threads are runnable before torch is imported and, when the cores are already
  wanted, makes OpenMP threads sleep while they wait (``OMP_WAIT_POLICY=PASSIVE``); on a quiet machine it
  leaves the fast default. A user's own ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` always wins.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

WAIT_POLICY_ENV = "OMP_WAIT_POLICY"
_decision: str | None = None


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU quota (v2 or v1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cpus, math.ceil(quota))) if quota else max(1, cpus)


def _cgroup_quota() -> float | None:
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


def runnable_others(samples: int = 25, interval: float = 0.004) -> float | None:
    """Mean number of runnable threads on the machine besides the caller (Linux ``/proc/stat``
    ``procs_running``, sampled ``samples`` times); None where the platform does not say."""
    total = 0
    for i in range(samples):
        try:
            with open("/proc/stat") as f:
                running = next((int(line.split()[1]) for line in f if line.startswith("procs_running")), None)
        except (OSError, ValueError):
            return None
        if running is None:
            return None
        total += running - 1  # the reader itself is running
        if i + 1 < samples:
            time.sleep(interval)
    return total / samples


def prepare_openmp(threads: int | None = None) -> str:
    """Choose OpenMP's wait policy for this process before torch is imported (see the module docstring);
    returns what was decided: ``user`` (the environment says), ``late`` (torch is already loaded),
    ``passive`` (the cores are wanted by others) or ``active`` (a quiet machine)."""
    global _decision
    if _decision is not None:
        return _decision
    if WAIT_POLICY_ENV in os.environ or "GOMP_SPINCOUNT" in os.environ:
        _decision = "user"
    elif "torch" in sys.modules:
        _decision = "late"
    else:
        others = runnable_others()
        wanted = (threads or available_cpus()) + (others or 0.0)
        busy = others is not None and others >= 0.5 and wanted > available_cpus()
        if busy:
            os.environ[WAIT_POLICY_ENV] = "PASSIVE"
        _decision = "passive" if busy else "active"
    return _decision


def set_torch_threads(threads: int | None = None) -> int:
    """Run torch with ``threads`` intra-op threads (None or 0: :func:`available_cpus`); returns the count."""
    import torch

    n = threads or available_cpus()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def single_thread_worker() -> None:
    """In a loader or preprocessing worker process: one thread for torch, OpenCV and OpenMP."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"  # for anything the worker starts or loads from here on
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    try:
        import cv2
    except ImportError:  # pragma: no cover - OpenCV is a dependency
        return
    cv2.setNumThreads(1)
