"""The shard format, in one place: member names and their parsing, the folder index (``index.json``) and
the per-shard member index (``<shard>.idx.json``).

A shard is a standard WebDataset tar; a sample is ``<key>.json``, ``<key>.rgb_00001.jpg``... and
``<key>.flow_x_00001.jpg``/``<key>.flow_y_00001.jpg``... in that order. Beside each shard, its member
index lists every sample (key, id, label index, RGB frames, flow pairs) and the data offset and size of
every member, so a reader finds any frame with one ranged read and never parses tar headers. The folder
index lists the shards with their sizes, SHA-256 and sample counts, and the member indexes with theirs.
Everything a reader takes from these files is checked here: names must be plain file names
(:func:`vr.safepath.plain_name`), numbers must be in range.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vr import __version__
from vr.errors import VrError
from vr.modality import MODALITIES as _MODALITIES
from vr.safepath import UnsafePathError, plain_name
from vr.storage import StorageError, Store, open_store

INDEX = "index.json"
INDEX_VERSION = 1
MEMBERS_VERSION = 1
MODALITIES = (*_MODALITIES, "both")  # what a shard folder holds
HEADER = 512  # a tar header block: a member's data starts at least this far into the file
KEY_PATTERN = r"[A-Za-z0-9_-]+"
_KEY_RE = re.compile(KEY_PATTERN)
_MEMBER_RE = re.compile(rf"({KEY_PATTERN})\.(json|rgb_(\d{{5,}})\.jpg|flow_([xy])_(\d{{5,}})\.jpg)")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ShardIndexError(VrError, ValueError):
    """A shard folder whose index or member index is missing, malformed or inconsistent."""


# ---- member names --------------------------------------------------------------------------------------


def meta_member(key: str) -> str:
    return f"{key}.json"


def rgb_member(key: str, i: int) -> str:
    return f"{key}.rgb_{i:05d}.jpg"


def flow_members(key: str, i: int) -> tuple[str, str]:
    return f"{key}.flow_x_{i:05d}.jpg", f"{key}.flow_y_{i:05d}.jpg"


@dataclass(frozen=True)
class MemberName:
    """A parsed member name: the sample key, the kind (``json``, ``rgb``, ``flow_x``, ``flow_y``) and
    the 1-based frame number (0 for the JSON)."""

    key: str
    kind: str
    number: int = 0


def parse_member(name: str) -> MemberName | None:
    """The parts of a member name of the shard format, or None for any other name."""
    match = _MEMBER_RE.fullmatch(name)
    if match is None:
        return None
    if match.group(2) == "json":
        return MemberName(match.group(1), "json")
    if match.group(3):
        return MemberName(match.group(1), "rgb", int(match.group(3)))
    return MemberName(match.group(1), f"flow_{match.group(4)}", int(match.group(5)))


# ---- the per-shard member index ------------------------------------------------------------------------


def members_name(shard: str) -> str:
    """The member index file of a shard: ``train-000000.tar`` -> ``train-000000.idx.json``."""
    return (shard[:-4] if shard.endswith(".tar") else shard) + ".idx.json"


Location = tuple[int, int]  # (data offset, size) of one member


@dataclass
class MemberIndex:
    """One shard's samples and members. Member slots of a sample, in order: its JSON, its RGB frames
    1..n_rgb, then its flow pairs (x, y) 1..n_flow; ``offsets``/``sizes`` per slot (offset -1: absent)."""

    shard: str
    bytes: int
    sha256: str
    keys: list[str]
    ids: list[str]
    labels: np.ndarray
    n_rgb: np.ndarray
    n_flow: np.ndarray
    offsets: np.ndarray
    sizes: np.ndarray

    def __post_init__(self) -> None:
        self.first = np.zeros(len(self.keys) + 1, np.int64)
        np.cumsum(1 + self.n_rgb + 2 * self.n_flow, out=self.first[1:])

    def __len__(self) -> int:
        return len(self.keys)

    def rgb_slots(self, sample: int) -> np.ndarray:
        """Member slots of the RGB frames of ``sample``: shape ``(n_rgb,)``."""
        start = int(self.first[sample]) + 1
        return np.arange(start, start + int(self.n_rgb[sample]))

    def flow_slots(self, sample: int) -> np.ndarray:
        """Member slots of the flow pairs of ``sample``: shape ``(n_flow, 2)`` (x, y)."""
        start = int(self.first[sample]) + 1 + int(self.n_rgb[sample])
        return np.arange(start, start + 2 * int(self.n_flow[sample])).reshape(-1, 2)

    def slot_name(self, sample: int, slot: int) -> str:
        """The member name a slot of ``sample`` holds."""
        key, local = self.keys[sample], slot - int(self.first[sample])
        if local == 0:
            return meta_member(key)
        if local <= self.n_rgb[sample]:
            return rgb_member(key, local)
        pair, y = divmod(local - 1 - int(self.n_rgb[sample]), 2)
        return flow_members(key, pair + 1)[y]

    def to_json(self) -> dict[str, Any]:
        return {
            "vr_shard_members": MEMBERS_VERSION,
            "shard": self.shard,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "samples": {
                "key": self.keys,
                "id": self.ids,
                "label": self.labels.tolist(),
                "n_rgb": self.n_rgb.tolist(),
                "n_flow": self.n_flow.tolist(),
            },
            "offsets": self.offsets.tolist(),
            "sizes": self.sizes.tolist(),
        }

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def decode(cls, data: bytes, where: str, shard: str | None = None) -> MemberIndex:
        """Parse and check a member index file; :class:`ShardIndexError` naming ``where`` if it is bad."""
        try:
            raw = json.loads(data)
            samples = raw["samples"]
            index = cls(
                shard=raw["shard"],
                bytes=raw["bytes"],
                sha256=raw["sha256"],
                keys=list(samples["key"]),
                ids=[str(v) for v in samples["id"]],
                labels=_ints(samples["label"]),
                n_rgb=_ints(samples["n_rgb"]),
                n_flow=_ints(samples["n_flow"]),
                offsets=_ints(raw["offsets"]),
                sizes=_ints(raw["sizes"]),
            )
            ok = raw.get("vr_shard_members") == MEMBERS_VERSION
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ShardIndexError(f"{where}: not a member index ({type(e).__name__}: {e})") from None
        if not ok:
            raise ShardIndexError(f"{where}: not a member index of version {MEMBERS_VERSION}")
        index._check(where, shard)
        return index

    def _check(self, where: str, shard: str | None) -> None:
        n = len(self.keys)
        problems = []
        if shard is not None and self.shard != shard:
            problems.append(f"it indexes {self.shard!r}, not {shard!r}")
        if not isinstance(self.bytes, int) or not isinstance(self.sha256, str):
            problems.append("bad shard size or SHA-256")
        if not (len(self.ids) == len(self.labels) == len(self.n_rgb) == len(self.n_flow) == n):
            problems.append("sample fields of different lengths")
        elif any(not isinstance(k, str) or not _KEY_RE.fullmatch(k) for k in self.keys):
            problems.append("a sample key that is not [A-Za-z0-9_-]+")
        elif n and (self.labels.min() < -1 or self.n_rgb.min() < 0 or self.n_flow.min() < 0):
            problems.append("a negative label or frame count")
        elif len(self.offsets) != len(self.sizes) or len(self.offsets) != int(self.first[-1]):
            problems.append(f"{len(self.offsets)} member locations for {int(self.first[-1])} members")
        elif len(self.offsets):
            present = np.ones(len(self.offsets), bool)
            json_slots = self.first[:-1]
            present[json_slots] = self.offsets[json_slots] >= 0  # only a sample's JSON may be absent
            offsets, sizes = self.offsets[present], self.sizes[present]
            if self.sizes.min() < 0 or (offsets.size and offsets.min() < HEADER):
                problems.append("a member without a location")
            elif offsets.size and int((offsets + sizes).max()) > self.bytes:
                problems.append(f"a member outside the shard's {self.bytes} bytes")
        if problems:
            raise ShardIndexError(f"{where}: bad member index ({problems[0]})")


def _ints(values: Sequence[Any]) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise ValueError("expected a list of integers")
    return array.astype(np.int64)


class MemberIndexBuilder:
    """Collects samples as a writer (or ``vr shard reindex``) meets them; builds a :class:`MemberIndex`."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.ids: list[str] = []
        self.labels: list[int] = []
        self.n_rgb: list[int] = []
        self.n_flow: list[int] = []
        self.offsets: list[int] = []
        self.sizes: list[int] = []

    def add(
        self, key: str, video_id: str, label: int | None, members: Iterable[tuple[str, Location]]
    ) -> None:
        """One sample from its members ``(name, (offset, size))`` in any order; frames are kept in number
        order, flow only where both x and y of a pair exist."""
        meta: Location = (-1, 0)
        rgb: dict[int, Location] = {}
        flow: dict[str, dict[int, Location]] = {"flow_x": {}, "flow_y": {}}
        for name, location in members:
            parsed = parse_member(name)
            if parsed is None or parsed.key != key:
                continue
            if parsed.kind == "json":
                meta = location
            elif parsed.kind == "rgb":
                rgb[parsed.number] = location
            else:
                flow[parsed.kind][parsed.number] = location
        pairs = sorted(set(flow["flow_x"]) & set(flow["flow_y"]))
        locations = [meta, *(rgb[i] for i in sorted(rgb))]
        for i in pairs:
            locations += [flow["flow_x"][i], flow["flow_y"][i]]
        self.keys.append(key)
        self.ids.append(video_id)
        self.labels.append(-1 if label is None else int(label))
        self.n_rgb.append(len(rgb))
        self.n_flow.append(len(pairs))
        for offset, size in locations:
            self.offsets.append(offset)
            self.sizes.append(size)

    def build(self, shard: str, nbytes: int, sha256: str) -> MemberIndex:
        return MemberIndex(
            shard,
            nbytes,
            sha256,
            self.keys,
            self.ids,
            *(
                np.asarray(v, np.int64)
                for v in (self.labels, self.n_rgb, self.n_flow, self.offsets, self.sizes)
            ),
        )


