"""Where clips come from: a shard folder (``index.json`` + WebDataset tars) or a manifest + frame folders.

A source lists the videos this DDP rank reads and gives random access to any frame of them, so both
backends can read exactly the frames a :class:`~vr.pipelines.sampling.ClipSpec` asks for.

Shards are read by offset: the first time a process touches a shard it walks the tar headers once
(``tarfile``, data blocks are skipped) and keeps a table of member offsets; a frame read is then one
``seek`` + ``read``. The tars stay plain WebDataset shards (``<key>.rgb_00001.jpg`` ...), readable by
``webdataset`` and ``tar``.
"""

from __future__ import annotations

import bisect
import json
import os
import re
import tarfile
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vr import layout
from vr.manifests.schema import Manifest, read_manifest
from vr.provenance import describe_folders

MODALITIES = ("rgb", "flow")
_MEMBER_RE = re.compile(r"^(rgb|flow_x|flow_y)_(\d+)\.jpg$")
_TABLE_CACHE = 64


class SourceError(ValueError):
    """A source that cannot be read as asked (missing shard, modality it does not hold, ...)."""


@dataclass
class Video:
    """One video as a source sees it: metadata and where its frames are.

    ``frames[i]`` locates the channel images of frame position ``i`` (one for RGB, x and y for Flow);
    each location is ``(path, offset, size)`` with ``size < 0`` meaning "the whole file".
    """

    id: str
    label: int
    frames: list[tuple[tuple[str, int, int], ...]]

    @property
    def n_frames(self) -> int:
        return len(self.frames)

    def read(self, positions: Sequence[int]) -> list[list[bytes]]:
        """Encoded channel images of each frame position, in order."""
        cache: dict[int, list[bytes]] = {}
        handles: dict[str, Any] = {}
        try:
            for pos in positions:
                if pos not in cache:
                    cache[pos] = [_read_at(handles, loc) for loc in self.frames[pos]]
        finally:
            for f in handles.values():
                f.close()
        return [cache[p] for p in positions]


def _read_at(handles: dict[str, Any], loc: tuple[str, int, int]) -> bytes:
    path, offset, size = loc
    if size < 0:
        with open(path, "rb") as f:
            return f.read()
    f = handles.get(path)
    if f is None:
        f = handles[path] = open(path, "rb")  # noqa: SIM115 - closed by Video.read
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise OSError(f"{path}: short read at byte {offset} (truncated shard?)")
    return data


def check_modality(modality: str) -> None:
    if modality not in MODALITIES:
        raise SourceError(f"modality must be one of {MODALITIES}, got {modality!r}")


# ---- shard folders ----------------------------------------------------------------------------------


@dataclass
class _Sample:
    key: str
    meta: tuple[int, int] | None
    rgb: dict[int, tuple[int, int]]
    flow_x: dict[int, tuple[int, int]]
    flow_y: dict[int, tuple[int, int]]


def scan_shard(path: str) -> list[_Sample]:
    """The samples of one tar shard, in order, with member offsets (headers only are read)."""
    samples: list[_Sample] = []
    by_key: dict[str, _Sample] = {}
    with tarfile.open(path, "r:") as tar:
        for member in tar:
            if not member.isfile():
                continue
            base = member.name.rsplit("/", 1)[-1]
            key, _, ext = base.partition(".")
            sample = by_key.get(key)
            if sample is None:
                sample = by_key[key] = _Sample(key, None, {}, {}, {})
                samples.append(sample)
            loc = (member.offset_data, member.size)
            if ext == "json":
                sample.meta = loc
                continue
            m = _MEMBER_RE.match(ext)
            if m:
                getattr(sample, m.group(1))[int(m.group(2))] = loc
    return samples


