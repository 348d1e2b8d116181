"""`vr eval`, `vr infer`, `vr fuse`: a checkpoint's accuracy, raw-video predictions, two-stream fusion."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from vr.commands.options import Real, remote_options
from vr.errors import VrError
from vr.modality import MODALITIES
from vr.pipelines.backends import BACKENDS
from vr.runtime import PRECISIONS

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
PER_CLASS_ROWS = 30  # print the per-class table for label sets up to this size


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


@click.command("eval")
@click.argument("checkpoint", type=EXISTING_FILE)
@click.option(
    "--data",
    required=True,
    help="Shard folder or its URL (https://, s3://, gs://, ...), or manifest (with --frames-root / "
    "--flow-root).",
)
@click.option("--mode", type=click.Choice(["clip", "video"]), default="video", show_default=True)
@click.option(
    "--n-clips", type=click.IntRange(1), default=10, show_default=True, help="Uniform clips a video."
)
@click.option(
    "--n-crops", type=click.Choice(["1", "3"]), default="3", show_default=True, help="Crops a clip."
)
@click.option("--modality", type=click.Choice(list(MODALITIES)), help="Expected modality (checked).")
@click.option("--frames-root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--flow-root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--subset", help="Manifest subset to evaluate (train/val/test).")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True)
@click.option("--loader", type=click.Choice(BACKENDS), default="torch", show_default=True)
@click.option("--workers", type=click.IntRange(0), default=2, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1 ...")
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Predictions JSON [default: eval_<mode>.json beside the checkpoint].",
)
@click.option("--topk", type=click.IntRange(1), help="Classes kept per video in the JSON [default: all].")
@click.option("--trusted", is_flag=True, help="Load a checkpoint that needs full unpickling.")
@remote_options
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def eval_command(checkpoint: Path, data: str, mode: str, n_clips: int, n_crops: str, **options) -> None:
    """Clip or video accuracy of CHECKPOINT, per-class accuracy, confusion matrix and predictions JSON."""
    from vr.threads import prepare_openmp

    prepare_openmp()  # before torch is imported: see vr.threads
    from vr.evaluation.evaluate import EvalConfig, evaluate

    output = options.pop("output") or checkpoint.with_name(f"eval_{mode}.json")
    quiet = options.pop("quiet")
    try:
        config = EvalConfig.from_options(mode=mode, n_clips=n_clips, n_crops=int(n_crops), **options)
        report = evaluate(checkpoint, data, config, output=output, progress=not quiet)
    except VrError as e:
        raise click.ClickException(str(e)) from None
    results = report.results
    views = report.n_views / max(report.n_videos, 1)
    click.echo(f"{report.n_videos} videos, {report.n_views} clips ({views:g} a video), {results.modality}")
    if mode == "video":
        click.echo(f"clip top-1   {_pct(report.view_top1)}  (single clips and crops)")
    click.echo(f"{mode} top-1  {_pct(report.top1)}  top-5  {_pct(report.top5)}")
    if len(results.labels) <= PER_CLASS_ROWS:
        width = max(len(n) for n in results.labels)
        for name, acc in zip(results.labels, report.per_class, strict=True):
            click.echo(f"  {name:<{width}}  {_pct(acc)}")
    else:
        click.echo(f"per-class accuracy: see {report.files['metrics']}")
    if report.skipped:
        click.echo(f"warning: {len(report.skipped)} unreadable clip(s) left out", err=True)
    if report.missing:
        click.echo(
            f"warning: {report.missing} video(s) with no readable clip are not in the accuracy "
            "(the seed's eval_accuracy counts them wrong unless --ignore)",
            err=True,
        )
    click.echo("wrote " + ", ".join(report.files.values()))


@click.command("infer")
@click.argument("checkpoint", type=EXISTING_FILE)
@click.argument("videos", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--topk", type=click.IntRange(1), default=5, show_default=True, help="Labels shown a video.")
@click.option("--json", "as_json", is_flag=True, help="Print the seed's results JSON instead of a table.")
@click.option(
    "--n-clips", type=click.IntRange(1), default=10, show_default=True, help="Uniform clips a video."
)
@click.option(
    "--n-crops", type=click.Choice(["1", "3"]), default="1", show_default=True, help="Crops a clip."
)
@click.option(
    "--short-side",
    type=click.IntRange(8),
    help="Decode at this short side [default: the training data's, else 240].",
)
@click.option("--fps", type=Real(min=0, min_open=True), help="Resample (as preprocessing did).")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True)
@click.option("--trusted", is_flag=True, help="Load a checkpoint that needs full unpickling.")
@click.option(
    "--strict",
    is_flag=True,
    help="A video the decoder reported errors in (damaged) is an error (default: scored, with a warning).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no notes on stderr.")
def infer_command(
    checkpoint: Path, videos: tuple[Path, ...], topk: int, as_json: bool, n_crops: str, quiet: bool, **options
) -> None:
    """Top-k labels of raw VIDEO files (folders are searched for videos) by CHECKPOINT."""
    from vr.threads import prepare_openmp

    prepare_openmp()  # before torch is imported: see vr.threads
    from vr.evaluation.infer import Predictor
    from vr.video.find import video_files

    files = video_files(videos)
    if not files:
        raise click.UsageError("no video files in " + ", ".join(map(str, videos)))
    try:
        predictor = Predictor(checkpoint, n_crops=int(n_crops), **options)
    except VrError as e:
        raise click.ClickException(str(e)) from None
    if not quiet:
        click.echo(
            f"{predictor.modality} model, {len(predictor.labels)} classes; decoding at short side "
            f"{predictor.short_side} ({predictor.short_side_origin})",
            err=True,
        )
    predictions = predictor.predict(files, progress=not quiet)
    if as_json:
        data = predictor.results(predictions).to_json(topk)
        data["errors"] = {p.path: p.error for p in predictions if p.error}
        data["warnings"] = {p.path: p.warning for p in predictions if p.warning}
        click.echo(json.dumps(data, indent=1, ensure_ascii=False))
    else:
        from vr.evaluation.results import ranked

        for p in predictions:
            if p.scores is None:
                continue
            click.echo(f"{p.path}  ({p.n_clips} clips)")
            for rank, c in enumerate(ranked(p.scores)[:topk], start=1):
                click.echo(f"  {rank:>2}  {p.scores[c]:.4f}  {predictor.labels[c]}")
    for p in predictions:
        if p.warning:
            click.echo(f"WARNING {p.path}: {p.warning}", err=True)
    failed = [p for p in predictions if p.error]
    for p in failed:
        click.echo(f"error: {p.path}: {p.error}", err=True)
    if failed:
        raise click.exceptions.Exit(1)


def _weights(ctx: click.Context, param: click.Parameter, value: str) -> tuple[float, float]:
    try:
        w = tuple(float(x) for x in value.split(","))
    except ValueError:
        w = ()
    if len(w) != 2 or not all(math.isfinite(x) for x in w) or min(w) < 0 or sum(w) <= 0:
        raise click.BadParameter(
            f"{value!r}: two finite non-negative numbers with a positive sum, like 1,1.5"
        )
    return w


@click.command("fuse")
@click.argument("rgb", type=EXISTING_FILE)
@click.argument("flow", type=EXISTING_FILE)
@click.option("--weights", default="1,1", show_default=True, callback=_weights, help="RGB,Flow weights.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Fused results JSON.")
@click.option("--topk", type=click.IntRange(1), help="Classes kept per video in the JSON [default: all].")
def fuse_command(rgb: Path, flow: Path, weights: tuple[float, float], output: Path | None, topk: int | None):
    """Two-stream late fusion of the RGB and FLOW results JSONs (from vr eval or vr infer --json)."""
    from vr.evaluation.fuse import fuse
    from vr.evaluation.results import read_results

    try:
        result = fuse(read_results(rgb), read_results(flow), weights)
        if output is not None:
            result.fused.write(output, topk)
    except VrError as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"cannot write {output}: {e.strerror}") from None
    for name, ids in (("RGB", result.only_rgb), ("Flow", result.only_flow)):
        if ids:
            click.echo(
                f"warning: {len(ids)} video(s) only in the {name} file, left out: {', '.join(ids[:3])}",
                err=True,
            )
    n = len(result.fused.ids)
    labelled = int((result.fused.label_array() >= 0).sum())
    click.echo(
        f"{n} videos fused ({labelled} with ground truth), weights RGB {weights[0]:g}, Flow {weights[1]:g}"
    )
    if labelled:
        for name, title in (("rgb", "RGB"), ("flow", "Flow"), ("fused", "Fused")):
            acc = result.accuracy[name]
            click.echo(f"{title:<6} top-1 {_pct(acc[1])}  top-5 {_pct(acc[5])}")
    if output is not None:
        click.echo(f"wrote {output}")
