"""DALI JPEG decoding of clip batches: one decoder operator per frame position against one for the batch.

The baseline is the graph `vr`'s DALI loader had before: each of a clip's T frame positions is its own
external-source output with its own ``fn.decoders.image`` (and resize) operator, the T results stacked
into a sequence, so a batch of N clips runs T decoders of N images one after another (each with its own
thread pool and, with nvJPEG, its own hardware-decoder state). `vr` now feeds the batch's N x T frames as
samples of one output, decoded and resized by one operator and regrouped into clips afterwards (as
:mod:`vr.pipelines.dali_loader` does). Both graphs decode the same JPEGs (textured 320x240 frames,
UCF101's size) to 112x112, on the CPU (libjpeg-turbo) or with ``--device-id N`` on that GPU (nvJPEG),
in alternating rounds; the script prints clips/s of each and the ratio. Example::

    python bench/dali_decode.py --clip-len 16 --batch-size 8 --threads 2 --batches 10
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np


def make_frames(count: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` JPEG-encoded frames of a sliding texture, as the bytes DALI's decoders take."""
    rng = np.random.default_rng(seed)
    texture = cv2.resize(
        rng.integers(0, 256, (height // 8, width // 4, 3), dtype=np.uint8), (2 * width, height)
    )
    out = []
    for i in range(count):
        img = np.ascontiguousarray(texture[:, (3 * i) % width : (3 * i) % width + width])
        out.append(
            np.frombuffer(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes(), np.uint8)
        )
    return out


def build(per_position: bool, frames: list[np.ndarray], args):
    """The baseline (``per_position``) or `vr`'s graph, fed the same frames every batch."""
    from nvidia.dali import fn, pipeline_def, types

    n, t, size = args.batch_size, args.clip_len, args.size
    clips = [[frames[(c * t + k) % len(frames)] for k in range(t)] for c in range(n)]
    device = "cpu" if args.device_id is None else "mixed"

    def decode(encoded):
        image = fn.decoders.image(encoded, device=device, output_type=types.RGB, jpeg_fancy_upsampling=True)
        return fn.resize(image, size=[size, size], interp_type=types.INTERP_LINEAR, antialias=False)

    if per_position:  # T outputs of N images: output k holds frame k of every clip

        def source():
            return tuple([clip[k] for clip in clips] for k in range(t))

        @pipeline_def
        def pipe():
            encoded = fn.external_source(source=source, num_outputs=t, batch=True)
            return fn.stack(*[decode(e) for e in encoded], axis=0, axis_name="F")

        batch = n
    else:  # one output of N x T images

        def source():
            return [frame for clip in clips for frame in clip]

        @pipeline_def
        def pipe():
            return decode(fn.external_source(source=source, batch=True))

        batch = n * t
    p = pipe(batch_size=batch, num_threads=args.threads, device_id=args.device_id, prefetch_queue_depth=2)
    p.build()
    return p


def rate(p, batches: int, clips_per_batch: int) -> tuple[float, float]:
    """(clips, seconds) of ``batches`` runs after two untimed ones."""
    for _ in range(2):
        p.run()
    start = time.perf_counter()
    for _ in range(batches):
        (out,) = p.run()
        if hasattr(out, "as_cpu"):
            out = out.as_cpu()  # wait for the GPU's work, as a training step would
    return batches * clips_per_batch, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clip-len", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--threads", type=int, default=2, help="DALI threads")
    p.add_argument("--batches", type=int, default=10, help="timed batches per graph and round")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--device-id", type=int, default=None, help="decode with nvJPEG on this GPU")
    args = p.parse_args()
    frames = make_frames(4 * args.clip_len, args.width, args.height)
    pipes = {
        "one decoder per frame position": build(True, frames, args),
        "vr: one for the batch": build(False, frames, args),
    }
    totals = {name: [0, 0.0] for name in pipes}
    for r in range(args.rounds):
        for name in list(pipes)[:: 1 if r % 2 == 0 else -1]:
            clips, seconds = rate(pipes[name], args.batches, args.batch_size)
            totals[name][0] += clips
            totals[name][1] += seconds
    where = "CPU" if args.device_id is None else f"GPU {args.device_id} (nvJPEG)"
    print(
        f"DALI decode on {where}: {args.batch_size} clips x {args.clip_len} frames "
        f"{args.width}x{args.height} -> {args.size}x{args.size}, {args.threads} threads, "
        f"{args.rounds} x {args.batches} batches"
    )
    rates = {name: clips / seconds for name, (clips, seconds) in totals.items()}
    for name, value in rates.items():
        print(f"  {name:<32} {value:8.1f} clips/s")
    base, ours = rates.values()
    print(f"  ratio: x{ours / base:.2f}")


if __name__ == "__main__":
    main()
