"""Every command, driven through the CLI as a hostile or careless user would: names that leave their
folder, labels out of range, broken checkpoints, bad values, read-only and full disks, a second run at
the same time, signals. Each must end with one line naming the file or the value (no traceback), the
documented exit status, nothing written or deleted outside its output folder, and the good data kept."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import psutil
import pytest
from helpers.cli import invoke, run
from helpers.motion import make_motion_frames
from helpers.shards import make_shards
from helpers.videos import bar_frame, encode

from vr.cli import cli
from vr.datasets.synth import SynthConfig
from vr.manifests.schema import Manifest, read_manifest
from vr.train.logs import read_log

TINY = SynthConfig(classes=3, videos_per_class=4, clips_per_group=2, frames=8, width=32, height=24)
TRAIN = ["--model", "r3d10", "--model-arg", "widen_factor=0.125", "--clip-len", "4", "--size", "16"]
TRAIN += ["--batch-size", "2", "--epochs", "1", "--workers", "0", "--quiet"]


def vr(*args: str, **kw) -> subprocess.CompletedProcess:
    """``python -m vr ARGS`` as a separate process (signals, real exit statuses)."""
    return subprocess.run(
        [sys.executable, "-m", "vr", *args], capture_output=True, text=True, timeout=300, **kw
    )


@pytest.fixture(scope="module")
def motion(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    manifest = make_motion_frames(root, TINY)
    return {"root": root, "manifest": manifest, "frames": root / "frames"}


@pytest.fixture
def sentinel(tmp_path) -> Path:
    """A file outside every output folder that no command may touch."""
    path = tmp_path / "sentinel.txt"
    path.write_text("keep me")
    return path


def untouched(sentinel: Path) -> bool:
    return sentinel.read_text() == "keep me" and len(list(sentinel.parent.glob("*sentinel*"))) == 1


# ---- names that leave their folder --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../sentinel.txt", "ABSOLUTE"])
def test_index_and_manifest_names_stay_in_their_root(motion, tmp_path, sentinel, name):
    name = str(sentinel) if name == "ABSOLUTE" else name
    shards = make_shards(tmp_path / "shards", [(f"v{i}", i % 3, 6) for i in range(6)], per_shard=2)
    index = json.loads((shards / "index.json").read_text())
    index["shards"][1]["name"] = name
    (shards / "index.json").write_text(json.dumps(index))
    for cmd in (
        ["train", "--data", str(shards), "--out", str(tmp_path / "run"), *TRAIN],
        ["shard", "verify", str(shards)],
    ):
        out = run(*cmd, code=1)
        assert "index.json" in out and "not a plain file name" in out
    # a manifest path that climbs out of the frame root, in training and in evaluation
    manifest = read_manifest(motion["manifest"])
    manifest.videos[2].path = "../" * 3 + "etc" if name.startswith("..") else name
    bad = tmp_path / "bad.jsonl"
    manifest.write(bad)
    out = run(
        "train",
        "--data",
        str(bad),
        "--frames",
        str(motion["frames"]),
        "--out",
        str(tmp_path / "r2"),
        *TRAIN,
        code=1,
    )
    assert f"{bad}:4: video" in out and "leaves the frame root" in out
    assert run("manifest", "info", str(bad), code=1).count("leaves the frame root") == 1
    assert untouched(sentinel) and not (tmp_path / "run" / "last.pth").exists()


def test_labels_out_of_range_are_named_not_crashes(motion, tmp_path):
    manifest = read_manifest(motion["manifest"])
    manifest.videos[0].label_index = 7  # D5: an index past the label list
    manifest.videos[1].label = "Jumping"  # D6: a name that is not its index's entry
    bad = tmp_path / "labels.jsonl"
    manifest.write(bad)
    out = run("manifest", "info", str(bad), code=1)
    assert f"{bad}:2: video" in out and "label_index 7" in out
    out = run(
        "train",
        "--data",
        str(bad),
        "--frames",
        str(motion["frames"]),
        "--out",
        str(tmp_path / "r"),
        *TRAIN,
        code=1,
    )
    assert "label_index 7" in out
    # shards whose samples carry a label index the index's label list does not have
    shards = make_shards(tmp_path / "s", [(f"v{i}", i % 3, 6) for i in range(6)], per_shard=3)
    index = json.loads((shards / "index.json").read_text())
    index["labels"] = index["labels"][:2]
    (shards / "index.json").write_text(json.dumps(index))
    out = run("train", "--data", str(shards), "--out", str(tmp_path / "r3"), *TRAIN, code=1)
    assert "has label index 2, but index.json lists 2 labels" in out


# ---- broken files --------------------------------------------------------------------------------------


class _Payload:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@pytest.mark.parametrize("kind", ["text", "empty", "truncated", "pickle"])
def test_a_bad_checkpoint_is_one_line_everywhere(motion, tmp_path, kind):
    run_dir = tmp_path / "run"
    run(
        "train",
        "--data",
        str(motion["manifest"]),
        "--frames",
        str(motion["frames"]),
        "--out",
        str(run_dir),
        *TRAIN,
        code=0,
    )
    good = (run_dir / "last.pth").read_bytes()
    ran = tmp_path / "payload-ran"
    ckpt = run_dir / "last.pth"
    if kind == "text":
        ckpt.write_text("not a checkpoint\n")
    elif kind == "empty":
        ckpt.write_bytes(b"")
    elif kind == "truncated":
        ckpt.write_bytes(good[: len(good) // 2])
    else:
        import torch

        torch.save({"epoch": 1, "state_dict": {}, "x": _Payload(str(ran))}, ckpt)
        assert zipfile.is_zipfile(ckpt)
    args = [
        "train",
        "--data",
        str(motion["manifest"]),
        "--frames",
        str(motion["frames"]),
        "--out",
        str(run_dir),
    ]
    out = run(*args, *TRAIN, "--resume", "--epochs", "2", code=1)
    assert "cannot resume" in out and str(ckpt) in out
    for cmd in (
        ["eval", str(ckpt), "--data", str(motion["manifest"]), "--frames-root", str(motion["frames"]), "-q"],
        ["convert-weights", str(ckpt), str(tmp_path / "x.pth"), "--model", "r3d10"],
        ["export", "onnx", str(ckpt), str(tmp_path / "x.onnx")],
        [*args[:-1], str(tmp_path / "other"), *TRAIN, "--pretrain", str(ckpt)],
    ):
        out = run(*cmd, code=1)
        assert str(ckpt) in out and len(out.strip().splitlines()) == 1, out
    assert not ran.exists()  # no pickle ran
    assert not (tmp_path / "x.pth").exists() and not (tmp_path / "x.onnx").exists()


def test_extract_frames_reports_what_it_cannot_take_and_takes_the_rest(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "walk").mkdir(parents=True)
    (src / "run").mkdir()
    encode(src / "walk" / "a.avi", [bar_frame(k) for k in range(6)])
    encode(src / "run" / "b.mp4", [bar_frame(k) for k in range(6)])
    (src / "loop").symlink_to(src / "loop2")
    (src / "loop2").symlink_to(src / "loop")
    (src / "walk" / "gone.avi").symlink_to(tmp_path / "nowhere.avi")
    (src / "walk" / "folder.avi").mkdir()
    result = invoke(["preprocess", "extract-frames", str(src), str(dst), "--dataset", "ucf101", "-q"])
    assert result.exit_code == 1 and result.exception is None or isinstance(result.exception, SystemExit)
    report = json.loads((dst / "_report.json").read_text())
    failed = {f["name"]: f["reason"] for f in report["failures"]}
    assert set(failed) == {"loop", "loop2", "walk/gone.avi", "walk/folder.avi"}
    assert "symbolic links" in failed["loop"] and "dangling" in failed["walk/gone.avi"]
    assert report["summary"]["ok"] == 1 and (dst / "walk" / "a" / ".vr_complete.json").exists()
    assert any("1 .mp4" in n and "--ext .mp4" in n for n in report["notes"])  # the UCF101 .mp4 left out
    # nothing to do is said, with why
    out = run("preprocess", "flow-tvl1", str(src), str(tmp_path / "flow"), code=2)
    assert "no frame folders" in out and "--from-video" in out
    clean = tmp_path / "clean" / "run"
    clean.mkdir(parents=True)
    shutil.copy(src / "run" / "b.mp4", clean)
    out = run("preprocess", "extract-frames", str(clean.parent), str(tmp_path / "x"), "--ext", ".mkv", code=2)
    assert "no videos" in out and "found only video files of other extensions (1 .mp4)" in out


# ---- bad values ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--device", "gpu7"], "--device 'gpu7': not a device"),
        (["--ft-begin-module", "nosuchlayer"], "'nosuchlayer' is not a top-level module"),
        (["--model-arg", "widen_factor=abc"], "widen_factor='abc' is not a number"),
        (["--model-arg", "nosuch=1"], "takes no argument nosuch"),
    ],
)
def test_bad_training_values_are_named(motion, tmp_path, args, message):
    base = [
        "train",
        "--data",
        str(motion["manifest"]),
        "--frames",
        str(motion["frames"]),
        "--out",
        str(tmp_path / "r"),
    ]
    out = run(*base, *TRAIN, *args, code=1)
    assert message in out and "abcabc" not in out


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--data", "x", "--out", "o", "--lr", "nan"],
        ["train", "--data", "x", "--out", "o", "--weight-decay", "inf"],
        ["train", "--data", "x", "--out", "o", "--seed", "-1"],
        ["preprocess", "flow-tvl1", ".", "o", "--tau", "-1"],
        ["preprocess", "flow-tvl1", ".", "o", "--lambda", "0"],
        ["preprocess", "flow-tvl1", ".", "o", "--epsilon", "nan"],
        ["preprocess", "flow-tvl1", ".", "o", "--median-filtering", "4"],
        ["preprocess", "extract-frames", ".", "o", "--jobs", "0"],
        ["fuse", "a.json", "b.json", "--weights", "nan,1"],
    ],
)
def test_out_of_range_values_are_usage_errors(tmp_path, args):
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "b.json").write_text("{}")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        out = run(*args, code=2)
    finally:
        os.chdir(cwd)
    assert "Invalid value" in out or "Error" in out


def test_every_numeric_option_has_a_range():
    """Each int and float option of every command is range-checked (and floats finite)."""
    import click

    from vr.commands.options import JOBS, SEED, Real

    def walk(command, path):
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(sub, [*path, name])
        else:
            for param in command.params:
                yield [*path, param.name], param

    for path, param in walk(cli, ["vr"]):
        kind = param.type
        if isinstance(kind, click.types.FloatParamType):
            assert isinstance(kind, Real), f"{' '.join(path)}: a float option must be Real (finite, in range)"
        elif isinstance(kind, click.types.IntParamType):
            assert isinstance(kind, click.IntRange) or kind in (SEED, JOBS), (
                f"{' '.join(path)}: int with no range"
            )


def test_a_loss_that_explodes_stops_training_with_a_reason(motion, tmp_path):
    base = [
        "train",
        "--data",
        str(motion["manifest"]),
        "--frames",
        str(motion["frames"]),
        "--out",
        str(tmp_path / "r"),
    ]
    out = run(*base, *TRAIN, "--lr", "1e30", "--epochs", "3", code=1)
    assert "the loss is" in out and "lower --lr" in out


# ---- the environment: read-only and full disks ---------------------------------------------------------


def _mount_tmpfs(target: Path, options: str) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True)
    return done.returncode == 0


@pytest.fixture
def small_disks(tmp_path):
    """A read-only folder and a 64 KB disk (tmpfs mounts; skipped where mounting is not allowed)."""
    ro, full = tmp_path / "ro", tmp_path / "full"
    if os.geteuid() != 0 or not _mount_tmpfs(ro, "ro,size=64k") or not _mount_tmpfs(full, "size=64k"):
        pytest.skip("needs root and tmpfs mounts for a read-only and a full disk")
    yield ro, full
    for target in (ro, full):
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_read_only_and_full_disks_are_one_line(motion, tmp_path, small_disks):
    import torch

    from vr.models import create_model

    ro, full = small_disks
    shards = tmp_path / "shards"
    args = ["--frames", str(motion["frames"]), "--out", str(shards), "--subset", "train", "--quiet"]
    run("shard", str(motion["manifest"]), *args, code=0)
    src = tmp_path / "videos" / "c"
    src.mkdir(parents=True)
    encode(src / "a.avi", [bar_frame(k) for k in range(6)])
    public = tmp_path / "public.pth"
    torch.save({"state_dict": create_model("r3d10", 3, widen_factor=0.125).state_dict()}, public)
    for cmd in (
        [
            "shard",
            str(motion["manifest"]),
            "--frames",
            str(motion["frames"]),
            "--out",
            str(ro / "s"),
            "--quiet",
        ],
        ["train", "--data", str(shards), "--out", str(ro / "run"), *TRAIN],
        ["preprocess", "extract-frames", str(src.parent), str(ro / "f"), "-q"],
        [
            "convert-weights",
            str(public),
            str(ro / "x.pth"),
            "--model",
            "r3d10",
            "--model-arg",
            "widen_factor=0.125",
        ],
    ):
        out = run(*cmd, code=1)
        assert out.count("\n") == 1 and "Read-only file system" in out, out
    out = run(
        "shard",
        str(motion["manifest"]),
        "--frames",
        str(motion["frames"]),
        "--out",
        str(full / "s"),
        "--quiet",
        code=1,
    )
    assert "No space left on device" in out and "run the same command again" in out
    assert not (full / "s" / "index.json").exists()  # a full disk never leaves a folder that looks complete


# ---- a second run at the same time, kills and signals ------------------------------------------------


def test_a_second_run_into_the_same_folder_is_refused_naming_the_first(tmp_path):
    import fcntl

    src = tmp_path / "src" / "c"
    src.mkdir(parents=True)
    encode(src / "a.avi", [bar_frame(k) for k in range(6)])
    dst = tmp_path / "dst"
    dst.mkdir()
    with open(dst / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.write("pid 4242: vr preprocess extract-frames src dst\n")
        lock.flush()
        for cmd in ("extract-frames", "flow-tvl1"):
            out = run(
                "preprocess",
                cmd,
                str(tmp_path / "src"),
                str(dst),
                "--from-video" if cmd == "flow-tvl1" else "-q",
                code=1,
            )
            assert f"another `vr preprocess {cmd}` is writing to this folder (pid 4242" in out
    assert not list(dst.glob("c/*"))
    run("preprocess", "extract-frames", str(tmp_path / "src"), str(dst), "-q", code=0)  # free again


def test_killing_a_run_stops_its_workers(tmp_path):
    frames = tmp_path / "frames"
    rng = np.random.default_rng(0)
    for v in range(6):
        folder = frames / f"v{v}"
        folder.mkdir(parents=True)
        import cv2

        for i in range(1, 4):
            cv2.imwrite(str(folder / f"image_{i:05d}.jpg"), rng.integers(0, 255, (480, 640), dtype=np.uint8))
    cmd = [
        sys.executable,
        "-m",
        "vr",
        "preprocess",
        "flow-tvl1",
        str(frames),
        str(tmp_path / "flow"),
        "-j",
        "2",
        "-q",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    workers: list[psutil.Process] = []
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.2)
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True) if "python" in p.name()]
    assert workers, "no worker started"
    time.sleep(1.5)  # the workers are computing
    proc.kill()
    proc.wait()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"workers outlived the killed run: {[p.pid for p in alive]}"


def test_sigterm_stops_the_whole_demo_and_says_so(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vr", "demo", "--out", str(out), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not (out / "synth").exists():
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "stopped by SIGTERM" in stderr and f"rerun `vr demo --out {out}` to resume" in stderr
    assert "Traceback" not in stderr and "top-1" not in stdout  # no result table from a stopped run


def test_a_batch_of_one_is_dropped_and_counted(motion, tmp_path):
    manifest = read_manifest(motion["manifest"]).subset("train")
    keep = Manifest(manifest.labels, manifest.videos[:3])  # 3 videos, batches of 2: the last has one clip
    path = tmp_path / "three.jsonl"
    keep.write(path)
    run_dir = tmp_path / "run"
    run(
        "train", "--data", str(path), "--frames", str(motion["frames"]), "--out", str(run_dir), *TRAIN, code=0
    )
    assert [row["skipped"] for row in read_log(run_dir / "train.log")] == [1]


def test_a_convert_weights_checkpoint_evaluates_with_class_indices(motion, tmp_path):
    import torch

    from vr.models import create_model

    model = create_model("r3d10", num_classes=len(TINY.class_names), widen_factor=0.125)
    src = tmp_path / "public.pth"
    torch.save({"state_dict": model.state_dict()}, src)
    ckpt = tmp_path / "vr.pth"
    run(
        "convert-weights",
        str(src),
        str(ckpt),
        "--model",
        "r3d10",
        "--model-arg",
        "widen_factor=0.125",
        code=0,
    )
    out = run(
        "eval",
        str(ckpt),
        "--data",
        str(motion["manifest"]),
        "--frames-root",
        str(motion["frames"]),
        "--subset",
        "val",
        "--n-clips",
        "1",
        "--n-crops",
        "1",
        "--workers",
        "0",
        "-q",
        code=0,
    )
    assert "video top-1" in out
    video = encode(tmp_path / "clip.avi", [bar_frame(k) for k in range(12)])
    out = run("infer", str(ckpt), str(video), "--n-clips", "1", "--json", "--quiet", code=0)
    (entries,) = json.loads(out)["results"].values()
    labels = {entry["label"] for entry in entries}
    assert labels <= {"0", "1", "2"} and labels  # classes by index: the checkpoint has no names


def test_option_rules_hold_for_python_callers_too(motion, tmp_path):
    """Rules once checked only by the CLI are the library's: the same error from Python."""
    from vr.preprocess.flow.tvl1 import FlowOptions, flow_tvl1
    from vr.preprocess.frames import FrameOptions
    from vr.shards import ShardOptions, build_shards

    with pytest.raises(ValueError, match="needs --from-video"):
        flow_tvl1(motion["frames"], tmp_path / "flow", FlowOptions(fps=5.0))
    with pytest.raises(ValueError, match="--from-video only"):
        build_shards(motion["manifest"], tmp_path / "s", ShardOptions(video_fps=5.0), frames=motion["frames"])
    with pytest.raises(ValueError, match="give both width and height"):
        FrameOptions(size=None, width=32)
    args = ["--frames", str(motion["frames"]), "--out", str(tmp_path / "s"), "--size", "16"]
    out = run("shard", str(motion["manifest"]), *args, code=2)
    assert "--from-video only" in out and not (tmp_path / "s").exists()


