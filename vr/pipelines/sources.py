"""Where clips come from: a shard folder (``index.json``, tars and their member indexes; local or at a URL)
or a manifest + frame folders.

A source is the whole dataset seen as videos ``0 .. len - 1`` (shard by shard, in index order) grouped
into ``shard_sizes``; :mod:`vr.pipelines.order` decides which videos a DDP rank visits in an epoch and
in which order. ``source.video(i)`` gives random access to any frame of any video, so both backends read
exactly the frames a :class:`~vr.pipelines.sampling.ClipSpec` asks for.

A shard source never parses tar headers: it loads a shard's member index (a few milliseconds) the first
time a process needs one of its videos, keeps the last few, and reads a clip's frames with one ranged
read per sample (frames close together are coalesced), checking each member's tar header against the
index on the way. Its start-up reads ``index.json`` only (plus one ``stat`` per local shard), so
neither start-up nor memory grows with the number of videos.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vr.errors import VrError
from vr.layout import describe_folders
from vr.manifests.schema import Manifest, read_manifest, record_problem
from vr.modality import Modality
from vr.modality import modality as modality_of
from vr.safepath import relative_path
from vr.shards.format import INDEX, MemberIndex, ShardIndexError, load_index, read_member_index, read_slots
from vr.shards.jpeg import JpegError, jpeg_size
from vr.storage import StorageError, Store, is_url, open_store

TABLE_CACHE = 16  # member indexes a process keeps; the epoch order touches a few shards at a time
READ_AHEAD = 4  # shards read at once (requests in flight) by one process on remote storage


class SourceError(VrError, ValueError):
    """A source that cannot be read as asked (missing shard, modality it does not hold, ...)."""


@dataclass
class Video:
    """One video as a source sees it: id, label index (-1: none), frame count, and where its frames are
    (``where``: what its source's :meth:`read_frames` needs)."""

    id: str
    label: int
    n_frames: int
    where: Any
    source: Any = field(repr=False, default=None)

    def read(self, positions: Sequence[int]) -> list[list[bytes]]:
        """Encoded channel images (RGB: one, Flow: x and y) of each frame position, in order."""
        (frames,) = self.source.read_frames([(self, positions)])
        if isinstance(frames, Exception):
            raise frames
        return frames


def check_modality(name: str) -> Modality:
    """The :class:`~vr.modality.Modality` called ``name``; :class:`SourceError` for another name."""
    try:
        return modality_of(name)
    except ValueError as e:
        raise SourceError(str(e)) from None


# ---- shard folders ----------------------------------------------------------------------------------


class ShardSource:
    """Every video of a ``vr shard`` folder: a local path or a URL (``https://``, ``s3://``, ``gs://``...).

    ``storage_options`` go to ``fsspec`` for a URL; ``cache_dir`` keeps remote shards on local disk
    (downloaded once per machine and checked against their SHA-256) instead of ranged reads.
    """

    def __init__(
        self,
        folder: str | os.PathLike | Store,
        modality: str = "rgb",
        subset: str | None = None,
        storage_options: dict[str, Any] | None = None,
        cache_dir: str | os.PathLike | None = None,
    ):
        self.store = open_store(folder, storage_options, cache_dir)
        self.folder = self.store.location
        self.modality = check_modality(modality)
        try:
            index, self._digest = load_index(self.store)
        except ShardIndexError as e:
            raise SourceError(str(e)) from None
        held = index["modality"]
        if held != "both" and held != modality:
            raise SourceError(f"{self.folder}: the shards hold {held} frames only, not {modality}")
        if subset is not None and index.get("subset") != subset:
            raise SourceError(
                f"{self.folder}: the shards hold subset {index.get('subset')!r}, not {subset!r} "
                "(shard each subset into its own folder: vr shard --subset)"
            )
        old = [e["name"] for e in index["shards"] if "members" not in e]
        if old:
            raise SourceError(
                f"{self.folder}: {len(old)} shard(s) have no member index (written by an older `vr shard`, "
                f"e.g. {old[0]}); run `vr shard reindex {self.folder}` once"
            )
        if self.store.is_local:  # cheap here, and a clear error before any worker starts
            self._check_local_shards(index["shards"])
        self._broken = None
        self._use(index)

    def _use(self, index: dict[str, Any]) -> None:
        """Take the shard list of a checked index."""
        self.labels: list[str] = list(index["labels"])
        self.preprocess: dict[str, Any] = dict(index.get("preprocess") or {})
        self.entries: list[dict[str, Any]] = index["shards"]
        for entry in self.entries:
            self.store.expect(entry["name"], entry["bytes"], entry["sha256"])
        self.shard_sizes = np.array([e["n_samples"] for e in self.entries], np.int64)
        self._starts = np.concatenate([[0], np.cumsum(self.shard_sizes)]).tolist()
        self._tables: OrderedDict[int, MemberIndex] = OrderedDict()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Small: a loader worker reads ``index.json`` again (a large pickle would make worker start-up
        wait on each worker in turn) and checks that it is the one this source was opened on."""
        keep = ("store", "folder", "modality", "_digest")
        return {k: v for k, v in self.__dict__.items() if k in keep}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """In a loader worker. An index it cannot read (the server went away as the worker started) or
        one that changed is reported by the worker's first read, as every storage failure is (a clean
        StorageError in the main process), instead of killing the worker while it unpickles."""
        self.__dict__.update(state)
        self._broken: StorageError | None = None
        try:
            index, digest = load_index(self.store)
            if digest != self._digest:
                raise StorageError(
                    f"{self.store.describe(INDEX)}: changed while the loader started; start again"
                )
        except (ShardIndexError, StorageError) as e:
            self._broken = StorageError(str(e))
            index = {"labels": [], "shards": []}
        self._use(index)

    def _check_local_shards(self, entries: list[dict[str, Any]]) -> None:
        sizes = self.store.sizes()  # one directory scan, however many shards
        missing = [n for e in entries for n in (e["name"], e["members"]) if n not in sizes]
        wrong = [e for e in entries if e["name"] in sizes and sizes[e["name"]] != e["bytes"]]
        if missing:
            raise SourceError(
                f"{self.folder}: {len(missing)} file(s) listed in index.json are missing: "
                + ", ".join(missing[:5])
                + (" ..." if len(missing) > 5 else "")
            )
        if wrong:
            e = wrong[0]
            raise SourceError(
                f"{self.store.describe(e['name'])}: {sizes[e['name']]} bytes but index.json says "
                f"{e['bytes']} (truncated or rewritten shard; rerun `vr shard`)"
            )

    def __len__(self) -> int:
        return self._starts[-1]

    def table(self, shard: int) -> MemberIndex:
        """The member index of shard ``shard`` (loaded and checked on first use, a few kept)."""
        with self._lock:
            table = self._tables.get(shard)
            if table is not None:
                self._tables.move_to_end(shard)
                return table
        entry = self.entries[shard]
        try:
            table = read_member_index(self.store, entry)
        except ShardIndexError as e:
            raise StorageError(str(e)) from None
        if not self.store.is_local and self.store.size(entry["name"]) != entry["bytes"]:
            raise StorageError(
                f"{self.store.describe(entry['name'])}: {self.store.size(entry['name'])} bytes but "
                f"index.json says {entry['bytes']} (truncated or rewritten shard)"
            )
        if len(table) and int(table.labels.max()) >= len(self.labels):
            bad = int(np.argmax(table.labels >= len(self.labels)))
            raise StorageError(
                f"{self.store.describe(entry['members'])}: sample {table.keys[bad]!r} has label index "
                f"{int(table.labels[bad])}, but index.json lists {len(self.labels)} labels"
            )
        with self._lock:
            self._tables[shard] = table
            if len(self._tables) > TABLE_CACHE:
                self._tables.popitem(last=False)
        return table

    def locate(self, index: int) -> tuple[int, int]:
        """(shard, sample within the shard) of video ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"video {index} of {len(self)}")
        shard = bisect.bisect_right(self._starts, index) - 1
        return shard, index - self._starts[shard]

    def video(self, index: int) -> Video:
        """Video ``index`` (0-based over the whole folder, shard by shard)."""
        if self._broken is not None:
            raise self._broken
        shard, local = self.locate(index)
        table = self.table(shard)
        # (frames, channel images): one for RGB, x and y for Flow
        slots = table.flow_slots(local) if self.modality.flow else table.rgb_slots(local)[:, None]
        return Video(table.ids[local], int(table.labels[local]), len(slots), (shard, table, slots), self)

    def read_frames(
        self, requests: Sequence[tuple[Video, Sequence[int]]]
    ) -> list[list[list[bytes]] | Exception]:
        """The frames at ``positions`` of each video, reading each shard's members together (one ranged
        read per run of neighbouring members; on remote storage the shards' reads overlap). A shard that
        fails gives its :class:`~vr.storage.StorageError` in place of its videos' frames."""
        groups: dict[int, list[int]] = {}
        for i, (video, _) in enumerate(requests):
            groups.setdefault(video.where[0], []).append(i)

        def read(shard: int) -> dict[int, bytes] | StorageError:
            table = requests[groups[shard][0]][0].where[1]
            slots = [
                int(s) for i in groups[shard] for s in requests[i][0].where[2][list(requests[i][1])].ravel()
            ]
            try:
                return read_slots(self.store, self.entries[shard]["name"], table, slots)
            except StorageError as e:
                return e

        if len(groups) > 1 and not self.store.is_local:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(READ_AHEAD, thread_name_prefix="vr-read")
            data = dict(zip(groups, self._pool.map(read, groups), strict=True))
        else:
            data = {shard: read(shard) for shard in groups}
        out: list[list[list[bytes]] | Exception] = []
        for video, positions in requests:
            found = data[video.where[0]]
            if isinstance(found, Exception):
                out.append(found)
            else:
                slots = video.where[2]
                out.append([[found[int(s)] for s in slots[p]] for p in positions])
        return out


