"""`vr demo`: the whole pipeline on the synthetic motion dataset."""

from __future__ import annotations

import logging
from pathlib import Path

import click


@click.command("demo")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("vr-demo"),
    show_default=True,
    help="Working folder (rerunning resumes every stage).",
)
@click.option("--epochs", type=click.IntRange(1), default=None, help="Training epochs per stream.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda.")
@click.option("--quiet", "-q", is_flag=True, help="Only the final tables.")
def demo(out: Path, epochs: int | None, device: str, quiet: bool) -> None:
    """Synthetic videos -> frames -> TV-L1 flow -> manifest -> shards -> RGB and Flow 3D CNNs ->
    video-level evaluation -> two-stream fusion, then a table of accuracies and stage times."""
    from vr.demo import DemoConfig, format_summary, run_demo

    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")
    config = DemoConfig(out=str(out), device=device)
    if epochs is not None:
        config.epochs = epochs
    summary = run_demo(config, quiet=quiet)
    click.echo(format_summary(summary))
