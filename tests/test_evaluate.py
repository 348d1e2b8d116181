"""`vr eval` on tiny real JPEG frame/flow folders with a tiny 3D ResNet; the seed's eval_accuracy logic."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers.checkpoints import make_checkpoint
from helpers.cli import invoke

from vr import layout
from vr.evaluation.evaluate import EvalError, evaluate
from vr.evaluation.metrics import confusion_image
from vr.evaluation.results import read_results
from vr.manifests.resnets3d import write_seed_json
from vr.manifests.schema import Manifest, VideoRecord
from vr.models import CheckpointError
from vr.models.checkpoint import load_model
from vr.pipelines.loader import build_loader

LABELS = [f"class{c}" for c in range(7)]
CLIP = (4, 32, 32)
N_VIDEOS = 14


def write_folder(root: Path, rel: str, n_frames: int, rng: np.random.Generator, shade: int) -> None:
    """RGB frames and flow pairs of one video, committed with a marker like the preprocessors do."""
    final = root / rel
    tmp = layout.temp_sibling(final)
    tmp.mkdir(parents=True)
    for i in range(1, n_frames + 1):
        img = rng.integers(0, 256, (36, 44, 3), np.uint8)
        img[..., 1] = shade
        cv2.imwrite(str(tmp / layout.image_name(i)), img)
        if i < n_frames:
            for name in layout.flow_names(i):
                cv2.imwrite(str(tmp / name), rng.integers(100, 156, (36, 44), np.uint8))
    layout.commit_folder(tmp, final, {"kind": "frames", "n_frames": n_frames})


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    """14 labelled validation videos (2 per class, 6..12 frames) and one unlabelled test video."""
    root = tmp_path_factory.mktemp("eval_data")
    frames = root / "frames"
    rng = np.random.default_rng(0)
    videos = []
    for v in range(N_VIDEOS):
        label = v % len(LABELS)
        vid, n = f"v{v:02d}", 6 + v % 7
        write_folder(frames, f"{LABELS[label]}/{vid}", n, rng, 30 * label)
        videos.append(VideoRecord(vid, LABELS[label], label, "val", f"{LABELS[label]}/{vid}", n))
    write_folder(frames, "test/t00", 8, rng, 0)
    videos.append(VideoRecord("t00", None, None, "test", "test/t00", 8))
    manifest = root / "manifest.jsonl"
    Manifest(LABELS, videos, {"dataset": "folder"}).write(manifest)
    return {"root": root, "frames": frames, "manifest": manifest}


@pytest.fixture(scope="module")
def rgb_ckpt(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "rgb.pth", "rgb")


def run_eval(ckpt: Path, data: dict, **kwargs):
    kwargs.setdefault("subset", "val")
    kwargs.setdefault("frames_root", data["frames"])
    return evaluate(ckpt, data["manifest"], workers=0, progress=False, device="cpu", **kwargs)


# ---- clip vs video ------------------------------------------------------------------------------------


def test_video_mode_averages_every_view(rgb_ckpt, data, tmp_path):
    report = run_eval(rgb_ckpt, data, mode="video", n_clips=3, n_crops=3, output=tmp_path / "p.json")
    assert report.n_videos == N_VIDEOS and report.n_views == N_VIDEOS * 9
    # independent check: the loader's 9 views per video through the model, averaged here
    model, _ = load_model(rgb_ckpt)
    loader = build_loader(
        data["manifest"], "rgb", mode="eval", clip_len=CLIP[0], frame_stride=1, size=CLIP[1], batch_size=9,
        backend="torch", num_workers=0, n_clips=3, n_crops=3, frames_root=data["frames"], subset="val",
    )  # fmt: skip
    with torch.no_grad():
        expected = {b["video_id"][0]: model(b["clip"]).softmax(1).mean(0).numpy() for b in loader}
    results = read_results(tmp_path / "p.json")
    assert results.ids == list(expected)
    np.testing.assert_allclose(results.scores, np.stack(list(expected.values())), atol=1e-6)
    assert report.files["confusion"].endswith("p.confusion.png")
    png = cv2.imread(report.files["confusion"])
    assert png is not None and png.shape[0] > 7 and png.shape[1] > 7
    metrics = json.loads(Path(report.files["metrics"]).read_text())
    assert metrics["videos"] == N_VIDEOS and metrics["clips"] == N_VIDEOS * 9
    assert metrics["top1"] == report.top1 and set(metrics["per_class"]) == set(LABELS)


def test_clip_mode_reads_one_centre_clip(rgb_ckpt, data):
    clip = run_eval(rgb_ckpt, data, mode="clip", n_clips=5, n_crops=3)
    video = run_eval(rgb_ckpt, data, mode="video", n_clips=2, n_crops=1)
    assert clip.n_views == N_VIDEOS and video.n_views == 2 * N_VIDEOS
    assert clip.top1 == clip.view_top1
    assert not np.allclose(clip.results.scores, video.results.scores)
    # per-class accuracy and the confusion matrix agree with the top-1 accuracy
    assert clip.confusion.sum() == N_VIDEOS
    assert np.trace(clip.confusion) / N_VIDEOS == pytest.approx(clip.top1)
    assert np.mean([a for a in clip.per_class if a is not None]) == pytest.approx(clip.top1)


def test_unlabelled_videos_are_predicted_not_scored(rgb_ckpt, data):
    report = run_eval(rgb_ckpt, data, mode="clip", subset="test")
    assert report.results.ids == ["t00"] and report.top1 is None
    assert report.results.ground_truth == {}


# ---- the predictions JSON and the seed's eval_accuracy.py ---------------------------------------------


def test_predictions_json_is_the_seeds_results_format(rgb_ckpt, data, tmp_path):
    report = run_eval(rgb_ckpt, data, mode="video", n_clips=2, n_crops=1, output=tmp_path / "all.json")
    saved = json.loads((tmp_path / "all.json").read_text())
    assert set(saved) == {"results", "labels", "ground_truth", "modality"}
    assert saved["labels"] == LABELS and saved["modality"] == "rgb"
    assert saved["ground_truth"] == {f"v{v:02d}": LABELS[v % 7] for v in range(N_VIDEOS)}
    for entries in saved["results"].values():
        assert sorted(e["label"] for e in entries) == sorted(LABELS)
        scores = [e["score"] for e in entries]
        assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1, abs=1e-5)
    run_eval(rgb_ckpt, data, mode="video", n_clips=2, n_crops=1, output=tmp_path / "top3.json", topk=3)
    top3 = json.loads((tmp_path / "top3.json").read_text())["results"]
    assert all(top3[v] == saved["results"][v][:3] for v in saved["results"])
    assert report.results.ids == list(saved["results"])


def seed_load_ground_truth(path: Path, subset: str) -> tuple[list[tuple[str, int]], dict[str, int]]:
    """The seed's eval_accuracy.load_ground_truth: (video id, class index) of the subset's videos."""
    data = json.loads(path.read_text())
    class_map = {label: i for i, label in enumerate(data["labels"])}
    truth = []
    for vid, v in data["database"].items():
        if v["subset"] != subset:
            continue
        truth.append((vid, class_map[v["annotations"]["label"]]))
    return truth, class_map


def seed_evaluate(gt_path: Path, result_path: Path, subset: str, top_k: int, ignore: bool) -> float:
    """The seed's eval_accuracy.evaluate: top-k accuracy of a results JSON against an annotation JSON."""
    truth, class_map = seed_load_ground_truth(gt_path, subset)
    data = json.loads(result_path.read_text())
    result = {}
    for vid, entries in data["results"].items():
        pairs = [(class_map[e["label"]], e["score"]) for e in entries]
        pairs.sort(key=lambda x: x[1], reverse=True)
        result[vid] = list(zip(*pairs[:top_k], strict=True))[0]
    n_truth = len(truth)
    truth = [line for line in truth if line[0] in result]
    if ignore:
        n_truth = len(truth)
    return sum(1 if label in result[vid] else 0 for vid, label in truth) / n_truth


