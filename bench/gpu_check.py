"""Every GPU path of `vr` in one short run: ``python bench/gpu_check.py [--out DIR]``.

Each step runs its commands in their own process group with a time budget (the whole group is killed
when it runs out: torchrun ranks, DALI and loky workers included), asserts what it measured and is
written to ``DIR/gpu_check.json`` and ``DIR/gpu_check.txt`` as soon as it ends, so a run killed at a time
limit keeps everything measured before. Steps come in order of what they prove (``--only``/``--skip``
by name; ``--budget`` seconds for the whole run, default 480: a step that cannot start within it is
skipped, saying so). A skipped step is never a pass; the last line is
``gpu_check: P passed, F failed, S skipped``.

Steps: ``doctor`` (the GPUs torch and DALI see, a real nvJPEG decode), ``train`` (``vr train --loader
dali`` with bf16 and channels_last: nvJPEG decoding, pinned copies, cuDNN, autocast; finite losses that
fall; a checkpoint every 2 steps), ``resume`` (one more epoch from ``last.pth`` on the GPU), ``eval``
(``vr eval`` with DALI in bf16 and fp16), ``infer`` (an H.264 file), ``flow-dali`` (2-channel Flow
clips through DALI's mixed decoder), ``fp16`` (GradScaler), ``compile`` (``--compile``), ``dali-video``
(``--loader dali-video``: NVDEC through the trainer), ``ddp`` (2 NCCL ranks; skipped with one GPU),
``pytest-gpu`` (the ``gpu``-marked tests; a skipped one fails the step), ``flow-cli`` (``vr preprocess
flow-tvl1 --engine torch`` at its default batch), and the performance goals as pass/fail lines with
their numbers: ``goal-loader`` (DALI loader >= 1.5x the R3D-18 bf16 training step, ``vr bench loader
--model``), ``goal-bf16`` (bf16 + channels_last >= 2x fp32, ``vr bench model``), ``goal-tvl1`` (torch
TV-L1 >= 300 pairs/s at 340x256, ``vr bench flow``).

``--cpu`` runs the same steps on the CPU where they have a CPU form (fp32 instead of bf16, DALI on the
CPU, a VP9 file for the raw-video reader) and skips the GPU-only ones and the goals, saying why; the
test suite runs it with a small budget.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


class CheckFailed(Exception):
    """What a step measured is not what it should be."""


class Skip(Exception):
    """The step cannot run here; the message says why."""


@dataclass
class Check:
    """The run: where it works, what it writes, how much time is left."""

    work: Path
    out: Path
    cpu: bool
    gpus: int
    budget: float
    started: float = field(default_factory=time.monotonic)
    steps: list[dict] = field(default_factory=list)
    overrides: dict[str, float] = field(default_factory=dict)
    data: dict[str, Path] = field(default_factory=dict)

    @property
    def device(self) -> str:
        return "cpu" if self.cpu else "cuda"

    def left(self) -> float:
        return self.budget - (time.monotonic() - self.started)

    def run(self, cmd: list[str], timeout: float, env: dict | None = None) -> str:
        """Run ``cmd`` in its own process group; its output; CheckFailed on a non-zero exit or when the
        budget runs out (the whole group killed)."""
        timeout = min(timeout, max(1.0, self.left()))
        print(f"   $ {' '.join(map(str, cmd))}", flush=True)
        proc = subprocess.Popen(
            list(map(str, cmd)),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            output = proc.communicate()[0] or ""
            raise CheckFailed(
                f"timed out after {timeout:.0f} s (process group killed)\n{output[-3000:]}"
            ) from None
        if proc.returncode != 0:
            raise CheckFailed(f"exit {proc.returncode}: {output[-3000:]}")
        return output

    def record(
        self, name: str, status: str, seconds: float, detail: str, metrics: dict | None = None
    ) -> None:
        self.steps.append(
            {
                "step": name,
                "status": status,
                "seconds": round(seconds, 1),
                "detail": detail,
                **(metrics or {}),
            }
        )
        self.write()

    def write(self) -> None:
        """The report as it stands (JSON and a text table), written at once and flushed to disk."""
        self.out.mkdir(parents=True, exist_ok=True)
        summary = self.summary()
        data = {"cpu": self.cpu, "gpus": self.gpus, "steps": self.steps, "summary": summary}
        for path, text in (
            (self.out / "gpu_check.json", json.dumps(data, indent=1) + "\n"),
            (self.out / "gpu_check.txt", self.table()),
        ):
            tmp = path.with_name(path.name + ".tmp")
            with open(tmp, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)

    def summary(self) -> str:
        counts = {s: sum(step["status"] == s for step in self.steps) for s in (PASSED, FAILED, SKIPPED)}
        return f"gpu_check: {counts[PASSED]} passed, {counts[FAILED]} failed, {counts[SKIPPED]} skipped"

    def table(self) -> str:
        lines = [f"{'step':<12} {'status':<8} {'seconds':>7}  detail"]
        for s in self.steps:
            first = s["detail"].splitlines()[0] if s["detail"] else ""
            lines.append(f"{s['step']:<12} {s['status']:<8} {s['seconds']:>7.1f}  {first[:160]}")
        return "\n".join([*lines, self.summary()]) + "\n"


def kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the whole process group, SIGKILL to what is left after 5 s."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            os.killpg(proc.pid, 0)  # the leader is gone; anything left in its group?
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue
        time.sleep(0.5)


# ---- data ------------------------------------------------------------------------------------------------


def make_data(work: Path, cpu: bool) -> dict[str, Path]:
    """A tiny synthetic motion set: frame and TV-L1 flow folders, a manifest, RGB and Flow shards,
    the videos (H.264 on a GPU, VP9 on the CPU) and 340x256 frames for the TV-L1 goal."""
    import cv2

    from vr.datasets.encode import write_video
    from vr.datasets.synth import SynthConfig, plan_videos, render_video
    from vr.layout import commit_folder, image_name, temp_sibling
    from vr.manifests.schema import Manifest, VideoRecord
    from vr.preprocess.flow.engines import TVL1Params
    from vr.preprocess.flow.tvl1 import FlowOptions, flow_tvl1
    from vr.shards import ShardOptions, build_shards

    def frames_of(config: SynthConfig, root: Path) -> list[VideoRecord]:
        records = []
        for spec in plan_videos(config):
            final = root / spec.class_name / spec.video_id
            tmp = temp_sibling(final)
            tmp.mkdir(parents=True, exist_ok=True)
            clip = render_video(config, spec)
            for i, frame in enumerate(clip, start=1):
                cv2.imwrite(str(tmp / image_name(i)), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            commit_folder(tmp, final, {"n_frames": len(clip), "width": config.width, "height": config.height})
            subset = "val" if spec.group <= config.n_test_groups else "train"
            path = f"{spec.class_name}/{spec.video_id}"
            records.append(
                VideoRecord(spec.video_id, spec.class_name, spec.class_index, subset, path, len(clip))
            )
        return records

    config = SynthConfig(classes=3, videos_per_class=8, clips_per_group=4, frames=16, width=128, height=96)
    records = frames_of(config, work / "frames")
    manifest = work / "manifest.jsonl"
    Manifest(config.class_names, records).write(manifest)
    fast = TVL1Params(nscales=2, warps=2)
    flow_tvl1(work / "frames", work / "flow", FlowOptions(params=fast), jobs=2, quiet=True)
    for subset in ("train", "val"):
        options = ShardOptions(subset=subset, max_count=8, modality="both")
        build_shards(
            manifest, work / subset, options, frames=work / "frames", flow=work / "flow", progress=False
        )
    codec, ext = ("vp9", ".webm") if cpu else ("h264", ".mp4")
    for spec in plan_videos(config):
        target = work / "videos" / spec.class_name / f"{spec.video_id}{ext}"
        target.parent.mkdir(parents=True, exist_ok=True)
        write_video(target, render_video(config, spec), 25, codec)
    big = SynthConfig(classes=2, videos_per_class=2, clips_per_group=1, frames=9, width=340, height=256)
    frames_of(big, work / "frames340")
    return {
        "train": work / "train",
        "val": work / "val",
        "manifest": manifest,
        "videos": work / "videos",
        "video": next((work / "videos").rglob(f"*{ext}")),
        "frames": work / "frames",
        "frames340": work / "frames340",
    }


# ---- steps -----------------------------------------------------------------------------------------------

VR = [sys.executable, "-m", "vr"]
TINY = ["--model", "r3d18", "--model-arg", "widen_factor=0.25", "--clip-len", "8", "--size", "64"]
TINY += ["--batch-size", "8", "--workers", "2", "--lr", "0.01", "--optimizer", "adamw", "-q"]


def _precision(c: Check) -> str:
    return "fp32" if c.cpu else "bf16"


def _losses(run: Path) -> list[float]:
    from vr.train.logs import read_log

    return [float(r["loss"]) for r in read_log(run / "train.log")]


def step_doctor(c: Check) -> tuple[str, dict]:
    checks = {x["name"]: x for x in json.loads(c.run([*VR, "doctor", "--json"], 60))}
    if not c.cpu:
        gpus = [k for k in checks if k.startswith("GPU ")]
        if not gpus or checks.get("nvJPEG", {}).get("status") != "ok":
            raise CheckFailed(f"GPUs {gpus}, nvJPEG {checks.get('nvJPEG') or checks.get('nvJPEG / NVDEC')}")
    missing = [
        k
        for k, v in checks.items()
        if v["status"] == "missing" and (not c.cpu or "GPU" not in k and "NV" not in k)
    ]
    if missing:
        raise CheckFailed(f"missing: {', '.join(missing)}")
    return f"{len(checks)} checks: " + "; ".join(f"{k} {v['status']}" for k, v in checks.items()), {}


def step_train(c: Check) -> tuple[str, dict]:
    run = c.work / "run"
    cmd = [*VR, "train", "--data", c.data["train"], "--val-data", c.data["val"], "--out", run, *TINY]
    cmd += ["--epochs", "3", "--device", c.device, "--loader", "dali", "--precision", _precision(c)]
    cmd += ["--channels-last", "--checkpoint-steps", "2"]
    c.run(cmd, 240)
    losses = _losses(run)
    if not all(math.isfinite(x) for x in losses) or not min(losses[1:]) < losses[0]:
        raise CheckFailed(f"losses {losses}: not finite and falling")
    return f"{_precision(c)} channels_last DALI: losses {', '.join(f'{x:.3f}' for x in losses)}", {
        "losses": losses
    }


def step_resume(c: Check) -> tuple[str, dict]:
    run = c.work / "run"
    if not (run / "last.pth").exists():
        raise Skip("needs the train step's run")
    cmd = [*VR, "train", "--data", c.data["train"], "--val-data", c.data["val"], "--out", run, *TINY]
    cmd += ["--epochs", "4", "--device", c.device, "--loader", "dali", "--precision", _precision(c)]
    c.run([*cmd, "--channels-last", "--resume"], 180)
    import torch

    epoch = torch.load(run / "last.pth", weights_only=True, map_location="cpu")["epoch"]
    if epoch != 4:
        raise CheckFailed(f"last.pth says epoch {epoch}, not 4")
    return "resumed epoch 4 from last.pth", {}


def step_eval(c: Check) -> tuple[str, dict]:
    ckpt = c.work / "run" / "last.pth"
    if not ckpt.exists():
        raise Skip("needs the train step's run")
    found = {}
    for precision in ("fp32",) if c.cpu else ("bf16", "fp16"):
        out = c.work / f"eval-{precision}.json"
        cmd = [*VR, "eval", ckpt, "--data", c.data["val"], "--loader", "dali", "--device", c.device]
        c.run(
            [
                *cmd,
                "--precision",
                precision,
                "--n-clips",
                "2",
                "--n-crops",
                "1",
                "--workers",
                "2",
                "-q",
                "-o",
                out,
            ],
            150,
        )
        metrics = json.loads(out.with_name(out.stem + ".metrics.json").read_text())
        found[precision] = metrics.get("top1")
    return "top-1 " + ", ".join(f"{p} {v}" for p, v in found.items()), {"top1": found}


def step_infer(c: Check) -> tuple[str, dict]:
    ckpt = c.work / "run" / "last.pth"
    if not ckpt.exists():
        raise Skip("needs the train step's run")
    out = c.run(
        [*VR, "infer", ckpt, c.data["video"], "--device", c.device, "--n-clips", "2", "-q", "--json"], 120
    )
    results = json.loads(out[out.index("{") :])["results"]
    if len(results) != 1:
        raise CheckFailed(f"{len(results)} predictions for 1 video")
    return f"{c.data['video'].name}: {next(iter(results.values()))[0]}", {}


def _train(c: Check, name: str, *options: str, budget: float = 180) -> list[float]:
    """``vr train`` of the shards into ``work/run-NAME`` with DALI and ``options``; its losses, which
    must be finite."""
    run = c.work / f"run-{name}"
    cmd = [*VR, "train", "--data", c.data["train"], "--out", run, *TINY, "--loader", "dali", *options]
    c.run(cmd, budget)
    losses = _losses(run)
    if not losses or not all(math.isfinite(x) for x in losses):
        raise CheckFailed(f"losses {losses}")
    return losses


def step_flow_dali(c: Check) -> tuple[str, dict]:
    losses = _train(
        c, "flow", "--modality", "flow", "--epochs", "2", "--device", c.device, "--precision", _precision(c)
    )
    return f"2-channel Flow through DALI: losses {losses}", {}


def step_fp16(c: Check) -> tuple[str, dict]:
    if c.cpu:
        raise Skip("fp16 training needs a GPU (GradScaler)")
    losses = _train(c, "fp16", "--epochs", "2", "--device", "cuda", "--precision", "fp16")
    return f"fp16 with loss scaling: losses {losses}", {}


def step_compile(c: Check) -> tuple[str, dict]:
    if c.cpu:
        raise Skip("on the CPU the inductor build takes minutes (tested in the suite with aot_eager)")
    options = ["--epochs", "1", "--compile", "--device", "cuda", "--precision", "bf16", "--channels-last"]
    return f"torch.compile: losses {_train(c, 'compile', *options, budget=300)}", {}


def step_dali_video(c: Check) -> tuple[str, dict]:
    run = c.work / "run-video"
    cmd = [*VR, "train", "--data", c.data["manifest"], "--videos", c.data["videos"], "--loader", "dali-video"]
    c.run([*cmd, "--out", run, *TINY, "--epochs", "1", "--device", c.device], 180)
    return f"DALI's video reader ({'VP9 on the CPU' if c.cpu else 'NVDEC, H.264'}): losses {_losses(run)}", {}


def step_ddp(c: Check) -> tuple[str, dict]:
    if c.cpu or c.gpus < 2:
        raise Skip(f"needs 2 GPUs, this machine has {c.gpus}")
    run = c.work / "run-ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "vr", "train"]
    cmd += ["--data", c.data["train"], "--val-data", c.data["val"], "--out", run, *TINY, "--epochs", "2"]
    c.run(
        [*cmd, "--device", "cuda", "--loader", "dali", "--precision", "bf16"],
        240,
        env={"OMP_NUM_THREADS": "2"},
    )
    return f"2 NCCL ranks: losses {_losses(run)}", {}


def step_pytest_gpu(c: Check) -> tuple[str, dict]:
    if c.cpu:
        raise Skip("the gpu-marked tests need a GPU")
    out = c.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-rs", "-p", "no:cacheprovider"], 300)
    last = [ln for ln in out.splitlines() if " passed" in ln or " failed" in ln or " skipped" in ln]
    summary = last[-1] if last else out[-200:]
    if "skipped" in summary:
        raise CheckFailed(f"gpu tests skipped on a GPU: {summary}\n{out[-2000:]}")
    return summary, {}


def step_flow_cli(c: Check) -> tuple[str, dict]:
    engine = "opencv" if c.cpu else "torch"
    c.run(
        [*VR, "preprocess", "flow-tvl1", c.data["frames"], c.work / "flow-cli", "--engine", engine, "-q"], 180
    )
    report = json.loads((c.work / "flow-cli" / "_report.json").read_text())["summary"]
    if report["failed"] or not report["ok"]:
        raise CheckFailed(f"{report}")
    return f"{engine} engine at the default batch: {report['ok']} videos, {report['frames']} pairs", {}


def _goal(c: Check) -> None:
    if c.cpu:
        raise Skip("a GPU speed goal")


def step_goal_loader(c: Check) -> tuple[str, dict]:
    _goal(c)
    out = c.work / "bench-loader.json"
    cmd = [
        *VR,
        "bench",
        "loader",
        c.data["train"],
        "--loader",
        "dali",
        "--model",
        "r3d18",
        "--precision",
        "bf16",
    ]
    c.run(
        [*cmd, "--batch-size", "16", "--clip-len", "16", "--size", "112", "--batches", "20", "--json", out],
        240,
    )
    data = json.loads(out.read_text())
    loader, model = data["loader"]["clips_per_s"], data["model"]["clips_per_s"]
    ratio = loader / model
    line = f"DALI loader {loader:.0f} clips/s = {ratio:.2f}x the R3D-18 bf16 training step ({model:.0f})"
    line += "; goal >= 1.5x"
    if ratio < 1.5:
        raise CheckFailed(line)
    return line, {"ratio": ratio}


def step_dali_decode(c: Check) -> tuple[str, dict]:
    """nvJPEG on a batch's N x T frames in one decoder call against one call per frame position."""
    cmd = [sys.executable, str(Path(__file__).with_name("dali_decode.py")), "--batches", "5", "--rounds", "2"]
    out = c.run([*cmd, *([] if c.cpu else ["--device-id", "0"])], 180)
    ratio = float(re.findall(r"ratio: x([\d.]+)", out)[-1])
    line = f"DALI decode, one decoder for the batch vs one per frame position: x{ratio:.2f}"
    if ratio < 1.0:
        raise CheckFailed(line + " (slower)")
    return line, {"ratio": ratio}


