"""The DALI backend (CPU here, nvJPEG under the ``gpu`` marker) against the torch backend, and raw video."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch
from helpers.shards import VIDEO_MIX, frame_index, make_shards

from vr.pipelines import build_loader
from vr.pipelines.read import read_clip
from vr.pipelines.video import RawVideoError, VideoClipLoader
from vr.video.ffmpeg_bin import ffmpeg_exe

pytest.importorskip("nvidia.dali")

# one grey level after normalisation: RGB 1 / (255 * 0.2713), Flow 1 / 128; JPEG decoders may differ by it
TOL = {"rgb": 1.5 / (255 * 0.2713), "flow": 1.5 / 128}


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return make_shards(tmp_path_factory.mktemp("shards"), VIDEO_MIX, per_shard=3)


def both(shards, dali_workers=0, decoder=None, **kw):
    """The same loader in both backends (torch in-process, DALI with ``dali_workers`` Python workers)."""
    kw = {"clip_len": 8, "size": 16, "batch_size": 4, "seed": 5, **kw}
    return (
        build_loader(shards, backend="torch", num_workers=0, **kw),
        build_loader(shards, backend="dali", num_workers=dali_workers, dali_decoder=decoder, **kw),
    )


def assert_same(torch_batches, dali_batches, modality):
    assert len(torch_batches) == len(dali_batches)
    for a, b in zip(torch_batches, dali_batches, strict=True):
        assert a["video_id"] == b["video_id"]
        assert torch.equal(a["label"], b["label"]) and torch.equal(a["index"], b["index"])
        assert a["clip"].shape == b["clip"].shape and b["clip"].dtype == torch.float32
        assert (a["clip"] - b["clip"]).abs().max() <= TOL[modality]


@pytest.mark.parametrize("decoder", ["dali", "workers"])
@pytest.mark.parametrize("modality", ["rgb", "flow"])
def test_dali_matches_torch_in_training(shards, modality, decoder):
    torch_loader, dali_loader = both(
        shards, modality=modality, dali_workers=2, decoder=decoder, train_crop="random"
    )
    assert dali_loader.callback.decoder == decoder
    assert len(torch_loader) == len(dali_loader) == 2
    for _ in range(2):  # two epochs: different order and clips, still the same in both backends
        assert_same(list(torch_loader), list(dali_loader), modality)
    next(iter(torch_loader)), next(iter(dali_loader))  # a pass left early still counts as an epoch
    assert_same(list(torch_loader), list(dali_loader), modality)
    # the epoch held flipped and unflipped clips, so flip (and for Flow the x inversion) was compared
    src, config = dali_loader.source, dali_loader.config
    flips = {read_clip(src, config, 5, 1, i).spec.flip for i in range(len(VIDEO_MIX))}
    assert flips == {True, False}


@pytest.mark.parametrize("modality", ["rgb", "flow"])
def test_one_decoder_call_a_batch_whatever_the_clip_length(shards, modality):
    """The ``dali`` decoder decodes a batch's N x T frames in one operator (Flow: x and y, two), not one
    per frame position; its workers' shares of the frames cut through clips (3 workers, 5-frame clips)
    and the clips still equal the torch loader's."""
    import re

    for clip_len in (2, 5, 16):
        loader = build_loader(
            shards, modality=modality, backend="dali", num_workers=0, dali_decoder="dali", clip_len=clip_len
        )
        graph = loader.pipeline.serialize()
        assert len(re.findall(rb"decoders__\w+", graph)) == (2 if modality == "flow" else 1), clip_len
    torch_loader, dali_loader = both(shards, modality=modality, dali_workers=3, decoder="dali", clip_len=5)
    assert_same(list(torch_loader), list(dali_loader), modality)


