"""`vr shard`: real JPEG frame folders -> real tar shards, read back by webdataset and tar; verify, resume."""

from __future__ import annotations

import fcntl
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import webdataset as wds
from helpers.cli import invoke

from vr import layout
from vr.locks import FolderBusyError
from vr.manifests.schema import Manifest, VideoRecord
from vr.shards import ShardError, ShardOptions, build_shards, read_index, shard_info, verify_shards
from vr.shards.jpeg import JpegError, check_jpeg
from vr.shards.plan import assign_keys, parse_size
from vr.shards.tarstream import TarFormatError, iter_members
from vr.video.ffmpeg_bin import ffmpeg_exe

LABELS = ["jump", "run", "walk"]


def _jpeg(rng: np.random.Generator, size: int = 16, gray: bool = False) -> bytes:
    shape = (size, size) if gray else (size, size, 3)
    ok, buf = cv2.imencode(".jpg", rng.integers(0, 256, shape, dtype=np.uint8))
    assert ok
    return buf.tobytes()


def make_folder(root: Path, rel: str, files: dict[str, bytes], marker: bool = True) -> Path:
    """A frame/flow folder written the way the pipeline does: temporary folder, marker, rename."""
    final = root / rel
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = layout.temp_sibling(final)
    tmp.mkdir()
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    if marker:
        layout.commit_folder(tmp, final, {"n": len(files)})
    else:
        tmp.rename(final)
    return final


def make_video(root: Path, flow_root: Path | None, rel: str, n: int, seed: int, marker: bool = True) -> None:
    rng = np.random.default_rng(seed)
    make_folder(root, rel, {layout.image_name(i): _jpeg(rng) for i in range(1, n + 1)}, marker)
    if flow_root is not None:
        files = {}
        for i in range(1, n):
            x, y = layout.flow_names(i)
            files[x], files[y] = _jpeg(rng, gray=True), _jpeg(rng, gray=True)
        make_folder(flow_root, rel, files, marker)


def record(vid: str, label_index: int, rel: str, n: int, subset: str = "train") -> VideoRecord:
    return VideoRecord(vid, LABELS[label_index], label_index, subset, rel, n, 25.0)


@pytest.fixture
def data(tmp_path: Path) -> dict:
    """Seven small videos in three classes with frames and flow, and their manifest."""
    frames, flow = tmp_path / "frames", tmp_path / "flow"
    records = []
    for v in range(7):
        label = v % 3
        rel = f"{LABELS[label]}/v_{LABELS[label]}_g{v:02d}"
        n = 2 + v % 4
        make_video(frames, flow, rel, n, seed=v)
        records.append(record(f"v_{LABELS[label]}_g{v:02d}", label, rel, n))
    records.append(record("v_walk_test", 2, "walk/v_walk_g00", 3, subset="test"))  # not in --subset train
    manifest = tmp_path / "m.jsonl"
    Manifest(LABELS, records).write(manifest)
    return {"manifest": manifest, "frames": frames, "flow": flow, "records": records[:7], "tmp": tmp_path}


def build(data: dict, out: Path, **kw) -> object:
    options = {"subset": "train", "max_count": 3, **kw.pop("options", {})}
    kw.setdefault("frames", data["frames"])
    return build_shards(data["manifest"], out, ShardOptions(**options), progress=False, **kw)


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.tar"))}


