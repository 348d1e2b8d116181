"""`vr shard reindex`: add member indexes to a shard folder written before they existed.

Each listed shard is read once, front to back (its SHA-256 checked against ``index.json`` on the way), and
its members' offsets and sizes, with each sample's id and label from its JSON, become the shard's member
index; ``index.json`` is then rewritten to list them. Shards that already have a member index are left
alone unless ``force``. The folder is locked like `vr shard` locks it; every file is written atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from vr.locks import output_lock
from vr.progress import progress_bar
from vr.shards.format import (
    INDEX,
    MemberIndexBuilder,
    ShardIndexError,
    members_name,
    parse_member,
    read_index,
)
from vr.shards.index import write_json_atomic
from vr.shards.tarstream import HashingReader, TarFormatError, iter_members
from vr.storage import LocalStore, is_url
from vr.writing import atomic_write


@dataclass
class ReindexResult:
    indexed: int
    kept: int


def index_shard(store: LocalStore, entry: dict) -> bytes:
    """The encoded member index of one shard, read from the tar (which must match its entry)."""
    name = entry["name"]
    builder = MemberIndexBuilder()
    current: tuple[str, dict | None, list] | None = None

    def finish() -> None:
        if current is not None:
            key, meta, located = current
            meta = meta if isinstance(meta, dict) else {}
            label = meta.get("label_index")
            builder.add(key, str(meta.get("id", key)), label if isinstance(label, int) else None, located)

    with store.open(name) as raw:
        reader = HashingReader(raw)
        try:
            for member in iter_members(reader):
                parsed = parse_member(member.name)
                if parsed is None or not member.is_file:
                    continue
                if current is None or current[0] != parsed.key:
                    finish()
                    current = (parsed.key, None, [])
                if parsed.kind == "json":
                    with contextlib.suppress(ValueError):
                        current = (parsed.key, json.loads(member.data), current[2])
                current[2].append((member.name, (member.offset, len(member.data))))
            finish()
        except TarFormatError as e:
            raise ShardIndexError(f"{store.describe(name)}: unreadable tar ({e})") from None
        reader.drain()
    if reader.size != entry["bytes"] or reader.sha256.hexdigest() != entry["sha256"]:
        raise ShardIndexError(
            f"{store.describe(name)}: its size or SHA-256 differs from index.json (changed after sharding; "
            "check it with `vr shard verify`, rebuild it with `vr shard`)"
        )
    index = builder.build(name, reader.size, reader.sha256.hexdigest())
    if len(index) != entry["n_samples"]:
        raise ShardIndexError(
            f"{store.describe(name)}: {len(index)} samples, index.json says {entry['n_samples']}"
        )
    return index.encode()


def reindex_shards(folder: str | os.PathLike, force: bool = False, progress: bool = True) -> ReindexResult:
    """Write the member index of every shard in ``folder`` that lacks one (every shard with ``force``)."""
    if is_url(os.fspath(folder)):
        raise ShardIndexError(f"{folder}: reindex works on a local folder (copy it, reindex, upload)")
    folder = Path(folder)
    store = LocalStore(folder)
    with output_lock(folder, "`vr shard` or `vr shard reindex`"):
        index = read_index(store)
        todo = [e for e in index["shards"] if force or "members" not in e or not store.exists(e["members"])]
        for entry in progress_bar(todo, desc="reindex", unit="shard", disable=not progress):
            data = index_shard(store, entry)
            entry["members"] = members_name(entry["name"])
            entry["members_sha256"] = hashlib.sha256(data).hexdigest()
            atomic_write(store.path(entry["members"]), data)
        if todo:
            write_json_atomic(folder / INDEX, index)
    return ReindexResult(indexed=len(todo), kept=len(index["shards"]) - len(todo))