def read_member_index(store: Store, entry: dict[str, Any]) -> MemberIndex:
    """The member index of the shard ``entry`` (an ``index.json`` shard entry), checked against the
    SHA-256 the entry gives it and against the shard's size."""
    import hashlib

    name = entry.get("members")
    if name is None:
        raise ShardIndexError(
            f"{store.describe(entry['name'])}: no member index (written by an older `vr shard`); "
            f"run `vr shard reindex {store.location}` once"
        )
    data = store.read(name)
    if hashlib.sha256(data).hexdigest() != entry["members_sha256"]:
        raise StorageError(
            f"{store.describe(name)}: SHA-256 differs from index.json (changed after indexing?)"
        )
    index = MemberIndex.decode(data, store.describe(name), entry["name"])
    if index.bytes != entry["bytes"] or index.sha256 != entry["sha256"] or len(index) != entry["n_samples"]:
        raise ShardIndexError(f"{store.describe(name)}: does not describe the shard index.json lists")
    return index


# ---- the folder index ----------------------------------------------------------------------------------


def build_index(
    plan_json: dict[str, Any], parts: list[dict[str, Any]], manifest: str, manifest_sha256: str
) -> dict[str, Any]:
    """The ``index.json`` content from the plan and the per-shard records (in shard order)."""
    per_class: Counter[str] = Counter()
    for part in parts:
        per_class.update(part["per_class"])
    fields = ("name", "n_samples", "bytes", "sha256", "n_frames", "n_flow", "members", "members_sha256")
    return {
        "vr_shards": INDEX_VERSION,
        "modality": plan_json["modality"],
        "subset": plan_json["subset"],
        "labels": plan_json["labels"],
        "manifest": manifest,
        "manifest_sha256": manifest_sha256,
        "n_samples": sum(p["n_samples"] for p in parts),
        "shards": [{k: p[k] for k in fields if k in p} for p in parts],
        "per_class": dict(sorted(per_class.items())),
        "created_with": f"vr {__version__}",
    }


