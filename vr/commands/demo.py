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
@click.option(
    "--epochs",
    type=click.IntRange(1),
    default=None,
    help="Training epochs per stream (default: as many as the budget allows, at most 40).",
)
@click.option(
    "--budget",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Minutes for the whole demo: fewer Flow epochs on a slower machine, never below the goal's.",
)
@click.option("--threads", type=click.IntRange(0), default=0, help="torch threads (0: the CPUs it may use).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda.")
@click.option("--quiet", "-q", is_flag=True, help="Only the final tables.")
def demo(out: Path, epochs: int | None, budget: float, threads: int, device: str, quiet: bool) -> None:
    """Synthetic videos -> frames -> TV-L1 flow -> manifest -> shards -> RGB and Flow 3D CNNs ->
    video-level evaluation -> two-stream fusion, then a table of accuracies and stage times."""
    from vr.threads import prepare_openmp

    prepare_openmp(threads or None)  # before torch is imported: see vr.threads
    from vr.demo import DemoConfig, format_summary, run_demo

    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")
    config = DemoConfig(out=str(out), device=device, threads=threads, budget=budget * 60)
    if epochs is not None:
        config.epochs, config.budget = epochs, None
    summary = run_demo(config, quiet=quiet)
    click.echo(format_summary(summary))
