"""Running one function over many videos with joblib: progress, per-video outcomes, a failure report.

A task is any object with ``name`` (its output path relative to the destination, used in the report)
and ``source`` attributes. The task function returns an ``Outcome``; an exception it raises becomes a
failed outcome with the exception's message as reason, so one bad video never stops the run.
Backends: ``loky`` (processes), ``threading``, ``dask`` (a ``dask.distributed`` scheduler at
``address``, else a local cluster) and ``ray`` (``ray.init(address)``): the same job spans machines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from vr.progress import progress_bar
from vr.threads import single_thread_worker
from vr.writing import write_json

log = logging.getLogger("vr.preprocess")
BACKENDS = ("loky", "threading", "dask", "ray")
REPORT_NAME = "_report.json"
OK, SKIPPED, FAILED = "ok", "skipped", "failed"


class Task(Protocol):
    name: str
    source: str


T = TypeVar("T", bound=Task)


@dataclass
class Outcome:
    """What happened to one video: ``status`` is ok, skipped (already complete) or failed (``reason``);
    ``warning``: an ok video that was damaged (the decoder's errors, frames lost)."""

    name: str
    status: str
    source: str = ""
    frames: int = 0
    reason: str = ""
    warning: str = ""


def _guarded(fn: Callable[[T], Outcome], task: T, parent: int | None = None) -> Outcome:
    if parent is not None and os.getpid() != parent:  # a worker process (joblib runs jobs=1 in this one)
        _exit_with(parent)
        single_thread_worker()  # one thread for torch, OpenCV, OpenMP: the workers are the parallelism
    try:
        return fn(task)
    except Exception as e:  # one bad video must never stop the run
        return Outcome(task.name, FAILED, task.source, reason=_first_line(e))


_WATCHED: int | None = None


def _exit_with(parent: int) -> None:
    """In a worker process of ``parent``: exit as soon as ``parent`` is gone, so a run that is killed
    (``kill -9`` included) leaves no workers computing on (a daemon thread checks once a second)."""
    global _WATCHED
    if parent == _WATCHED or os.getpid() == parent or os.getppid() != parent:
        return
    _WATCHED = parent

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="vr-exit-with-parent", daemon=True).start()


def n_workers(jobs: int) -> int:
    """joblib's meaning of ``jobs``: -1 all cores, -2 all but one, ...; at least 1."""
    return max(1, os.cpu_count() + 1 + jobs) if jobs < 0 else max(1, jobs)


@contextlib.contextmanager
def _backend(backend: str, jobs: int, address: str | None, gpu_share: float = 0.0) -> Iterator[None]:
    """Make ``backend`` joblib's current backend (starting a Dask client / Ray connection as needed).
    ``gpu_share``: the share of a GPU each worker asks Ray for when the cluster has GPUs (a Ray task that
    asks for none sees none: CUDA_VISIBLE_DEVICES is empty there)."""
    from joblib import parallel_config  # here, not at the top: `vr preprocess --help` stays light

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if backend in ("loky", "threading"):
        if address is not None:
            raise ValueError(f"a cluster address only applies to the dask and ray backends, not {backend}")
        with parallel_config(backend=backend, n_jobs=jobs):
            yield
    elif backend == "dask":
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as e:
            raise RuntimeError("the dask backend needs: pip install 'dask[distributed]'") from e
        with contextlib.ExitStack() as stack:
            scheduler = address
            if scheduler is None:  # no cluster given: one on this machine, a process per job
                local = LocalCluster(n_workers=n_workers(jobs), threads_per_worker=1, dashboard_address=None)
                scheduler = stack.enter_context(local)
            stack.enter_context(Client(scheduler))
            stack.enter_context(parallel_config(backend="dask", n_jobs=jobs, wait_for_workers_timeout=60))
            yield
    else:
        try:
            import ray
            from ray.util.joblib import register_ray
        except ImportError as e:
            raise RuntimeError("the ray backend needs ray: pip install 'ray[default]'") from e
        register_ray()
        ray.init(address=address, ignore_reinit_error=True)
        remote = {}
        if gpu_share and ray.cluster_resources().get("GPU", 0) > 0:
            remote = {"ray_remote_args": {"num_gpus": gpu_share}}
        try:
            with parallel_config(backend="ray", n_jobs=jobs, **remote):
                yield
        finally:
            ray.shutdown()


