"""`vr manifest build|import|export|info`: official annotations and seed JSON to and from manifests."""

from __future__ import annotations

import json
from pathlib import Path

import click

from vr.manifests.build import DATASETS, build_manifest
from vr.manifests.info import count_table, summary
from vr.manifests.listing import AnnotationError, SplitError
from vr.manifests.report import BuildReport
from vr.manifests.resnets3d import misplaced_for_seed
from vr.manifests.schema import SUBSETS, Manifest, ManifestError, read_manifest

EXISTING = click.Path(exists=True, path_type=Path)
FRAME_ROOT = click.Path(exists=True, file_okay=False, path_type=Path)
OUTPUT = click.Path(dir_okay=False, path_type=Path)


def report_path(output: Path) -> Path:
    """``<output>.report.json``: the full list of left-out videos."""
    return output.with_name(output.name + ".report.json")


def finish(manifest: Manifest, report: BuildReport, output: Path, strict: bool, quiet: bool) -> None:
    """Write the report and (when any video is kept) the manifest; summarise; fail when asked to."""
    try:
        report.write(report_path(output))
        if report.kept == 0:
            raise click.ClickException(
                f"no videos kept: {report.summary()} (full list: {report_path(output)})"
            )
        manifest.write(output)
    except OSError as e:
        raise click.ClickException(f"cannot write {e.filename}: {e.strerror}") from None
    if not quiet:
        click.echo(f"wrote {output}: {summary(manifest)}")
    if report.left_out:
        hint = " (--allow-unmarked counts unmarked folders)" if report.counts().get("incomplete") else ""
        click.echo(f"warning: {report.summary()}{hint}; full list: {report_path(output)}", err=True)
        if strict:
            raise click.ClickException(f"{len(report.left_out)} listed videos left out (--strict)")


def read_fps_map(path: Path | None) -> dict[str, float] | None:
    """A JSON object ``{video id or folder name: fps}``."""
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): float(v) for k, v in data.items()}
    except (ValueError, TypeError, AttributeError) as e:
        raise click.BadParameter(f"{path}: expected a JSON object of video id -> fps ({e})") from None


def load(path: Path) -> Manifest:
    try:
        return read_manifest(path)
    except ManifestError as e:
        raise click.ClickException(str(e)) from None


@click.group("manifest")
def manifest() -> None:
    """Build, convert and inspect manifests (one JSON Lines file per dataset split)."""


@manifest.command("build")
@click.option("--dataset", required=True, type=click.Choice(DATASETS), help="Annotation format.")
@click.option(
    "--annotations",
    type=EXISTING,
    help="Official annotation folder or file (folder dataset: class folders; default: --frames).",
)
@click.option("--frames", required=True, type=FRAME_ROOT, help="Frame root: <class>/<video_id>/image_*.jpg.")
@click.option("--split", type=click.IntRange(min=1), help="Split number (UCF101, HMDB51; default 1).")
@click.option("--subset", "subsets", multiple=True, type=click.Choice(SUBSETS), help="Keep only these.")
@click.option("--allow-unmarked", is_flag=True, help="Count image_*.jpg of folders without a marker.")
@click.option("--fps-map", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="JSON id->fps.")
@click.option("--strict", is_flag=True, help="Exit 1 when any listed video is left out.")
@click.option("-o", "--output", required=True, type=OUTPUT, help="Manifest to write (.jsonl).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def build(
    dataset: str,
    annotations: Path | None,
    frames: Path,
    split: int | None,
    subsets: tuple[str, ...],
    allow_unmarked: bool,
    fps_map: Path | None,
    strict: bool,
    output: Path,
    quiet: bool,
) -> None:
    """Build a manifest from a dataset's official annotation files and its frame folders.

    Videos listed but missing, incomplete or without frames are left out and reported
    (OUTPUT.report.json holds the full list).
    """
    if annotations is None:
        if dataset != "folder":
            raise click.UsageError(f"--annotations is required for --dataset {dataset}")
        annotations = frames
    try:
        result, report = build_manifest(
            dataset,
            annotations,
            frames,
            split=split,
            subsets=subsets or None,
            allow_unmarked=allow_unmarked,
            fps_map=read_fps_map(fps_map),
            progress=not quiet,
        )
    except SplitError as e:
        raise click.BadParameter(str(e), param_hint="--split") from None
    except AnnotationError as e:
        raise click.ClickException(str(e)) from None
    finish(result, report, output, strict, quiet)


