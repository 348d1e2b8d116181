"""Where one epoch of the demo's RGB training goes: the loader alone, the model steps alone (on the
loader's batches, held in memory), and both as training runs them, in clips/s, in one run.

Uses the demo's data (``vr demo --out D`` first, or ``bench/families.py``, which makes the same shards)
and the demo's settings: R3D-10 at a quarter width, 8x56x56 clips, batch 8, AdamW, the loader in the
training process. ``--threads`` and ``--no-channels-last`` show what each costs; run it under load
(e.g. ``python -c 'while True: pass' &`` twice) to see where a busy machine takes the time::

    python bench/profile_epoch.py --data vr-demo
    python bench/profile_epoch.py --data vr-demo --threads 1 --no-channels-last
"""

from __future__ import annotations

import argparse
import time

from vr.threads import prepare_openmp

prepare_openmp()  # as `vr train` does: before torch is imported (see vr.threads)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from vr.demo import DemoConfig, demo_train_config  # noqa: E402
from vr.models import create_model  # noqa: E402
from vr.pipelines import build_loader  # noqa: E402
from vr.threads import set_torch_threads  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="vr-demo", help="the demo's folder (its shards/train is read)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: vr's default)")
    parser.add_argument("--no-channels-last", action="store_true", help="contiguous NCTHW tensors")
    parser.add_argument("--workers", type=int, default=0, help="loader workers (the demo: 0)")
    args = parser.parse_args()
    threads = set_torch_threads(args.threads or None)
    demo = DemoConfig(out=args.data)
    config = demo_train_config(demo, "rgb", on_gpu=False)
    cl = not args.no_channels_last
    loader = build_loader(
        config.data, "rgb", sampling=config.sampling, options=config.loader, num_workers=args.workers,
        pin_memory=False,
    )  # fmt: skip
    model = create_model(config.model, len(loader.labels), **config.model_args)
    fmt = torch.channels_last_3d if cl else torch.contiguous_format
    model = model.to(memory_format=fmt)
    optimizer = torch.optim.AdamW(model.parameters(), config.lr, weight_decay=config.weight_decay)

    def step(batch: dict) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(batch["clip"].contiguous(memory_format=fmt)), batch["label"])
        loss.backward()
        optimizer.step()
        loss.item()

    start = time.perf_counter()
    batches = list(loader)
    loader_s = time.perf_counter() - start
    clips = sum(int(b["clip"].shape[0]) for b in batches)
    step(batches[0])  # warm-up
    start = time.perf_counter()
    for batch in batches:
        step(batch)
    model_s = time.perf_counter() - start
    start = time.perf_counter()
    for batch in loader:
        step(batch)
    both_s = time.perf_counter() - start
    print(f"{clips} clips, torch threads {threads}, {'channels_last_3d' if cl else 'contiguous'}, "
          f"{args.workers} loader workers, OpenMP wait: {prepare_openmp()}")  # fmt: skip
    for name, seconds in (("loader alone", loader_s), ("model steps alone", model_s), ("training", both_s)):
        print(f"  {name:<18} {seconds:6.2f} s  {clips / seconds:7.1f} clips/s")


if __name__ == "__main__":
    main()
