"""Everything only a GPU can show, in one run of under 8 minutes: ``python bench/gpu_check.py``.

Steps (each in its own process, with a time limit; one failing does not stop the others):

1. ``environment``: the GPUs torch and DALI see.
2. ``pytest -m gpu``: the gpu-marked tests (nvJPEG loader against the torch loader, the NVDEC video
   reader, CUDA bf16/channels_last training steps, CUDA TV-L1 against OpenCV).
3. ``train``: the whole GPU training path on a tiny synthetic shard folder, through the CLI: ``vr train
   --device cuda --loader dali --precision bf16 --channels-last`` (nvJPEG decode, pinned copies, cuDNN,
   autocast, GradScaler off for bf16), then ``--precision fp16`` (GradScaler on), then ``vr eval`` on it
   with DALI on the GPU and ``vr infer`` of a video on the GPU.
4. ``ddp``: with two GPUs or more, two ``torchrun`` processes training with NCCL (the process group,
   the epoch-end ``all_sum`` of CPU-side numbers, the ranks agreeing to leave out batches).
5. ``flow``: ``vr preprocess flow-tvl1 --engine torch`` on the GPU.
6. The GPU benchmarks at short settings: ``bench/loader.py --device-id 0`` (DALI nvJPEG against an
   R3D-18 AMP step), ``bench/models.py --compile``, ``bench/flow_engines.py``, ``bench/train.py``.

It writes one JSON report (``--out``, default ``gpu_check.json``): per step ``ok``, ``seconds`` and the
tail of its output (the benchmarks print their ratios there). ``--cpu`` runs the same steps on the CPU
(DALI on the CPU, no DDP, no gpu-marked tests): a check of this script itself on a machine without a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def step(
    name: str, cmd: list[str], timeout: float, report: dict, cwd: Path = ROOT, env: dict | None = None
) -> bool:
    """Run ``cmd``; record ok, seconds and the output's tail under ``name``."""
    print(f"== {name}: {' '.join(cmd)}", flush=True)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
        )
        ok, output = done.returncode == 0, done.stdout + done.stderr
    except subprocess.TimeoutExpired as e:
        ok, output = False, f"timed out after {timeout:.0f} s\n{(e.stdout or b'')[-4000:]!r}"
    seconds = time.perf_counter() - started
    report[name] = {"ok": ok, "seconds": round(seconds, 1), "output": output[-6000:]}
    print(f"   {'ok' if ok else 'FAILED'} in {seconds:.0f} s", flush=True)
    if not ok:
        print(output[-2000:], flush=True)
    return ok