_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["seed", "mmaction-rawframes", "mmaction-videos", "pyslowfast", "csv"]),
    default="seed",
    show_default=True,
    help="seed: the 3D-ResNets JSON; mmaction-rawframes / mmaction-videos: MMAction2's lists; pyslowfast: "
    "its train/val/test CSVs; csv: every manifest field.",
)


@manifest.command("import")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@_FORMAT
@click.option("--frames", type=FRAME_ROOT, help="The frame root the listed videos are in (all but csv).")
@click.option(
    "--labels",
    "labels_file",
    type=EXISTING,
    help="List formats: label names, one a line (default: labels.txt beside the lists, else the indices).",
)
@click.option(
    "--subset", type=click.Choice(SUBSETS), help="List formats: the files' subset (default: from names)."
)
@click.option("--allow-unmarked", is_flag=True, help="Count image_*.jpg of folders without a marker.")
@click.option("--strict", is_flag=True, help="Exit 1 when any listed video is left out.")
@click.option("-o", "--output", required=True, type=OUTPUT, help="Manifest to write (.jsonl).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def import_(files, fmt, frames, labels_file, subset, allow_unmarked, strict, output, quiet) -> None:
    """Convert annotation FILES of another tool (the 3D-ResNets seed's JSON by default, MMAction2's or
    PySlowFast's lists, a CSV) into a manifest, looking the videos up under --frames."""
    from vr.manifests.interop import import_manifest

    result, report = import_manifest(
        files, fmt, frames, labels_file=labels_file, subset=subset, allow_unmarked=allow_unmarked,
        progress=not quiet,
    )  # fmt: skip
    finish(result, report, output, strict, quiet)


@manifest.command("export")
@click.argument(
    "manifest_path", metavar="MANIFEST", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@_FORMAT
@click.option(
    "--subset", type=click.Choice(SUBSETS), help="Only this subset (list formats: OUTPUT is its file)."
)
@click.option(
    "--video-ext",
    default=".mp4",
    show_default=True,
    help="mmaction-videos, pyslowfast: video files' extension.",
)
@click.option(
    "-o", "--output", required=True, type=click.Path(path_type=Path),
    help="File to write (list formats: a folder, one list a subset and labels.txt).",
)  # fmt: skip
def export(manifest_path: Path, fmt: str, subset: str | None, video_ext: str, output: Path) -> None:
    """Convert a manifest for another tool: the 3D-ResNets seed's JSON (default), MMAction2's rawframe or
    video lists, PySlowFast's CSVs, or a CSV of every field."""
    from vr.manifests.interop import export_manifest

    data = load(manifest_path)
    written = export_manifest(data, fmt, output, subset=subset, video_ext=video_ext)
    misplaced = misplaced_for_seed(data) if fmt == "seed" else []
    if misplaced:
        click.echo(
            f"warning: {len(misplaced)} videos are not in <label>/<id> (or test/<id>) under the frame root, "
            f"where the seed looks (first: {', '.join(misplaced[:3])})",
            err=True,
        )
    n = len(data.videos) if subset is None else len(data.subset(subset).videos)
    click.echo(f"wrote {', '.join(map(str, written))}: {n} videos, {len(data.labels)} labels")


@manifest.command("info")
@click.argument(
    "manifest_path", metavar="MANIFEST", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def info(manifest_path: Path) -> None:
    """Print a manifest's video counts per class and subset."""
    data = load(manifest_path)
    click.echo(summary(data))
    click.echo(count_table(data))
