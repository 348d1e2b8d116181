"""The parallel runner: outcomes, failures that never stop a run, the report, real joblib backends."""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass

import pytest

from vr.preprocess.jobs import clean_stale_temps, split_pending
from vr.preprocess.runner import (
    FAILED,
    OK,
    SKIPPED,
    Outcome,
    failure_lines,
    n_workers,
    run_tasks,
    summarize,
    write_report,
)


@dataclass(frozen=True)
class Item:
    name: str
    source: str
    value: int


def square_or_fail(item: Item) -> Outcome:
    if item.value % 3 == 0:
        raise ValueError(f"value {item.value} is a multiple of 3\nsecond line")
    if item.value == 4:
        raise KeyError()  # no message: the exception's name is the reason
    return Outcome(item.name, OK, item.source, frames=item.value * item.value, reason=str(os.getpid()))


ITEMS = [Item(f"c/v{i}", f"src/v{i}.mp4", i) for i in range(1, 9)]


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_failures_never_stop_the_run(backend):
    outcomes = run_tasks(square_or_fail, ITEMS, jobs=2, backend=backend, quiet=True)
    by_name = {o.name: o for o in outcomes}
    assert set(by_name) == {i.name for i in ITEMS}
    assert by_name["c/v3"].status == FAILED and by_name["c/v3"].reason == "value 3 is a multiple of 3"
    assert by_name["c/v4"].reason == "KeyError" and by_name["c/v4"].source == "src/v4.mp4"
    assert by_name["c/v5"].status == OK and by_name["c/v5"].frames == 25
    assert summarize(outcomes) == {
        "total": 8,
        OK: 5,
        SKIPPED: 0,
        FAILED: 3,
        "warnings": 0,
        "frames": 1 + 4 + 25 + 49 + 64,
    }
    pids = {o.reason for o in outcomes if o.status == OK}
    assert (pids == {str(os.getpid())}) == (backend == "threading")  # loky runs in other processes


def test_sequential_with_progress_bar(capsys):
    outcomes = run_tasks(square_or_fail, ITEMS[:2], jobs=1, backend="loky", desc="demo")
    assert [o.status for o in outcomes] == [OK, OK]
    err = capsys.readouterr().err
    assert "demo" in err and "video/s" in err and "frames/s" in err
    run_tasks(square_or_fail, ITEMS[:2], jobs=1, quiet=True)
    assert capsys.readouterr().err == ""


def test_report_and_failure_lines(tmp_path):
    outcomes = run_tasks(square_or_fail, ITEMS, jobs=1, quiet=True)
    outcomes.append(Outcome("c/done", SKIPPED, "src/done.mp4"))
    path = write_report(tmp_path / "dst", outcomes, "demo", {"size": 240})
    report = json.loads(path.read_text())
    assert path.name == "_report.json" and report["command"] == "demo" and report["options"] == {"size": 240}
    assert report["summary"][SKIPPED] == 1 and report["summary"][FAILED] == 3
    assert [f["name"] for f in report["failures"]] == ["c/v3", "c/v4", "c/v6"]
    assert failure_lines(outcomes) == [
        "FAILED src/v3.mp4: value 3 is a multiple of 3",
        "FAILED src/v4.mp4: KeyError",
        "FAILED src/v6.mp4: value 6 is a multiple of 3",
    ]


def test_dask_backend_local_cluster():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        outcomes = run_tasks(
            square_or_fail, ITEMS, backend="dask", address=cluster.scheduler_address, quiet=True
        )
    assert summarize(outcomes)[OK] == 5 and summarize(outcomes)[FAILED] == 3


def test_bad_backend_and_workers():
    with pytest.raises(ValueError, match="unknown backend"):
        run_tasks(square_or_fail, ITEMS, backend="spark", quiet=True)
    with pytest.raises(ValueError, match="address"):
        run_tasks(square_or_fail, ITEMS, backend="loky", address="tcp://127.0.0.1:8786", quiet=True)
    assert n_workers(3) == 3 and n_workers(-1) == os.cpu_count() and n_workers(-10_000) == 1
    assert run_tasks(square_or_fail, [], quiet=True) == []


def test_plan_skips_complete_and_duplicates(tmp_path):
    (tmp_path / "c" / "a").mkdir(parents=True)
    (tmp_path / "c" / "a" / ".vr_complete.json").write_text("{}")
    (tmp_path / "c" / "b").mkdir()  # no marker: not complete
    for stale in (tmp_path / ".tmp-x.1", tmp_path / "c" / ".tmp-b.123"):
        stale.mkdir()
        (stale / "image_00001.jpg").touch()
    assert clean_stale_temps(tmp_path) == 2
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["a", "b"]
    sources = [("c/a", "a.mp4"), ("c/b", "b.mp4"), ("c/b", "b.avi")]
    pending, done = split_pending(sources, lambda s: s[0], lambda s: s[1], tmp_path, overwrite=False)
    assert pending == [("c/b", "b.mp4")]
    assert [(o.name, o.status) for o in done] == [("c/a", SKIPPED), ("c/b", FAILED)]
    assert "same output folder" in done[1].reason
    pending, _ = split_pending(sources[:2], lambda s: s[0], lambda s: s[1], tmp_path, overwrite=True)
    assert len(pending) == 2


def crash_on_two(item: Item) -> Outcome:
    if item.value == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # a worker dying in native code
    return Outcome(item.name, OK, item.source, frames=1)


def test_dead_worker_fails_only_its_own_task():
    outcomes = run_tasks(crash_on_two, ITEMS, jobs=2, backend="loky", quiet=True)
    assert sorted(o.name for o in outcomes) == sorted(i.name for i in ITEMS)  # each exactly once
    failed = [o for o in outcomes if o.status == FAILED]
    assert [o.name for o in failed] == ["c/v2"] and failed[0].reason.startswith("worker process died")


def test_ray_backend_local_cluster(tmp_path):
    pytest.importorskip("ray.util.joblib")  # the `dist` extra: pip install -e '.[dist]'
    import numpy as np

    from vr.datasets.encode import write_video
    from vr.preprocess.frames import FrameOptions, extract_frames

    frames = np.random.default_rng(0).integers(0, 255, (4, 32, 48, 3), dtype=np.uint8)
    (tmp_path / "src" / "c").mkdir(parents=True)
    for name in ("a", "b", "c"):
        write_video(tmp_path / "src" / "c" / f"{name}.avi", frames, 25, "mpeg4")
    (tmp_path / "src" / "c" / "broken.avi").write_bytes(b"not a video")
    outcomes = extract_frames(
        tmp_path / "src", tmp_path / "dst", "folder", FrameOptions(size=32), jobs=2, backend="ray", quiet=True
    )
    assert summarize(outcomes)[OK] == 3 and summarize(outcomes)[FAILED] == 1
    assert len(list((tmp_path / "dst" / "c" / "a").glob("image_*.jpg"))) == 4
