"""`vr fuse` on hand-made results files whose fused answers are worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli import invoke

from vr.evaluation.fuse import fuse
from vr.evaluation.results import EvalError, read_results

LABELS = ["a", "b", "c"]
TRUTH = {"v1": "a", "v2": "b", "v3": "c", "v4": "a"}
# v1: both right; v2: RGB wrong, Flow right; v3: RGB right, Flow wrong; v4: both wrong, fused still wrong.
RGB = {
    "v1": {"a": 0.6, "b": 0.3, "c": 0.1},
    "v2": {"a": 0.5, "b": 0.4, "c": 0.1},
    "v3": {"a": 0.3, "b": 0.1, "c": 0.6},
    "v4": {"a": 0.05, "b": 0.9, "c": 0.05},
    "v5": {"a": 1.0, "b": 0.0, "c": 0.0},  # only in the RGB file
}
FLOW = {
    "v1": {"a": 0.5, "b": 0.25, "c": 0.25},
    "v2": {"a": 0.2, "b": 0.7, "c": 0.1},
    "v3": {"a": 0.45, "b": 0.15, "c": 0.4},
    "v4": {"a": 0.15, "b": 0.05, "c": 0.8},
}


def write(path: Path, scores: dict, truth: dict | None = TRUTH, labels: bool = True, topk: int = 3) -> Path:
    """A results file in the seed's format (entries sorted by score, ``topk`` of them)."""
    results = {
        vid: [{"label": k, "score": v} for k, v in sorted(s.items(), key=lambda kv: -kv[1])][:topk]
        for vid, s in scores.items()
    }
    data: dict = {"results": results}
    if labels:
        data["labels"] = LABELS
    if truth is not None:
        data["ground_truth"] = truth
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def files(tmp_path) -> tuple[Path, Path]:
    return write(tmp_path / "rgb.json", RGB), write(tmp_path / "flow.json", FLOW)


def test_fusion_fixes_what_each_stream_gets_wrong(files):
    rgb, flow = (read_results(f) for f in files)
    result = fuse(rgb, flow, (1, 1))
    assert (
        result.fused.ids == ["v1", "v2", "v3", "v4"] and result.only_rgb == ["v5"] and result.only_flow == []
    )
    assert result.accuracy["rgb"][1] == 0.5 and result.accuracy["flow"][1] == 0.5
    assert result.accuracy["fused"][1] == 0.75
    assert result.accuracy["fused"][5] == 1.0  # 3 classes: every label is in the top 5
    scores = dict(zip(result.fused.ids, result.fused.scores.tolist(), strict=True))
    assert scores["v2"] == pytest.approx([0.35, 0.55, 0.1])
    assert scores["v3"] == pytest.approx([0.375, 0.125, 0.5])
    assert scores["v4"] == pytest.approx([0.1, 0.475, 0.425])
    assert result.fused.ground_truth == TRUTH


def test_weights(files):
    rgb, flow = (read_results(f) for f in files)
    weighted = fuse(rgb, flow, (1, 1.5))
    v2 = weighted.fused.scores[weighted.fused.ids.index("v2")]
    assert v2.tolist() == pytest.approx(
        [(0.5 + 1.5 * 0.2) / 2.5, (0.4 + 1.5 * 0.7) / 2.5, (0.1 + 0.15) / 2.5]
    )
    only_flow = fuse(rgb, flow, (0, 1))
    assert only_flow.accuracy["fused"] == only_flow.accuracy["flow"]
    assert fuse(rgb, flow, (2, 0)).accuracy["fused"][1] == 0.5
    with pytest.raises(EvalError, match="positive sum"):
        fuse(rgb, flow, (0, 0))


def test_topk_files_and_seed_files(tmp_path):
    """Classes left out of a --topk file count 0; a seed file (no labels, no ground truth) still fuses."""
    rgb = read_results(write(tmp_path / "r.json", RGB, topk=1))
    flow = read_results(write(tmp_path / "f.json", FLOW, truth=None, labels=False))
    assert rgb.scores[rgb.ids.index("v2")].tolist() == [0.5, 0.0, 0.0]
    result = fuse(rgb, flow)
    assert result.fused.scores[result.fused.ids.index("v2")].tolist() == pytest.approx([0.35, 0.35, 0.05])
    assert result.accuracy["fused"][1] == 0.5  # v1, v3 right; v2's a-b tie goes to 'a' (class order)
    assert flow.labels == ["a", "b", "c"]


def test_cli_fuse(files, tmp_path):
    out = tmp_path / "fused.json"
    result = invoke(["fuse", *map(str, files), "--weights", "1,1.5", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "RGB    top-1 50.00%" in result.stdout and "Fused  top-1 75.00%" in result.stdout
    assert "1 video(s) only in the RGB file" in result.stderr
    saved = json.loads(out.read_text())
    assert set(saved["results"]) == {"v1", "v2", "v3", "v4"} and saved["labels"] == LABELS
    assert [e["label"] for e in saved["results"]["v2"]] == ["b", "a", "c"]
    assert saved["ground_truth"] == TRUTH


def test_cli_fuse_bad_inputs(files, tmp_path):
    rgb, flow = map(str, files)
    for weights in ("1", "a,b", "-1,2", "0,0"):
        result = invoke(["fuse", rgb, flow, "--weights", weights])
        assert result.exit_code == 2 and "Invalid value for '--weights'" in result.output
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"results": {"v1": [{"label": "zzz", "score": 1.0}]}, "labels": ["zzz"]}))
    (tmp_path / "broken.json").write_text("{")
    disjoint = write(tmp_path / "disjoint.json", {"w": RGB["v1"]})
    for second, message in (
        (other, "different label sets"),
        (tmp_path / "broken.json", "not a results JSON"),
        (disjoint, "no video in common"),
    ):
        result = invoke(["fuse", rgb, str(second)])
        assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    conflict = write(tmp_path / "conflict.json", FLOW, truth={**TRUTH, "v1": "b"})
    result = invoke(["fuse", rgb, str(conflict)])
    assert result.exit_code == 1 and "ground truth 'a' in one file, 'b' in the other" in result.output
