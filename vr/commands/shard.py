"""`vr shard`: WebDataset shards of frames/flow (`vr shard MANIFEST ...`), `verify`, `info`, `reindex`,
`serve`."""

from __future__ import annotations

import click

from vr.commands.options import SEED, Real, storage_options_option
from vr.errors import VrError
from vr.manifests.schema import SUBSETS
from vr.shards.format import MODALITIES


class _SizeType(click.ParamType):
    name = "SIZE"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        from vr.shards.plan import parse_size

        try:
            return parse_size(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


class _DefaultGroup(click.Group):
    """A group whose first argument, unless it names a subcommand, goes to ``build``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["build", *args]
        return super().parse_args(ctx, args)


@click.group("shard", cls=_DefaultGroup)
def shard() -> None:
    """WebDataset shards of frames and flow: `vr shard MANIFEST ...` (build), `verify`, `info`, `reindex`,
    `serve`."""


_DIR = click.Path(exists=True, file_okay=False)


@shard.command("build")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@click.option("--frames", type=_DIR, help="Frame root: DIR/<path>/image_00001.jpg.")
@click.option("--flow", type=_DIR, help="Flow root: DIR/<path>/flow_x_00001.jpg, flow_y_00001.jpg.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--modality", type=click.Choice(MODALITIES), default="rgb", show_default=True)
@click.option("--subset", type=click.Choice(SUBSETS), help="Only this subset of the manifest.")
@click.option("--prefix", help="Shard name prefix [default: the subset].")
@click.option("--max-size", type=_SizeType(), default="1GB", show_default=True, help="Shard bytes at most.")
@click.option("--max-count", type=click.IntRange(min=1), help="Samples per shard at most.")
@click.option(
    "--shuffle/--no-shuffle",
    default=True,
    show_default=True,
    help="Seeded shuffle of the sample order, so that every shard, and so every DDP rank's share, mixes the "
    "classes (ids sort by class in most datasets); --no-shuffle keeps id order.",
)
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Shards at once.")
@click.option("--allow-unmarked", is_flag=True, help="Accept folders without a completion marker.")
@click.option(
    "--check-decode",
    is_flag=True,
    help="Fully decode every JPEG (default: a structural check: catches empty, truncated, garbage files).",
)
@click.option(
    "--from-video",
    "videos",
    type=_DIR,
    help="Video root: RGB straight from the videos <path>[.mp4|.avi|...] (needs --max-count).",
)
@click.option(
    "--quality", type=click.IntRange(1, 100), default=90, show_default=True, help="--from-video JPEGs."
)
@click.option("--size", type=click.IntRange(min=1), help="--from-video short side (default: as decoded).")
@click.option("--fps", type=Real(min=0, min_open=True), help="--from-video frame rate.")
@click.option(
    "--strict",
    is_flag=True,
    help="--from-video: leave out a video the decoder reported errors in (default: keep it, with a warning).",
)
@click.option(
    "--overwrite", is_flag=True, help="Start --out afresh (needed when it holds shards of another label set)."
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def build(manifest, frames, flow, out, modality, subset, prefix, max_size, max_count, shuffle, seed, jobs,
          allow_unmarked, check_decode, videos, quality, size, fps, strict, overwrite,
          quiet) -> None:  # fmt: skip
    """Shard the videos of MANIFEST (also `vr shard MANIFEST ...`); a rerun resumes a killed run."""
    from vr.shards.build import build_shards
    from vr.shards.plan import ShardOptions

    try:
        options = ShardOptions(
            modality=modality,
            subset=subset,
            prefix=prefix,
            max_size=max_size,
            max_count=max_count,
            shuffle=shuffle,
            seed=seed,
            allow_unmarked=allow_unmarked,
            check_decode=check_decode,
            video_quality=quality,
            video_size=size,
            video_fps=fps,
            strict=strict,
        )
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    try:
        result = build_shards(manifest, out, options, frames, flow, videos, jobs, overwrite, not quiet)
    except VrError:
        raise  # one line at the error boundary
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    mb = result.bytes / 1e6
    click.echo(
        f"{result.n_samples} samples in {result.n_shards} shards ({mb:.1f} MB) in {result.out}: "
        f"{result.shards_written} written, {result.shards_skipped} already done, {result.seconds:.1f} s"
    )
    if result.rejected:
        for rejected in result.rejected[:5]:
            member = f" ({rejected.member})" if rejected.member else ""
            click.echo(f"  left out {rejected.id}: {rejected.reason}{member}", err=True)
        click.echo(f"{len(result.rejected)} videos left out (see {result.out}/_report.json)", err=True)
    for warned in result.warnings:
        click.echo(f"WARNING {warned.member or warned.id}: {warned.reason}", err=True)
    if result.warnings:
        click.echo(f"{len(result.warnings)} damaged videos kept (see {result.out}/_report.json)", err=True)


@shard.command("verify")
@click.argument("folder")
@click.option("--quick", is_flag=True, help="Skip decoding the JPEGs.")
@click.option(
    "--storage-option",
    "storage_options",
    multiple=True,
    callback=storage_options_option,
    metavar="KEY=VALUE",
    help="For a URL: an fsspec option, e.g. endpoint_url=http://minio:9000 (repeatable).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def verify(folder: str, quick: bool, storage_options: dict, quiet: bool) -> None:
    """Check every shard in FOLDER (a folder or its URL) against index.json and the member indexes; exit 1
    on any problem."""
    from vr.shards.verify import verify_shards

    problems = verify_shards(folder, quick=quick, progress=not quiet, storage_options=storage_options)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        raise click.ClickException(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {folder}")
    click.echo(f"{folder}: OK")


@shard.command("info")
@click.argument("folder")
def info(folder: str) -> None:
    """Samples, classes, frames, bytes and per-class counts of the shards in FOLDER (a folder or URL)."""
    from vr.shards.info import format_info, shard_info

    click.echo(format_info(shard_info(folder)))


@shard.command("reindex")
@click.argument("folder", type=_DIR)
@click.option("--force", is_flag=True, help="Rebuild every member index, not only the missing ones.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def reindex(folder: str, force: bool, quiet: bool) -> None:
    """Add member indexes (every member's offset and size) to a folder written by an older `vr shard`.

    Each shard is read once and checked against its SHA-256 in index.json; loaders then read any frame
    by offset and never scan a tar.
    """
    from vr.shards.reindex import reindex_shards

    result = reindex_shards(folder, force=force, progress=not quiet)
    click.echo(f"{folder}: {result.indexed} shard(s) indexed, {result.kept} already had a member index")


@shard.command("serve")
@click.argument("folder", type=_DIR)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--max-connections",
    type=click.IntRange(1, 10_000),
    default=64,
    show_default=True,
    help="Clients served at once; more are answered 503.",
)
@click.option("--quiet", "-q", is_flag=True, help="Do not log each request.")
def serve(folder: str, host: str, port: int, max_connections: int, quiet: bool) -> None:
    """Serve FOLDER's shards over HTTP with Range requests, for `vr train --data http://HOST:PORT/`.

    Only index.json and the shards and member indexes it names are served (regular files inside
    FOLDER, never a link); everything else is 404. Each request is logged to stderr.
    """
    import logging

    from vr.shards.serve import make_server

    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")
    try:
        server = make_server(folder, host, port, max_connections=max_connections)
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    click.echo(f"serving {folder} at http://{host}:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
