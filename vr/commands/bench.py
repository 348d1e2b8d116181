"""`vr bench loader|model|flow|extract`: the pipeline's speed on the user's own data and machine."""

from __future__ import annotations

import click

from vr.commands.options import JOBS, SEED, model_args_options, remote_options
from vr.modality import MODALITIES
from vr.pipelines.backends import BACKENDS
from vr.preprocess.flow.engines import ENGINES
from vr.runtime import PRECISIONS
from vr.video.find import DATASETS

_JSON = click.option(
    "--json",
    "json_path",
    metavar="FILE",
    help="Also write the measurement as one JSON record (- for stdout).",
)
_QUIET = click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
_DEVICE = click.option(
    "--device", default="auto", show_default=True, help="auto (a CUDA GPU when present), cpu, cuda or cuda:N."
)


def _emit(rows: list[tuple[str, str]], json_path: str | None, data: dict) -> None:
    from vr.bench.report import table, write_json

    if json_path != "-":
        click.echo(table(rows))
    if json_path:
        write_json(data, json_path)


@click.group("bench")
def bench() -> None:
    """Time the loader, a model, TV-L1 flow or frame extraction on your data and machine."""


@bench.command("loader")
@click.argument("data")
@click.option("--modality", type=click.Choice(list(MODALITIES)), default="rgb", show_default=True)
@click.option("--loader", "backend", type=click.Choice(BACKENDS), default="torch", show_default=True)
@click.option("--clip-len", type=click.IntRange(1), default=16, show_default=True)
@click.option("--size", type=click.IntRange(1), default=112, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True)
@click.option("--workers", type=click.IntRange(0), default=2, show_default=True)
@click.option("--batches", type=click.IntRange(1), default=20, show_default=True, help="Timed batches.")
@click.option("--frames", "frames_root", default=None, help="Frame root, with a manifest.")
@click.option("--flow", "flow_root", default=None, help="Flow root, with a manifest.")
@click.option("--subset", default=None, help="With a manifest: its subset to read (default: all).")
@click.option("--model", default=None, help="Also time this model's training step at the same batch.")
@model_args_options("With --model: a constructor argument (repeatable).")
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True)
@_DEVICE
@remote_options
@_JSON
@_QUIET
def loader_cmd(data, modality, backend, clip_len, size, batch_size, workers, batches, frames_root, flow_root,
               subset, model, model_args, precision, device, storage_options, cache_dir, json_path,
               quiet) -> None:  # fmt: skip
    """Clips/s and time to the first batch of the training loader of DATA (a shard folder or URL, or a
    manifest with --frames/--flow), and with --model whether it keeps up with the model's training."""
    from vr.threads import prepare_openmp

    prepare_openmp()  # before torch is imported, as `vr train` does
    from vr.bench.loader import measure_loader, verdict
    from vr.bench.machine import describe
    from vr.bench.model import measure_model
    from vr.bench.report import human_seconds, record
    from vr.pipelines.options import LoaderOptions
    from vr.pipelines.sampling import SamplingConfig
    from vr.runtime import resolve_device

    torch_device = resolve_device(device)
    gpu = (torch_device.index or 0) if torch_device.type == "cuda" else None
    sampling = SamplingConfig(mode="train", clip_len=clip_len, size=size)
    options = LoaderOptions(
        backend=backend,
        batch_size=batch_size,
        num_workers=workers,
        drop_last=True,
        pin_memory=False,
        storage_options=storage_options or None,
        cache_dir=cache_dir,
        device_id=gpu if backend == "dali" else None,
    )
    result = measure_loader(
        data,
        sampling,
        options,
        modality=modality,
        frames_root=frames_root,
        flow_root=flow_root,
        subset=subset,
        batches=batches,
        progress=not quiet,
    )
    where = f", decoding on cuda:{gpu}" if gpu is not None and backend == "dali" else ""
    rows = [
        ("data", f"{data} ({modality}, {backend} loader, {workers} workers{where})"),
        ("clips", f"{clip_len}x{size}x{size}, batch {batch_size}"),
        ("first batch", human_seconds(result.first_batch_s)),
        ("loader", f"{result.clips_per_s:.1f} clips/s over {result.batches} batches"),
    ]
    parts: dict = {"loader": result}
    if model:
        step = measure_model(
            model,
            clip=(clip_len, size, size),
            batch=batch_size,
            in_channels=MODALITIES[modality].channels,
            precision=precision,
            device=torch_device,
            model_args=model_args,
            progress=not quiet,
        )
        line = verdict(result.clips_per_s, step.clips_per_s)
        rows += [
            ("model", f"{model} training step: {step.clips_per_s:.1f} clips/s on {step.device}"),
            ("verdict", line),
        ]
        parts.update(model=step, verdict=line)
    _emit(rows, json_path, record("loader", describe(torch_device), **parts))


