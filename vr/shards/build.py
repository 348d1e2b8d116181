"""`vr shard`: manifest + frame/flow folders (or videos) -> WebDataset shards, index and report.

Order of work, so a killed run can always be resumed: check the output folder, scan the inputs, write
``.plan.json``, write each missing shard (temporary name, record in ``.parts/``, rename), then write
``_report.json`` and finally ``index.json``. A rerun skips every shard whose file and record match the plan.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from joblib import Parallel, delayed

from vr.errors import VrError
from vr.layout import TMP_PREFIX, describe_folders
from vr.locks import output_lock
from vr.manifests.schema import read_manifest
from vr.progress import progress_bar
from vr.safepath import UnsafePathError, plain_name
from vr.shards.format import INDEX, build_index, members_name
from vr.shards.index import (
    PARTS,
    PLAN,
    REPORT,
    part_path,
    read_json,
    write_json_atomic,
)
from vr.shards.plan import (
    Plan,
    Rejected,
    SampleSpec,
    ShardOptions,
    ShardPlan,
    assign_keys,
    assign_shards,
    order_samples,
    scan_record,
)
from vr.shards.samples import Inputs
from vr.shards.writer import write_shard


class ShardError(VrError, RuntimeError):
    """A run that cannot go on because of the data or the output folder (one clear line)."""


@dataclass
class BuildResult:
    """What a run did."""

    out: Path
    n_samples: int
    n_shards: int
    shards_written: int
    shards_skipped: int
    bytes: int
    seconds: float
    rejected: list[Rejected] = field(default_factory=list)
    warnings: list[Rejected] = field(default_factory=list)  # kept, damaged (the decoder's errors)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _old_shard_names(old: dict | None, where: Path) -> list[str]:
    """The shard names an old plan or index lists, each a plain file name in the folder (a hostile
    ``.plan.json`` must not make a rerun delete files elsewhere)."""
    if not isinstance(old, dict):
        return []
    names = []
    for entry in old.get("shards", []):
        try:
            names.append(
                plain_name(
                    entry.get("name") if isinstance(entry, dict) else entry, what="shard name", source=where
                )
            )
        except UnsafePathError as e:
            raise ShardError(f"{e}; refusing to touch it (remove {where} or use another --out)") from None
    return names


def _check_output(out: Path, labels: list[str], subset: str, modality: str, overwrite: bool) -> dict | None:
    """The previous plan in ``out`` if it is compatible; refuses another label set (or subset, modality,
    foreign shards). ``overwrite`` removes every shard and record in ``out`` instead."""
    old_plan, old_index = read_json(out / PLAN), read_json(out / INDEX)
    known = set(_old_shard_names(old_plan, out / PLAN)) | set(_old_shard_names(old_index, out / INDEX))
    problems = []
    for old in (old_plan, old_index):
        if not isinstance(old, dict):
            continue
        if old.get("labels") != labels:
            problems.append("another label set")
        if (old.get("subset"), old.get("modality")) != (subset, modality):
            problems.append(f"subset {old.get('subset')!r}, modality {old.get('modality')!r}")
    foreign = sorted(p.name for p in out.glob("*.tar") if p.name not in known)
    if foreign:
        problems.append(f"{len(foreign)} shards not made by this plan (e.g. {foreign[0]})")
    if problems and not overwrite:
        raise ShardError(f"{out} holds shards of {problems[0]}; use --overwrite or another folder")
    if not overwrite:
        return old_plan if isinstance(old_plan, dict) else None
    for path in [
        *out.glob("*.tar"),
        *out.glob("*.idx.json"),
        *out.glob(f"{PARTS}/*.json"),
        out / PLAN,
        out / INDEX,
        out / REPORT,
    ]:
        path.unlink(missing_ok=True)
    return None


def _scan(
    records: list[tuple[str, Any]],
    labels: list[str],
    options: ShardOptions,
    inputs: Inputs,
    jobs: int,
    progress: bool,
) -> tuple[list[SampleSpec], list[Rejected]]:
    rgb_root = None if inputs.videos is not None else inputs.frames
    tasks = (
        delayed(scan_record)(key, record, options, labels, rgb_root, inputs.flow, inputs.videos)
        for key, record in records
    )
    specs: list[SampleSpec] = []
    rejected: list[Rejected] = []
    runner = Parallel(n_jobs=jobs, prefer="threads", return_as="generator", batch_size=64)
    for result in progress_bar(
        runner(tasks), total=len(records), desc="scan", unit="video", disable=not progress
    ):
        (rejected if isinstance(result, Rejected) else specs).append(result)
    return specs, rejected


def _is_done(out: Path, shard: ShardPlan) -> dict[str, Any] | None:
    """The shard's record when its final file exists and matches the plan, else None."""
    record = read_json(part_path(out, shard.name))
    final = out / shard.name
    if not isinstance(record, dict) or record.get("digest") != shard.digest or not final.is_file():
        return None
    if "members" not in record or not (out / members_name(shard.name)).is_file():
        return None  # written by an older vr shard (no member index): write it again
    return record if final.stat().st_size == record.get("bytes") else None


