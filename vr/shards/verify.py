"""`vr shard verify`: every shard against ``index.json``, member by member, in one sequential read each.

Checked: the shard exists with the indexed size and SHA-256 and sample count; every member is a regular
file named ``<key>.json``/``<key>.rgb_NNNNN.jpg``/``<key>.flow_[xy]_NNNNN.jpg``; each sample's members
are together, JSON first, frames numbered 1..n in order and matching the JSON's counts; no key appears
twice. Without ``quick`` every JPEG is also checked structurally and decoded.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from tqdm import tqdm

from vr.shards.index import read_index
from vr.shards.jpeg import JpegError, check_jpeg
from vr.shards.reader import TarFormatError, iter_members

_MEMBER_RE = re.compile(r"([A-Za-z0-9_-]+)\.(json|rgb_(\d{5,})\.jpg|flow_([xy])_(\d{5,})\.jpg)")


@dataclass
class Problem:
    """One thing wrong, located as precisely as known."""

    shard: str
    message: str
    sample: str | None = None
    member: str | None = None

    def __str__(self) -> str:
        where = "/".join(p for p in (self.sample, self.member) if p)
        return f"{self.shard}: {where + ': ' if where else ''}{self.message}"


@dataclass
class _Sample:
    key: str
    meta: dict[str, Any] | None = None
    rgb: list[int] = field(default_factory=list)
    flow: list[tuple[str, int]] = field(default_factory=list)


class _HashingReader:
    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.sha256, self.size = raw, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha256.update(data)
        self.size += len(data)
        return data


def _finish(sample: _Sample, report: Callable[..., None]) -> int:
    """Check a sample's members against its JSON; returns its RGB frame count."""
    meta = sample.meta
    if meta is None:
        report("no JSON metadata first", sample.key)
        return len(sample.rgb)
    if sample.rgb != list(range(1, len(sample.rgb) + 1)):
        report(f"RGB frames not 1..{len(sample.rgb)} in order", sample.key)
    pairs = [(c, i) for i in range(1, len(sample.flow) // 2 + 1) for c in "xy"]
    if sample.flow != pairs:
        report("flow frames not x/y pairs 1..n in order", sample.key)
    if meta.get("n_frames") != len(sample.rgb):
        report(f"JSON says {meta.get('n_frames')} RGB frames, shard has {len(sample.rgb)}", sample.key)
    if meta.get("n_flow") != len(sample.flow) // 2:
        report(f"JSON says {meta.get('n_flow')} flow pairs, shard has {len(sample.flow) // 2}", sample.key)
    return len(sample.rgb)


def _check_member(
    name: str,
    data: bytes,
    sample: _Sample,
    labels: list[str],
    quick: bool,
    report: Callable[..., None],
) -> None:
    match = _MEMBER_RE.fullmatch(name)
    assert match is not None
    kind = match.group(2)
    if kind == "json":
        if sample.meta is not None or sample.rgb or sample.flow:
            report("JSON not the sample's first member", sample.key, name)
        try:
            meta = json.loads(data)
            assert isinstance(meta, dict)
        except (ValueError, AssertionError):
            report("metadata is not a JSON object", sample.key, name)
            meta = {}
        label, index = meta.get("label"), meta.get("label_index")
        if label is not None and (
            not isinstance(index, int) or not 0 <= index < len(labels) or labels[index] != label
        ):
            report(
                f"label {label!r} / label_index {index!r} not in the index's label list",
                sample.key,
                name,
            )
        sample.meta = meta
        return
    if match.group(3):
        sample.rgb.append(int(match.group(3)))
    else:
        sample.flow.append((match.group(4), int(match.group(5))))
    if not quick:
        try:
            check_jpeg(data, decode=True)
        except JpegError as e:
            report(f"bad JPEG: {e}", sample.key, name)


def verify_shard(
    folder: Path, entry: dict[str, Any], labels: list[str], seen: set[str], quick: bool
) -> list[Problem]:
    """Problems of one shard listed in the index."""
    shard = entry["name"]
    problems: list[Problem] = []

    def report(message: str, sample: str | None = None, member: str | None = None) -> None:
        problems.append(Problem(shard, message, sample, member))

    path = folder / shard
    if not path.is_file():
        report("missing")
        return problems
    if path.stat().st_size != entry["bytes"]:
        report(f"size {path.stat().st_size} bytes, index says {entry['bytes']}")
    n_samples = n_frames = 0
    sample: _Sample | None = None
    with open(path, "rb", buffering=1 << 20) as raw:
        reader = _HashingReader(raw)
        try:
            for member in iter_members(reader):
                match = _MEMBER_RE.fullmatch(member.name)
                if match is None:
                    report("unknown member name", sample.key if sample else None, member.name)
                    continue
                key = match.group(1)
                if not member.is_file:
                    report("not a regular file", key, member.name)
                    continue
                if sample is None or key != sample.key:
                    if sample is not None:
                        n_frames += _finish(sample, report)
                    if key in seen:
                        report("sample key appears twice (split or duplicated)", key, member.name)
                    seen.add(key)
                    sample, n_samples = _Sample(key), n_samples + 1
                _check_member(member.name, member.data, sample, labels, quick, report)
            if sample is not None:
                n_frames += _finish(sample, report)
        except TarFormatError as e:
            report(f"unreadable tar: {e}", sample.key if sample else None)
        while reader.read(1 << 20):
            pass
    if reader.sha256.hexdigest() != entry["sha256"]:
        report("SHA-256 differs from the index")
    if n_samples != entry["n_samples"]:
        report(f"{n_samples} samples, index says {entry['n_samples']}")
    if "n_frames" in entry and n_frames != entry["n_frames"]:
        report(f"{n_frames} RGB frames, index says {entry['n_frames']}")
    return problems


def verify_shards(folder: str | Path, quick: bool = False, progress: bool = True) -> list[Problem]:
    """Every problem found in the shard folder (empty when all is well)."""
    folder = Path(folder)
    index = read_index(folder)
    problems: list[Problem] = []
    seen: set[str] = set()
    for entry in tqdm(index["shards"], desc="verify", unit="shard", disable=not progress):
        problems += verify_shard(folder, entry, index["labels"], seen, quick)
    listed = sum(s["n_samples"] for s in index["shards"])
    if listed != index["n_samples"]:
        problems.append(
            Problem("index.json", f"shards hold {listed} samples, index says {index['n_samples']}")
        )
    return problems