@pytest.mark.parametrize("decoder", ["dali", "workers"])
def test_dali_matches_torch_in_multiclip_eval(shards, decoder):
    torch_loader, dali_loader = both(shards, mode="eval", n_clips=2, n_crops=3, batch_size=6, decoder=decoder)
    tb, db = list(torch_loader), list(dali_loader)
    assert_same(tb, db, "rgb")
    mean, std = 0.4345 * 255, 0.2768 * 255
    assert db[1]["video_id"] == ["b/2"] * 6
    red = db[1]["clip"][:, 0].mean(dim=(2, 3)) * std + mean
    starts = [frame_index(v) for v in red[::3, 0].tolist()]
    assert starts == [1, 1 + VIDEO_MIX[1][2] - 8]  # first and last possible 8-frame start


@pytest.mark.parametrize("decoder", ["dali", "workers"])
def test_dali_skips_corrupt_samples_and_keeps_last_partial_batch(tmp_path, decoder):
    folder = make_shards(tmp_path, VIDEO_MIX, per_shard=3, corrupt={"a.1": "truncate", "c": "garbage"})
    loader = build_loader(
        folder,
        mode="eval",
        clip_len=32,
        size=8,
        batch_size=3,
        backend="dali",
        num_workers=0,
        dali_decoder=decoder,
    )
    assert len(loader) == 3
    batches = list(loader)
    assert [len(b["video_id"]) for b in batches] == [1, 3, 1]  # 2 bad in the first, 1 left in the last
    ids = [v for b in batches for v in b["video_id"]]
    assert ids == [v[0] for v in VIDEO_MIX if v[0] not in ("a.1", "c")]
    assert sorted(v for v, _ in loader.skipped) == ["a.1", "c"]


def test_dali_drop_last_and_ddp_ranks(shards):
    dropped = build_loader(
        shards, clip_len=4, size=8, batch_size=4, backend="dali", num_workers=0, drop_last=True
    )
    assert len(dropped) == 1 and [len(b["video_id"]) for b in dropped] == [4]
    kw = dict(clip_len=2, size=8, batch_size=2, num_workers=0, world_size=2)
    seen = [
        {v for b in build_loader(shards, mode="eval", backend="dali", rank=r, **kw) for v in b["video_id"]}
        for r in range(2)
    ]
    assert not seen[0] & seen[1] and seen[0] | seen[1] == {v[0] for v in VIDEO_MIX}
    # training evens ranks out (4 and 3 videos here): DALI and torch run the same 3 clips on rank 0
    train = [build_loader(shards, backend=backend, rank=0, **kw) for backend in ("dali", "torch")]
    assert [len(t) for t in train] == [2, 2]
    assert [v for b in train[0] for v in b["video_id"]] == [v for b in train[1] for v in b["video_id"]]


def _encode(path, *args: str) -> str:
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=25:duration=2"]
    subprocess.run([*cmd, *args, "-pix_fmt", "yuv420p", str(path)], check=True)
    return str(path)


def test_nvdec_file_lists_are_probed_and_refused_by_name_before_dali_opens_them(sample_videos, tmp_path):
    """On a GPU DALI's reader takes one codec a list at a constant frame rate: a Kinetics-style mix of
    H.264 and VP9, or a variable-frame-rate file, is refused naming the files, before any GPU is needed;
    the probe is cached beside the manifest and reused while the files stay the same."""
    from vr.video.streams import probe_all, stream_facts

    vp9 = _encode(tmp_path / "a.webm", "-c:v", "libvpx-vp9")
    # frames 40 ms apart, every odd one 20 ms late: 60 and 20 ms gaps, stored as such (passthrough)
    vfr = _encode(
        tmp_path / "phone.mp4",
        "-vf",
        "settb=1/1000,setpts=N/(25*TB)+0.02*mod(N\\,2)/TB",
        "-fps_mode",
        "passthrough",
        "-enc_time_base:v",
        "filter",
        "-c:v",
        "libx264",
    )
    facts = stream_facts(vfr)
    assert facts.codec == "h264" and not facts.constant and facts.spread == pytest.approx(3.0, rel=0.05)
    assert stream_facts(sample_videos["bikes"]).constant and stream_facts(vp9).constant
    with pytest.raises(RawVideoError, match=r"one codec per file list.*1 vp9 \(a.webm are not h264\)"):
        VideoClipLoader([sample_videos["bikes"], sample_videos["bikes"], vp9], [0, 1, 2], device_id=0)
    with pytest.raises(RawVideoError, match=r"1 video\(s\) have a variable frame rate \(phone.mp4;"):
        VideoClipLoader([sample_videos["bikes"], vfr], [0, 1], device_id=0)
    cache = tmp_path / "m.jsonl.probe.json"
    first = probe_all([vfr, vp9], cache)
    assert cache.is_file() and probe_all([vfr, vp9], cache) == first
    Path(vp9).write_bytes(b"not a video any more")  # changed: probed again
    assert isinstance(probe_all([vfr, vp9], cache)[vp9], str)


