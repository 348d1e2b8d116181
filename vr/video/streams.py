"""What a raw-video reader needs to know of each file before it opens them all: codec and frame-rate mode.

DALI's NVDEC reader (``fn.readers.video``) takes one codec per file list ("not the same codec as
previous files"), seeks by frame number computed from the average frame rate (so a variable-frame-rate
file gives the wrong frames, and its heuristic check refuses some files either way), and decodes
H.264, HEVC, MPEG-4, VP8, VP9 and MJPEG; without a GPU DALI decodes VP8, VP9 and MJPEG only.
:func:`stream_facts` reads both facts in one ffmpeg run (stream copy, no decoding: the packets'
presentation times), :func:`probe_all` probes many files in threads with a cache keyed by size and
modification time, and :func:`reader_problem` says in one line why a file list cannot go to the reader.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from vr.video.ffmpeg_bin import ffmpeg_exe
from vr.video.ffmpeg_log import error_line
from vr.video.probe import VideoError, check_readable, parse_stream

NVDEC_CODECS = ("h264", "hevc", "mpeg4", "vp8", "vp9", "mjpeg")  # DALI's video reader on a GPU
CPU_CODECS = ("vp8", "vp9", "mjpeg")  # DALI's video reader on the CPU
_TIME_BASE = re.compile(r"^#tb 0: (\d+)/(\d+)", re.M)
_PACKET = re.compile(r"^0,\s*(-?\d+),\s*(-?\d+),", re.M)  # stream 0: dts, pts
_CACHE_VERSION = 2


@dataclass(frozen=True)
class StreamFacts:
    """A file's video codec, frame size (as stored), and whether its frames are evenly spaced in time
    (``constant``; ``spread``: the largest gap between presentation times over the smallest, 1.0 for a
    constant frame rate)."""

    codec: str
    width: int
    height: int
    constant: bool
    spread: float
    packets: int


def frame_rate_mode(pts: Sequence[int]) -> tuple[bool, float]:
    """(constant, spread) of a stream's presentation times in time-base ticks: constant when every gap
    between consecutive frames is within one tick (a millisecond time base rounds 1/30 s to 33 or 34)
    or 0.5% of the median gap."""
    times = sorted(pts)
    gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False) if b > a)
    if not gaps:
        return True, 1.0
    median = gaps[len(gaps) // 2]
    tolerance = max(1, median * 0.005)
    constant = all(abs(g - median) <= tolerance for g in gaps)
    return constant, gaps[-1] / gaps[0]


def stream_facts(path: str | os.PathLike) -> StreamFacts:
    """Codec and frame-rate mode of ``path``'s first video stream (one ffmpeg run, stream copy)."""
    check_readable(path)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-i", os.fspath(path)]
    cmd += ["-map", "0:V:0", "-c", "copy", "-f", "framecrc", "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    info = parse_stream(proc.stderr)
    if info is None or proc.returncode != 0:
        raise VideoError("no video stream" if "Input #0" in proc.stderr else error_line(proc.stderr))
    pts = [int(p) for _, p in _PACKET.findall(proc.stdout)]
    constant, spread = frame_rate_mode(pts)
    return StreamFacts(info.codec, info.width, info.height, constant, round(spread, 3), len(pts))


def probe_all(
    files: Sequence[str | os.PathLike],
    cache: str | os.PathLike | None = None,
    threads: int = 8,
    on_file: Callable[[], None] | None = None,
) -> dict[str, StreamFacts | str]:
    """:func:`stream_facts` of every file (or the reason it cannot be read), in ``threads`` threads;
    ``cache``: a JSON file of earlier results, reused while a file's size and modification time stay
    the same, and updated (best effort: a read-only folder only costs the probing again)."""
    from vr.writing import write_json

    cached = _read_cache(cache)
    out: dict[str, StreamFacts | str] = {}
    todo = []
    for f in files:
        key, stamp = os.fspath(f), _stamp(f)
        hit = cached.get(key)
        if hit is not None and stamp is not None and hit.get("stamp") == stamp:
            out[key] = StreamFacts(**hit["facts"]) if "facts" in hit else hit["error"]
            if on_file:
                on_file()
        else:
            todo.append(key)

    def one(path: str) -> StreamFacts | str:
        try:
            return stream_facts(path)
        except VideoError as e:
            return str(e)
        finally:
            if on_file:
                on_file()

    if todo:
        with ThreadPoolExecutor(max(1, threads), thread_name_prefix="vr-probe") as pool:
            out.update(zip(todo, pool.map(one, todo), strict=True))
        if cache is not None:
            entries = {}
            for key, facts in out.items():
                stamp = _stamp(key)
                if stamp is not None:
                    result = {"facts": asdict(facts)} if isinstance(facts, StreamFacts) else {"error": facts}
                    entries[key] = {"stamp": stamp, **result}
            with contextlib.suppress(OSError):
                write_json(cache, {"version": _CACHE_VERSION, "files": {**cached, **entries}})
    return {os.fspath(f): out[os.fspath(f)] for f in files}


def _stamp(path: str | os.PathLike) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _read_cache(cache: str | os.PathLike | None) -> dict[str, dict]:
    if cache is None:
        return {}
    try:
        data = json.loads(Path(cache).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION:
        return {}
    files = data.get("files")
    return files if isinstance(files, dict) else {}


def _some(names: list[str], n: int = 3) -> str:
    shown = ", ".join(os.path.basename(x) for x in names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


def reader_problem(facts: dict[str, StreamFacts | str], gpu: bool) -> str | None:
    """Why DALI's video reader cannot take these files (on a GPU: NVDEC; else its CPU decoder), in one
    line naming them and the way out; None when it can."""
    way_out = (
        "extract frames instead (`vr preprocess extract-frames`, then `vr shard`) and train with "
        "--loader dali or torch"
    )
    unreadable = [f for f, v in facts.items() if isinstance(v, str)]
    if unreadable:
        return f"{len(unreadable)} video(s) cannot be read ({_some(unreadable)}: {facts[unreadable[0]]})"
    streams = {f: v for f, v in facts.items() if isinstance(v, StreamFacts)}
    allowed = NVDEC_CODECS if gpu else CPU_CODECS
    where = "on a GPU (NVDEC)" if gpu else "without a GPU"
    foreign = [f for f, v in streams.items() if v.codec not in allowed]
    if foreign:
        codecs = sorted({streams[f].codec for f in foreign})
        hint = "" if gpu else "; a CUDA GPU decodes H.264/HEVC/MPEG-4 too"
        return (
            f"DALI's video reader decodes {'/'.join(c.upper() for c in allowed)} {where}, not "
            f"{'/'.join(codecs)}: {len(foreign)} video(s) ({_some(foreign)}){hint}; or {way_out}"
        )
    counts = Counter(v.codec for v in streams.values())
    if gpu and len(counts) > 1:
        main = counts.most_common(1)[0][0]
        others = [f for f, v in streams.items() if v.codec != main]
        mix = ", ".join(f"{n} {c}" for c, n in counts.most_common())
        return (
            f"DALI's NVDEC reader takes one codec per file list, these videos mix {mix} ({_some(others)} "
            f"are not {main}): re-encode them to one codec, train on one codec's videos, or {way_out}"
        )
    variable = [f for f, v in streams.items() if not v.constant]
    if variable:
        spread = max(streams[f].spread for f in variable)
        return (
            f"{len(variable)} video(s) have a variable frame rate ({_some(variable)}; the longest gap "
            f"between frames {spread:.2f}x the shortest): DALI's video reader seeks by frame number at a "
            "constant rate and would return the wrong frames; re-encode them at a constant rate "
            f"(ffmpeg -fps_mode cfr), or {way_out}"
        )
    return None