class ShardSource:
    """The shards of a ``vr shard`` folder that DDP rank ``rank`` reads (shards ``rank::world_size``)."""

    def __init__(
        self,
        folder: str | os.PathLike,
        modality: str = "rgb",
        rank: int = 0,
        world_size: int = 1,
        subset: str | None = None,
    ):
        check_modality(modality)
        if not 0 <= rank < world_size:
            raise SourceError(f"rank must be in [0, {world_size}), got {rank}")
        self.folder = Path(folder)
        self.modality = modality
        index_path = self.folder / "index.json"
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SourceError(f"{self.folder}: no index.json (not a `vr shard` output folder)") from None
        except ValueError as e:
            raise SourceError(f"{index_path}: not JSON ({e})") from None
        if not isinstance(index, dict) or index.get("vr_shards") != 1 or "shards" not in index:
            raise SourceError(f"{index_path}: not a vr shard index (needs vr_shards: 1 and shards)")
        held = index.get("modality", "rgb")
        if held != "both" and held != modality:
            raise SourceError(f"{self.folder}: the shards hold {held} frames only, not {modality}")
        if subset is not None and index.get("subset") != subset:
            raise SourceError(
                f"{self.folder}: the shards hold subset {index.get('subset')!r}, not {subset!r} "
                "(shard each subset into its own folder: vr shard --subset)"
            )
        self.labels: list[str] = list(index.get("labels", []))
        self.preprocess: dict[str, Any] = dict(index.get("preprocess") or {})
        shards = index["shards"]
        missing = [s["name"] for s in shards if not (self.folder / s["name"]).is_file()]
        if missing:
            raise SourceError(
                f"{self.folder}: {len(missing)} shard(s) listed in index.json are missing: "
                + ", ".join(missing[:5])
                + (" ..." if len(missing) > 5 else "")
            )
        for s in shards:
            actual = (self.folder / s["name"]).stat().st_size
            if "bytes" in s and actual != s["bytes"]:
                raise SourceError(
                    f"{self.folder / s['name']}: {actual} bytes but index.json says {s['bytes']} "
                    "(truncated or rewritten shard; rerun `vr shard`)"
                )
        self.rank_sizes = [sum(int(s["n_samples"]) for s in shards[r::world_size]) for r in range(world_size)]
        mine = shards[rank::world_size]
        if not mine:
            raise SourceError(f"rank {rank} of {world_size} gets no shard: only {len(shards)} shard(s)")
        self.shards = [str(self.folder / s["name"]) for s in mine]
        self._starts = [0]
        for s in mine:
            self._starts.append(self._starts[-1] + int(s["n_samples"]))
        self._tables: OrderedDict[int, list[_Sample]] = OrderedDict()

    def __len__(self) -> int:
        return self._starts[-1]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_tables"] = OrderedDict()
        return state

    def _table(self, shard: int) -> list[_Sample]:
        table = self._tables.get(shard)
        if table is None:
            table = self._tables[shard] = scan_shard(self.shards[shard])
            if len(self._tables) > _TABLE_CACHE:
                self._tables.popitem(last=False)
        else:
            self._tables.move_to_end(shard)
        return table

    def video(self, index: int) -> Video:
        """Video ``index`` (0-based over this rank's shards); raises on a sample the shard lacks."""
        shard = bisect.bisect_right(self._starts, index) - 1
        local = index - self._starts[shard]
        table = self._table(shard)
        path = self.shards[shard]
        if local >= len(table):
            raise SourceError(f"{path}: holds {len(table)} samples, index.json says more")
        sample = table[local]
        meta: dict[str, Any] = {}
        if sample.meta is not None:
            meta = json.loads(_read_at({}, (path, *sample.meta)))
        if self.modality == "rgb":
            frames = [((path, *sample.rgb[i]),) for i in sorted(sample.rgb)]
        else:
            pairs = sorted(set(sample.flow_x) & set(sample.flow_y))
            frames = [((path, *sample.flow_x[i]), (path, *sample.flow_y[i])) for i in pairs]
        label = meta.get("label_index")
        return Video(str(meta.get("id", sample.key)), -1 if label is None else int(label), frames)


# ---- manifest + frame folders -------------------------------------------------------------------------


class FolderSource:
    """A manifest's videos in frame/flow folders of the seeds' layout; rank reads ``rank::world_size``."""

    def __init__(
        self,
        manifest: str | os.PathLike | Manifest,
        root: str | os.PathLike,
        modality: str = "rgb",
        subset: str | None = None,
        rank: int = 0,
        world_size: int = 1,
    ):
        check_modality(modality)
        if not 0 <= rank < world_size:
            raise SourceError(f"rank must be in [0, {world_size}), got {rank}")
        if not isinstance(manifest, Manifest):
            manifest = read_manifest(manifest)
        if subset is not None:
            manifest = manifest.subset(subset)
        self.root = Path(root)
        if not self.root.is_dir():
            raise SourceError(f"{self.root}: no such {'frame' if modality == 'rgb' else 'flow'} folder")
        self.modality = modality
        self.labels = list(manifest.labels)
        self.videos = manifest.videos[rank::world_size]
        self.rank_sizes = [len(manifest.videos[r::world_size]) for r in range(world_size)]
        first = self.root / manifest.videos[0].path if manifest.videos else None
        self.preprocess = describe_folders(*((first, None) if modality == "rgb" else (None, first)))

    def __len__(self) -> int:
        return len(self.videos)

    def video(self, index: int) -> Video:
        record = self.videos[index]
        folder = self.root / record.path
        if record.segment:
            numbers = list(range(record.segment[0], record.segment[1]))
        else:
            numbers = list(range(1, record.n_frames + 1))
        if self.modality == "rgb":
            frames = [((str(folder / layout.image_name(i)), 0, -1),) for i in numbers]
        else:  # N frames give N-1 flow pairs
            frames = []
            for i in numbers[:-1]:
                x, y = layout.flow_names(i)
                frames.append(((str(folder / x), 0, -1), (str(folder / y), 0, -1)))
        label = -1 if record.label_index is None else int(record.label_index)
        return Video(record.id, label, frames)