def step_goal_bf16(c: Check) -> tuple[str, dict]:
    _goal(c)
    rates = {}
    for name, extra in (("fp32", []), ("bf16", ["--precision", "bf16", "--channels-last"])):
        out = c.work / f"bench-model-{name}.json"
        c.run([*VR, "bench", "model", "r3d18", "--batch", "16", "--steps", "10", *extra, "--json", out], 180)
        rates[name] = json.loads(out.read_text())["model"]["clips_per_s"]
    ratio = rates["bf16"] / rates["fp32"]
    line = f"R3D-18 training: bf16+channels_last {rates['bf16']:.0f} vs fp32 {rates['fp32']:.0f} clips/s"
    line += f" = {ratio:.2f}x; goal >= 2x"
    if ratio < 2.0:
        raise CheckFailed(line)
    return line, {"ratio": ratio}


def step_goal_tvl1(c: Check) -> tuple[str, dict]:
    _goal(c)
    out = c.work / "bench-flow.json"
    c.run(
        [
            *VR,
            "bench",
            "flow",
            c.data["frames340"],
            "--engine",
            "torch",
            "--batch",
            "32",
            "--sample",
            "2",
            "--json",
            out,
        ],
        180,
    )
    data = json.loads(out.read_text())
    rate = next(v["frames_per_s"] for v in data.values() if isinstance(v, dict) and "frames_per_s" in v)
    line = f"torch TV-L1 at 340x256: {rate:.0f} pairs/s; goal >= 300"
    if rate < 300:
        raise CheckFailed(line)
    return line, {"pairs_per_s": rate}