def test_raw_video_without_gpu_needs_vp9_or_mjpeg(sample_videos, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RawVideoError, match="decodes VP8/VP9/MJPEG without a GPU, not h264.*bikes.mp4"):
        VideoClipLoader([sample_videos["bikes"]], [0])
    with pytest.raises(RawVideoError, match="needs a CUDA GPU"):
        VideoClipLoader([sample_videos["bikes"]], [0], device_id=0)
    mjpeg = tmp_path / "clip.avi"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x48:rate=10",
            "-t",
            "2",
            "-c:v",
            "mjpeg",
            str(mjpeg),
        ],
        check=True,
    )
    loader = VideoClipLoader([mjpeg, mjpeg], [3, 4], clip_len=4, size=32, batch_size=2)
    batches = list(loader)
    assert sum(len(b["label"]) for b in batches) == 2 * (20 // 4)
    assert batches[0]["clip"].shape == (2, 3, 4, 32, 32)
    assert set(torch.cat([b["label"] for b in batches]).tolist()) == {3, 4}


@pytest.mark.gpu
@pytest.mark.parametrize("decoder", [None, "workers"])  # None: nvJPEG (mixed); workers: CPU decode, GPU CMN
def test_mixed_decoder_matches_torch_on_gpu(shards, decoder):
    kw = dict(clip_len=8, size=16, batch_size=4)
    torch_loader = build_loader(shards, backend="torch", num_workers=0, **kw)
    dali_loader = build_loader(shards, backend="dali", device_id=0, dali_decoder=decoder, **kw)
    assert dali_loader.callback.decoder == (decoder or "dali")
    for a, b in zip(torch_loader, dali_loader, strict=True):
        assert b["clip"].is_cuda and a["video_id"] == b["video_id"]
        assert (a["clip"] - b["clip"].cpu()).abs().max() <= 3 * TOL["rgb"]  # nvJPEG vs libjpeg-turbo


@pytest.mark.gpu
def test_video_reader_on_gpu(sample_videos):
    loader = VideoClipLoader([sample_videos["bikes"]], [7], clip_len=8, size=64, batch_size=2, device_id=0)
    batch = next(iter(loader))
    assert batch["clip"].is_cuda and batch["clip"].shape[1:] == (3, 8, 64, 64)
    assert batch["label"].tolist() == [7] * len(batch["label"])


def test_vr_train_reads_raw_videos_with_loader_dali_video(tmp_path):
    """`vr train --loader dali-video`: DALI's reader on a manifest's VP9 files, no frame extraction; an
    H.264 file is a clear error on the CPU."""
    from helpers.cli import invoke

    from vr.datasets.synth import SynthConfig, generate, plan_videos
    from vr.manifests.schema import Manifest, VideoRecord
    from vr.models import load_checkpoint

    config = SynthConfig(
        classes=3, videos_per_class=4, clips_per_group=2, frames=12, width=48, height=32, codec="vp9"
    )
    generate(tmp_path / "synth", config)
    videos = tmp_path / "synth" / "videos"
    records = [
        VideoRecord(s.video_id, s.class_name, s.class_index, "train", f"{s.class_name}/{s.video_id}", 12)
        for s in plan_videos(config)
    ]
    manifest = tmp_path / "m.jsonl"
    Manifest(config.class_names, records).write(manifest)
    args = ["train", "--data", str(manifest), "--videos", str(videos), "--loader", "dali-video", "--out"]
    args += [
        str(tmp_path / "run"),
        "--model",
        "r3d10",
        "--model-arg",
        "widen_factor=0.125",
        "--clip-len",
        "4",
    ]
    args += ["--size", "24", "--batch-size", "2", "--epochs", "1", "--workers", "0", "-q"]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    ckpt = load_checkpoint(tmp_path / "run" / "last.pth")
    assert ckpt["labels"] == config.class_names and ckpt["data_info"] == {"short_side": 24}
    h264 = SynthConfig(
        classes=3, videos_per_class=4, clips_per_group=2, frames=12, width=48, height=32, codec="h264"
    )
    generate(tmp_path / "h264", h264)
    args[args.index("--videos") + 1] = str(tmp_path / "h264" / "videos")
    args[args.index("--out") + 1] = str(tmp_path / "run2")
    result = invoke(args)
    assert (
        result.exit_code == 1
        and "without a GPU, not h264" in result.output
        and "Traceback" not in result.output
    )


@pytest.mark.parametrize("modality", ["rgb", "flow"])
def test_vr_train_slowfast_on_both_backends(shards, tmp_path, modality):
    """SlowFast takes the loaders' clip as its fast pathway and strides it for the slow one, so the two
    backends feed it the same pathways (the clips match); `vr train --model slowfast_r50_8x8` runs on
    both, for RGB and Flow, and each checkpoint evaluates to the same logits on a batch of either."""
    from vr.models import model_from_checkpoint
    from vr.train.config import TrainConfig
    from vr.train.trainer import train

    torch_loader, dali_loader = both(shards, modality=modality, train_crop="center")
    a, b = next(iter(torch_loader)), next(iter(dali_loader))
    assert_same([a], [b], modality)
    args = {"widen_factor": 1 / 8, "layers": [1, 1, 1, 1]}
    for backend in ("torch", "dali"):
        out = tmp_path / backend
        config = TrainConfig.from_options(
            data=str(shards), out=str(out), model="slowfast_r50_8x8", model_args=args, modality=modality,
            loader=backend, clip_len=8, size=16, batch_size=4, epochs=1, workers=0, seed=3,
        )  # fmt: skip
        history = train(config, progress=False)
        assert len(history) == 1 and torch.isfinite(torch.tensor(history[0]["loss"]))
        model = model_from_checkpoint(out / "last.pth").eval()
        assert model.model_args["in_channels"] == (3 if modality == "rgb" else 2)
        with torch.no_grad():
            torch.testing.assert_close(model(a["clip"]), model(b["clip"]), rtol=0, atol=0.05)


def test_the_shuffling_video_reader_buffers_within_a_memory_budget():
    """DALI's default initial_fill (1024 whole sequences decoded before the first batch) is bounded by
    a budget of decoded bytes: 1 GiB holds 291 sequences of 16x240x320 RGB, 10 of 16x1080p, at most 1024."""
    from vr.pipelines.video import MAX_INITIAL_FILL, SHUFFLE_BUDGET, shuffle_fill

    assert shuffle_fill(320, 240, 16) == SHUFFLE_BUDGET // (16 * 320 * 240 * 3) == 291
    assert shuffle_fill(1920, 1080, 16) == 10
    assert shuffle_fill(1920, 1080, 256) == 1  # never 0
    assert shuffle_fill(32, 24, 4) == MAX_INITIAL_FILL
