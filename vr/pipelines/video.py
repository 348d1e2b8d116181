"""Raw-video path for users who skip frame extraction: DALI's video reader straight from AVI/MP4 files.

On a GPU it is ``fn.readers.video`` (NVDEC: H.264, HEVC, MPEG-4, VP8, VP9, MJPEG). Without one DALI can
decode only VP8/VP9/MJPEG (``fn.experimental.readers.video`` on the CPU). Every file is probed once
(:mod:`vr.video.streams`: codec and frame-rate mode, cached beside the manifest) before DALI opens any,
so another codec, a list that mixes codecs (NVDEC takes one a list) or a variable-frame-rate file is a
clear :class:`RawVideoError` naming the files and the way out, not a crash deep in DALI; the reader's
own frame-rate heuristic (which refuses some constant-rate files) is then skipped. Clips are DALI's own
random sequences (a random start, ``frame_stride`` apart), resized to ``size`` on the short side,
centre-cropped (random crop and flip in training) and normalised like the frame loaders; this path does
not use ``ClipSpec``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import torch

from vr.errors import VrError
from vr.modality import mean_std
from vr.video.streams import StreamFacts, probe_all, reader_problem

SHUFFLE_BUDGET = 1 << 30  # bytes of decoded sequences the reader may hold to shuffle (per process)
MAX_INITIAL_FILL = 1024  # DALI's default


def shuffle_fill(width: int, height: int, clip_len: int, budget: int = SHUFFLE_BUDGET) -> int:
    """How many whole decoded sequences the shuffling reader may buffer (DALI's ``initial_fill``): as
    many ``clip_len`` x ``height`` x ``width`` RGB sequences as fit in ``budget`` bytes, 1..1024. DALI's
    default, 1024, decodes that many sequences before the first batch: ~3.8 GB at 16x240x320, ~100 GB
    at 16x1080p, on the GPU for NVDEC."""
    per_sequence = max(1, clip_len * width * height * 3)
    return max(1, min(MAX_INITIAL_FILL, budget // per_sequence))


class RawVideoError(VrError, RuntimeError):
    """The raw-video path cannot run here (no GPU for this codec)."""


def check_decodable(
    files: Sequence[str | os.PathLike],
    device_id: int | None,
    cache: str | os.PathLike | None = None,
    progress: bool = False,
) -> list[StreamFacts]:
    """Probe ``files`` and raise :class:`RawVideoError` unless DALI's reader can take them all on
    ``device_id`` (None: the CPU): their codecs, one codec a list on a GPU, constant frame rates; and a
    GPU for ``device_id``. Returns their :class:`~vr.video.streams.StreamFacts`."""
    from vr.progress import progress_bar

    with progress_bar(total=len(files), desc="probe", unit="video", disable=not progress, leave=False) as bar:
        facts = probe_all(files, cache, on_file=lambda: bar.update(1))
    problem = reader_problem(facts, gpu=device_id is not None)
    if problem:
        raise RawVideoError(problem)
    if device_id is not None and not torch.cuda.is_available():
        raise RawVideoError(
            "DALI's video reader needs a CUDA GPU (NVDEC) and none is available; "
            "use VP9/VP8/MJPEG videos with device_id=None, or extract frames first (vr extract-frames)"
        )
    return [f for f in facts.values() if isinstance(f, StreamFacts)]


class VideoClipLoader:
    """Batches ``{"clip": (N, C, T, size, size), "label": (N,), "video_id", "index"}`` read by DALI from
    video files (``video_id`` is empty: DALI's reader does not say which file a sequence came from).

    ``labels`` (the class names) and ``skipped`` (always empty) make it a training loader like the others
    (:func:`video_loader` builds one from a manifest for ``vr train --loader dali-video``).
    """

    def __init__(
        self,
        files: Sequence[str | os.PathLike],
        labels: Sequence[int],
        clip_len: int = 16,
        frame_stride: int = 1,
        size: int = 112,
        batch_size: int = 8,
        mode: str = "train",
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        device_id: int | None = None,
        num_threads: int = 2,
        dtype: torch.dtype = torch.float32,
        probe_cache: str | os.PathLike | None = None,
    ):
        from nvidia.dali import fn, pipeline_def, types
        from nvidia.dali.plugin.base_iterator import LastBatchPolicy
        from nvidia.dali.plugin.pytorch import DALIGenericIterator

        facts = check_decodable(files, device_id, probe_cache, progress=len(files) > 100)
        mean, std = mean_std("rgb")
        train = mode == "train"
        largest = max(facts, key=lambda v: v.width * v.height, default=None) if train else None
        reader_args = dict(
            filenames=[os.fspath(f) for f in files],
            labels=list(labels),
            sequence_length=clip_len,
            stride=frame_stride,
            random_shuffle=train,
            **({"initial_fill": shuffle_fill(largest.width, largest.height, clip_len)} if largest else {}),
            seed=seed,
            shard_id=rank,
            num_shards=world_size,
            name="reader",
        )

        @pipeline_def
        def pipe():
            if device_id is None:
                video, label = fn.experimental.readers.video(device="cpu", **reader_args)
            else:  # every file probed constant-rate above: DALI's heuristic would only add false refusals
                video, label = fn.readers.video(device="gpu", skip_vfr_check=True, **reader_args)
            video = fn.resize(video, resize_shorter=size, interp_type=types.INTERP_LINEAR, antialias=False)
            clip = fn.crop_mirror_normalize(
                video,
                crop=(size, size),
                crop_pos_x=fn.random.uniform(range=(0.0, 1.0)) if train else 0.5,
                crop_pos_y=fn.random.uniform(range=(0.0, 1.0)) if train else 0.5,
                mirror=fn.random.coin_flip() if train else 0,
                mean=list(mean),
                std=list(std),
                output_layout="CFHW",
                dtype=types.FLOAT,
            )
            return clip, label

        self.dtype = dtype
        self.labels: list[str] = []
        self.skipped: list[tuple[str, str]] = []
        self.pipeline = pipe(batch_size=batch_size, num_threads=num_threads, device_id=device_id, seed=seed)
        self.iterator = DALIGenericIterator(
            [self.pipeline],
            ["clip", "label"],
            reader_name="reader",
            last_batch_policy=LastBatchPolicy.PARTIAL,
            auto_reset=True,
        )

    def __len__(self) -> int:
        return len(self.iterator)

    def __iter__(self) -> Iterator[dict]:
        for (out,) in self.iterator:
            label = out["label"].view(-1).long().cpu()
            n = len(label)
            yield {
                "clip": out["clip"].to(self.dtype),
                "label": label,
                "video_id": [""] * n,
                "index": torch.arange(n),
            }


def video_loader(
    manifest,
    videos_root: str | os.PathLike,
    subset: str | None = "train",
    **kwargs,
) -> VideoClipLoader:
    """A :class:`VideoClipLoader` of a manifest's videos, found under ``videos_root`` as ``vr shard
    --from-video`` finds them (``<path>`` or ``<path>.mp4``, ``.webm``...); ``kwargs`` go to it."""
    from vr.manifests.schema import Manifest, read_manifest
    from vr.video.find import video_for

    data = manifest if isinstance(manifest, Manifest) else read_manifest(manifest)
    if subset is not None:
        data = data.subset(subset)
    files, labels, missing = [], [], []
    for record in data.videos:
        path = video_for(videos_root, record.path)
        if path is None:
            missing.append(record.path)
        elif record.label_index is not None:
            files.append(path)
            labels.append(record.label_index)
    if missing:
        raise RawVideoError(
            f"{len(missing)} video(s) of the manifest are not under {videos_root} (e.g. {missing[0]}.*)"
        )
    if not files:
        raise RawVideoError(f"no labelled videos{f' in subset {subset!r}' if subset else ''} to train on")
    if isinstance(manifest, str | os.PathLike):
        kwargs.setdefault("probe_cache", f"{os.fspath(manifest)}.probe.json")
    loader = VideoClipLoader(files, labels, **kwargs)
    loader.labels = list(data.labels)
    return loader
