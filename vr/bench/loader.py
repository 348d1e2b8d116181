"""`vr bench loader`: clips/s and time to the first batch of a loader on the user's data, and whether it
keeps up with a model's training steps on this device."""

from __future__ import annotations

import time
from dataclasses import dataclass

from vr.errors import VrError
from vr.pipelines.options import LoaderOptions
from vr.pipelines.sampling import SamplingConfig
from vr.progress import progress_bar


@dataclass(frozen=True)
class LoaderBench:
    """A loader's measured speed: ``first_batch_s`` from building it to its first batch, ``clips_per_s``
    over the ``batches`` after it (the steady state)."""

    data: str
    modality: str
    backend: str
    clip_len: int
    size: int
    batch_size: int
    workers: int
    batches: int
    clips: int
    first_batch_s: float
    clips_per_s: float


def measure_loader(
    data: str,
    sampling: SamplingConfig,
    options: LoaderOptions,
    *,
    modality: str = "rgb",
    frames_root: str | None = None,
    flow_root: str | None = None,
    subset: str | None = None,
    batches: int = 20,
    progress: bool = True,
) -> LoaderBench:
    """Build the loader of ``data`` (a shard folder or URL, or a manifest with ``frames_root`` /
    ``flow_root``) that ``sampling`` and ``options`` describe, as `vr train` would (``options.device_id``:
    the GPU the DALI loader decodes on with nvJPEG, as `vr train` does on a GPU; None decodes on the CPU),
    and time its first batch and the ``batches`` after it (epochs roll over as in training)."""
    from vr.pipelines import build_loader

    if batches < 1:
        raise VrError("batches must be >= 1")
    start = time.perf_counter()
    try:
        loader = build_loader(
            data,
            modality,
            sampling,
            options,
            frames_root=frames_root,
            flow_root=flow_root,
            subset=subset,
        )
    except ValueError as e:  # a setting the loader refuses
        raise VrError(str(e)) from None
    if len(loader) == 0:
        raise VrError(f"{data}: fewer videos than one batch of {options.batch_size}")
    epoch = iter(loader)
    first = next(epoch)
    first_batch_s = time.perf_counter() - start
    clips, seconds = 0, 0.0
    with progress_bar(total=batches, desc="batches", unit="batch", disable=not progress, leave=False) as bar:
        start = time.perf_counter()
        done = 0
        while done < batches:
            try:
                batch = next(epoch)
            except StopIteration:
                epoch = iter(loader)  # the next epoch, as training would go on
                continue
            clips += int(batch["clip"].shape[0])
            done += 1
            bar.update()
        seconds = time.perf_counter() - start
    del first
    return LoaderBench(
        data=str(data),
        modality=modality,
        backend=options.backend,
        clip_len=sampling.clip_len,
        size=sampling.size,
        batch_size=options.batch_size,
        workers=options.num_workers,
        batches=batches,
        clips=clips,
        first_batch_s=first_batch_s,
        clips_per_s=clips / seconds,
    )


def verdict(loader_clips_per_s: float, model_clips_per_s: float) -> str:
    """A plain sentence: the loader keeps up with the model, or starves it by N x."""
    ratio = model_clips_per_s / loader_clips_per_s
    if ratio <= 1:
        return (
            f"the loader keeps up: it delivers {1 / ratio:.1f}x the clips the model trains on "
            f"({loader_clips_per_s:.1f} vs {model_clips_per_s:.1f} clips/s)"
        )
    return (
        f"the loader starves the model by {ratio:.1f}x: the model could train on {model_clips_per_s:.1f} "
        f"clips/s, the loader delivers {loader_clips_per_s:.1f} (more --workers, the dali loader, "
        "or a smaller decode size)"
    )