@bench.command("model")
@click.argument("name")
@click.option("--clip", default=None, help="TxHxW (default: the model's own clip).")
@click.option("--batch-size", "--batch", "batch", type=click.IntRange(1), default=8, show_default=True)
@click.option("--modality", type=click.Choice(list(MODALITIES)), default="rgb", show_default=True)
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True)
@click.option("--channels-last", is_flag=True, help="channels_last_3d model and input.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model.")
@click.option(
    "--inference", is_flag=True, help="Forward only (eval mode, no gradients) instead of training steps."
)
@click.option("--steps", type=click.IntRange(1), default=5, show_default=True, help="Timed steps.")
@click.option("--warmup", type=click.IntRange(0), default=2, show_default=True)
@model_args_options("A constructor argument, e.g. widen_factor=0.5 (repeatable).")
@_DEVICE
@_JSON
@_QUIET
def model_cmd(name, clip, batch, modality, precision, channels_last, compile_, inference, steps, warmup,
              model_args, device, json_path, quiet) -> None:  # fmt: skip
    """Clips/s, latency and peak memory of model NAME: training steps (forward, backward, SGD step) or,
    with --inference, forward passes."""
    from vr.threads import prepare_openmp

    prepare_openmp()  # before torch is imported, as `vr train` does
    from vr.bench.machine import describe
    from vr.bench.model import measure_model, parse_clip
    from vr.bench.report import human_bytes, record
    from vr.runtime import resolve_device

    torch_device = resolve_device(device)
    result = measure_model(
        name,
        clip=parse_clip(clip) if clip else None,
        batch=batch,
        in_channels=MODALITIES[modality].channels,
        train=not inference,
        precision=precision,
        channels_last=channels_last,
        compile=compile_,
        device=torch_device,
        warmup=warmup,
        steps=steps,
        model_args=model_args,
        progress=not quiet,
    )
    memory = "peak GPU memory allocated" if result.memory_kind == "cuda" else "peak resident memory added"
    setup = [precision] + ["channels_last_3d"] * channels_last + ["compiled"] * compile_
    rows = [
        ("model", f"{name} ({modality}), {'inference' if inference else 'training'} on {result.device}"),
        ("clips", f"{'x'.join(map(str, result.clip))}, batch {batch}, {', '.join(setup)}"),
        ("throughput", f"{result.clips_per_s:.2f} clips/s"),
        ("latency", f"{result.latency_ms:.1f} ms per batch"),
        (memory.split(" ", 1)[0] + " memory", f"{human_bytes(result.peak_bytes)} ({memory})"),
    ]
    _emit(rows, json_path, record("model", describe(torch_device), model=result))


@bench.command("flow")
@click.argument("frames", type=click.Path(exists=True, file_okay=False))
@click.option("--engine", type=click.Choice(["auto", *sorted(ENGINES)]), default="auto", show_default=True)
@click.option("--batch", type=click.IntRange(1), default=8, show_default=True, help="Pairs per engine call.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True)
@click.option("--sample", type=click.IntRange(1), default=4, show_default=True, help="Frame folders to time.")
@click.option(
    "-j", "--jobs", type=JOBS, default=-1, show_default=True, help="Parallel workers (-1: all cores)."
)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Which folders the sample takes.")
@_JSON
@_QUIET
def flow_cmd(frames, engine, batch, precision, sample, jobs, seed, json_path, quiet) -> None:
    """TV-L1 pairs/s on a random sample of the frame folders in FRAMES, as `vr preprocess flow-tvl1` runs,
    and the projected time for the whole folder."""
    from vr.bench.preprocess import measure_flow

    result = measure_flow(
        frames, sample=sample, jobs=jobs, engine=engine, batch=batch, precision=precision, seed=seed,
        progress=not quiet,
    )  # fmt: skip
    _emit_preprocess(result, "pairs", json_path)


@bench.command("extract")
@click.argument("src", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--dataset",
    type=click.Choice(DATASETS),
    default="folder",
    show_default=True,
    help="SRC's layout (as for `vr preprocess extract-frames`).",
)
@click.option(
    "--size", type=click.IntRange(1), default=240, show_default=True, help="Short side of the frames."
)
@click.option("--fps", type=float, default=None, help="Resample to this frame rate.")
@click.option("--quality", type=click.IntRange(1, 31), default=2, show_default=True)
@click.option("--sample", type=click.IntRange(1), default=8, show_default=True, help="Videos to time.")
@click.option(
    "-j", "--jobs", type=JOBS, default=-1, show_default=True, help="Parallel workers (-1: all cores)."
)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Which videos the sample takes.")
@_JSON
@_QUIET
def extract_cmd(src, dataset, size, fps, quality, sample, jobs, seed, json_path, quiet) -> None:
    """Videos/s and frames/s of frame extraction on a random sample of the videos in SRC, as `vr preprocess
    extract-frames` runs, and the projected time for all of them."""
    from vr.bench.preprocess import measure_extract

    result = measure_extract(
        src, dataset=dataset, sample=sample, jobs=jobs, size=size, fps=fps, quality=quality, seed=seed,
        progress=not quiet,
    )  # fmt: skip
    _emit_preprocess(result, "frames", json_path)


def _emit_preprocess(result, unit: str, json_path: str | None) -> None:
    from vr.bench.machine import cpu_name
    from vr.bench.report import human_seconds, record
    from vr.threads import available_cpus

    what = "videos" if result.stage == "extract" else "folders"
    rows = [
        ("source", f"{result.source} ({result.total_items} {what})"),
        ("sample", f"{result.items} {what} ({result.failed} failed), {result.jobs} workers"),
        ("settings", ", ".join(f"{k}={v}" for k, v in result.settings.items())),
        ("rate", f"{result.items_per_s:.2f} {what}/s, {result.frames_per_s:.1f} {unit}/s"),
        ("projected", f"{human_seconds(result.projected_s)} for all {result.total_items} {what}"),
    ]
    machine = {"cpu": cpu_name(), "cpus": available_cpus()}
    _emit(rows, json_path, record(result.stage, machine, **{result.stage: result}))
