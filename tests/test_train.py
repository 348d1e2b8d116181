"""`vr train`: a real (tiny) training run on motion clips, logs, checkpoints, exact resume, signals,
bad input, and 2-process DDP with gloo."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers.cli import invoke
from helpers.motion import make_motion_frames

from vr.datasets.synth import SynthConfig
from vr.manifests.schema import read_manifest
from vr.models import load_checkpoint
from vr.train.config import TrainConfig
from vr.train.logs import read_log
from vr.train.trainer import TrainError, train

GOLDEN = Path(__file__).parent / "data" / "golden"
TINY = SynthConfig(classes=3, videos_per_class=6, clips_per_group=2, frames=12, width=48, height=40)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("motion")
    return make_motion_frames(root, TINY), root / "frames"


def config(data, out: Path, **overrides) -> TrainConfig:
    manifest, frames = data
    base = dict(
        data=str(manifest),
        frames_root=str(frames),
        out=str(out),
        model="r3d10",
        model_args={"widen_factor": 0.125},
        clip_len=4,
        size=24,
        batch_size=4,
        epochs=2,
        lr=0.05,
        val_subset="val",
        workers=0,
        schedule="multistep",
        milestones=[2],
        seed=1,
    )
    return TrainConfig.from_options(**{**base, **overrides})


def test_train_writes_logs_and_checkpoints(data, tmp_path):
    out = tmp_path / "run"
    history = train(config(data, out), progress=False)
    assert [row["epoch"] for row in history] == [1, 2]
    rows = read_log(out / "train.log")
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[0]["lr"] == pytest.approx(0.05) and rows[1]["lr"] == pytest.approx(0.05)
    assert [r["epoch"] for r in read_log(out / "val.log")] == [1, 2]
    assert (out / "train.log").read_text().splitlines()[0].split("\t") == [
        "epoch",
        "loss",
        "acc",
        "lr",
        "skipped",
    ]
    assert [r["skipped"] for r in rows] == [0, 0]
    assert json.loads((out / "config.json").read_text())["model"] == "r3d10"
    ckpt = load_checkpoint(out / "last.pth")
    assert ckpt["epoch"] == 2 and ckpt["labels"] == TINY.class_names and ckpt["modality"] == "rgb"
    for key in ("state_dict", "optimizer", "scheduler", "scaler", "rng_state", "arch", "model_args"):
        assert key in ckpt
    assert (out / "best.pth").exists()
    from vr.models import create_model

    model = create_model(ckpt["arch"], **ckpt["model_args"])
    model.load_state_dict(ckpt["state_dict"])  # strict: the checkpoint rebuilds its model


@pytest.mark.parametrize("hflip", [False, True])
def test_hflip_option_reaches_the_training_loader(data, tmp_path, hflip):
    """Mirroring changes left/right and clockwise classes, so --no-hflip must really switch it off."""
    from vr.pipelines.read import read_clip
    from vr.train.distributed import DistInfo
    from vr.train.trainer import build_loaders

    train_loader, _ = build_loaders(config(data, tmp_path, hflip=hflip), DistInfo(), torch.device("cpu"))
    flips = [
        read_clip(train_loader.source, train_loader.config, 1, epoch, item).spec.flip
        for epoch in range(4)
        for item in range(train_loader.n_items)
    ]
    assert any(flips) is hflip


def test_resume_continues_exactly(data, tmp_path):
    straight = train(config(data, tmp_path / "a", epochs=3), progress=False)
    train(config(data, tmp_path / "b", epochs=2), progress=False)
    resumed = train(config(data, tmp_path / "b", epochs=3), resume=True, progress=False)
    assert [r["epoch"] for r in resumed] == [3]
    assert resumed[0]["loss"] == straight[2]["loss"]
    assert resumed[0]["val_loss"] == straight[2]["val_loss"]
    assert [r["loss"] for r in read_log(tmp_path / "b" / "train.log")] == [r["loss"] for r in straight]


def _spoil_headers(folder: Path, video_id: str) -> dict[str, bytes]:
    """Clobber the tar headers of every frame of ``video_id`` (a shard rewritten after indexing);
    returns the original shard bytes to put back."""
    for idx in folder.glob("*.idx.json"):
        members = json.loads(idx.read_text())
        if video_id in members["samples"]["id"]:
            sample = members["samples"]["id"].index(video_id)
            first = sum(
                1 + r + 2 * f
                for r, f in zip(
                    members["samples"]["n_rgb"][:sample], members["samples"]["n_flow"][:sample], strict=True
                )
            )
            shard = folder / members["shard"]
            original = shard.read_bytes()
            raw = bytearray(original)
            for slot in range(first + 1, first + 1 + members["samples"]["n_rgb"][sample]):
                offset = members["offsets"][slot]
                raw[offset - 512 + 148 : offset - 512 + 156] = b"0000000\0"  # a wrong checksum
            shard.write_bytes(bytes(raw))
            return {shard.name: original}
    raise AssertionError(f"{video_id} is in no shard")


def test_resume_mid_epoch_after_a_storage_failure_continues_exactly(data, tmp_path):
    from vr.shards import ShardOptions, build_shards
    from vr.train.distributed import DistInfo
    from vr.train.trainer import build_loaders

    manifest, frames = data
    shards = tmp_path / "shards"
    build_shards(manifest, shards, ShardOptions(subset="train", max_count=5), frames=frames, progress=False)

    def on_shards(out: Path, **overrides) -> TrainConfig:
        return config(data, out).with_options(
            data=str(shards), frames_root=None, val_subset=None, **overrides
        )

    straight = train(on_shards(tmp_path / "a"), progress=False)
    run = tmp_path / "b"
    train(on_shards(run, epochs=1), progress=False)
    # the video of the third batch of epoch 2 becomes unreadable: training stops there, resumably
    loader, _ = build_loaders(on_shards(run), DistInfo(), torch.device("cpu"), start_epoch=1)
    third = [b["video_id"] for _, b in zip(range(3), loader, strict=False)][2][0]
    original = _spoil_headers(shards, third)
    with pytest.raises(
        TrainError, match=r"is not member .* stopped in epoch 2 after 2 batches; saved .*last\.pth"
    ):
        train(on_shards(run, checkpoint_steps=1), resume=True, progress=False)
    ckpt = load_checkpoint(run / "last.pth")
    assert ckpt["epoch"] == 1 and ckpt["partial"]["steps"] == 2
    for name, raw in original.items():  # the storage is mended
        (shards / name).write_bytes(raw)
    resumed = train(on_shards(run), resume=True, progress=False)
    assert [r["epoch"] for r in resumed] == [2]
    assert resumed[0]["loss"] == straight[1]["loss"] and resumed[0]["acc"] == straight[1]["acc"]
    a, b = (load_checkpoint(p / "last.pth")["state_dict"] for p in (tmp_path / "a", run))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_fine_tuning_freezes_modules_before_ft_begin_module(data, tmp_path):
    first = tmp_path / "first"
    train(config(data, first, epochs=1), progress=False)
    ckpt = load_checkpoint(first / "last.pth")
    out = tmp_path / "ft"
    train(
        config(
            data, out, epochs=1, pretrain=str(first / "last.pth"), ft_begin_module="fc", pretrain_source="vr"
        ),
        progress=False,
    )
    tuned = load_checkpoint(out / "last.pth")["state_dict"]
    assert torch.equal(tuned["conv1.weight"], ckpt["state_dict"]["conv1.weight"])
    assert not torch.equal(tuned["fc.weight"], ckpt["state_dict"]["fc.weight"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"batch_size": 64}, "larger than the training set"),
        ({"device": "cuda"}, "no CUDA GPU"),
        ({"train_subset": "nothing"}, "no videos"),
        ({"model": "r3d9"}, "close names"),
        ({"ft_begin_module": "layer9"}, "not a top-level module"),
        ({"model": "s3d", "model_args": {"widen_factor": 0.125}}, "4x24x24 clip is too small"),
    ],
)
def test_bad_input_fails_before_training(data, tmp_path, overrides, message):
    if overrides.get("device") == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises((TrainError, ValueError), match=message):
        train(config(data, tmp_path / "run", **overrides), progress=False)
    assert not (tmp_path / "run" / "last.pth").exists()


def test_resume_refuses_a_run_of_another_modality_or_label_set(data, tmp_path):
    out = tmp_path / "run"
    train(config(data, out, epochs=1), progress=False)
    with pytest.raises(TrainError, match="is a rgb run, not flow"):
        train(config(data, out, epochs=2, modality="flow"), resume=True, progress=False)
    ckpt = load_checkpoint(out / "last.pth")
    torch.save({**ckpt, "labels": ckpt["labels"][::-1]}, out / "last.pth")  # a run on other data
    with pytest.raises(TrainError, match="labels differ"):
        train(config(data, out, epochs=2), resume=True, progress=False)
    assert [r["epoch"] for r in read_log(out / "train.log")] == [1]


def test_rgb_weights_for_a_flow_model_need_rgb_to_flow(data, tmp_path):
    from vr.train.trainer import build_model

    rgb = tmp_path / "rgb"
    train(config(data, rgb, epochs=1), progress=False)
    flow = config(data, tmp_path / "flow", modality="flow", pretrain=str(rgb / "last.pth"))
    with pytest.raises(TrainError, match="a RGB checkpoint for a Flow model"):
        build_model(flow, 3)
    model = build_model(
        config(
            data,
            tmp_path / "flow",
            modality="flow",
            pretrain=str(rgb / "last.pth"),
            pretrain_rgb_to_flow=True,
        ),
        3,
    )
    rgb_conv = load_checkpoint(rgb / "last.pth")["state_dict"]["conv1.weight"]
    torch.testing.assert_close(model.conv1.weight, rgb_conv.mean(1, keepdim=True).expand(-1, 2, -1, -1, -1))
    with pytest.raises(ValueError, match="--rgb-to-flow needs"):
        config(data, tmp_path / "x", pretrain_rgb_to_flow=True)


def test_pretrain_builds_the_network_its_checkpoint_needs(data, tmp_path):
    """--pretrain with a public checkpoint whose network needs options beyond the model's defaults
    (MMAction2's CSN: batch-norm epsilon 1e-3) or a vr checkpoint of another width: the model is built
    with them (the original's output is reproduced), and --model-arg still wins."""
    from vr.train.trainer import build_model

    fixture = torch.load(GOLDEN / "mmaction2_ircsn50.pt", weights_only=True)
    public = tmp_path / "public.pth"
    torch.save(fixture["checkpoint"], public)
    args = {k: fixture["model_args"][k] for k in ("widen_factor", "layers")}
    run = config(data, tmp_path / "csn", model="ircsn_50", model_args=args, pretrain=str(public))
    model = build_model(run, 5).eval()
    assert model.model_args["bn_eps"] == 1e-3
    x = fixture["frames"].float() / 127.5 - 1.0
    with torch.no_grad():
        out = model(x.repeat_interleave(2, -1).repeat_interleave(2, -2))
    torch.testing.assert_close(out, fixture["expected"], rtol=1e-5, atol=1e-5)
    own = {**args, "bn_eps": 1e-5}
    overridden = build_model(config(data, run.out, model="ircsn_50", model_args=own, pretrain=str(public)), 5)
    assert overridden.model_args["bn_eps"] == 1e-5

    first = tmp_path / "first"
    train(config(data, first, epochs=1, model_args={"widen_factor": 0.25}), progress=False)
    tuned = build_model(config(data, tmp_path / "ft", model_args={}, pretrain=str(first / "last.pth")), 3)
    assert tuned.model_args["widen_factor"] == 0.25
    saved = load_checkpoint(first / "last.pth")["state_dict"]
    assert torch.equal(tuned.state_dict()["conv1.weight"], saved["conv1.weight"])
    hostile = load_checkpoint(first / "last.pth")
    hostile["model_args"]["widen_factor"] = 1000.0  # terabytes: refused before anything is allocated
    torch.save(hostile, tmp_path / "hostile.pth")
    with pytest.raises(TrainError, match="does not fit"):
        build_model(config(data, tmp_path / "ft", model_args={}, pretrain=str(tmp_path / "hostile.pth")), 3)
    with pytest.raises(TrainError, match="cannot build model 'r3d9': unknown model"):
        build_model(config(data, tmp_path / "ft", model="r3d9", pretrain=str(first / "last.pth")), 3)


def test_cli_errors_are_one_line(data, tmp_path):
    manifest, frames = data
    args = [
        "train",
        "--data",
        str(manifest),
        "--frames",
        str(frames),
        "--out",
        str(tmp_path / "r"),
        "--model",
        "r3d10",
        "--model-arg",
        "widen_factor=0.125",
        "--clip-len",
        "4",
        "--size",
        "24",
        "--batch-size",
        "100",
        "--workers",
        "0",
        "--quiet",
    ]
    result = invoke(args)
    assert result.exit_code == 1
    assert "larger than the training set" in result.output and "Traceback" not in result.output
    bad = invoke([*args, "--model-arg", "oops"])
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.output


def _train_cli(data, out: Path, *extra: str) -> list[str]:
    manifest, frames = data
    return [
        sys.executable,
        "-m",
        "vr",
        "train",
        "--data",
        str(manifest),
        "--frames",
        str(frames),
        "--out",
        str(out),
        "--model",
        "r3d10",
        "--model-arg",
        "widen_factor=0.125",
        "--clip-len",
        "4",
        "--size",
        "24",
        "--batch-size",
        "2",
        "--workers",
        "0",
        "--lr",
        "0.05",
        *extra,
    ]


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(data, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(_train_cli(data, out, "--epochs", "1000"), stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "last.pth").exists() and time.time() < deadline:
        time.sleep(0.2)
    assert (out / "last.pth").exists(), "no epoch finished"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err  # stopped, not finished: scripts must see it
    assert "stopped by SIGTERM during epoch" in err and "last.pth (`--resume` continues)" in err
    assert "Traceback" not in err
    epoch = load_checkpoint(out / "last.pth")["epoch"]
    assert 1 <= epoch < 1000


def _torchrun(data, out: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(29500 + (os.getpid() + hash(str(out))) % 1000),
        *_train_cli(data, out, "--val-subset", "val", *extra)[1:],
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


def test_ddp_two_gloo_processes_and_an_exact_resume_with_each_ranks_rng(data, tmp_path):
    """Two ranks, dropout on: each rank draws its own masks (seeded apart), the checkpoint holds both
    ranks' RNG states, and a run resumed after epoch 1 continues as the straight run did."""
    dropout = ("--model-arg", "dropout=0.5", "-q")
    proc = _torchrun(data, tmp_path / "ddp", "--epochs", "2", *dropout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_log(tmp_path / "ddp" / "train.log")
    assert [r["epoch"] for r in rows] == [1, 2]  # rank 0 alone wrote the log: no duplicated rows
    ckpt = load_checkpoint(tmp_path / "ddp" / "last.pth")
    assert ckpt["epoch"] == 2
    assert not any(k.startswith("module.") for k in ckpt["state_dict"])
    states = ckpt["rng_states"]
    assert len(states) == 2 and not torch.equal(states[0]["torch"], states[1]["torch"])
    assert torch.equal(states[0]["torch"], ckpt["rng_state"]["torch"])
    first = _torchrun(data, tmp_path / "resumed", "--epochs", "1", *dropout)
    assert first.returncode == 0, first.stderr[-3000:]
    again = _torchrun(data, tmp_path / "resumed", "--epochs", "2", "--resume", *dropout)
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = read_log(tmp_path / "resumed" / "train.log")
    assert [r["loss"] for r in resumed] == [r["loss"] for r in rows]


def test_a_process_group_that_cannot_form_is_one_line_naming_the_interface(data, tmp_path):
    proc = _torchrun(data, tmp_path / "x", "--epochs", "1", "-q", env={"GLOO_SOCKET_IFNAME": "nosuchif0"})
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert lines and "gloo could not form the process group" in lines[0], proc.stderr[-2000:]
    assert "GLOO_SOCKET_IFNAME=nosuchif0 is set" in lines[0]
    assert sum("Traceback" in line for line in proc.stderr.splitlines()) <= 1  # torchrun's own report


def test_one_set_of_defaults_for_the_cli_the_config_and_the_loaders():
    """`vr train`'s options default to what TrainConfig holds, whose clip and loader settings are
    SamplingConfig's and LoaderOptions' own defaults (nested, not copied)."""
    from vr.commands.train import train as train_command
    from vr.pipelines.loader import LoaderOptions
    from vr.pipelines.sampling import SamplingConfig
    from vr.train.config import FLAT

    config = TrainConfig.from_options(data="d", out="o")
    assert config.sampling == SamplingConfig() and config.loader == LoaderOptions()
    # click's public way to the defaults it would use (a flag's ``param.default`` is click's own
    # sentinel since click 8.5, not its value)
    cli_defaults = train_command.make_context("train", [], resilient_parsing=True).params
    cli_defaults["compile"] = cli_defaults.pop("compile_")
    compared = 0
    for name, value in cli_defaults.items():
        if name in ("data", "out"):  # required
            continue
        if name in FLAT:
            part, field = FLAT[name]
            expected = getattr(getattr(config, part), field)
        elif hasattr(config, name):
            expected = getattr(config, name)
        else:
            continue
        if name == "storage_options":
            expected = expected or {}
        assert value == expected, name
        compared += 1
    assert compared >= 40


def test_config_json_reproduces_a_run(data, tmp_path):
    first = tmp_path / "first"
    base = _train_cli(data, first, "--epochs", "1", "--label-smoothing", "0.1")[3:]
    result = invoke(base)
    assert result.exit_code == 0, result.output
    again = tmp_path / "again"
    result = invoke(["train", "--config", str(first / "config.json"), "--out", str(again), "-q"])
    assert result.exit_code == 0, result.output
    a, b = (json.loads((run / "config.json").read_text()) for run in (first, again))
    assert {k: v for k, v in a.items() if k != "out"} == {k: v for k, v in b.items() if k != "out"}
    assert b["label_smoothing"] == 0.1 and b["out"] == str(again)
    assert (
        read_log(first / "train.log")[0]["loss"] == read_log(again / "train.log")[0]["loss"]
    )  # the same run
    args = [
        "train",
        "--config",
        str(first / "config.json"),
        "--out",
        str(tmp_path / "m"),
        "--epochs",
        "2",
        "-q",
    ]
    more = invoke(args)
    assert more.exit_code == 0 and json.loads((tmp_path / "m" / "config.json").read_text())["epochs"] == 2
    (tmp_path / "bad.json").write_text('{"no_such_field": 1}')
    bad = invoke(["train", "--config", str(tmp_path / "bad.json")])
    assert bad.exit_code == 1 and "unknown field(s) no_such_field" in bad.output
    missing = invoke(["train", "--out", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "--data is required" in missing.output


def test_ddp_ranks_agree_to_leave_out_batches_their_bad_samples_emptied(data, tmp_path):
    """A rank whose batch lost its clips to bad samples leaves it out, and so does every other rank (a
    rank that skipped a step alone would leave the others waiting for its gradients forever)."""
    manifest, frames = data
    bad_frames = tmp_path / "frames"
    shutil.copytree(frames, bad_frames)
    records = [v for v in read_manifest(manifest).videos if v.subset == "train"]
    for video in records[::2]:  # every other training video unreadable
        for jpeg in (bad_frames / video.path).glob("*.jpg"):
            jpeg.write_bytes(b"not a jpeg")
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(29600 + os.getpid() % 1000),
        *_train_cli((manifest, bad_frames), out, "--epochs", "3")[1:],
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_log(out / "train.log")
    assert [r["epoch"] for r in rows] == [1, 2, 3] and all(r["skipped"] >= len(records) // 2 for r in rows)