class _Progress:
    """Collects outcomes and shows them on a progress bar (videos/s, frames/s, failures)."""

    def __init__(self, total: int, desc: str, quiet: bool) -> None:
        self.outcomes: list[Outcome] = []
        self.bar = progress_bar(total=total, desc=desc, unit="video", disable=quiet, dynamic_ncols=True)
        self.start, self.frames, self.failed = time.perf_counter(), 0, 0

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        self.frames += outcome.frames
        self.failed += outcome.status == FAILED
        rate = self.frames / max(time.perf_counter() - self.start, 1e-9)
        self.bar.set_postfix_str(f"{rate:.0f} frames/s, {self.failed} failed", refresh=False)
        self.bar.update(1)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def run_tasks(
    fn: Callable[[T], Outcome],
    tasks: Sequence[T],
    *,
    jobs: int = -1,
    backend: str = "loky",
    address: str | None = None,
    quiet: bool = False,
    desc: str = "videos",
    gpu_share: float = 0.0,
) -> list[Outcome]:
    """Run ``fn`` on every task in parallel; return every outcome (in completion order). ``gpu_share``:
    each worker's share of a GPU (asked of Ray; joblib and Dask workers see the machine's GPUs).

    A progress bar (:mod:`vr.progress`) shows videos/s and frames/s (the ``frames`` of the outcomes)
    unless ``quiet``. When a worker process dies (a crash in native code, the OOM killer), the run goes
    on in a fresh pool; the tasks that may have been running then are run again one at a time, and the
    one that kills its worker again fails with that reason.
    """
    from joblib import Parallel, delayed

    if not tasks:
        return []
    progress = _Progress(len(tasks), desc, quiet)
    queue, suspects = list(tasks), []
    parent = os.getpid() if backend == "loky" else None  # loky workers are this process's children
    with progress.bar, _backend(backend, jobs, address, gpu_share):
        while queue:
            done = set()
            try:
                # Ray's joblib backend cannot stream results: it returns them all at the end.
                return_as = "list" if backend == "ray" else "generator_unordered"
                for outcome in Parallel(return_as=return_as, batch_size=1)(
                    delayed(_guarded)(fn, task, parent) for task in queue
                ):
                    done.add(outcome.name)
                    progress.add(outcome)
                queue = []
            except BrokenProcessPool:  # loky's TerminatedWorkerError; tasks are dispatched in order
                queue = [task for task in queue if task.name not in done]
                in_flight = 2 * n_workers(jobs)  # joblib's default pre_dispatch
                suspects += queue[:in_flight]
                queue = queue[in_flight:]
        for task in suspects:
            try:
                outcome = Parallel(n_jobs=2)([delayed(_guarded)(fn, task, parent)])[0]
            except BrokenProcessPool as e:
                outcome = Outcome(
                    task.name, FAILED, task.source, reason=f"worker process died: {_first_line(e)}"
                )
            progress.add(outcome)
    return progress.outcomes


def summarize(outcomes: Sequence[Outcome]) -> dict[str, int]:
    """Counts per status (and total frames written)."""
    counts = {OK: 0, SKIPPED: 0, FAILED: 0}
    for o in outcomes:
        counts[o.status] += 1
    warnings = sum(bool(o.warning) for o in outcomes)
    return {"total": len(outcomes), **counts, "warnings": warnings, "frames": sum(o.frames for o in outcomes)}


def write_report(
    dst: str | os.PathLike,
    outcomes: Sequence[Outcome],
    command: str,
    options: dict[str, Any] | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write ``DST/_report.json``: the counts, the options, every failure with its reason, every video
    kept with a warning (damaged: decoder errors, frames lost), and ``notes`` (also logged as warnings:
    what the user may have meant to include)."""
    for note in notes:
        log.warning("warning: %s", note)
    path = Path(dst) / REPORT_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    failures = sorted((o for o in outcomes if o.status == FAILED), key=lambda o: o.name)
    report = {
        "command": command,
        "options": options or {},
        "summary": summarize(outcomes),
        "failures": [{"name": o.name, "source": o.source, "reason": o.reason} for o in failures],
        "warnings": [
            {"name": o.name, "source": o.source, "reason": o.warning}
            for o in sorted((o for o in outcomes if o.warning), key=lambda o: o.name)
        ],
        "notes": list(notes),
    }
    return write_json(path, report)


def failure_lines(outcomes: Sequence[Outcome]) -> list[str]:
    """One line per failure, ``FAILED <source>: <reason>``, then per warning, ``WARNING <source>: …``."""
    failed = sorted((o for o in outcomes if o.status == FAILED), key=lambda o: o.name)
    warned = sorted((o for o in outcomes if o.warning and o.status != FAILED), key=lambda o: o.name)
    return [f"FAILED {o.source or o.name}: {o.reason}" for o in failed] + [
        f"WARNING {o.source or o.name}: {o.warning}" for o in warned
    ]
