"""Loader throughput: clips/s of 16x112x112 training clips, RGB and Flow, three ways, ratios in one run.

* seed: the 3D-ResNets seed's way - PIL images opened from frame folders one by one, per-frame PIL
  crop/resize/flip, ToTensor + Normalize, through a ``torch.utils.data.DataLoader``;
* torch: ``build_loader(backend="torch")`` on shards (libjpeg-turbo decode, OpenCV resize in DataLoader
  workers);
* dali: ``build_loader(backend="dali")`` on shards (parallel external source; on the CPU its workers
  decode with libjpeg-turbo and DALI flips/normalises, ``--dali-decoder dali`` decodes and resizes in
  DALI instead; ``--device-id`` decodes with nvJPEG on that GPU).

All three use the same worker count and the same sampling (random temporal crop, RandomResizedCrop,
flip). The data is synthetic: textured 320x240 frames (UCF101's size) written as JPEG folders in the
seeds' layout, then sharded with ``vr.shards.build_shards``. Example::

    python bench/loader.py --videos 16 --frames 40 --workers 2 --batches 12

With ``--device-id N`` DALI decodes with nvJPEG on GPU N and the clips/s that one AMP training step of
``--model`` (default r3d18) consumes is measured too, for the goal "DALI delivers >= 1.5x of it".
"""

from __future__ import annotations

import argparse
import gc
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from vr import layout
from vr.manifests.schema import Manifest, VideoRecord
from vr.modality import mean_std
from vr.pipelines import build_loader
from vr.pipelines.sampling import random_resized_box, temporal_random
from vr.shards import ShardOptions, build_shards


def make_data(root: Path, videos: int, frames: int, width: int, height: int, seed: int = 0) -> Path:
    """Frame + flow folders and a manifest under ``root``; returns the manifest path."""
    rng = np.random.default_rng(seed)
    records = []
    for v in range(videos):
        label = v % 4
        folder = root / "frames" / f"class{label}" / f"video{v:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        texture = cv2.resize(
            rng.integers(0, 256, (height // 8, width // 4, 3), dtype=np.uint8), (2 * width, height)
        )
        for i in range(1, frames + 1):
            img = np.ascontiguousarray(texture[:, 3 * i : 3 * i + width])
            cv2.imwrite(str(folder / layout.image_name(i)), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
            if i < frames:
                x, y = layout.flow_names(i)
                gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) // 4 + 96
                cv2.imwrite(str(folder / x), gray, [cv2.IMWRITE_JPEG_QUALITY, 90])
                cv2.imwrite(str(folder / y), gray[::-1].copy(), [cv2.IMWRITE_JPEG_QUALITY, 90])
        records.append(
            VideoRecord(
                f"video{v:03d}", f"class{label}", label, "train", f"class{label}/video{v:03d}", frames
            )
        )
    manifest = root / "train.jsonl"
    Manifest([f"class{i}" for i in range(4)], records).write(manifest)
    return manifest


class SeedWayDataset(Dataset):
    """The seed's VideoDataset + transforms: PIL per frame, RandomResizedCrop, flip, ToTensor, Normalize."""

    def __init__(self, manifest: Path, root: Path, modality: str, clip_len: int, size: int):
        from vr.manifests.schema import read_manifest

        self.videos = read_manifest(manifest).videos
        self.root, self.modality, self.clip_len, self.size = root, modality, clip_len, size
        mean, std = mean_std(modality)
        self.mean = torch.tensor(mean).view(-1, 1, 1) / 255
        self.std = torch.tensor(std).view(-1, 1, 1) / 255

    def __len__(self) -> int:
        return len(self.videos)

    def _load(self, path: Path, mode: str, box, flip: bool, invert: bool = False) -> torch.Tensor:
        with path.open("rb") as f, Image.open(f) as img:
            img = img.convert(mode)
        img = img.resize(
            (self.size, self.size), Image.BILINEAR, box=(box.x, box.y, box.x + box.w, box.y + box.h)
        )
        if flip:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        t = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy())
        t = t.view(self.size, self.size, -1).permute(2, 0, 1).float().div(255)
        return 1 - t if invert else t

    def __getitem__(self, index: int):
        record = self.videos[index]
        folder = self.root / record.path
        n = record.n_frames if self.modality == "rgb" else record.n_frames - 1
        rng = np.random.default_rng(random.getrandbits(32))
        positions = temporal_random(rng, n, self.clip_len)
        width, height = Image.open(folder / layout.image_name(1)).size
        box = random_resized_box(rng, width, height)
        flip = random.random() < 0.5
        frames = []
        for p in positions:
            if self.modality == "rgb":
                t = self._load(folder / layout.image_name(p + 1), "RGB", box, flip)
            else:
                x, y = layout.flow_names(p + 1)
                t = torch.cat(
                    [self._load(folder / x, "L", box, flip, flip), self._load(folder / y, "L", box, flip)]
                )
            frames.append((t - self.mean) / self.std)
        return torch.stack(frames, 0).permute(1, 0, 2, 3), record.label_index