def _write_all(
    todo: list[ShardPlan], out: Path, inputs: Inputs, options: ShardOptions, jobs: int, progress: bool
) -> list[dict[str, Any]]:
    total = sum(len(s.samples) for s in todo)
    bar = progress_bar(total=total, desc="shard", unit="sample", disable=not progress, smoothing=0.1)
    lock, start, done_bytes = threading.Lock(), time.perf_counter(), [0]

    def on_sample(nbytes: int) -> None:
        with lock:
            done_bytes[0] += nbytes
            rate = done_bytes[0] / max(time.perf_counter() - start, 1e-9) / 1e6
            bar.set_postfix_str(f"{rate:.1f} MB/s", refresh=False)
            bar.update(1)

    runner = Parallel(n_jobs=jobs, prefer="threads", return_as="generator")
    try:
        return list(runner(delayed(write_shard)(s, out, inputs, options, on_sample) for s in todo))
    finally:
        bar.close()


def build_shards(
    manifest: str | Path,
    out: str | Path,
    options: ShardOptions,
    frames: str | Path | None = None,
    flow: str | Path | None = None,
    videos: str | Path | None = None,
    jobs: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> BuildResult:
    """Shard the videos of ``manifest`` into ``out``; resumes a killed run. See the module docstring.

    Raises ValueError for inconsistent arguments, :class:`ShardError` (or a ``ManifestError``) for data.
    """
    inputs = Inputs(*(None if p is None else Path(p) for p in (frames, flow, videos)))
    if options.rgb and inputs.frames is None and inputs.videos is None:
        raise ValueError(f"--modality {options.modality} needs --frames (or --from-video)")
    if options.flow and inputs.flow is None:
        raise ValueError(f"--modality {options.modality} needs --flow")
    if inputs.videos is not None and not options.rgb:
        raise ValueError("--from-video gives RGB frames: use --modality rgb or both")
    if inputs.videos is not None and inputs.frames is not None:
        raise ValueError("--frames and --from-video are alternatives: give one")
    if inputs.videos is None and (options.video_size is not None or options.video_fps is not None):
        raise ValueError("--size and --fps apply to --from-video only")
    if inputs.videos is not None and options.max_count is None:
        raise ValueError("--from-video needs --max-count (shard sizes are unknown before encoding)")
    if jobs < 1:
        raise ValueError("--jobs must be at least 1")
    for root in (inputs.frames, inputs.flow, inputs.videos):
        if root is not None and not root.is_dir():
            raise ShardError(f"input folder not found: {root}")
    started = time.perf_counter()
    manifest_path = Path(manifest)
    data = read_manifest(manifest_path, strict=False)  # bad records are left out and reported
    if options.subset is not None:
        data = data.subset(options.subset)
        if not data.videos:
            raise ShardError(f"{manifest}: no videos of subset {options.subset!r}")
    subsets = sorted({v.subset for v in data.videos})
    subset = options.subset or (subsets[0] if len(subsets) == 1 else "all")
    prefix = options.prefix or subset
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with output_lock(out, "`vr shard`"):
        old_plan = _check_output(out, data.labels, subset, options.modality, overwrite)
        specs, rejected = _scan(assign_keys(data.videos), data.labels, options, inputs, jobs, progress)
        plan = Plan(data.labels, subset, prefix, options)
        plan.shards = assign_shards(order_samples(specs, options), options, prefix)
        plan_json = plan.to_json()
        current = {s.name for s in plan.shards}
        stale = [name for name in _old_shard_names(old_plan, out / PLAN) if name not in current]
        done = {s.name: _is_done(out, s) for s in plan.shards}
        todo = [s for s in plan.shards if done[s.name] is None]
        if todo or old_plan != plan_json:
            (out / INDEX).unlink(missing_ok=True)  # first: an index never lists shards being changed
        for name in stale:
            for path in (out / name, out / members_name(name), part_path(out, name)):
                path.unlink(missing_ok=True)
        for path in [*out.glob(f"{TMP_PREFIX}*"), *out.glob(f"{PARTS}/{TMP_PREFIX}*")]:
            path.unlink()  # left by a killed run: this run holds the lock
        write_json_atomic(out / PLAN, plan_json)
        for record in _write_all(todo, out, inputs, options, jobs, progress):
            done[record["name"]] = record
        parts = [done[s.name] for s in plan.shards]
        rejected += [Rejected(**d) for p in parts for d in p["dropped"]]
        warnings = [Rejected(**d) for p in parts for d in p.get("warnings", [])]
        report = {
            "n_rejected": len(rejected),
            "rejected": [asdict(r) for r in rejected],
            "n_warnings": len(warnings),
            "warnings": [asdict(w) for w in warnings],
        }
        write_json_atomic(out / REPORT, report)
        if not any(p["n_samples"] for p in parts):
            raise ShardError(f"no usable videos: {len(rejected)} left out (see {out / REPORT})")
        index = build_index(plan_json, parts, str(manifest), _sha256_file(manifest_path))
        first = next(sample.record.path for shard in plan.shards for sample in shard.samples)
        index["preprocess"] = describe_folders(
            inputs.frames / first if inputs.frames else None, inputs.flow / first if inputs.flow else None
        )
        write_json_atomic(out / INDEX, index)
    return BuildResult(
        out=out,
        n_samples=index["n_samples"],
        n_shards=len(plan.shards),
        shards_written=len(todo),
        shards_skipped=len(plan.shards) - len(todo),
        bytes=sum(p["bytes"] for p in parts),
        seconds=time.perf_counter() - started,
        rejected=rejected,
        warnings=warnings,
    )