def read_index(location: str | os.PathLike | Store) -> dict[str, Any]:
    """The ``index.json`` of a shard folder (a path, a URL or a store), checked: its fields and types,
    every shard and member-index name a plain file name inside the folder, counts that add up."""
    return load_index(open_store(location))[0]


def load_index(store: Store) -> tuple[dict[str, Any], str]:
    """:func:`read_index`, and the SHA-256 of the bytes it was read from."""
    import hashlib

    where = store.describe(INDEX)
    try:
        data = store.read(INDEX)
        index = json.loads(data)
    except StorageError as e:
        hint = " (not a `vr shard` output folder?)" if str(e).endswith(": missing") else ""
        raise ShardIndexError(f"{e}{hint}") from None
    except ValueError as e:
        raise ShardIndexError(f"{where}: not JSON ({e})") from None
    if not isinstance(index, dict) or index.get("vr_shards") != INDEX_VERSION:
        raise ShardIndexError(f"{where}: not a vr shard index (needs vr_shards: {INDEX_VERSION})")
    for key, kind in (("labels", list), ("shards", list), ("n_samples", int), ("modality", str)):
        if not isinstance(index.get(key), kind):
            raise ShardIndexError(f"{where}: {key!r} missing or not a {kind.__name__}")
    if index["modality"] not in MODALITIES:
        raise ShardIndexError(f"{where}: modality {index['modality']!r} is not one of {MODALITIES}")
    if not all(isinstance(label, str) for label in index["labels"]):
        raise ShardIndexError(f"{where}: labels must be strings")
    for shard in index["shards"]:
        _check_entry(shard, where)
    names = [s["name"] for s in index["shards"]]
    if len(set(names)) != len(names):
        raise ShardIndexError(f"{where}: a shard is listed twice")
    if sum(s["n_samples"] for s in index["shards"]) != index["n_samples"]:
        raise ShardIndexError(f"{where}: the shards' sample counts do not add up to n_samples")
    return index, hashlib.sha256(data).hexdigest()


