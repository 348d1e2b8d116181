"""`vr shard verify`: every shard against ``index.json`` and its member index, in one sequential read each.

Checked: the shard exists with the indexed size and SHA-256 and sample count; every member is a regular
file named ``<key>.json``/``<key>.rgb_NNNNN.jpg``/``<key>.flow_[xy]_NNNNN.jpg``; each sample's members
are together, JSON first, frames numbered 1..n in order and matching the JSON's counts; no key appears
twice; the member index has the SHA-256 the index gives it and lists exactly the shard's members at their
offsets, with the ids and labels of their JSON. Without ``quick`` every JPEG is also checked structurally
and decoded. The folder may be local or a URL (read through :mod:`vr.storage`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vr.progress import progress_bar
from vr.shards.format import MemberIndex, ShardIndexError, parse_member, read_index
from vr.shards.jpeg import JpegError, check_jpeg
from vr.shards.tarstream import HashingReader, TarFormatError, iter_members
from vr.storage import StorageError, Store, open_store


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
    kind: str,
    number: int,
    name: str,
    data: bytes,
    sample: _Sample,
    labels: list[str],
    quick: bool,
    report: Callable[..., None],
) -> None:
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
    if kind == "rgb":
        sample.rgb.append(number)
    else:
        sample.flow.append((kind[-1], number))
    if not quick:
        try:
            check_jpeg(data, decode=True)
        except JpegError as e:
            report(f"bad JPEG: {e}", sample.key, name)


def _member_index(store: Store, entry: dict[str, Any], report: Callable[..., None]) -> MemberIndex | None:
    """The shard's member index when it is there and matches its SHA-256 in ``index.json``."""
    name = entry.get("members")
    if name is None:
        report(f"no member index (written by an older `vr shard`; run `vr shard reindex {store.location}`)")
        return None
    try:
        data = store.read(name)
    except StorageError as e:
        report(f"member index: {e}")
        return None
    if hashlib.sha256(data).hexdigest() != entry["members_sha256"]:
        report(f"member index {name}: SHA-256 differs from the index")
        return None
    try:
        return MemberIndex.decode(data, name, entry["name"])
    except ShardIndexError as e:
        report(str(e))
        return None


def _expected_members(index: MemberIndex) -> dict[str, tuple[int, int, int]]:
    """Member name -> (sample, offset, size) of every member the member index lists."""
    expected = {}
    for sample in range(len(index)):
        for slot in range(int(index.first[sample]), int(index.first[sample + 1])):
            if index.offsets[slot] >= 0:
                expected[index.slot_name(sample, slot)] = (
                    sample,
                    int(index.offsets[slot]),
                    int(index.sizes[slot]),
                )
    return expected


def verify_shard(
    store: Store, entry: dict[str, Any], labels: list[str], seen: set[str], quick: bool
) -> list[Problem]:
    """Problems of one shard listed in the index."""
    shard = entry["name"]
    problems: list[Problem] = []

    def report(message: str, sample: str | None = None, member: str | None = None) -> None:
        problems.append(Problem(shard, message, sample, member))

    if not store.exists(shard):
        report("missing")
        return problems
    if store.size(shard) != entry["bytes"]:
        report(f"size {store.size(shard)} bytes, index says {entry['bytes']}")
    members = _member_index(store, entry, report)
    expected = _expected_members(members) if members is not None else {}
    n_samples = n_frames = 0
    sample: _Sample | None = None
    with store.open(shard) as raw:
        reader = HashingReader(raw)
        try:
            for member in iter_members(reader):
                parsed = parse_member(member.name)
                if parsed is None:
                    report("unknown member name", sample.key if sample else None, member.name)
                    continue
                key = parsed.key
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
                _check_member(
                    parsed.kind, parsed.number, member.name, member.data, sample, labels, quick, report
                )
                if members is not None:
                    _check_location(
                        members, expected, member.name, member.offset, len(member.data), sample, report
                    )
            if sample is not None:
                n_frames += _finish(sample, report)
        except TarFormatError as e:
            report(f"unreadable tar: {e}", sample.key if sample else None)
        reader.drain()
    if reader.sha256.hexdigest() != entry["sha256"]:
        report("SHA-256 differs from the index")
    if n_samples != entry["n_samples"]:
        report(f"{n_samples} samples, index says {entry['n_samples']}")
    if "n_frames" in entry and n_frames != entry["n_frames"]:
        report(f"{n_frames} RGB frames, index says {entry['n_frames']}")
    if expected:
        report(f"member index lists {len(expected)} member(s) the shard lacks (e.g. {next(iter(expected))})")
    return problems


def _check_location(
    members: MemberIndex,
    expected: dict[str, tuple[int, int, int]],
    name: str,
    offset: int,
    size: int,
    sample: _Sample,
    report: Callable[..., None],
) -> None:
    """One tar member against the member index (its location; the JSON's id and label)."""
    found = expected.pop(name, None)
    if found is None:
        report("member index does not list this member", sample.key, name)
        return
    index_sample, index_offset, index_size = found
    if (index_offset, index_size) != (offset, size):
        report(
            f"member index says bytes {index_offset}+{index_size}, the shard has {offset}+{size}",
            sample.key,
            name,
        )
    if name.endswith(".json") and sample.meta is not None:
        label = sample.meta.get("label_index")
        indexed = (members.ids[index_sample], int(members.labels[index_sample]))
        if indexed != (str(sample.meta.get("id", sample.key)), -1 if label is None else label):
            report(f"member index says id/label {indexed}, the JSON disagrees", sample.key, name)


def verify_shards(
    folder: str | os.PathLike | Store,
    quick: bool = False,
    progress: bool = True,
    storage_options: dict[str, Any] | None = None,
) -> list[Problem]:
    """Every problem found in the shard folder or URL (empty when all is well)."""
    store = open_store(folder, storage_options)
    index = read_index(store)
    problems: list[Problem] = []
    seen: set[str] = set()
    for entry in progress_bar(index["shards"], desc="verify", unit="shard", disable=not progress):
        try:
            problems += verify_shard(store, entry, index["labels"], seen, quick)
        except StorageError as e:
            problems.append(Problem(entry["name"], str(e)))
    return problems