# ---- a shard server serves its shards and nothing else ------------------------------------------------


def _get(url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    import http.client
    import urllib.parse

    where = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_a_shard_server_serves_only_what_its_index_names(tmp_path, sentinel, caplog):
    import logging

    from vr.shards.serve import serving

    folder = make_shards(tmp_path / "shards", [(f"v{i}", i % 2, 4) for i in range(6)])
    (folder / "notes.txt").write_text("not a shard")
    (folder / "sub").mkdir()
    (folder / "link").symlink_to(sentinel)
    os.link(sentinel, folder / "hard")
    index = json.loads((folder / "index.json").read_text())
    listed = [s["name"] for s in index["shards"]]
    # a listed shard replaced by a link to a file outside, a listed member index by a hard link
    (folder / listed[1]).unlink()
    (folder / listed[1]).symlink_to(sentinel)
    index["shards"][2]["members"] = "hard-members.idx.json"
    os.link(sentinel, folder / "hard-members.idx.json")
    (folder / "index.json").write_text(json.dumps(index))
    shard0 = (folder / listed[0]).read_bytes()
    with caplog.at_level(logging.INFO, logger="vr.serve"), serving(folder, max_range=1000) as server:
        assert _get(server.url, "/index.json") == (200, (folder / "index.json").read_bytes())
        assert _get(server.url, f"/{listed[0]}", {"Range": "bytes=10-19"}) == (206, shard0[10:20])
        for path in [
            "/link",
            "/hard",
            "/notes.txt",
            "/sub",
            "/sub/",
            "/",
            f"/{listed[1]}",
            "/hard-members.idx.json",
            "/../sentinel.txt",
            "/%2e%2e/sentinel.txt",
            "/..%2fsentinel.txt",
            "/" + str(sentinel),
            "//" + str(sentinel),
            "/.vr_shard.lock",
        ]:
            status, body = _get(server.url, path)
            assert status == 404, path
            assert b"keep me" not in body, path
        # one range per request, and a bounded one
        assert _get(server.url, f"/{listed[0]}", {"Range": "bytes=0-1,5-6"})[0] == 416
        assert _get(server.url, f"/{listed[0]}", {"Range": "bytes=0-5000"})[0] == 416
        assert _get(server.url, f"/{listed[0]}", {"Range": "bytes=0-999"}) == (206, shard0[:1000])
        # a name the index adds later is served once index.json changes
        extra = folder / "later.tar"
        extra.write_bytes(b"x" * 10)
        assert _get(server.url, "/later.tar")[0] == 404
        index["shards"].append({"name": "later.tar", "n_samples": 0, "bytes": 10, "sha256": "0" * 64})
        (folder / "index.json").write_text(json.dumps(index))
        assert _get(server.url, "/later.tar") == (200, b"x" * 10)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "vr.serve")
    assert f"GET /{listed[0]} HTTP/1.1" in logged and "/link" in logged and " 404 " in logged
    assert untouched(sentinel)