# ---- manifest + frame folders -------------------------------------------------------------------------


class PackedStrings:
    """Many strings in one bytes buffer (a list of 300,000 ``str`` takes ~20x the memory)."""

    def __init__(self, strings: Sequence[str]):
        encoded = [s.encode("utf-8", "surrogateescape") for s in strings]
        self.blob = b"".join(encoded)
        self.ends = np.cumsum([len(e) for e in encoded], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, i: int) -> str:
        start = int(self.ends[i - 1]) if i else 0
        return self.blob[start : int(self.ends[i])].decode("utf-8", "surrogateescape")


class FolderSource:
    """A manifest's videos in frame/flow folders of the seeds' layout.

    Every ``path`` must stay inside ``root`` and every label must be its entry of the manifest's label
    list; the videos are kept packed (ids and paths in one buffer each, numbers in arrays).
    """

    def __init__(
        self,
        manifest: str | os.PathLike | Manifest,
        root: str | os.PathLike,
        modality: str = "rgb",
        subset: str | None = None,
    ):
        where = "manifest" if isinstance(manifest, Manifest) else os.fspath(manifest)
        if not isinstance(manifest, Manifest):
            manifest = read_manifest(manifest)
        if subset is not None:
            manifest = manifest.subset(subset)
        self.modality = check_modality(modality)
        self.root = Path(root)
        if not self.root.is_dir():
            raise SourceError(f"{self.root}: no such {'flow' if self.modality.flow else 'frame'} folder")
        self.labels = list(manifest.labels)
        videos = manifest.videos
        for v in videos:
            problem = record_problem(v, self.labels)
            if problem:
                raise SourceError(f"{where}: video {v.id!r}: {problem}")
        paths = [relative_path(v.path) for v in videos]
        self.ids = PackedStrings([v.id for v in videos])
        self.paths = PackedStrings(paths)
        self.label_index = np.array(
            [-1 if v.label_index is None else v.label_index for v in videos], np.int64
        )
        self.first = np.array([v.segment[0] if v.segment else 1 for v in videos], np.int64)
        self.end = np.array([v.segment[1] if v.segment else v.n_frames + 1 for v in videos], np.int64)
        self.shard_sizes = np.ones(len(videos), np.int64)  # no shards: every video is its own unit
        first = self.root / paths[0] if videos else None
        self.preprocess = describe_folders(*((None, first) if self.modality.flow else (first, None)))

    def __len__(self) -> int:
        return len(self.ids)

    def video(self, index: int) -> Video:
        folder = self.root / self.paths[index]
        numbers = range(int(self.first[index]), int(self.end[index]))
        if self.modality.flow:  # N frames give N-1 flow pairs
            numbers = numbers[:-1]
        return Video(self.ids[index], int(self.label_index[index]), len(numbers), (folder, numbers), self)

    def read_frames(
        self, requests: Sequence[tuple[Video, Sequence[int]]]
    ) -> list[list[list[bytes]] | Exception]:
        """The frames at ``positions`` of each video, read from its folder (an :class:`OSError` in place of
        a video's frames when one of its files cannot be read)."""
        out: list[list[list[bytes]] | Exception] = []
        for video, positions in requests:
            folder, numbers = video.where
            names = [self.modality.file_names(numbers[p]) for p in positions]
            try:
                out.append([[(folder / n).read_bytes() for n in frame] for frame in names])
            except OSError as e:
                out.append(e)
        return out