def test_seed_eval_accuracy_reproduces_vr_numbers(rgb_ckpt, data, tmp_path):
    from vr.manifests.schema import read_manifest

    gt = tmp_path / "annotation.json"
    write_seed_json(read_manifest(data["manifest"]), gt)  # what `vr manifest export` writes
    for mode, n_clips in (("clip", 1), ("video", 3)):
        preds = tmp_path / f"{mode}.json"
        report = run_eval(rgb_ckpt, data, mode=mode, n_clips=n_clips, n_crops=1, output=preds)
        for k, ours in ((1, report.top1), (5, report.top5)):
            for ignore in (False, True):
                assert seed_evaluate(gt, preds, "validation", k, ignore) == pytest.approx(ours, abs=1e-12)
        assert 0 < report.top5 < 1 and report.top1 < report.top5  # the numbers are not degenerate
    # --ignore: videos missing from the results count as wrong unless ignored
    saved = json.loads(preds.read_text())
    dropped = sorted(saved["results"])[:4]
    for vid in dropped:
        del saved["results"][vid]
    preds.write_text(json.dumps(saved))
    res = report.results
    right = [
        int(np.argmax(res.scores[i]) == y)
        for i, y in enumerate(res.label_array())
        if res.ids[i] not in dropped
    ]
    assert seed_evaluate(gt, preds, "validation", 1, True) == pytest.approx(sum(right) / len(right))
    assert seed_evaluate(gt, preds, "validation", 1, False) == pytest.approx(sum(right) / N_VIDEOS)