def test_round_trip_webdataset_same_bytes_same_order(data):
    out = data["tmp"] / "out"
    result = build(data, out, flow=data["flow"], options={"modality": "both", "shuffle": False})
    assert result.n_samples == 7 and result.n_shards == 3 and not result.rejected
    index = read_index(out)
    urls = [str(out / s["name"]) for s in index["shards"]]
    samples = list(wds.WebDataset(urls, shardshuffle=False, empty_check=False))
    by_id = {r.id: r for r in data["records"]}
    assert [s["__key__"] for s in samples] == sorted(by_id)  # --no-shuffle: id order
    for sample in samples:
        rec = by_id[sample["__key__"]]
        meta = json.loads(sample["json"])
        assert (meta["id"], meta["label"], meta["label_index"], meta["subset"]) == (
            rec.id,
            rec.label,
            rec.label_index,
            "train",
        )
        assert (meta["n_frames"], meta["n_flow"], meta["width"], meta["height"]) == (
            rec.n_frames,
            rec.n_frames - 1,
            16,
            16,
        )
        folder, flow_folder = data["frames"] / rec.path, data["flow"] / rec.path
        for i in range(1, rec.n_frames + 1):
            assert sample[f"rgb_{i:05d}.jpg"] == (folder / layout.image_name(i)).read_bytes()
        for i in range(1, rec.n_frames):
            x, y = layout.flow_names(i)
            assert sample[f"flow_x_{i:05d}.jpg"] == (flow_folder / x).read_bytes()
            assert sample[f"flow_y_{i:05d}.jpg"] == (flow_folder / y).read_bytes()
    with tarfile.open(urls[0]) as tar:
        members = tar.getmembers()
    key, n = samples[0]["__key__"], json.loads(samples[0]["json"])["n_frames"]
    expected = [f"{key}.json", *(f"{key}.rgb_{i:05d}.jpg" for i in range(1, n + 1))]
    expected += [f"{key}.flow_{c}_{i:05d}.jpg" for i in range(1, n) for c in "xy"]
    assert [m.name for m in members[: len(expected)]] == expected
    assert {(m.mode, m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0o644, 0, 0, "", "", 0)}
    assert index["per_class"] == {"jump": 3, "run": 2, "walk": 2} and index["n_samples"] == 7
    assert [s["n_samples"] for s in index["shards"]] == [3, 3, 1]
    assert verify_shards(out, progress=False) == []
    info = shard_info(out)
    assert (info["samples"], info["frames"], info["flow_pairs"]) == (
        7,
        sum(r.n_frames for r in data["records"]),
        sum(r.n_frames - 1 for r in data["records"]),
    )


def test_segment_stores_its_frames_renumbered(tmp_path):
    frames, flow = tmp_path / "frames", tmp_path / "flow"
    make_video(frames, flow, "run/long", 6, seed=3)
    manifest = tmp_path / "m.jsonl"
    rec = VideoRecord("long_seg", "run", 1, "train", "run/long", 3, 25.0, segment=[2, 5])
    Manifest(LABELS, [rec]).write(manifest)
    options = ShardOptions(modality="both")
    build_shards(manifest, tmp_path / "out", options, frames=frames, flow=flow, progress=False)
    (sample,) = wds.WebDataset(str(tmp_path / "out" / "train-000000.tar"), shardshuffle=False)
    meta = json.loads(sample["json"])
    assert (meta["n_frames"], meta["n_flow"]) == (3, 2)
    for i, index in enumerate((2, 3, 4), start=1):
        assert sample[f"rgb_{i:05d}.jpg"] == (frames / "run/long" / layout.image_name(index)).read_bytes()
    for i, index in enumerate((2, 3), start=1):
        assert sample[f"flow_y_{i:05d}.jpg"] == (flow / "run/long" / layout.flow_names(index)[1]).read_bytes()


def test_flow_only_needs_no_frames(data):
    out = data["tmp"] / "out"
    result = build(data, out, frames=None, flow=data["flow"], options={"modality": "flow"})
    assert result.n_samples == 7 and read_index(out)["modality"] == "flow"
    sample = next(iter(wds.WebDataset(str(out / "train-000000.tar"), shardshuffle=False)))
    meta = json.loads(sample["json"])
    assert (meta["n_frames"], meta["n_flow"], meta["width"]) == (0, 1, 16)
    assert sorted(k for k in sample if k.endswith(".jpg")) == ["flow_x_00001.jpg", "flow_y_00001.jpg"]
    assert verify_shards(out, progress=False) == []