def open_source(
    source,
    modality: str = "rgb",
    frames_root: str | os.PathLike | None = None,
    flow_root: str | os.PathLike | None = None,
    subset: str | None = None,
    storage_options: dict[str, Any] | None = None,
    cache_dir: str | os.PathLike | None = None,
):
    """A :class:`ShardSource` for a shard folder or URL, a :class:`FolderSource` for a manifest (file or
    object).

    A manifest needs ``frames_root`` (RGB) or ``flow_root`` (Flow; defaults to ``frames_root``, where
    ``vr`` writes flow beside the frames). ``subset`` selects a manifest's videos; a shard folder holds
    one subset and must match it. A ready source object is returned as is.
    """
    if isinstance(source, ShardSource | FolderSource):
        return source
    if (
        is_url(source)
        or isinstance(source, Store)
        or (isinstance(source, str | os.PathLike) and Path(source).is_dir())
    ):
        return ShardSource(source, modality, subset, storage_options, cache_dir)
    if isinstance(source, Manifest) or (isinstance(source, str | os.PathLike) and Path(source).is_file()):
        flow = check_modality(modality).flow
        root = (flow_root or frames_root) if flow else frames_root
        if root is None:
            raise SourceError(f"a manifest source needs {'flow_root' if flow else 'frames_root'}")
        return FolderSource(source, root, modality, subset)
    raise SourceError(f"{source}: neither a shard folder (with index.json) nor a manifest file")


def data_info(source) -> dict[str, Any]:
    """What a checkpoint keeps about its training data: the preprocessing (when the markers or the
    shard index tell it) and ``short_side``, the short side of the frames (or flow) it was trained on."""
    info = dict(getattr(source, "preprocess", None) or {})
    side = (info.get("flow" if source.modality.flow else "frames") or {}).get("short_side")
    if side is None and len(source):
        try:
            side = min(jpeg_size(source.video(0).read([0])[0][0]))
        except (JpegError, OSError, IndexError, ValueError):
            side = None
    info["short_side"] = side
    return info