def make_data(work: Path) -> tuple[Path, Path, Path]:
    """A tiny synthetic motion set as frame folders, a manifest, train/val shards and one video file."""
    import cv2

    from vr.datasets.encode import write_video
    from vr.datasets.synth import SynthConfig, plan_videos, render_video
    from vr.layout import commit_folder, image_name, temp_sibling
    from vr.manifests.schema import Manifest, VideoRecord
    from vr.shards import ShardOptions, build_shards

    config = SynthConfig(classes=3, videos_per_class=8, clips_per_group=4, frames=16, width=128, height=96)
    records = []
    for spec in plan_videos(config):
        final = work / "frames" / spec.class_name / spec.video_id
        tmp = temp_sibling(final)
        tmp.mkdir(parents=True, exist_ok=True)
        clip = render_video(config, spec)
        for i, frame in enumerate(clip, start=1):
            cv2.imwrite(str(tmp / image_name(i)), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        commit_folder(tmp, final, {"n_frames": len(clip), "width": config.width, "height": config.height})
        subset = "val" if spec.group <= config.n_test_groups else "train"
        path = f"{spec.class_name}/{spec.video_id}"
        records.append(VideoRecord(spec.video_id, spec.class_name, spec.class_index, subset, path, len(clip)))
    manifest = work / "manifest.jsonl"
    Manifest(config.class_names, records).write(manifest)
    for subset in ("train", "val"):
        options = ShardOptions(subset=subset, max_count=8)
        build_shards(manifest, work / subset, options, frames=work / "frames", progress=False)
    video = write_video(work / "clip.mp4", render_video(config, plan_videos(config)[0]), 25, "h264")
    return work / "train", work / "val", Path(video)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    parser.add_argument("--cpu", action="store_true", help="check this script on the CPU (no GPU parts)")
    parser.add_argument("--skip", default="", help="comma list of steps to skip")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    python, report = sys.executable, {}
    import torch

    gpus = 0 if args.cpu else torch.cuda.device_count()
    if not gpus and not args.cpu:
        sys.exit("no CUDA GPU: run this on a GPU machine, or with --cpu to check the script itself")
    device = "cpu" if args.cpu else "cuda"
    loader = "dali"
    work = Path(tempfile.mkdtemp(prefix="vr-gpu-check-"))
    train_dir, val_dir, video = make_data(work)
    vr = [python, "-m", "vr"]
    probe = (
        "import torch, nvidia.dali as d; n = torch.cuda.device_count(); "
        "print('torch', torch.__version__, 'cuda', torch.version.cuda, 'gpus', n, "
        "[torch.cuda.get_device_name(i) for i in range(n)], 'dali', d.__version__)"
    )
    step("environment", [python, "-c", probe], 120, report)
    if "pytest" not in skip and not args.cpu:
        step(
            "pytest -m gpu",
            [python, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider"],
            240,
            report,
        )
    common = ["--model", "r3d18", "--model-arg", "widen_factor=0.5", "--clip-len", "8", "--size", "64"]
    common += [
        "--batch-size",
        "8",
        "--epochs",
        "2",
        "--workers",
        "2",
        "--device",
        device,
        "--loader",
        loader,
        "-q",
    ]
    if "train" not in skip:
        run = work / "run-bf16"
        precision = "fp32" if args.cpu else "bf16"
        step(
            "train bf16 channels_last dali",
            [
                *vr,
                "train",
                "--data",
                str(train_dir),
                "--val-data",
                str(val_dir),
                "--out",
                str(run),
                *common,
                "--precision",
                precision,
                "--channels-last",
                "--checkpoint-steps",
                "2",
            ],  # fmt: skip
            240,
            report,
        )
        if not args.cpu:
            step(
                "train fp16 (GradScaler)",
                [
                    *vr,
                    "train",
                    "--data",
                    str(train_dir),
                    "--out",
                    str(work / "run-fp16"),
                    *common,
                    "--precision",
                    "fp16",
                ],
                240,
                report,
            )
        ckpt = run / "last.pth"
        step(
            "eval dali",
            [
                *vr,
                "eval",
                str(ckpt),
                "--data",
                str(val_dir),
                "--loader",
                loader,
                "--device",
                device,
                "--n-clips",
                "2",
                "--n-crops",
                "1",
                "-q",
                "-o",
                str(work / "eval.json"),
            ],  # fmt: skip
            180,
            report,
        )
        step(
            "infer",
            [*vr, "infer", str(ckpt), str(video), "--device", device, "--n-clips", "2", "-q"],
            180,
            report,
        )
    if "ddp" not in skip and gpus >= 2:
        step(
            "ddp nccl x2",
            [
                python,
                "-m",
                "torch.distributed.run",
                "--nproc-per-node",
                "2",
                "-m",
                "vr",
                "train",
                "--data",
                str(train_dir),
                "--out",
                str(work / "run-ddp"),
                *common,
            ],  # fmt: skip
            240,
            report,
            env={"OMP_NUM_THREADS": "2"},
        )
    if "flow" not in skip:
        engine = "opencv" if args.cpu else "torch"
        step(
            "flow-tvl1 torch",
            [
                *vr,
                "preprocess",
                "flow-tvl1",
                str(work / "frames"),
                str(work / "flow"),
                "--engine",
                engine,
                "--nscales",
                "3",
                "--warps",
                "3",
                "-q",
            ],  # fmt: skip
            240,
            report,
        )
    if "bench" not in skip:
        bench = ROOT / "bench"
        loader_args = [
            "--videos",
            "8",
            "--frames",
            "24",
            "--batches",
            "6",
            "--rounds",
            "1",
            "--modalities",
            "rgb",
        ]
        if not args.cpu:
            loader_args += ["--device-id", "0"]
        step("bench loader", [python, str(bench / "loader.py"), *loader_args], 240, report)
        models_args = ["--models", "r3d18", "--iters", "3"] + ([] if args.cpu else ["--compile"])
        step("bench models", [python, str(bench / "models.py"), *models_args], 300, report)
        flow_args = ["--pairs", "2", "--repeat", "1"] + (
            ["--cuda-batches", ""] if args.cpu else ["--cpu-batches", ""]
        )
        step("bench flow engines", [python, str(bench / "flow_engines.py"), *flow_args], 240, report)
        train_args = ["--steps", "4", "--warmup", "2", "--videos", "4", "--device", device]
        train_args += ["--widen", "0.25"] if args.cpu else ["--batch", "16"]
        step("bench train", [python, str(bench / "train.py"), *train_args], 300, report)
    shutil.rmtree(work, ignore_errors=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    failed = [name for name, r in report.items() if not r["ok"]]
    print(f"\n{len(report) - len(failed)} of {len(report)} steps passed; report: {args.out}")
    if failed:
        print("failed: " + ", ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