def test_tar_lists_members(data):
    out = data["tmp"] / "out"
    build(data, out, options={"max_count": None, "shuffle": False})
    (shard,) = out.glob("*.tar")
    listed = subprocess.run(
        ["tar", "-tf", str(shard)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(listed) == 7 + sum(r.n_frames for r in data["records"])
    assert listed[0] == "v_jump_g00.json" and listed[1] == "v_jump_g00.rgb_00001.jpg"
    assert all("/" not in name for name in listed)


def test_long_member_names_read_back_everywhere(tmp_path):
    frames = tmp_path / "frames"
    make_video(frames, None, "a/b", 2, seed=0)
    long_id = "v_" + "x" * 150
    manifest = tmp_path / "m.jsonl"
    Manifest(LABELS, [record(long_id, 0, "a/b", 2), record("short", 1, "a/b", 2)]).write(manifest)
    build_shards(manifest, tmp_path / "out", ShardOptions(), frames=frames, progress=False)
    (shard,) = (tmp_path / "out").glob("*.tar")
    listed = subprocess.run(
        ["tar", "-tf", str(shard)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert listed[3:] == [f"{long_id}.json", f"{long_id}.rgb_00001.jpg", f"{long_id}.rgb_00002.jpg"]
    with tarfile.open(shard) as tar:  # checks every header's checksum
        assert tar.getnames() == listed
    keys = [s["__key__"] for s in wds.WebDataset(str(shard), shardshuffle=False)]
    assert keys == ["short", long_id]
    assert verify_shards(tmp_path / "out", progress=False) == []


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_reader_matches_tarfile(tmp_path, fmt):
    path = tmp_path / "t.tar"
    names = ["a.json", "d" * 60 + "/" + "e" * 60 + ".jpg", "dir"]
    if fmt != tarfile.USTAR_FORMAT:
        names.append("x" * 180 + ".rgb_00001.jpg")
    with tarfile.open(path, "w", format=fmt) as tar:
        for i, name in enumerate(names):
            info = tarfile.TarInfo(name)
            if name == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                data = os.urandom(100 * i + 3)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    with tarfile.open(path) as tar:
        expected = [(m.name, m.isfile(), tar.extractfile(m).read() if m.isfile() else b"") for m in tar]
    with open(path, "rb") as f:
        assert [(m.name.rstrip("/"), m.is_file, m.data) for m in iter_members(f)] == expected
    raw = path.read_bytes()
    for broken in (raw[:700], raw[:512] + raw[513:], raw[:100] + b"Z" + raw[101:]):
        with pytest.raises(TarFormatError):
            list(iter_members(io.BytesIO(broken)))


def test_max_size_cuts_shards(data):
    out = data["tmp"] / "out"
    build(data, out, options={"max_count": None, "max_size": parse_size("12KB")})
    index = read_index(out)
    assert len(index["shards"]) > 1 and index["n_samples"] == 7
    assert all(s["bytes"] <= 12_000 or s["n_samples"] == 1 for s in index["shards"])


def test_verify_names_truncated_and_bit_flipped_shard(data):
    out = data["tmp"] / "out"
    build(data, out)
    names = [s["name"] for s in read_index(out)["shards"]]
    original = (out / names[1]).read_bytes()
    (out / names[1]).write_bytes(original[: len(original) // 3])
    problems = verify_shards(out, progress=False)
    assert problems and {p.shard for p in problems} == {names[1]}
    assert any("SHA-256" in p.message for p in problems) and any("size" in p.message for p in problems)
    (out / names[1]).write_bytes(original)
    flipped = bytearray((out / names[2]).read_bytes())
    with tarfile.open(out / names[2]) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".jpg"))
    flipped[member.offset_data + member.size // 2] ^= 0x10
    (out / names[2]).write_bytes(bytes(flipped))
    problems = verify_shards(out, quick=True, progress=False)
    assert [(p.shard, p.message) for p in problems] == [(names[2], "SHA-256 differs from the index")]
    result = invoke(["shard", "verify", str(out), "--quiet"])
    assert result.exit_code == 1 and names[2] in result.output
    (out / names[2]).unlink()
    result = invoke(["shard", "verify", str(out), "--quick", "--quiet"])
    assert result.exit_code == 1 and f"{names[2]}: missing" in result.output


def test_verify_reports_sample_and_member_of_a_bad_jpeg(data, tmp_path):
    out = data["tmp"] / "out"
    build(data, out, options={"max_count": None})
    (shard,) = out.glob("*.tar")
    with tarfile.open(shard) as tar:
        target = [m for m in tar.getmembers() if m.name.endswith(".jpg")][4]
    raw = bytearray(shard.read_bytes())
    raw[target.offset_data : target.offset_data + 2] = b"\x00\x00"  # destroy the JPEG start marker
    shard.write_bytes(bytes(raw))
    problems = verify_shards(out, progress=False)
    bad = [p for p in problems if p.member is not None]
    assert [(p.sample, p.member) for p in bad] == [(target.name.split(".")[0], target.name)]
    assert "start-of-image" in bad[0].message
    assert [p.member for p in verify_shards(out, quick=True, progress=False)] == [None]


def _run_cli(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vr", "shard", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_kill_and_resume_gives_identical_shards(tmp_path):
    frames = tmp_path / "frames"
    rng = np.random.default_rng(0)
    frame = {layout.image_name(1): _jpeg(rng), layout.image_name(2): _jpeg(rng)}
    records = []
    for v in range(120):
        make_folder(frames, f"c/v{v:03d}", frame)
        records.append(record(f"v{v:03d}", 0, f"c/v{v:03d}", 2))
    manifest = tmp_path / "m.jsonl"
    Manifest(LABELS, records).write(manifest)
    args = [str(manifest), "--frames", str(frames), "--max-count", "1", "--check-decode", "--quiet", "--out"]
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    proc = _run_cli([*args, str(killed)])
    deadline = time.monotonic() + 60
    while not (killed / "train-000000.tar").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "index.json").exists(), "the run finished before it was killed"
    first = killed / "train-000000.tar"
    assert first.exists() and (killed / ".plan.json").exists()
    n_before, inode = len(list(killed.glob("*.tar"))), first.stat().st_ino
    assert n_before < 120
    resumed = _run_cli([*args, str(killed)])
    out, err = resumed.communicate()
    assert resumed.returncode == 0, err
    assert f"{120 - n_before} written, {n_before} already done" in out.decode()
    assert first.stat().st_ino == inode  # kept, not rewritten
    assert not list(killed.glob(".tmp-*"))
    build_shards(manifest, whole, ShardOptions(max_count=1), frames=frames, progress=False)
    assert shard_bytes(killed) == shard_bytes(whole) and len(shard_bytes(whole)) == 120
    assert read_index(killed)["shards"] == read_index(whole)["shards"]


def test_reproducible_and_seeded_shuffle(data):
    outs = {name: data["tmp"] / name for name in ("a", "b", "s0", "s1", "s1b", "s2")}
    build(data, outs["a"], options={"shuffle": False})
    build(data, outs["b"], jobs=2, options={"shuffle": False})
    assert shard_bytes(outs["a"]) == shard_bytes(outs["b"])
    for name, seed in (("s1", 1), ("s1b", 1), ("s2", 2)):
        build(data, outs[name], options={"shuffle": True, "seed": seed})
    assert shard_bytes(outs["s1"]) == shard_bytes(outs["s1b"])

    def order(out: Path) -> list[str]:
        urls = [str(out / s["name"]) for s in read_index(out)["shards"]]
        return [s["__key__"] for s in wds.WebDataset(urls, shardshuffle=False, empty_check=False)]

    assert sorted(order(outs["s1"])) == order(outs["a"]) == sorted(order(outs["s2"]))
    assert order(outs["s1"]) != order(outs["s2"]) and order(outs["s1"]) != order(outs["a"])
    build(data, outs["s0"])  # the default: shuffled with seed 0, so shards mix the classes
    assert order(outs["s0"]) != order(outs["a"]) and sorted(order(outs["s0"])) == order(outs["a"])


def test_bad_inputs_are_reported_and_left_out(data):
    frames, flow, tmp = data["frames"], data["flow"], data["tmp"]
    rng = np.random.default_rng(9)
    good = {layout.image_name(i): _jpeg(rng) for i in (1, 2)}
    make_video(frames, flow, "run/unmarked", 2, seed=1, marker=False)
    make_folder(frames, "run/empty", {})
    make_folder(
        frames, "run/gap", {layout.image_name(1): good["image_00001.jpg"], layout.image_name(3): b"x"}
    )
    make_folder(frames, "run/noflow", good)
    make_folder(frames, "run/truncated", {**good, layout.image_name(3): good["image_00002.jpg"][:-40]})
    make_folder(frames, "run/garbage", {**good, layout.image_name(2): os.urandom(300)})
    bad = ["missing", "unmarked", "empty", "gap", "noflow", "truncated", "garbage"]
    records = data["records"] + [record(f"bad_{name}", 1, f"run/{name}", 2) for name in bad]
    records.append(record("escape", 1, "../frames/run/unmarked", 2))
    records.append(replace(record("bad_label", 1, "run/noflow", 2), label="walk"))
    Manifest(LABELS, records).write(data["manifest"])

    result = build(data, tmp / "rgb", options={"max_count": None})
    rejected = {r.id: r for r in result.rejected}
    assert result.n_samples == 7 + 1  # noflow is fine for RGB
    assert set(rejected) == {
        "bad_missing",
        "bad_unmarked",
        "bad_empty",
        "bad_gap",
        "bad_truncated",
        "bad_garbage",
        "escape",
        "bad_label",
    }
    assert "missing" in rejected["bad_missing"].reason and "marker" in rejected["bad_unmarked"].reason
    assert "empty" in rejected["bad_empty"].reason and "image_00002.jpg missing" in rejected["bad_gap"].reason
    assert (
        rejected["bad_truncated"].stage == "write"
        and rejected["bad_truncated"].member == "bad_truncated.rgb_00003.jpg"
    )
    assert "end-of-image" in rejected["bad_truncated"].reason
    assert (
        rejected["bad_garbage"].member == "bad_garbage.rgb_00002.jpg"
        and "corrupt JPEG" in rejected["bad_garbage"].reason
    )
    report = json.loads((tmp / "rgb" / "_report.json").read_text())
    assert "label list" in rejected["bad_label"].reason and "leaves" in rejected["escape"].reason
    assert report["n_rejected"] == 8 and {r["id"] for r in report["rejected"]} == set(rejected)
    assert verify_shards(tmp / "rgb", progress=False) == []

    result = build(data, tmp / "both", flow=flow, options={"modality": "both", "allow_unmarked": True})
    rejected = {r.id: r.reason for r in result.rejected}
    assert "bad_unmarked" not in rejected and "flow folder missing" in rejected["bad_noflow"]
    assert result.n_samples == 7 + 1
    args = ["shard", str(data["manifest"]), "--frames", str(frames), "--subset", "train", "--quiet"]
    result = invoke([*args, "--out", str(tmp / "cli")])
    assert result.exit_code == 0 and "8 videos left out" in result.output


def test_member_names_never_escape(tmp_path):
    frames = tmp_path / "frames"
    make_video(frames, None, "a/b", 2, seed=0)
    records = [
        record("../../evil/x.tar", 0, "a/b", 2),
        record("______evil_x_tar", 0, "a/b", 2),
        record("", 0, "a/b", 2),
    ]
    manifest = tmp_path / "m.jsonl"
    Manifest(LABELS, records).write(manifest)
    build_shards(manifest, tmp_path / "out", ShardOptions(), frames=frames, progress=False)
    (shard,) = (tmp_path / "out").glob("*.tar")
    with tarfile.open(shard) as tar:
        names = tar.getnames()
    assert {n.split(".")[0] for n in names} == {
        "_",
        "______evil_x_tar",
        "______evil_x_tar-1",
    }
    assert all("/" not in n and n.count(".") in (1, 2) for n in names)
    assert [k for k, _ in assign_keys(records)] == ["_", "______evil_x_tar", "______evil_x_tar-1"]


def test_refuses_another_label_set_unless_overwrite(data):
    out = data["tmp"] / "out"
    build(data, out)
    other = Manifest(
        ["x", *LABELS[1:]], [replace(r, label=(r.label_index and r.label) or "x") for r in data["records"]]
    )
    other.write(data["manifest"])
    with pytest.raises(ShardError, match="another label set"):
        build(data, out)
    result = invoke(["shard", str(data["manifest"]), "--frames", str(data["frames"]), "--out", str(out)])
    assert result.exit_code == 1 and "--overwrite" in result.output and "Traceback" not in result.output
    build(data, out, overwrite=True)
    assert read_index(out)["labels"][0] == "x" and verify_shards(out, progress=False) == []


def test_info_table_and_lock(data):
    out = data["tmp"] / "out"
    build(data, out)
    result = invoke(["shard", "info", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "samples      7" in lines and "classes      3 of 3 present" in lines
    assert [line.split() for line in lines[-3:]] == [["jump", "3"], ["run", "2"], ["walk", "2"]]
    with open(out / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # as a running `vr shard` holds it
        with pytest.raises(FolderBusyError, match="another `vr shard`"):
            build(data, out)
    assert build(data, out).shards_skipped == 3


def test_changed_options_remove_stale_shards(data):
    out = data["tmp"] / "out"
    build(data, out, options={"max_count": 1})
    assert len(list(out.glob("*.tar"))) == 7
    result = build(data, out, options={"max_count": 3})
    assert result.shards_written == 3 and sorted(p.name for p in out.glob("*.tar")) == [
        f"train-{i:06d}.tar" for i in range(3)
    ]
    assert verify_shards(out, progress=False) == []
    assert build(data, out, options={"max_count": 3}).shards_skipped == 3


def test_cli_usage_errors_exit_2(data):
    base = ["shard", str(data["manifest"]), "--out", str(data["tmp"] / "o")]
    for extra in (
        ["--modality", "flow", "--frames", str(data["frames"])],
        ["--frames", str(data["frames"]), "--max-size", "lots"],
        [],
    ):
        result = invoke([*base, *extra])
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    result = invoke(["shard", "info", str(data["tmp"])])
    assert result.exit_code == 1 and "index.json" in result.output


def _bogus_huffman_jpeg() -> bytes:
    """Structurally sound (markers, lengths, EOI) but undecodable: a Huffman table's counts are garbage."""
    data = bytearray(_jpeg(np.random.default_rng(1)))
    dht = data.index(b"\xff\xc4")
    data[dht + 5 : dht + 21] = b"\xff" * 16
    return bytes(data)


def test_check_decode_catches_what_the_structural_check_cannot(tmp_path):
    frames = tmp_path / "frames"
    rng = np.random.default_rng(2)
    make_folder(
        frames, "a/v", {layout.image_name(1): _jpeg(rng), layout.image_name(2): _bogus_huffman_jpeg()}
    )
    manifest = tmp_path / "m.jsonl"
    Manifest(LABELS, [record("v", 0, "a/v", 2)]).write(manifest)
    quick = build_shards(manifest, tmp_path / "q", ShardOptions(), frames=frames, progress=False)
    assert quick.n_samples == 1 and not quick.rejected
    problems = verify_shards(tmp_path / "q", progress=False)
    assert [(p.sample, p.member) for p in problems] == [("v", "v.rgb_00002.jpg")]
    assert verify_shards(tmp_path / "q", quick=True, progress=False) == []
    with pytest.raises(ShardError, match="no usable videos"):
        build_shards(manifest, tmp_path / "d", ShardOptions(check_decode=True), frames=frames, progress=False)
    report = json.loads((tmp_path / "d" / "_report.json").read_text())
    assert [(r["member"], r["reason"]) for r in report["rejected"]] == [
        ("v.rgb_00002.jpg", "corrupt JPEG: JPEG does not decode")
    ]


def test_jpeg_structural_check_and_sizes():
    data = _jpeg(np.random.default_rng(0), size=16)
    assert check_jpeg(data, decode=True) == (16, 16) and check_jpeg(data + b"\x00\x00") == (16, 16)
    for broken in (b"", data[:-2], data[:30], b"\xff\xd8" + os.urandom(200) + b"\xff\xd9", data[2:]):
        with pytest.raises(JpegError):
            check_jpeg(broken)
    assert parse_size("1GB") == 10**9 and parse_size("64KiB") == 65536 and parse_size("1000") == 1000
    with pytest.raises(ValueError):
        parse_size("1 parsec")


def _ffmpeg_video(path: Path) -> None:
    cmd = [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc=size=48x32:rate=10", "-frames:v", "6"]
    subprocess.run([*cmd, "-c:v", "mpeg4", "-q:v", "2", "-y", str(path)], check=True)


def test_from_video_matches_extract_frames_then_shard(tmp_path):
    from vr.preprocess.frames import FrameOptions, FrameTask, extract_video

    videos, frames = tmp_path / "videos", tmp_path / "frames"
    (videos / "run").mkdir(parents=True)
    _ffmpeg_video(videos / "run" / "clip.mp4")
    extract_video(
        FrameTask(
            "run/clip",
            str(videos / "run" / "clip.mp4"),
            str(frames / "run" / "clip"),
            FrameOptions(size=None),
        )
    )
    manifest = tmp_path / "m.jsonl"
    Manifest(LABELS, [record("clip", 1, "run/clip", 6)]).write(manifest)
    build_shards(manifest, tmp_path / "a", ShardOptions(), frames=frames, progress=False)
    with pytest.raises(ValueError, match="--max-count"):
        build_shards(manifest, tmp_path / "b", ShardOptions(), videos=videos, progress=False)
    options = ShardOptions(video_quality=95, max_count=10)
    build_shards(manifest, tmp_path / "b", options, videos=videos, progress=False)
    assert verify_shards(tmp_path / "b", progress=False) == []
    (a,), (b,) = (
        list(wds.WebDataset(str(tmp_path / d / "train-000000.tar"), shardshuffle=False)) for d in "ab"
    )
    meta_a, meta_b = json.loads(a["json"]), json.loads(b["json"])
    assert meta_b["source"] == "run/clip.mp4" and meta_b["n_frames"] == meta_a["n_frames"] == 6
    assert (meta_b["width"], meta_b["height"]) == (48, 32)
    for i in range(1, 7):
        x = cv2.imdecode(np.frombuffer(a[f"rgb_{i:05d}.jpg"], np.uint8), cv2.IMREAD_COLOR).astype(float)
        y = cv2.imdecode(np.frombuffer(b[f"rgb_{i:05d}.jpg"], np.uint8), cv2.IMREAD_COLOR).astype(float)
        assert np.abs(x - y).mean() < 6
    other = cv2.imdecode(np.frombuffer(a["rgb_00001.jpg"], np.uint8), cv2.IMREAD_COLOR).astype(float)
    last = cv2.imdecode(np.frombuffer(b["rgb_00006.jpg"], np.uint8), cv2.IMREAD_COLOR).astype(float)
    assert np.abs(other - last).mean() > 6  # the tolerance tells frames apart
    build_shards(manifest, tmp_path / "c", options, videos=videos, progress=False)
    assert shard_bytes(tmp_path / "b") == shard_bytes(tmp_path / "c")


def _as_old_folder(out: Path) -> dict[str, bytes]:
    """Make ``out`` look written by a `vr shard` without member indexes; returns the removed indexes."""
    removed = {p.name: p.read_bytes() for p in out.glob("*.idx.json")}
    for name in removed:
        (out / name).unlink()
    index = json.loads((out / "index.json").read_text())
    for entry in index["shards"]:
        del entry["members"], entry["members_sha256"]
    (out / "index.json").write_text(json.dumps(index))
    return removed


def test_reindex_gives_an_old_folder_the_member_indexes_vr_shard_writes(data):
    from vr.pipelines import SourceError, build_loader

    out = data["tmp"] / "out"
    build(data, out, flow=data["flow"], options={"modality": "both"})
    before = [b["video_id"] for b in build_loader(out, backend="torch", num_workers=0, batch_size=2)]
    written = _as_old_folder(out)
    with pytest.raises(SourceError, match=f"run `vr shard reindex {out}`"):
        build_loader(out, backend="torch")
    assert any("no member index" in p.message for p in verify_shards(out, progress=False))
    result = invoke(["shard", "reindex", str(out), "--quiet"])
    assert result.exit_code == 0 and "3 shard(s) indexed, 0 already" in result.output, result.output
    assert {p.name: p.read_bytes() for p in out.glob("*.idx.json")} == written  # byte for byte
    assert verify_shards(out, progress=False) == []
    after = [b["video_id"] for b in build_loader(out, backend="torch", num_workers=0, batch_size=2)]
    assert after == before
    assert "0 shard(s) indexed, 3 already" in invoke(["shard", "reindex", str(out)]).output
    # a shard changed since sharding is refused, naming it; the others are not touched
    _as_old_folder(out)
    shard = out / "train-000001.tar"
    raw = bytearray(shard.read_bytes())
    raw[-100] ^= 1
    shard.write_bytes(bytes(raw))
    result = invoke(["shard", "reindex", str(out), "--quiet"])
    assert result.exit_code == 1 and "train-000001.tar: its size or SHA-256 differs" in result.output
    assert "Traceback" not in result.output


def test_verify_catches_a_member_index_that_disagrees_with_its_shard(data):
    import hashlib

    out = data["tmp"] / "out"
    build(data, out)
    members = json.loads((out / "train-000000.idx.json").read_text())
    members["offsets"][2] += 512  # one frame "moved", and the index re-signed to match
    (out / "train-000000.idx.json").write_text(json.dumps(members))
    index = json.loads((out / "index.json").read_text())
    index["shards"][0]["members_sha256"] = hashlib.sha256(
        (out / "train-000000.idx.json").read_bytes()
    ).hexdigest()
    (out / "index.json").write_text(json.dumps(index))
    problems = verify_shards(out, quick=True, progress=False)
    assert len(problems) == 1 and "member index says bytes" in problems[0].message
    assert problems[0].member.endswith(".rgb_00002.jpg")


@pytest.mark.parametrize("name", ["../victim.txt", "ABSOLUTE"])
def test_a_hostile_plan_never_makes_vr_shard_delete_outside_out(data, name):
    out = data["tmp"] / "out"
    build(data, out)
    victim = data["tmp"] / "victim.txt"
    victim.write_text("keep me")
    plan = json.loads((out / ".plan.json").read_text())
    plan["shards"].append({"name": str(victim) if name == "ABSOLUTE" else name, "digest": "", "samples": []})
    (out / ".plan.json").write_text(json.dumps(plan))
    with pytest.raises(ShardError, match="not a plain file name"):
        build(data, out, options={"max_count": 2})
    result = invoke(["shard", str(data["manifest"]), "--frames", str(data["frames"]), "--out", str(out)])
    assert (
        result.exit_code == 1
        and "not a plain file name" in result.output
        and "Traceback" not in result.output
    )
    assert victim.read_text() == "keep me"
