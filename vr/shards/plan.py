"""The shard plan: manifest records -> checked samples in a fixed order -> shards.

Everything here is a pure function of the manifest, the options and the input folders' listings (names
and sizes, never contents), so two runs plan the same shards and a rerun can tell which are done.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vr import layout
from vr.manifests.schema import VideoRecord, record_problem
from vr.shards.format import MODALITIES, flow_members, rgb_member
from vr.video.find import video_for

BLOCK = 512
NAME_FIELD = 100  # longer member names get a GNU long-name record
RECORD = 20 * BLOCK  # tar files end with two zero blocks and are padded to a multiple of this
JSON_MEMBER_ESTIMATE = 2 * BLOCK  # header + one block: the metadata JSON is well under 512 bytes
_KEY_BAD = re.compile(r"[^A-Za-z0-9_-]")
_IMAGE_RE = re.compile(r"image_(\d+)\.jpg")
_FLOW_RE = re.compile(r"flow_([xy])_(\d+)\.jpg")
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(i?))?b?\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes in ``"1GB"`` (10^9), ``"500MB"``, ``"64KiB"`` (2^16), ``"1000"``; ValueError if malformed."""
    match = _SIZE_RE.fullmatch(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (e.g. 1GB, 500MB, 64KiB)")
    number, prefix, binary = float(match.group(1)), (match.group(2) or "").lower(), match.group(3)
    power = " kmgt".index(prefix) if prefix else 0
    value = int(number * (1024 if binary else 1000) ** power)
    if value <= 0:
        raise ValueError(f"size must be positive: {text!r}")
    return value


@dataclass(frozen=True)
class ShardOptions:
    """What `vr shard` writes; every field that changes shard content is part of the plan."""

    modality: str = "rgb"
    subset: str | None = None
    prefix: str | None = None
    max_size: int | None = 10**9
    max_count: int | None = None
    shuffle: bool = True
    seed: int = 0
    allow_unmarked: bool = False
    check_decode: bool = False
    video_quality: int = 90
    video_size: int | None = None
    video_fps: float | None = None
    strict: bool = False  # --from-video: a video the decoder reported errors in is left out, not kept

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {', '.join(MODALITIES)}, not {self.modality!r}")
        if self.max_size is not None and self.max_size <= 0:
            raise ValueError("max_size must be positive")
        if self.max_count is not None and self.max_count <= 0:
            raise ValueError("max_count must be positive")
        if self.prefix is not None and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", self.prefix):
            raise ValueError(f"prefix must be letters, digits, '_', '-', '.', not {self.prefix!r}")
        if not 1 <= self.video_quality <= 100:
            raise ValueError("JPEG quality must be in 1..100")

    @property
    def rgb(self) -> bool:
        return self.modality in ("rgb", "both")

    @property
    def flow(self) -> bool:
        return self.modality in ("flow", "both")


@dataclass
class Rejected:
    """A manifest entry left out, and why (``stage`` is ``scan`` or ``write``)."""

    id: str
    path: str
    reason: str
    member: str | None = None
    stage: str = "scan"


@dataclass
class SampleSpec:
    """One video as it will be stored: its key, record, frame ranges on disk and estimated tar bytes."""

    key: str
    record: VideoRecord
    rgb: tuple[int, int] | None = None
    flow: tuple[int, int] | None = None
    video: str | None = None
    nbytes: int = JSON_MEMBER_ESTIMATE
    fingerprint: str = ""


@dataclass
class ShardPlan:
    """One shard: its file name, its samples in order, and a digest of everything that shapes its bytes."""

    name: str
    samples: list[SampleSpec]
    digest: str = ""


@dataclass
class Plan:
    """Every shard of a run plus the run's identity (labels, subset, modality, options)."""

    labels: list[str]
    subset: str
    prefix: str
    options: ShardOptions
    shards: list[ShardPlan] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "vr_shard_plan": 1,
            "labels": self.labels,
            "subset": self.subset,
            "prefix": self.prefix,
            "modality": self.options.modality,
            "options": asdict(self.options),
            "shards": [
                {"name": s.name, "digest": s.digest, "samples": [x.key for x in s.samples]}
                for s in self.shards
            ],
        }


