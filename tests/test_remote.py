"""Shard folders behind URLs: a real range-capable HTTP server and a real S3-compatible server (moto), both
started here on loopback; ranged reads, the download cache, servers that fail, shards that lie."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest
import torch
from helpers.cli import invoke
from helpers.shards import make_shards

from vr.pipelines import SourceError, build_loader
from vr.shards import verify_shards
from vr.shards.format import read_index
from vr.shards.serve import serving
from vr.storage import StorageError, open_store

VIDEOS = [(f"vid{i}", i % 3, 6 + 3 * i) for i in range(7)]
FAST = {"retries": 2, "backoff": 0.01}  # a dead server gives its error in well under a second


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return make_shards(tmp_path_factory.mktemp("remote") / "s", VIDEOS, per_shard=2)


def batches(source, **kw) -> list[dict]:
    base = dict(
        clip_len=8, size=16, batch_size=3, backend="torch", seed=3, train_crop="corner", num_workers=0
    )
    return list(build_loader(source, **{**base, **kw}))


def assert_same(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x["video_id"] == y["video_id"] and torch.equal(x["label"], y["label"])
        assert torch.equal(x["clip"], y["clip"])


def test_http_shards_load_like_local_ones_with_ranged_reads(shards):
    local = batches(shards)
    local_eval = batches(shards, mode="eval", n_clips=2)
    local_dali = batches(shards, backend="dali", num_workers=2)
    with serving(shards) as server:
        assert_same(batches(server.url), local)
        assert_same(batches(server.url, num_workers=2), local)  # workers reach the server themselves
        assert_same(batches(server.url, backend="dali", num_workers=2), local_dali)
        assert_same(batches(server.url, mode="eval", n_clips=2), local_eval)
        server.requests.clear()
        loader = build_loader(
            server.url, mode="eval", clip_len=2, size=8, batch_size=1, backend="torch", num_workers=0
        )
        next(iter(loader))
    paths = [(m, p) for m, p, _ in server.requests]
    # one clip: the index, one member index, the shard's size, one ranged read of its 2 frames + headers
    assert paths == [
        ("GET", "/index.json"),
        ("GET", "/train-000000.idx.json"),
        ("HEAD", "/train-000000.tar"),
        ("GET", "/train-000000.tar"),
    ]
    shard_bytes = (shards / "train-000000.tar").stat().st_size
    assert server.requests[-1][2] < shard_bytes / 4  # never the whole shard


def test_verify_and_info_take_a_url(shards, tmp_path):
    with serving(shards) as server:
        assert verify_shards(server.url, progress=False) == []
        result = invoke(["shard", "info", server.url])
        assert result.exit_code == 0 and "samples      7" in result.output
    copy = tmp_path / "copy"
    shutil.copytree(shards, copy)
    data = bytearray((copy / "train-000001.tar").read_bytes())
    data[-2000] ^= 0xFF  # a bit flip in the zero padding: only the SHA-256 can tell
    (copy / "train-000001.tar").write_bytes(bytes(data))
    with serving(copy) as server:
        result = invoke(["shard", "verify", server.url, "--quick", "--quiet"])
    assert result.exit_code == 1 and "train-000001.tar: SHA-256 differs from the index" in result.output


def _serve_in_a_process(folder: Path) -> tuple[subprocess.Popen, str]:
    """`vr shard serve` as its own process (killing it drops its connections, as a real crash does)."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vr", "shard", "serve", str(folder), "--port", str(port)],
        stdout=subprocess.PIPE,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"http://127.0.0.1:{port}/"
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("vr shard serve did not start")


@pytest.mark.parametrize("workers", [0, 2])
def test_a_server_that_dies_mid_epoch_gives_a_clear_error_not_a_hang(shards, workers):
    proc, url = _serve_in_a_process(shards)
    try:
        loader = build_loader(
            url, clip_len=4, size=8, batch_size=1, backend="torch", num_workers=workers, storage_options=FAST
        )
        it = iter(loader)
        next(it)
    finally:
        proc.kill()
        proc.wait()
    started = time.perf_counter()
    with pytest.raises(StorageError, match=r"127\.0\.0\.1.*failed after 2 attempts"):
        for _ in it:
            pass
    assert time.perf_counter() - started < 20
    with pytest.raises(SourceError, match="index.json"):  # and a dead server at start-up
        build_loader(url, backend="torch", storage_options=FAST)


def test_a_server_that_ignores_range_requests_is_named(shards):
    with serving(shards, handler=SimpleHTTPRequestHandler) as server:  # the standard library's: no Range
        loader = build_loader(server.url, clip_len=4, size=8, batch_size=2, backend="torch", num_workers=0)
        with pytest.raises(StorageError, match="ignores HTTP Range requests"):
            next(iter(loader))


