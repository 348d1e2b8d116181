"""`vr bench loader`: clips/s and time to the first batch of a loader on the user's data, and whether it
keeps up with a model's training steps on this device."""

from __future__ import annotations

import time
from dataclasses import dataclass

from vr.errors import VrError
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
    *,
    modality: str = "rgb",
    backend: str = "torch",
    clip_len: int = 16,
    size: int = 112,
    batch_size: int = 8,
    workers: int = 2,
    batches: int = 20,
    frames_root: str | None = None,
    flow_root: str | None = None,
    subset: str | None = None,
    storage_options: dict | None = None,
    cache_dir: str | None = None,
    device_id: int | None = None,
    progress: bool = True,
) -> LoaderBench:
    """Build the training loader of ``data`` (a shard folder or URL, or a manifest with ``frames_root`` /
    ``flow_root``) as `vr train` would, and time its first batch and the ``batches`` after it (epochs roll
    over as in training). ``device_id``: the GPU the DALI loader decodes on (nvJPEG), as `vr train` does
    on a GPU; None decodes on the CPU."""
    from vr.pipelines import build_loader

    if batches < 1:
        raise VrError("batches must be >= 1")
    start = time.perf_counter()
    try:
        loader = build_loader(
            data,
            modality,
            frames_root=frames_root,
            flow_root=flow_root,
            subset=subset,
            mode="train",
            clip_len=clip_len,
            size=size,
            backend=backend,
            batch_size=batch_size,
            num_workers=workers,
            drop_last=True,
            pin_memory=False,
            storage_options=storage_options,
            cache_dir=cache_dir,
            device_id=device_id if backend == "dali" else None,
        )
    except ValueError as e:  # a setting the loader refuses
        raise VrError(str(e)) from None
    if len(loader) == 0:
        raise VrError(f"{data}: fewer videos than one batch of {batch_size}")
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
        backend=backend,
        clip_len=clip_len,
        size=size,
        batch_size=batch_size,
        workers=workers,
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