def test_shards_give_the_folders_scores(rgb_ckpt, data, tmp_path):
    from vr.shards.build import build_shards
    from vr.shards.plan import ShardOptions

    build_shards(
        data["manifest"], tmp_path / "shards", ShardOptions("rgb", "val", max_count=5), frames=data["frames"],
        progress=False,
    )  # fmt: skip
    shards = evaluate(
        rgb_ckpt,
        tmp_path / "shards",
        mode="video",
        n_clips=2,
        n_crops=1,
        workers=0,
        progress=False,
        device="cpu",
    )
    folders = run_eval(rgb_ckpt, data, mode="video", n_clips=2, n_crops=1)
    order = [folders.results.ids.index(v) for v in shards.results.ids]
    assert sorted(shards.results.ids) == sorted(folders.results.ids)
    np.testing.assert_allclose(shards.results.scores, folders.results.scores[order], atol=1e-6)
    flow = make_checkpoint(tmp_path / "flow.pth", "flow")
    with pytest.raises(EvalError, match="hold rgb frames only, not flow .the checkpoint is a flow model"):
        evaluate(flow, tmp_path / "shards", workers=0, progress=False)


def test_unreadable_video_is_left_out_like_the_seeds_ignore(rgb_ckpt, data, tmp_path):
    import shutil

    from vr.manifests.schema import read_manifest

    frames = tmp_path / "frames"
    shutil.copytree(data["frames"], frames)
    for jpg in (frames / "class5" / "v05").glob("image_*.jpg"):
        jpg.write_bytes(b"not a jpeg")
    preds = tmp_path / "p.json"
    report = run_eval(rgb_ckpt, data, mode="clip", frames_root=frames, output=preds)
    assert report.missing == 1 and report.n_videos == N_VIDEOS - 1 and "v05" not in report.results.ids
    assert [vid for vid, _ in report.skipped] == ["v05"]
    gt = tmp_path / "annotation.json"
    write_seed_json(read_manifest(data["manifest"]), gt)
    assert seed_evaluate(gt, preds, "validation", 1, True) == pytest.approx(report.top1, abs=1e-12)
    expected = report.top1 * (N_VIDEOS - 1) / N_VIDEOS
    assert seed_evaluate(gt, preds, "validation", 1, False) == pytest.approx(expected, abs=1e-12)


# ---- bad inputs ---------------------------------------------------------------------------------------


def test_checkpoint_and_data_must_match(data, tmp_path):
    flow = make_checkpoint(tmp_path / "flow.pth", "flow")
    other = make_checkpoint(tmp_path / "other.pth", "rgb", labels=[*LABELS[:6], "zzz"])
    with pytest.raises(EvalError, match="differ from .*first at class 6: 'zzz' vs 'class6'"):
        run_eval(other, data)
    with pytest.raises(EvalError, match="a flow model, but --modality rgb"):
        run_eval(flow, data, modality="rgb")
    with pytest.raises(EvalError, match="cannot read flow frames"):
        run_eval(flow, data, flow_root=data["root"])  # no flow there
    assert run_eval(flow, data, mode="clip").n_views == N_VIDEOS  # flow beside the frames
    bad = torch.load(flow, weights_only=True)
    bad["model_args"]["in_channels"] = 3
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="needs 2 input channels, its model has 3"):
        run_eval(tmp_path / "bad.pth", data)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_model(tmp_path / "junk.pth")


def test_cli_eval_errors_are_one_line(rgb_ckpt, data, tmp_path):
    other = make_checkpoint(tmp_path / "other.pth", "rgb", labels=LABELS[:5])
    args = ["--frames-root", str(data["frames"]), "--subset", "val", "--workers", "0", "--quiet"]
    result = invoke(["eval", str(other), "--data", str(data["manifest"]), *args])
    assert result.exit_code == 1 and "Error: the checkpoint's labels (5 classes)" in result.output
    assert "Traceback" not in result.output
    result = invoke(["eval", str(rgb_ckpt), "--data", str(data["manifest"]), "--mode", "x"])
    assert result.exit_code == 2
    out = tmp_path / "cli.json"
    result = invoke(
        ["eval", str(rgb_ckpt), "--data", str(data["manifest"]), *args, "--n-clips", "2", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "top-1" in result.output and out.is_file() and (tmp_path / "cli.confusion.png").is_file()


def test_confusion_image_colours_rows_by_share():
    matrix = np.diag([5, 3, 0]) + np.array([[0, 0, 0], [1, 0, 0], [0, 0, 0]])
    img = confusion_image(matrix, ["a", "b", "c"])
    full = cv2.applyColorMap(np.full((1, 1), 255, np.uint8), cv2.COLORMAP_VIRIDIS)[0, 0]
    three_q = cv2.applyColorMap(np.full((1, 1), 191, np.uint8), cv2.COLORMAP_VIRIDIS)[0, 0]
    n_full, n_three_q = ((img == c).all(axis=2).sum() for c in (full, three_q))
    assert 1500 < n_full <= 48 * 48 and 1500 < n_three_q <= 48 * 48  # one 100% cell, one 75% cell
    big = confusion_image(np.eye(300, dtype=np.int64), [str(i) for i in range(300)])
    assert max(big.shape[:2]) <= 1300