def test_cache_dir_downloads_each_shard_once_and_checks_it(shards, tmp_path):
    local = batches(shards)
    cache = tmp_path / "cache"
    with serving(shards) as server:
        assert_same(batches(server.url, cache_dir=cache), local)
        shard_gets = [r for r in server.requests if r[0] == "GET" and r[1].endswith(".tar")]
        assert len(shard_gets) == 4  # each of the 4 shards fetched whole, once
        server.requests.clear()
        assert_same(batches(server.url, cache_dir=cache, seed=3), local)
        assert not [r for r in server.requests if r[1].endswith(".tar")]  # read from the cache
    cached = sorted(p.name for p in cache.rglob("*.tar"))
    assert cached == sorted(p.name for p in shards.glob("*.tar"))
    # a shard that changed on the server after indexing is refused, not cached
    copy = tmp_path / "copy"
    shutil.copytree(shards, copy)
    data = bytearray((copy / "train-000002.tar").read_bytes())
    data[-2000] ^= 0xFF
    (copy / "train-000002.tar").write_bytes(bytes(data))
    with serving(copy) as server, pytest.raises(StorageError, match="train-000002.tar: .*the index says"):
        batches(server.url, cache_dir=tmp_path / "cache2", storage_options=FAST)
    assert not list((tmp_path / "cache2").rglob("train-000002.tar"))


def test_a_shard_that_does_not_match_its_member_index_is_caught(shards, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(shards, copy)
    index = json.loads((copy / "train-000000.idx.json").read_text())
    offset = index["offsets"][1]  # the first frame of the first sample: clobber its tar header
    data = bytearray((copy / "train-000000.tar").read_bytes())
    data[offset - 512 : offset - 256] = bytes(256)
    (copy / "train-000000.tar").write_bytes(bytes(data))
    with pytest.raises(StorageError, match="train-000000.tar: the tar header at byte .* is not member"):
        batches(copy, mode="eval")
    with serving(copy) as server, pytest.raises(StorageError, match="is not member"):
        batches(server.url, mode="eval")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(shards):
    """A real S3-compatible server (moto's standalone server) on loopback holding the shard folder."""
    boto3 = pytest.importorskip("boto3")
    server_mod = pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    port = _free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    creds = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
    client = boto3.client("s3", endpoint_url=endpoint, **creds)
    client.create_bucket(Bucket="videos")
    for path in shards.iterdir():
        if path.is_file() and not path.name.startswith("."):
            client.upload_file(str(path), "videos", f"ucf/shards/{path.name}")
    options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing", **FAST}
    yield "s3://videos/ucf/shards/", options, server
    server.stop()


def test_s3_shards_load_like_local_ones(shards, s3, tmp_path):
    url, options, _ = s3
    assert_same(batches(url, storage_options=options), batches(shards))
    assert_same(
        batches(url, storage_options=options, num_workers=2, mode="eval"), batches(shards, mode="eval")
    )
    assert verify_shards(url, quick=True, progress=False, storage_options=options) == []
    assert_same(batches(url, storage_options=options, cache_dir=tmp_path / "c"), batches(shards))
    result = invoke(
        [
            "shard",
            "verify",
            url,
            "--quick",
            "--quiet",
            "--storage-option",
            f"endpoint_url={options['endpoint_url']}",
        ]
        + ["--storage-option", "key=testing", "--storage-option", "secret=testing"],
    )
    assert result.exit_code == 0, result.output
    with pytest.raises(SourceError, match="missing"):
        build_loader("s3://videos/nothing-here/", storage_options=options, backend="torch")


@pytest.mark.parametrize(
    "name", ["../outside.tar", "/etc/passwd", "sub/x.tar", ".hidden.tar", "http://evil/x.tar", "a?b.tar"]
)
def test_names_in_an_index_never_leave_the_folder_or_url(shards, tmp_path, name):
    copy = tmp_path / "copy"
    shutil.copytree(shards, copy)
    index = json.loads((copy / "index.json").read_text())
    index["shards"][0]["name"] = name
    (copy / "index.json").write_text(json.dumps(index))
    with pytest.raises(SourceError, match="not a plain file name"):
        build_loader(copy, backend="torch")
    with serving(copy) as server, pytest.raises(SourceError, match="not a plain file name"):
        build_loader(server.url, backend="torch")
    index["shards"][0]["name"] = "train-000000.tar"
    index["shards"][0]["members"] = name
    (copy / "index.json").write_text(json.dumps(index))
    with pytest.raises(SourceError, match="not a plain file name"):
        build_loader(copy, backend="torch")
    with pytest.raises(ValueError, match="not a plain file name"):
        open_store(copy).read(name)


def test_member_index_checked_against_index_json(shards, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(shards, copy)
    (copy / "train-000001.idx.json").write_text((copy / "train-000000.idx.json").read_text())
    loader = build_loader(copy, mode="eval", clip_len=2, size=8, batch_size=1, backend="torch", num_workers=0)
    with pytest.raises(StorageError, match="train-000001.idx.json: SHA-256 differs from index.json"):
        list(loader)
    assert read_index(copy)["shards"][1]["members"] == "train-000001.idx.json"


def test_a_worker_that_cannot_read_the_index_reports_it_with_its_first_read(shards):
    """A loader worker re-reads index.json as it unpickles its source; a server gone by then (the race
    behind "DataLoader worker exited unexpectedly") is a StorageError at the worker's first read."""
    import pickle

    from vr.pipelines.sources import ShardSource

    proc, url = _serve_in_a_process(shards)
    try:
        source = ShardSource(url, "rgb", storage_options=FAST)
        packed = pickle.dumps(source)
    finally:
        proc.kill()
        proc.wait()
    in_worker = pickle.loads(packed)  # no exception while unpickling
    with pytest.raises(StorageError, match=r"127\.0\.0\.1.*index\.json.*failed after 2 attempts"):
        in_worker.video(0)