def measure(make_loader: Callable[[], object], n_batches: int) -> tuple[int, float]:
    """(clips, seconds) for ``n_batches`` batches of a fresh loader, after one warm-up batch."""
    loader = make_loader()
    clips, done, start = 0, -1, 0.0
    while done < n_batches:
        for batch in loader:
            if done == -1:
                start = time.perf_counter()  # workers are up and the first batch is out
            else:
                clips += (batch["clip"] if isinstance(batch, dict) else batch[0]).shape[0]
            done += 1
            if done >= n_batches:
                break
    seconds = time.perf_counter() - start
    del loader  # stop its workers before the next loader runs
    gc.collect()
    return clips, seconds


def compare(makers: dict[str, Callable[[], object]], n_batches: int, rounds: int) -> dict[str, float]:
    """Clips/s of each loader, run one at a time in ``rounds`` alternating rounds (load drift evens out)."""
    clips = dict.fromkeys(makers, 0)
    seconds = dict.fromkeys(makers, 0.0)
    for r in range(rounds):
        for name in list(makers)[:: 1 if r % 2 == 0 else -1]:
            c, s = measure(makers[name], n_batches)
            clips[name] += c
            seconds[name] += s
    return {name: clips[name] / seconds[name] for name in makers}


def train_step_rate(model_name: str, modality: str, args, device: torch.device, steps: int = 20) -> float:
    """Clips/s one AMP training step of ``model_name`` consumes (random clips already on the GPU)."""
    from vr.models import create_model

    model = create_model(model_name, num_classes=400, in_channels=3 if modality == "rgb" else 2).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda")
    clips = torch.randn(
        args.batch_size, 3 if modality == "rgb" else 2, args.clip_len, args.size, args.size, device=device
    )
    labels = torch.randint(0, 400, (args.batch_size,), device=device)
    for i in range(steps + 3):
        if i == 3:  # after warm-up (cuDNN autotuning)
            torch.cuda.synchronize(device)
            start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.float16):
            loss = torch.nn.functional.cross_entropy(model(clips), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    torch.cuda.synchronize(device)
    return steps * args.batch_size / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--videos", type=int, default=16)
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--clip-len", type=int, default=16)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--batches", type=int, default=12, help="timed batches per loader")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds per loader")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--dali-threads", type=int, default=2)
    p.add_argument("--device-id", type=int, default=None, help="GPU for DALI's mixed decoder")
    p.add_argument(
        "--dali-decoder",
        choices=["dali", "workers"],
        default=None,
        help="DALI's own decoder or its Python workers' (default: dali on a GPU, workers on the CPU)",
    )
    p.add_argument("--modalities", default="rgb,flow")
    p.add_argument("--model", default="r3d18", help="model whose AMP train step DALI must outpace (GPU only)")
    p.add_argument("--workdir", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="vr-bench-loader-"))
    manifest = work / "train.jsonl"
    if not manifest.exists():
        make_data(work, args.videos, args.frames, args.width, args.height)
    shards = work / "shards"
    if not (shards / "index.json").exists():
        options = ShardOptions(modality="both", allow_unmarked=True, max_count=4)
        build_shards(manifest, shards, options, frames=work / "frames", flow=work / "frames", progress=False)
    print(
        f"{args.videos} videos x {args.frames} frames {args.width}x{args.height}, clips "
        f"{args.clip_len}x{args.size}x{args.size}, batch {args.batch_size}, {args.workers} workers, "
        f"{args.rounds} x {args.batches} timed batches each, DALI on "
        + ("CPU" if args.device_id is None else f"GPU {args.device_id}")
    )
    common = dict(
        clip_len=args.clip_len, size=args.size, batch_size=args.batch_size, num_workers=args.workers
    )
    for modality in args.modalities.split(","):
        makers = {
            "seed (PIL folders)": lambda m=modality: DataLoader(
                SeedWayDataset(manifest, work / "frames", m, args.clip_len, args.size),
                batch_size=args.batch_size,
                shuffle=True,
                num_workers=args.workers,
                persistent_workers=args.workers > 0,
            ),
            "vr torch": lambda m=modality: build_loader(shards, m, backend="torch", **common),
            "vr dali": lambda m=modality: build_loader(
                shards,
                m,
                backend="dali",
                device_id=args.device_id,
                num_threads=args.dali_threads,
                dali_decoder=args.dali_decoder,
                **common,
            ),
        }
        if args.device_id is None and args.dali_decoder is None:  # why the CPU default is workers
            makers["vr dali, dali decoder"] = lambda m=modality: build_loader(
                shards, m, backend="dali", num_threads=args.dali_threads, dali_decoder="dali", **common
            )
        rates = compare(makers, args.batches, args.rounds)
        base = rates["seed (PIL folders)"]
        print(f"\n{modality}:")
        for name, rate in rates.items():
            print(f"  {name:<22} {rate:8.1f} clips/s   x{rate / base:.2f} vs seed")
        print(f"  dali / torch: x{rates['vr dali'] / rates['vr torch']:.2f}")
        if args.device_id is not None:
            step = train_step_rate(args.model, modality, args, torch.device("cuda", args.device_id))
            ratio = rates["vr dali"] / step
            print(f"  {args.model} AMP train step: {step:.1f} clips/s; dali delivers x{ratio:.2f} of it")


if __name__ == "__main__":
    main()
