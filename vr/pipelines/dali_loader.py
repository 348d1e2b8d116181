"""The DALI backend: a parallel ``external_source`` reads JPEGs; DALI decodes, crops, resizes, normalises.

:class:`ClipSource` is the per-sample callback (``batch=False``) that DALI runs in ``num_workers`` Python
worker processes: it maps ``SampleInfo.idx_in_epoch`` through the seeded epoch order to an item, reads the
item's encoded frames (:func:`~vr.pipelines.read.read_clips`, together with the rest of the worker's share
of the batch, so a shard's members come in few reads) and returns them with the crop box, the flip
and the normalisation parameters. Two decoders:

* ``dali`` (the default on a GPU): each DALI sample is one *frame* of a clip (a batch of N clips is
  N x T samples), so one decoder operator decodes the whole batch's frames in one call (two for Flow:
  its x and y images), whatever the clip length: nvJPEG batches them on a GPU, libjpeg-turbo's thread
  pool on the CPU. The graph decodes only the box (``fn.decoders.image_slice``), resizes each frame
  (linear, no antialiasing, as OpenCV's INTER_LINEAR), normalises it, and the loader regroups the frames
  into clips on the device (a view and one copy);
* ``workers`` (the default on the CPU): the Python workers decode (libjpeg-turbo), crop and resize (OpenCV)
  (:func:`~vr.pipelines.decode.decode_pixels`, as the torch backend) and hand DALI small ``uint8``
  clips. DALI's CPU resize costs about 0.6 ms per 112x112 frame, six times OpenCV's, which made the
  ``dali`` decoder the slowest CPU loader (``bench/loader.py``).

Both end in ``crop_mirror_normalize`` (flip, mean/std), to ``(C, H, W)`` frames or ``(C, T, H, W)`` clips.

Per-sample mode needs full batches, so the epoch is padded to whole batches with placeholder samples
(``valid = 0``), which the loader drops, as it drops bad samples (their reason rides in the id field).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import cv2
import numpy as np
import torch

from vr.pipelines.decode import CORRUPT, decode_pixels
from vr.pipelines.loader_base import ClipLoaderBase, LoaderOptions
from vr.pipelines.order import EpochOrder
from vr.pipelines.read import Fatal, RawClip, Skip, read_clips
from vr.pipelines.sampling import Box, ClipSpec, SamplingConfig
from vr.threads import single_thread_worker

ID_BYTES = 1024  # video ids (and skip reasons) ride as fixed-width UTF-8; longer ones are cut
FATAL = -1  # the "valid" flag of a sample whose storage failed: the loader raises
_OUTPUTS = ("clip", "meta", "id")
DECODERS = ("dali", "workers")


class ClipSource:
    """DALI ``external_source`` callback: ``SampleInfo`` -> encoded frames + crop/flip/normalise arguments."""

    def __init__(
        self,
        source,
        config: SamplingConfig,
        order: EpochOrder,
        options: LoaderOptions,
        mean,
        std,
        decoder: str = "dali",
    ):
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
        self._pid = os.getpid()  # a call in another process is in one of DALI's Python workers
        o = options
        self.source, self.config, self.seed, self.decoder = source, config, o.seed, decoder
        self.start_epoch, self.mean, self.std = o.start_epoch, tuple(mean), tuple(std)
        self.order, self.n = order, len(order)
        self.n_batches = self.n // o.batch_size if o.drop_last else -(-self.n // o.batch_size)
        self.padded = self.n_batches * o.batch_size
        self.skip = o.start_batch * o.batch_size  # items of the first epoch already done (resuming mid-epoch)
        self.batch_size, self.workers = o.batch_size, max(1, o.num_workers)
        self.unit = config.clip_len if decoder == "dali" else 1  # DALI samples a clip: its frames, or one
        self._filler: dict[str, bytes] = {}
        self._ready: dict[tuple[int, int], RawClip | Skip] = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_ready": {}}

    def _group(self, position: int, idx_in_batch: int) -> range:
        """The clip positions from ``position`` to the end of its worker's share of the batch: DALI
        splits every batch (of ``batch_size x unit`` samples) into ``workers`` contiguous shares, one per
        worker; the clips a share touches are read as one batch."""
        base, extra = divmod(self.batch_size * self.unit, self.workers)
        end = 0
        for share in range(self.workers):
            end += base + (share < extra)
            if idx_in_batch < end:
                break
        first = position - idx_in_batch // self.unit  # the batch's first clip
        return range(position, min(first + -(-end // self.unit), self.n))

    def _read(self, epoch_idx: int, position: int, idx_in_batch: int) -> tuple[RawClip | Skip, object]:
        """The clip at ``position`` (read with the rest of this worker's share of the batch) and, for the
        ``workers`` decoder, its pixels (decoded once for all its samples)."""
        key = (epoch_idx, position)
        if key not in self._ready:
            epoch = self.start_epoch + epoch_idx
            group = self._group(position, idx_in_batch)
            items = self.order.items(epoch)[group.start : group.stop]
            clips = read_clips(self.source, self.config, self.seed, [(epoch, int(i)) for i in items])
            self._ready = {(epoch_idx, q): self._decoded(clip) for q, clip in zip(group, clips, strict=True)}
        return self._ready[key]

    def _decoded(self, got: RawClip | Skip) -> tuple[RawClip | Skip, object]:
        if self.decoder != "workers" or isinstance(got, Skip):
            return got, None
        pixels = decode_pixels(got, self.source.modality)
        return (Skip(got.item, got.video_id, CORRUPT), None) if pixels is None else (got, pixels)

    @property
    def flow(self) -> bool:
        return self.source.modality.flow

    @property
    def num_outputs(self) -> int:
        """A frame's encoded images (``dali``: one, Flow two) or one decoded clip (``workers``), then 3
        more (crop/flip/normalisation, label/valid/item, id)."""
        if self.decoder == "workers":
            return 4
        return len(self.source.modality.images) + 3

    def _placeholder(self, item: int, video_id: str) -> RawClip:
        """A tiny valid clip that fills a batch slot (padding or a skipped sample)."""
        key = "flow" if self.flow else "rgb"
        if key not in self._filler:
            img = np.zeros((8, 8) if self.flow else (8, 8, 3), np.uint8)
            self._filler[key] = cv2.imencode(".jpg", img)[1].tobytes()
        frame = [self._filler[key]] * len(self.source.modality.images)
        spec = ClipSpec(tuple(range(self.config.clip_len)), Box(0, 0, 8, 8), False, self.config.size)
        return RawClip([frame] * self.config.clip_len, spec, -1, video_id, item)

    def __call__(self, info) -> tuple:
        if self._pid != os.getpid():  # first call in a DALI worker: one thread for OpenCV, torch, OpenMP
            single_thread_worker()
            self._pid = os.getpid()
        sample = info.idx_in_epoch + (self.skip * self.unit if info.epoch_idx == 0 else 0)
        position, frame = divmod(sample, self.unit)
        if position >= self.padded:
            raise StopIteration
        if position >= self.n:
            return self._outputs(self._placeholder(-1, ""), 0, frame)
        got, pixels = self._read(info.epoch_idx, position, info.idx_in_batch)
        if frame == self.unit - 1:  # the clip's last sample
            self._ready.pop((info.epoch_idx, position), None)
        if isinstance(got, Skip):
            valid = FATAL if isinstance(got, Fatal) else 0
            return self._outputs(self._placeholder(got.item, f"{got.video_id}\t{got.reason}"), valid, frame)
        return self._outputs(got, 1, frame, pixels)

    def _outputs(self, raw: RawClip, valid: int, frame: int, pixels: np.ndarray | None = None) -> tuple:
        box, flip = raw.spec.box, raw.spec.flip
        if self.decoder == "workers":
            if pixels is None:  # a placeholder: any pixels of the clip's shape
                size, channels = raw.spec.size, self.source.modality.channels
                pixels = np.zeros((self.config.clip_len, size, size, channels), np.uint8)
            images = [pixels]
        else:  # frame ``frame``'s images (Flow: x, then y)
            images = [np.frombuffer(data, np.uint8) for data in raw.frames[frame]]
        mean, std = list(self.mean), list(self.std)
        if self.flow and flip:  # (255 - x - m) / s == (x - (255 - m)) / -s
            mean[0], std[0] = 255.0 - mean[0], -std[0]
        ident = raw.video_id.encode()[:ID_BYTES].ljust(ID_BYTES, b"\0")
        # few outputs: each costs a feed per batch in the main process
        params = np.array([box.x, box.y, box.w, box.h, int(flip), *mean, *std], np.float32)
        meta = np.array([raw.label, valid, raw.item], np.int64)
        return (*images, params, meta, np.frombuffer(ident, np.uint8).copy())


def _clip_graph(callback: ClipSource, parallel: bool, decode_device: str, prefetch: int):
    from nvidia.dali import fn, types

    outs = fn.external_source(
        source=callback,
        num_outputs=callback.num_outputs,
        batch=False,
        parallel=parallel,
        **({"prefetch_queue_depth": prefetch} if parallel else {}),
    )
    params, meta, ident = outs[-3:]
    channels = callback.source.modality.channels
    anchor, shape, mirror = params[0:2], params[2:4], fn.cast(params[4], dtype=types.INT32)
    mean, std = params[5 : 5 + channels], params[5 + channels : 5 + 2 * channels]

    size = callback.config.size

    def decode(encoded, image_type):
        """A batch of frames, each decoded (its box only) and resized: (size, size, c)."""
        image = fn.decoders.image_slice(
            encoded,
            anchor,
            shape,
            device=decode_device,
            output_type=image_type,
            normalized_anchor=False,
            normalized_shape=False,
            # nvJPEG upsamples chroma like libjpeg-turbo's default ("fancy"), so the pixels a GPU
            # trains on are those `vr eval`/`vr infer` see through the CPU decoders
            jpeg_fancy_upsampling=True,
        )
        return fn.resize(image, size=[size, size], interp_type=types.INTERP_LINEAR, antialias=False)

    if callback.decoder == "workers":  # a clip, decoded, cropped and resized in the worker
        pixels, layout = fn.reshape(outs[0], layout="FHWC"), "CFHW"
        if decode_device == "mixed":
            pixels = pixels.gpu()
    elif callback.flow:  # every frame's x images in one decoder call, its y images in another
        pixels, layout = fn.cat(decode(outs[0], types.GRAY), decode(outs[1], types.GRAY), axis=2), "CHW"
    else:  # every frame of the batch in one decoder call
        pixels, layout = decode(outs[0], types.RGB), "CHW"
    clip = fn.crop_mirror_normalize(
        pixels, mirror=mirror, mean=mean, std=std, output_layout=layout, dtype=types.FLOAT
    )
    return clip, meta, ident


class DaliClipLoader(ClipLoaderBase):
    """Clips through a DALI pipeline; ``device_id=None`` runs on the CPU, else on that GPU (nvJPEG).

    ``decoder``: ``dali`` (DALI decodes: nvJPEG on a GPU) or ``workers`` (the Python workers decode);
    None picks ``dali`` on a GPU and ``workers`` on the CPU, the faster of the two there.
    """

    backend = "dali"

    def __init__(self, source, config: SamplingConfig, order: EpochOrder, options: LoaderOptions, mean, std):
        from nvidia.dali import pipeline_def
        from nvidia.dali.plugin.pytorch import DALIGenericIterator

        super().__init__(source, config, order, options, mean, std)
        o = options
        decoder = o.dali_decoder or ("workers" if o.device_id is None else "dali")
        self.callback = ClipSource(source, config, order, options, mean, std, decoder)
        batch_size, num_workers, num_threads, device_id, prefetch = (
            o.batch_size,
            o.num_workers,
            o.num_threads,
            o.device_id,
            o.prefetch,
        )
        if self.callback.n_batches == 0:
            raise ValueError(f"{self.callback.n} clips make no full batch of {batch_size} with drop_last")
        parallel = num_workers > 0
        decode_device = "cpu" if device_id is None else "mixed"

        @pipeline_def
        def pipe():
            return _clip_graph(self.callback, parallel, decode_device, prefetch)

        # Spawn, never fork: a worker forked from a process that runs other threads (a Dask client, the
        # trainer's OpenMP and OpenCV pools) can die at start-up; the cost is a one-off import per worker.
        extra = {"py_num_workers": num_workers, "py_start_method": "spawn"}
        self.unit = self.callback.unit
        self.pipeline = pipe(
            batch_size=batch_size * self.unit,  # DALI samples: frames (or clips) of batch_size clips
            num_threads=num_threads,
            device_id=device_id,
            prefetch_queue_depth=prefetch,
            **(extra if parallel else {}),
        )
        self.iterator = DALIGenericIterator([self.pipeline], list(_OUTPUTS), auto_reset=True)
        self._unfinished = False
        self._passes = 0

    def __len__(self) -> int:
        """Batches the next pass yields (fewer when it finishes an epoch resumed mid-way)."""
        return self.callback.n_batches - (0 if self._passes else self.callback.skip // self.batch_size)

    def _batches(self) -> Iterator[dict]:
        if self._unfinished:  # the last pass stopped early: DALI cannot restart mid-epoch, so finish it
            with contextlib.suppress(StopIteration):
                while True:
                    next(self.iterator)  # not iter(): that would reset the pipeline mid-epoch
        self._unfinished = True
        self._passes += 1
        unit = self.unit
        for (out,) in self.iterator:
            meta = out["meta"][::unit].cpu()  # a clip's samples all carry its label, flag, item and id
            ids = [
                row.tobytes().rstrip(b"\0").decode(errors="replace")
                for row in out["id"][::unit].cpu().numpy()
            ]
            fatal = (meta[:, 1] == FATAL).nonzero()
            if len(fatal):
                yield {"fatal": ids[int(fatal[0])].split("\t", 1)[-1]}
                return
            label, valid, index = meta[:, 0], meta[:, 1].numpy().astype(bool), meta[:, 2]
            items = index.tolist()
            skipped = [
                tuple(ids[i].split("\t", 1)) for i in range(len(ids)) if not valid[i] and items[i] >= 0
            ]
            clip = out["clip"]
            if unit > 1:  # (N x T, C, H, W) frames -> (N, C, T, H, W) clips
                n, c, h, w = clip.shape[0] // unit, *clip.shape[1:]
                clip = clip.view(n, unit, c, h, w).transpose(1, 2).contiguous()
            if not valid.all():  # drop padding and bad samples (a copy; most batches skip it)
                keep = torch.from_numpy(valid.nonzero()[0])
                clip, label, index = clip[keep.to(clip.device)], label[keep], index[keep]
                ids = [ids[i] for i in keep.tolist()]
            yield {"clip": clip, "label": label, "video_id": ids, "index": index, "skipped": skipped}
        self._unfinished = False