def sanitize_key(video_id: str) -> str:
    """The WebDataset key of a video id: every character outside ``[A-Za-z0-9_-]`` becomes ``_``."""
    return _KEY_BAD.sub("_", video_id) or "_"


def assign_keys(records: Iterable[VideoRecord]) -> list[tuple[str, VideoRecord]]:
    """Records sorted by (id, path) with unique keys (``-1``, ``-2``... appended on a collision)."""
    used: set[str] = set()
    out = []
    for record in sorted(records, key=lambda r: (r.id, r.path)):
        base = key = sanitize_key(record.id)
        n = 0
        while key in used:
            n += 1
            key = f"{base}-{n}"
        used.add(key)
        out.append((key, record))
    return out


def member_bytes(name: str, size: int) -> int:
    """Bytes a regular member takes in a GNU tar (header, long-name record if needed, padded data)."""
    total = BLOCK + -(-size // BLOCK) * BLOCK
    if len(name.encode()) > NAME_FIELD:
        total += BLOCK + -(-(len(name.encode()) + 1) // BLOCK) * BLOCK
    return total


def tar_bytes(content: int) -> int:
    """Size of a tar file whose members take ``content`` bytes (end blocks, record padding)."""
    return -(-(content + 2 * BLOCK) // RECORD) * RECORD


def _listing(
    folder: Path, pattern: re.Pattern[str], canonical: Callable[[re.Match[str]], str]
) -> dict[Any, int]:
    """Map a frame's index (rgb) or (component, index) (flow) to its file size; canonical names only."""
    found: dict[Any, int] = {}
    with os.scandir(folder) as it:
        for entry in it:
            match = pattern.fullmatch(entry.name)
            if match is None or int(match.groups()[-1]) < 1 or canonical(match) != entry.name:
                continue
            groups = match.groups()
            key = int(groups[0]) if len(groups) == 1 else (groups[0], int(groups[1]))
            found[key] = entry.stat().st_size
    return found


def _image_name(match: re.Match[str]) -> str:
    return layout.image_name(int(match[1]))


def _flow_name(match: re.Match[str]) -> str:
    return layout.flow_names(int(match[2]))[match[1] == "y"]


def _check_folder(folder: Path, what: str, allow_unmarked: bool) -> str | None:
    if not folder.is_dir():
        return f"{what} folder missing: {folder}"
    if not allow_unmarked and not layout.is_complete(folder):
        return f"{what} folder incomplete (no completion marker {layout.COMPLETE_MARKER}): {folder}"
    return None


def _contiguous(indices: Iterable[int]) -> int | None:
    """n when ``indices`` are exactly 1..n, else None."""
    values = sorted(indices)
    return len(values) if values == list(range(1, len(values) + 1)) else None


def _clip(n: int, segment: list[int] | None) -> tuple[int, int] | None:
    first, last = 1, n
    if segment:
        first, last = max(1, int(segment[0])), min(n, int(segment[1]) - 1)
    return (first, last) if first <= last else None


def _scan_folder(
    folder: Path, flow: bool, allow_unmarked: bool, segment: list[int] | None
) -> tuple[tuple[int, int], list[int]] | str:
    """The 1-based frame (or flow pair) range of a frame (or flow) folder that a record's ``segment``
    covers, and its files' sizes (flow: x, y for each pair); or why the folder cannot be used."""
    what = "flow" if flow else "frame"
    problem = _check_folder(folder, what, allow_unmarked)
    if problem:
        return problem
    if flow:
        listing = _listing(folder, _FLOW_RE, _flow_name)
        xs, ys = ({i for c, i in listing if c == axis} for axis in "xy")
        n = _contiguous(xs)
        if listing and (n is None or xs != ys):
            return f"flow x/y files not contiguous pairs 1..n: {folder}"
        # pair i is the flow from frame i to i+1: a segment's frames [b, e) hold the pairs [b, e - 1)
        span = _clip(n or 0, segment and [segment[0], segment[1] - 1])
    else:
        listing = _listing(folder, _IMAGE_RE, _image_name)
        n = _contiguous(listing)
        if listing and n is None:
            missing = next(i for i in range(1, len(listing) + 2) if i not in listing)
            return f"frames not contiguous ({layout.image_name(missing)} missing): {folder}"
        span = _clip(n or 0, segment)
    if not listing:
        return f"{what} folder empty: {folder}"
    if span is None:
        return f"segment {segment} has no {'flow' if flow else 'frames'} among 1..{n}"
    first, last = span
    if flow:
        return span, [listing[(c, i)] for i in range(first, last + 1) for c in "xy"]
    return span, [listing[i] for i in range(first, last + 1)]


def scan_record(
    key: str,
    record: VideoRecord,
    options: ShardOptions,
    labels: list[str],
    frames: Path | None,
    flow: Path | None,
    video_root: Path | None = None,
) -> SampleSpec | Rejected:
    """Check one record's inputs on disk and turn it into a :class:`SampleSpec` (or a rejection)."""

    def reject(reason: str) -> Rejected:
        return Rejected(record.id, record.path, reason)

    problem = record_problem(record, labels)
    if problem:
        return reject(problem)
    spec = SampleSpec(key, record)
    sizes: dict[str, list[int]] = {}
    if options.rgb and video_root is not None:
        found = video_for(video_root, record.path)
        if found is None:
            return reject(f"video missing: {video_root / record.path}.*")
        spec.video = found.relative_to(video_root).as_posix()
        sizes["video"] = [found.stat().st_size]
    elif options.rgb:
        assert frames is not None
        found = _scan_folder(frames / record.path, False, options.allow_unmarked, record.segment)
        if isinstance(found, str):
            return reject(found)
        spec.rgb, sizes["rgb"] = found
        spec.nbytes += sum(member_bytes(rgb_member(key, 1), s) for s in sizes["rgb"])
    if options.flow:
        assert flow is not None
        found = _scan_folder(flow / record.path, True, options.allow_unmarked, record.segment)
        if isinstance(found, str):
            return reject(found)
        spec.flow, sizes["flow"] = found
        spec.nbytes += sum(member_bytes(flow_members(key, 1)[0], s) for s in sizes["flow"])
    identity = {
        "key": key,
        "record": record.to_json(),
        "rgb": spec.rgb,
        "flow": spec.flow,
        "video": spec.video,
    }
    spec.fingerprint = _digest({**identity, "sizes": sizes})
    return spec


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def order_samples(samples: list[SampleSpec], options: ShardOptions) -> list[SampleSpec]:
    """Samples in key order, or a permutation of it seeded by ``options.seed`` when shuffling."""
    ordered = sorted(samples, key=lambda s: s.key)
    if options.shuffle:
        random.Random(options.seed).shuffle(ordered)
    return ordered


def assign_shards(samples: list[SampleSpec], options: ShardOptions, prefix: str) -> list[ShardPlan]:
    """Cut the ordered samples into shards of at most ``max_count`` samples and ``max_size`` bytes.

    A shard closes before a sample would take it past ``max_size`` (a single larger sample gets a shard
    of its own). Samples from videos (``--from-video``) have no size before decoding and count as 0.
    """
    groups: list[list[SampleSpec]] = []
    current: list[SampleSpec] = []
    current_bytes = 0
    for sample in samples:
        full = options.max_count is not None and len(current) >= options.max_count
        too_big = options.max_size is not None and tar_bytes(current_bytes + sample.nbytes) > options.max_size
        if current and (full or too_big):
            groups.append(current)
            current, current_bytes = [], 0
        current.append(sample)
        current_bytes += sample.nbytes
    if current:
        groups.append(current)
    content_options = {
        k: v
        for k, v in asdict(options).items()
        if k in ("modality", "check_decode") or k.startswith("video_") or (k == "strict" and v)
    }
    shards = []
    for i, group in enumerate(groups):
        name = f"{prefix}-{i:06d}.tar"
        digest = _digest(
            {"name": name, "options": content_options, "samples": [s.fingerprint for s in group]}
        )
        shards.append(ShardPlan(name, group, digest))
    return shards