def test_a_shard_server_bounds_its_connections(tmp_path):
    import socket

    from vr.shards.serve import serving

    folder = make_shards(tmp_path / "shards", [("v0", 0, 4), ("v1", 1, 4)])
    with serving(folder, max_connections=2, timeout=2.0) as server:
        port = server.server_address[1]
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        time.sleep(0.3)  # both accepted and waiting for a request line
        assert _get(server.url, "/index.json")[0] == 503
        held[0].close()
        time.sleep(0.3)
        assert _get(server.url, "/index.json")[0] == 200
        time.sleep(2.5)  # the other one idled past the timeout and gave its slot back
        assert [_get(server.url, "/index.json")[0] for _ in range(3)] == [200] * 3
        held[1].close()


# ---- credentials never reach a file or the output -----------------------------------------------------

TOKEN, API_KEY, PASSWORD = "tok-7f3a9c41e2", "apikey-93b1d0", "pw-5e1d2b77"


def test_credentials_reach_no_file_and_no_output(tmp_path):
    import base64

    from vr.shards.serve import serving
    from vr.train.config import TrainConfig

    shards = make_shards(tmp_path / "shards", [(f"v{i}", i % 2, 6) for i in range(8)], per_shard=4)
    work = tmp_path / "work"
    work.mkdir()
    headers = json.dumps({"Authorization": f"Bearer {TOKEN}", "X-Api-Key": API_KEY})
    secret = ["--storage-option", f"headers={headers}", "--storage-option", "retries=2"]
    secrets = [TOKEN, API_KEY, PASSWORD, base64.b64encode(f"alice:{PASSWORD}".encode()).decode()]
    with serving(shards) as server:
        url = server.url.replace("http://", f"http://alice:{PASSWORD}@")
        run_dir = work / "run"
        args = ["--model", "r3d10", "--model-arg", "widen_factor=0.125", "--clip-len", "4", "--size", "16"]
        args += ["--batch-size", "2", "--epochs", "1", "--workers", "0", "--checkpoint-steps", "1"]
        out = run("train", "--data", url, "--val-data", url, "--out", run_dir, *args, *secret)
        out += run(
            "eval",
            run_dir / "best.pth",
            "--data",
            url,
            "--output",
            work / "eval" / "p.json",
            "--workers",
            0,
            "--n-clips",
            1,
            "--n-crops",
            1,
            *secret,
        )
        out += run(
            "bench",
            "loader",
            url,
            "--clip-len",
            4,
            "--size",
            16,
            "--batch-size",
            2,
            "--workers",
            0,
            "--batches",
            2,
            "--json",
            work / "bench.json",
            *secret,
        )
        out += run("shard", "verify", url, "--quick", "--quiet", *secret)
        # a credential in a value of the wrong type: the option is named, the value redacted
        bad = json.dumps({"Authorization": [f"Bearer {TOKEN}"]})
        out += run(
            "train", "--data", url, "--out", work / "bad", *args, "--storage-option", f"headers={bad}", code=2
        )
        assert "headers" in out
        # a resumed run takes the credentials again from the command line, never from the file
        saved = TrainConfig.read(run_dir / "config.json")
        assert "headers" not in saved["storage_options"] and saved["storage_options"]["retries"] == 2
        out += run("train", "--data", url, "--out", run_dir, *args, "--epochs", "2", "--resume", *secret)
    written = [p for p in work.rglob("*") if p.is_file()]
    assert {"config.json", "last.pth", "best.pth", "train.log", "p.json", "bench.json"} <= {
        p.name for p in written
    }
    for path in written:
        data = path.read_bytes()
        for s in secrets:
            assert s.encode() not in data, f"{s} in {path}"
    for s in secrets:
        assert s not in out
    config = json.loads((run_dir / "config.json").read_text())
    assert config["loader"]["storage_options"]["headers"] == {
        "Authorization": "<redacted>",
        "X-Api-Key": "<redacted>",
    }
    assert config["data"].startswith("http://alice:<redacted>@127.0.0.1:")


