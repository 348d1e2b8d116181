"""`vr demo` runs every stage for real (tiny sizes): videos, frames, flow, manifest, shards, RGB and Flow
training, video-level evaluation and fusion."""

from __future__ import annotations

import json

from vr.datasets.synth import SynthConfig
from vr.demo import DemoConfig, format_summary, run_demo
from vr.models import load_checkpoint


def test_demo_runs_every_stage_end_to_end(tmp_path):
    config = DemoConfig(
        out=str(tmp_path / "demo"),
        synth=SynthConfig(classes=2, videos_per_class=4, clips_per_group=1, frames=6, width=48, height=40),
        model_args={"widen_factor": 0.125},
        clip_len=4,
        size=32,
        batch_size=2,
        epochs=1,
        n_clips=2,
        jobs=2,
        device="cpu",
    )
    summary = run_demo(config, quiet=True)
    assert set(summary["accuracy"]) == {"rgb", "flow", "fused"}
    assert all(0.0 <= acc <= 1.0 for acc in summary["accuracy"].values())
    names = [name for name, _ in summary["stages"]]
    assert names[:5] == ["synthetic videos", "extract frames", "TV-L1 flow", "manifest", "shards"]
    assert {"train rgb", "train flow", "evaluate rgb", "evaluate flow", "fuse"} <= set(names)
    out = tmp_path / "demo"
    assert (out / "runs" / "rgb" / "last.pth").exists() and (out / "runs" / "flow" / "last.pth").exists()
    preds = json.loads((out / "runs" / "flow" / "test_video.json").read_text())
    assert len(preds["results"]) == 2 * 1  # one test group of one clip per class
    assert len(list((out / "flow").rglob("flow_x_*.jpg"))) == 2 * 4 * 5
    rgb_info = load_checkpoint(out / "runs" / "rgb" / "last.pth")["data_info"]
    flow_info = load_checkpoint(out / "runs" / "flow" / "last.pth")["data_info"]
    assert rgb_info["short_side"] == flow_info["short_side"] == 40  # what `vr infer` will decode at
    assert rgb_info["frames"]["size"] == 40
    assert flow_info["flow"]["bound"] == 20 and flow_info["flow"]["params"]["epsilon"] == config.flow_epsilon
    text = format_summary(summary)
    assert "fused" in text and "total" in text

    again = run_demo(config, quiet=True)  # a rerun resumes every stage instead of redoing it
    assert again["accuracy"] == summary["accuracy"]


def test_the_plan_cuts_flow_first_and_never_below_the_accuracy_floor():
    from vr.demo import choose_epochs

    config = DemoConfig()  # 40 epochs a stream at most; RGB needs 40, Flow 24
    assert choose_epochs(config, left=100.0, per_epoch=1.0) == ({"rgb": 40, "flow": 40}, True)
    assert choose_epochs(config, left=70.0, per_epoch=1.0) == ({"rgb": 40, "flow": 30}, True)
    assert choose_epochs(config, left=50.0, per_epoch=1.0) == ({"rgb": 40, "flow": 24}, False)
    config.min_epochs = {"rgb": 10, "flow": 10}
    assert choose_epochs(config, left=30.0, per_epoch=1.0) == ({"rgb": 20, "flow": 10}, True)


def test_a_resumed_demo_keeps_its_plan(tmp_path):
    from vr.demo import plan_training

    (tmp_path / "demo_plan.json").write_text(
        json.dumps({"epochs": {"rgb": 40, "flow": 26}, "seconds": {"rgb": 80.0, "flow": 52.0}})
    )
    plan = plan_training(DemoConfig(out=str(tmp_path)), spent=30.0, on_gpu=False)
    assert plan.epochs == {"rgb": 40, "flow": 26} and "first run" in plan.line
    fixed = plan_training(DemoConfig(out=str(tmp_path), epochs=3, budget=None), spent=0.0, on_gpu=False)
    assert fixed.epochs == {"rgb": 3, "flow": 3}