def _check_entry(shard: Any, where: str) -> None:
    if not isinstance(shard, dict) or not {"name", "n_samples", "bytes", "sha256"} <= shard.keys():
        raise ShardIndexError(f"{where}: malformed shard entry {shard!r}")
    try:
        plain_name(shard["name"], what="shard name", source=where)
        if "members" in shard:
            plain_name(shard["members"], what="member index name", source=where)
    except UnsafePathError as e:
        raise ShardIndexError(str(e)) from None
    counts = [shard["n_samples"], shard["bytes"]]
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts):
        raise ShardIndexError(f"{where}: shard {shard['name']!r}: bad n_samples or bytes")
    for key in ("sha256", "members_sha256"):
        if key in shard and not (isinstance(shard[key], str) and _SHA256.fullmatch(shard[key])):
            raise ShardIndexError(f"{where}: shard {shard['name']!r}: bad {key}")
    if ("members" in shard) != ("members_sha256" in shard):
        raise ShardIndexError(f"{where}: shard {shard['name']!r}: members and members_sha256 go together")


# ---- reading members by offset -------------------------------------------------------------------------


def read_slots(store: Store, shard: str, index: MemberIndex, slots: Iterable[int]) -> dict[int, bytes]:
    """The data of member ``slots`` of ``shard`` (any samples), with as few ranged reads as the store's
    coalescing gap allows; each member's tar header (read with it) must name the member and its size, so
    an index that does not match its shard is caught at the first read."""
    from vr.shards.tarstream import header_fields

    wanted = sorted(set(slots), key=lambda slot: int(index.offsets[slot]))
    spans: list[tuple[int, int, list[int]]] = []
    for slot in wanted:
        start, end = int(index.offsets[slot]) - HEADER, int(index.offsets[slot] + index.sizes[slot])
        if spans and start - spans[-1][1] <= store.coalesce_gap:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]), [*spans[-1][2], slot])
        else:
            spans.append((start, end, [slot]))
    found: dict[int, bytes] = {}
    for start, end, members in spans:
        buffer = store.read_range(shard, start, end)
        for slot in members:
            offset, size = int(index.offsets[slot]) - start, int(index.sizes[slot])
            sample = int(np.searchsorted(index.first, slot, side="right")) - 1
            name = index.slot_name(sample, slot)
            fields = header_fields(buffer[offset - HEADER : offset])
            if fields is None or fields[1] != size or fields[0] != name.encode()[:100]:
                raise StorageError(
                    f"{store.describe(shard)}: the tar header at byte {start + offset - HEADER} is not "
                    f"member {name!r} of {size} bytes, as its member index says (shard rewritten after "
                    "indexing?)"
                )
            found[slot] = buffer[offset : offset + size]
    return found
