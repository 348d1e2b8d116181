"""Writing one shard: a deterministic tar under a temporary name, hashed as it is written, then renamed.

Members have fixed metadata (mode 0o644, uid/gid 0, empty owner names, mtime 0) in the GNU format, and
the headers are encoded here (not by :mod:`tarfile`), so the same samples give the same bytes on every
Python version. Every member's data offset and size go into the shard's member index
(``<shard>.idx.json``, :mod:`vr.shards.format`). The member index and the shard's record (size, SHA-256,
samples, samples left out) are written before the rename: a final name only ever holds a complete shard.
"""

from __future__ import annotations

import hashlib
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO

from vr.shards.format import MemberIndexBuilder, members_name
from vr.shards.index import part_path, write_json_atomic
from vr.shards.plan import BLOCK, NAME_FIELD, Rejected, SampleSpec, ShardOptions, ShardPlan, tar_bytes
from vr.shards.samples import Inputs, Members, SampleError, load_sample
from vr.writing import atomic_path, atomic_write

MEMBER_MODE = 0o644
PREFETCH = 2  # samples loaded ahead of the one being written


def tar_header(name: str, size: int, kind: bytes = b"0") -> bytes:
    """A 512-byte GNU tar header with fixed mode 0o644, uid/gid 0, empty owners and mtime 0.

    Written here rather than by :mod:`tarfile` so the bytes do not depend on the Python version.
    """
    encoded = name.encode()
    if len(encoded) > NAME_FIELD or not 0 <= size < 8**11:
        raise ValueError(f"tar header cannot hold {name!r} of {size} bytes")
    fields = b"".join(
        [
            encoded.ljust(NAME_FIELD, b"\0"),
            b"%07o\0" % MEMBER_MODE,
            b"0000000\0" * 2,  # uid, gid
            b"%011o\0" % size,
            b"0" * 11 + b"\0",  # mtime
            b" " * 8,  # checksum, counted as spaces
            kind,
            b"\0" * 100,  # link name
            b"ustar  \0",  # GNU magic and version
        ]
    ).ljust(BLOCK, b"\0")
    return fields[:148] + b"%06o\0 " % sum(fields) + fields[156:]


def member_blocks(name: str, data: bytes) -> list[bytes]:
    """The byte strings of one regular member: header, data, zero padding (a GNU long-name record first
    when the name needs it)."""
    encoded = name.encode()
    blocks = []
    if len(encoded) > NAME_FIELD:
        long_name = encoded + b"\0"
        blocks += [tar_header("././@LongLink", len(long_name), b"L"), long_name, _padding(len(long_name))]
    return [*blocks, tar_header(encoded[:NAME_FIELD].decode(), len(data)), data, _padding(len(data))]


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


class TarSink:
    """Writes members to a binary file as a tar stream, hashing and counting the bytes."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.sha256, self.size = raw, hashlib.sha256(), 0

    def _write(self, data: bytes) -> None:
        self.raw.write(data)
        self.sha256.update(data)
        self.size += len(data)

    def add(self, name: str, data: bytes) -> tuple[int, int]:
        """Append one member; returns where its data lies: ``(offset, size)``."""
        blocks = member_blocks(name, data)
        for block in blocks[:-2]:
            self._write(block)
        offset = self.size
        self._write(blocks[-2])
        self._write(blocks[-1])
        return offset, len(data)

    def close(self) -> None:
        """Two zero blocks, then zeros up to a whole tar record, as tar and :mod:`tarfile` write."""
        self._write(b"\0" * (tar_bytes(self.size) - self.size))


def _prefetched(
    specs: list[SampleSpec], inputs: Inputs, options: ShardOptions, depth: int = PREFETCH
) -> Iterator[tuple[SampleSpec, Future[Members]]]:
    """Each spec with its loading future, in order; up to ``depth`` samples load ahead of the writer,
    so reading and checking frames overlaps hashing and writing the previous ones."""
    with ThreadPoolExecutor(depth, thread_name_prefix="vr-shard-read") as pool:
        ahead: deque[tuple[SampleSpec, Future[Members]]] = deque()
        for spec in specs:
            ahead.append((spec, pool.submit(load_sample, spec, inputs, options)))
            if len(ahead) > depth:
                yield ahead.popleft()
        yield from ahead


def write_shard(
    shard: ShardPlan,
    out: Path,
    inputs: Inputs,
    options: ShardOptions,
    on_sample: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write ``shard`` into ``out`` and return its record; ``on_sample(bytes)`` is called per sample."""
    final = out / shard.name
    final.unlink(missing_ok=True)
    members_index = MemberIndexBuilder()
    written: list[str] = []
    dropped: list[Rejected] = []
    warnings: list[Rejected] = []  # kept, with what was wrong (a damaged video)
    per_class: Counter[str] = Counter()
    n_frames = n_flow = 0
    # the shard is renamed into place last, once its member index and record are written
    with atomic_path(final) as tmp:
        with open(tmp, "wb", buffering=1 << 20) as raw:
            sink = TarSink(raw)
            for spec, loading in _prefetched(shard.samples, inputs, options):
                try:
                    members = loading.result()
                except SampleError as e:
                    dropped.append(Rejected(spec.record.id, spec.record.path, e.reason, e.member, "write"))
                    if on_sample:
                        on_sample(0)
                    continue
                if getattr(members, "warning", ""):
                    warnings.append(
                        Rejected(spec.record.id, spec.record.path, members.warning, spec.video, "write")
                    )
                before = sink.size
                located = [(name, sink.add(name, data)) for name, data in members]
                members_index.add(spec.key, spec.record.id, spec.record.label_index, located)
                written.append(spec.key)
                n_rgb = sum(1 for name, _ in members if ".rgb_" in name)
                n_frames += n_rgb
                n_flow += (len(members) - 1 - n_rgb) // 2
                if spec.record.label is not None:
                    per_class[spec.record.label] += 1
                if on_sample:
                    on_sample(sink.size - before)
            sink.close()
        index_bytes = members_index.build(shard.name, sink.size, sink.sha256.hexdigest()).encode()
        atomic_write(out / members_name(shard.name), index_bytes)
        record = {
            "name": shard.name,
            "digest": shard.digest,
            "bytes": sink.size,
            "sha256": sink.sha256.hexdigest(),
            "n_samples": len(written),
            "n_frames": n_frames,
            "n_flow": n_flow,
            "members": members_name(shard.name),
            "members_sha256": hashlib.sha256(index_bytes).hexdigest(),
            "samples": written,
            "per_class": dict(sorted(per_class.items())),
            "dropped": [asdict(d) for d in dropped],
            "warnings": [asdict(w) for w in warnings],
        }
        part = part_path(out, shard.name)
        part.parent.mkdir(exist_ok=True)
        write_json_atomic(part, record)
    return record