STEPS: list[tuple[str, Callable[[Check], tuple[str, dict]], float]] = [
    ("doctor", step_doctor, 60),
    ("train", step_train, 240),
    ("resume", step_resume, 180),
    ("eval", step_eval, 300),
    ("infer", step_infer, 120),
    ("flow-dali", step_flow_dali, 180),
    ("fp16", step_fp16, 180),
    ("compile", step_compile, 300),
    ("dali-video", step_dali_video, 180),
    ("ddp", step_ddp, 240),
    ("pytest-gpu", step_pytest_gpu, 300),
    ("flow-cli", step_flow_cli, 180),
    ("dali-decode", step_dali_decode, 120),
    ("goal-loader", step_goal_loader, 240),
    ("goal-bf16", step_goal_bf16, 360),
    ("goal-tvl1", step_goal_tvl1, 180),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("gpu_check"), help="folder of the report")
    parser.add_argument(
        "--cpu", action="store_true", help="the same steps on the CPU (a check of this script)"
    )
    parser.add_argument("--only", default="", help="comma list of steps to run")
    parser.add_argument("--skip", default="", help="comma list of steps to skip")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for the whole run")
    parser.add_argument(
        "--step-budget", action="append", default=[], metavar="STEP=SECONDS", help="override a step's budget"
    )
    args = parser.parse_args(argv)
    names = [name for name, _, _ in STEPS]
    only = [s for s in args.only.split(",") if s]
    skip = {s for s in args.skip.split(",") if s}
    unknown = (set(only) | skip) - set(names)
    if unknown:
        parser.error(f"unknown step(s) {', '.join(sorted(unknown))}; the steps: {', '.join(names)}")
    import torch

    gpus = 0 if args.cpu else torch.cuda.device_count()
    if not gpus and not args.cpu:
        sys.exit("no CUDA GPU: run this on a GPU machine, or with --cpu to check the script itself")
    work = Path(tempfile.mkdtemp(prefix="vr-gpu-check-"))
    check = Check(work, args.out, args.cpu, gpus, args.budget)
    check.overrides = {k: float(v) for k, v in (o.split("=", 1) for o in args.step_budget)}
    try:
        print(
            f"gpu_check: {'CPU' if args.cpu else f'{gpus} GPU(s)'}, budget {args.budget:.0f} s, "
            f"report in {args.out}",
            flush=True,
        )
        started = time.monotonic()
        try:
            check.data = make_data(work, args.cpu)
        except Exception as e:  # no data, no steps: say why in the report
            check.record("data", FAILED, time.monotonic() - started, f"{type(e).__name__}: {e}")
            print(check.table(), end="")
            return 1
        check.record("data", PASSED, time.monotonic() - started, f"synthetic set in {work}")
        for name, fn, budget in STEPS:
            if (only and name not in only) or name in skip:
                continue
            budget = check.overrides.get(name, budget)
            print(f"== {name}", flush=True)
            if check.left() < min(budget, 30):
                check.record(name, SKIPPED, 0.0, f"out of time ({check.left():.0f} s of the budget left)")
                continue
            started = time.monotonic()
            saved, check.budget = check.budget, min(check.budget, time.monotonic() - check.started + budget)
            try:
                detail, metrics = fn(check)
                status = PASSED
            except Skip as e:
                detail, metrics, status = str(e), {}, SKIPPED
            except CheckFailed as e:
                detail, metrics, status = str(e), {}, FAILED
            except Exception as e:  # a bug in a step is its failure, not the end of the run
                detail, metrics, status = f"{type(e).__name__}: {e}", {}, FAILED
            finally:
                check.budget = saved
            check.record(name, status, time.monotonic() - started, detail, metrics)
            print(
                f"   {status} in {time.monotonic() - started:.0f} s: "
                f"{detail.splitlines()[0][:200] if detail else ''}",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(check.table(), end="")
    return 1 if any(s["status"] == FAILED for s in check.steps) else 0


if __name__ == "__main__":
    sys.exit(main())