def test_redaction_by_name_and_by_value():
    from vr.redact import redact, redact_argv, redact_text, remember

    remember({"client_kwargs": {"aws_secret_access_key": "wJalrXUtnFEMIK7MDENG"}})
    value = {
        "storage_options": {
            "key": "AKIAIOSFODNN7EXAMPLE",
            "client_kwargs": {"aws_session_token": "FQoGZXIvYXdzE", "region_name": "eu-west-1"},
            "headers": {"Cookie": "sid=abc123", "Accept": "application/json"},
            "token": 12345,  # not a string: a number under a secret name is still not written
        },
        "notes": [
            "signed https://h/x.tar?X-Amz-Signature=deadbeef&part=1",
            "wJalrXUtnFEMIK7MDENG in a message",
        ],
        "state": (1, 2.5, None, True),
    }
    clean = redact(value)
    opts = clean["storage_options"]
    assert (
        opts["key"] == opts["client_kwargs"]["aws_session_token"] == opts["headers"]["Cookie"] == "<redacted>"
    )
    assert (
        opts["client_kwargs"]["region_name"] == "eu-west-1"
        and opts["headers"]["Accept"] == "application/json"
    )
    assert clean["notes"] == [
        "signed https://h/x.tar?X-Amz-Signature=<redacted>&part=1",
        "<redacted> in a message",
    ]
    assert clean["state"] == (1, 2.5, None, True)
    assert redact_text("Basic augmentation, 3 crops") == "Basic augmentation, 3 crops"
    # the command line a lock file records
    argv = [
        "--storage-option",
        'headers={"Authorization": "Bearer tok-5d2a81c3"}',
        "--storage-option",
        "secret=abc",
    ]
    assert redact_argv(argv) == ["--storage-option", 'headers={"Authorization": "Bearer <redacted>"}',
                                 "--storage-option", "secret=<redacted>"]  # fmt: skip
    assert redact_text("s3://AKIAIOSFODNN7EXAMPLE:x@b/") == "s3://<redacted>:<redacted>@b/"


