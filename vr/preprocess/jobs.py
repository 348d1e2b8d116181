"""Deciding what a run has to do (skip complete outputs in O(1), drop leftovers of killed runs), and
running it: :func:`run_per_video`, the one job shape of `extract-frames` and `flow-tvl1`."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from vr.layout import TMP_PREFIX, is_complete
from vr.locks import output_lock
from vr.preprocess.runner import FAILED, REPORT_NAME, SKIPPED, Outcome, run_tasks, write_report
from vr.video.find import Listing

S = TypeVar("S")


def clean_stale_temps(dst: str | os.PathLike, depth: int = 2) -> int:
    """Remove the temporary folders (``.tmp-*``) that killed runs left in ``dst`` up to ``depth`` levels
    down; return how many. Do not run two jobs on the same destination at the same time."""
    removed, level = 0, [Path(dst)]
    for _ in range(depth):
        deeper = []
        for folder in level:
            try:
                entries = list(os.scandir(folder))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                if entry.name.startswith(TMP_PREFIX) and entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                    removed += 1
                elif entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                    deeper.append(Path(entry.path))
        level = deeper
    return removed


def split_pending(
    sources: Iterable[S], name: Callable[[S], str], source: Callable[[S], str], dst: Path, overwrite: bool
) -> tuple[list[S], list[Outcome]]:
    """(sources still to do, outcomes of the others): complete outputs are skipped unless ``overwrite``;
    a second source with the same output name fails instead of overwriting the first."""
    pending, done, seen = [], [], {}
    for item in sources:
        key = name(item)
        if key in seen:
            reason = f"same output folder {key} as {seen[key]}"
            done.append(Outcome(key, FAILED, source(item), reason=reason))
            continue
        seen[key] = source(item)
        if not overwrite and is_complete(dst / key):
            done.append(Outcome(key, SKIPPED, source(item)))
        else:
            pending.append(item)
    return pending, done


def previous_warnings(dst: Path) -> dict[str, str]:
    """``name -> warning`` of the videos an earlier run's ``dst/_report.json`` kept with a warning."""
    try:
        report = json.loads((dst / REPORT_NAME).read_text(encoding="utf-8"))
        return {w["name"]: w["reason"] for w in report.get("warnings", []) if isinstance(w, dict)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def listing_failures(listing: Listing, src: str | os.PathLike) -> list[Outcome]:
    """A failed outcome for every entry of the source tree that could not be taken (see
    :class:`~vr.video.find.Listing`), named by its path under ``src``."""
    root = Path(src).absolute()
    out = []
    for path, reason in listing.problems:
        name = os.path.relpath(path, root)
        out.append(Outcome(name, FAILED, path, reason=reason))
    return out


def nothing_found(listing: Listing, extensions: tuple[str, ...] | None) -> str:
    """Why a source tree gave no videos, and what to try."""
    if listing.other_extensions:
        return listing.notes("this layout")[0].replace("left out", "found only")
    asked = f" with extensions {', '.join(extensions)}" if extensions else ""
    return f"found no video files{asked} in its layout (see --dataset and --ext)"


def require_videos(
    listing: Listing, src: str | os.PathLike, dataset: str, extensions: tuple[str, ...] | None
) -> None:
    """ValueError saying why, when ``listing`` found nothing to do at all."""
    if not listing.videos and not listing.problems:
        raise ValueError(f"{src}: no videos for --dataset {dataset}; " + nothing_found(listing, extensions))


def run_per_video(
    command: str,
    fn: Callable[[Any], Outcome],
    sources: list[tuple[str, Any]],
    make_task: Callable[[str, Any], Any],
    dst: Path,
    *,
    src: str | os.PathLike,
    settings: dict[str, Any],
    listing: Listing | None = None,
    notes: list[str] | None = None,
    overwrite: bool = False,
    desc: str = "videos",
    **run: Any,
) -> list[Outcome]:
    """One job of ``vr preprocess COMMAND``: lock ``dst``, drop killed runs' leftovers, skip the complete
    outputs of ``sources`` (``(name, source)``), run ``fn`` on ``make_task(name, source)`` of the others
    (``run``: :func:`~vr.preprocess.runner.run_tasks`' jobs, backend, address, quiet), report every
    outcome, the listing's problems and ``notes`` in ``dst/_report.json``; return the outcomes."""
    with output_lock(dst, f"`vr preprocess {command}`"):
        clean_stale_temps(dst)
        pending, outcomes = split_pending(sources, lambda s: s[0], lambda s: str(s[1]), dst, overwrite)
        earlier = previous_warnings(dst)  # a video skipped as complete keeps the warning it had
        for outcome in outcomes:
            if outcome.status == SKIPPED and outcome.name in earlier:
                outcome.warning = earlier[outcome.name]
        if listing is not None:
            outcomes += listing_failures(listing, src)
        tasks = [make_task(name, source) for name, source in pending]
        outcomes += run_tasks(fn, tasks, desc=desc, **run)
        write_report(dst, outcomes, command, {"src": str(src), **settings}, notes=notes or [])
    return outcomes