# ---- a checkpoint cannot ask for a network its tensors do not fill ------------------------------------


def _peak_rss_mb(args: list[str]) -> tuple[int, float, str]:
    """Run ``python -m vr ARGS``; its exit status, its own peak resident memory (MB) and its output."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "vr", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024, out


@pytest.mark.parametrize("command", ["eval", "infer", "export"])
def test_a_checkpoint_asking_for_a_huge_network_is_refused_quickly(tmp_path, command):
    import torch

    from vr.models import create_model, model_checkpoint

    ckpt = model_checkpoint(create_model("r3d10", 2, widen_factor=0.125), labels=["a", "b"])
    ckpt["model_args"]["widen_factor"] = 1000.0  # terabytes, were it built
    hostile = tmp_path / "hostile.pth"
    torch.save(ckpt, hostile)
    shards = make_shards(tmp_path / "shards", [("v0", 0, 4), ("v1", 1, 4)])
    video = encode(tmp_path / "clip.avi", [bar_frame(k) for k in range(8)])
    target = {"eval": ["--data", str(shards)], "infer": [str(video)], "export": []}[command]
    argv = (
        [command, str(hostile), *target]
        if command != "export"
        else ["export", "onnx", str(hostile), str(tmp_path / "m.onnx")]
    )
    started = time.perf_counter()
    out = run(*argv, code=1)
    assert time.perf_counter() - started < 5
    assert "does not fit" in out and "hostile.pth" in out
    code, peak_mb, out = _peak_rss_mb(argv)
    assert code == 1 and "does not fit" in out and "Traceback" not in out
    assert peak_mb < 1024, f"vr {command} peaked at {peak_mb:.0f} MB"


# ---- config files: every field checked against its type and range -------------------------------------


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("epochs", "many", "field 'epochs' must be an integer, got 'many'"),
        ("lr", "fast", "field 'lr' must be a finite number"),
        ("lr", float("inf"), "field 'lr' must be a finite number, got inf"),
        ("nesterov", "yes", "field 'nesterov' must be true or false"),
        ("milestones", [10, "twenty"], "field 'milestones' must be a list of integers"),
        ("storage_options", ["a"], "field 'storage_options' must be a JSON object"),
        ("val_data", 7, "field 'val_data' must be a string or null"),
        ("epochs", 0, "epochs, batch size, accumulate must be >= 1"),
        ("optimizer", "lbfgs", "optimizer must be one of"),
        ("model_args", {"widen_factor": "wide"}, "widen_factor='wide' is not a number"),
        ("sampling", {"clip_len": "long"}, "field 'clip_len' must be an integer, got 'long'"),
        ("sampling", {"n_crops": 5}, "n_crops must be 1 or 3"),
        ("loader", {"prefetch": 0.5}, "field 'loader.prefetch' must be an integer"),
    ],
)
def test_a_config_file_is_checked_field_by_field(motion, tmp_path, field, value, message):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"data": str(motion["manifest"]), "model": "r3d10", field: value}))
    args = ["train", "--config", config, "--frames", motion["frames"], "--out", tmp_path / "run", "--quiet"]
    out = run(*args, code=1)
    assert message in out and str(config) in out, out
    assert not (tmp_path / "run" / "last.pth").exists()


def test_storage_option_values_are_typed(tmp_path):
    shards = make_shards(tmp_path / "shards", [("v0", 0, 4), ("v1", 1, 4)])
    for option, message in [
        ("retries=many", "retries: must be an integer"),
        ("retries=-1", "retries: must be an integer"),
        ("backoff=[1]", "backoff: must be a number"),
        ("timeout=0", "timeout: must be a number"),
        ('headers=["Authorization"]', "headers: must be a JSON object"),
    ]:
        out = run("shard", "verify", "http://127.0.0.1:9/", "--storage-option", option, code=2)
        assert message in out, out
    assert shards.is_dir()


# ---- damaged videos: decoded in part, listed as warnings (failures with --strict) ---------------------


def _damaged_h264(path: Path) -> Path:
    """A real H.264 MP4 with two runs of garbage in its frame data: ffmpeg decodes it in part, reporting
    "Invalid NAL unit size" and "Error splitting the input into NAL units"."""
    import random

    from vr.video.ffmpeg_bin import ffmpeg_exe

    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25"]
    cmd += ["-frames:v", "100", "-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, check=True)
    data = bytearray(path.read_bytes())
    rng = random.Random(1)
    for start in (int(len(data) * 0.4), int(len(data) * 0.6)):
        data[start : start + 3000] = bytes(rng.randrange(256) for _ in range(3000))
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("damaged")
    videos = root / "videos" / "walk"
    videos.mkdir(parents=True)
    bad = _damaged_h264(videos / "bad.mp4")
    good = encode(videos / "good.avi", [bar_frame(k) for k in range(8)])
    from vr.manifests.schema import Manifest as M
    from vr.manifests.schema import VideoRecord

    records = [VideoRecord(p.stem, "walk", 0, "train", f"walk/{p.stem}", 8, 25.0) for p in (bad, good)]
    M(["walk"], records).write(root / "m.jsonl")
    return {"root": root, "videos": root / "videos", "bad": bad, "good": good, "manifest": root / "m.jsonl"}


def test_a_damaged_video_is_a_warning_in_extraction_and_a_failure_with_strict(damaged, tmp_path):
    out = run("preprocess", "extract-frames", damaged["videos"], tmp_path / "f", "--jobs", 1)
    assert "WARNING" in out and "bad.mp4: damaged: 80 of 100 frames decoded" in out and "1 damaged" in out
    report = json.loads((tmp_path / "f" / "_report.json").read_text())
    assert report["summary"]["ok"] == 2 and report["summary"]["warnings"] == 1
    (warning,) = report["warnings"]
    assert (
        warning["name"] == "walk/bad"
        and "decode error" in warning["reason"]
        and "NAL unit" in warning["reason"]
    )
    marker = json.loads((tmp_path / "f" / "walk" / "bad" / ".vr_complete.json").read_text())
    assert marker["decode"] == {"packets": 100, "decoded": 80, "errors": 20} and marker["n_frames"] == 80
    good = json.loads((tmp_path / "f" / "walk" / "good" / ".vr_complete.json").read_text())
    assert good["decode"]["errors"] == 0
    # a rerun skips both and still lists the damaged one
    out = run("preprocess", "extract-frames", damaged["videos"], tmp_path / "f", "--jobs", 1)
    assert "bad.mp4: damaged" in out
    assert json.loads((tmp_path / "f" / "_report.json").read_text())["summary"]["warnings"] == 1
    out = run(
        "preprocess", "extract-frames", damaged["videos"], tmp_path / "s", "--jobs", 1, "--strict", code=1
    )
    assert "FAILED" in out and "bad.mp4: damaged" in out
    assert not (tmp_path / "s" / "walk" / "bad").exists() and (tmp_path / "s" / "walk" / "good").is_dir()
    out = run(
        "preprocess", "flow-tvl1", damaged["videos"], tmp_path / "fl", "--from-video", "--jobs", 1,
        "--width", 40, "--height", 30,
    )  # fmt: skip
    assert "bad.mp4: damaged" in out


def test_a_damaged_video_is_a_warning_in_shards_and_infer(damaged, tmp_path):
    import torch

    from vr.models import create_model, model_checkpoint

    args = ["shard", damaged["manifest"], "--from-video", damaged["videos"], "--max-count", 4, "--quiet"]
    out = run(*args, "--out", tmp_path / "s")
    assert "WARNING walk/bad.mp4: damaged" in out
    report = json.loads((tmp_path / "s" / "_report.json").read_text())
    assert report["n_warnings"] == 1 and report["n_rejected"] == 0
    assert json.loads((tmp_path / "s" / "index.json").read_text())["n_samples"] == 2
    run(*args, "--out", tmp_path / "strict", "--strict")
    report = json.loads((tmp_path / "strict" / "_report.json").read_text())
    assert report["n_rejected"] == 1 and "damaged" in report["rejected"][0]["reason"]
    ckpt = model_checkpoint(create_model("r3d10", 2, widen_factor=0.125), labels=["a", "b"])
    ckpt["clip"] = [4, 16, 16]
    torch.save(ckpt, tmp_path / "m.pth")
    videos = [damaged["bad"], damaged["good"]]
    out = run("infer", tmp_path / "m.pth", *videos, "--n-clips", 1, "--quiet")
    assert "WARNING" in out and "bad.mp4: damaged" in out and "good.avi  (1 clips)" in out
    out = run("infer", tmp_path / "m.pth", *videos, "--n-clips", 1, "--quiet", "--strict", code=1)
    assert "error:" in out and "bad.mp4: damaged" in out


# ---- progress in logs and pipes: whole lines, no carriage-return frames -------------------------------


def _vr_bytes(*args: str, **kw) -> tuple[int, bytes]:
    """``python -m vr ARGS`` with standard error to a pipe, read as bytes (text mode would turn the
    carriage returns looked for into newlines)."""
    proc = subprocess.run([sys.executable, "-m", "vr", *args], capture_output=True, timeout=300, **kw)
    return proc.returncode, proc.stderr


def test_progress_in_a_pipe_is_one_line_per_stage(damaged, tmp_path):
    args = ["preprocess", "extract-frames", str(damaged["videos"]), str(tmp_path / "f"), "--jobs", "1"]
    code, err = _vr_bytes(*args)
    assert code == 0, err
    assert b"\r" not in err
    stage = [line for line in err.decode().splitlines() if line.startswith("frames: ")]
    assert len(stage) == 1 and stage[0].startswith("frames: 2/2 video in ") and "0 failed" in stage[0]
    code, err = _vr_bytes("shard", str(damaged["manifest"]), "--from-video", str(damaged["videos"]),
                          "--max-count", "4", "--out", str(tmp_path / "s"))  # fmt: skip
    assert code == 0, err
    assert b"\r" not in err and [ln for ln in err.decode().splitlines() if ln.startswith("shard: ")]
    code, err = _vr_bytes(
        *args[:-3], str(tmp_path / "g"), "--jobs", "1", env={**os.environ, "VR_PROGRESS": "bar"}
    )
    assert code == 0 and b"\r" in err  # the same run with tqdm's bar
