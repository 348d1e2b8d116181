"""Manifests to and from MMAction2's lists, PySlowFast's CSVs, the seed's JSON and a CSV: round trips
through real frame folders, the CLI, and what each format cannot hold."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from helpers.cli import run
from helpers.motion import make_motion_frames

from vr.datasets.synth import SynthConfig
from vr.layout import commit_folder, image_name, temp_sibling
from vr.manifests.interop import (
    FORMATS,
    LIST_FORMATS,
    ExportError,
    csv_text,
    export_manifest,
    guess_subset,
    import_manifest,
    list_file_name,
)
from vr.manifests.listing import AnnotationError
from vr.manifests.schema import Manifest, VideoRecord, read_manifest


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("interop")
    synth = SynthConfig(classes=3, videos_per_class=4, clips_per_group=2, frames=5, width=16, height=16)
    path = make_motion_frames(root, synth)
    manifest = read_manifest(path)
    # an unlabelled test video, where the seed keeps them (test/<id>)
    final = root / "frames" / "test" / "unknown_0001"
    tmp = temp_sibling(final)
    tmp.mkdir(parents=True)
    (tmp / image_name(1)).write_bytes(
        (root / "frames" / manifest.videos[0].path / image_name(1)).read_bytes()
    )
    commit_folder(tmp, final, {"n_frames": 1, "fps": 25.0})
    manifest.videos.append(VideoRecord("unknown_0001", None, None, "test", "test/unknown_0001", 1, 25.0))
    manifest.write(path)
    return {"manifest": read_manifest(path), "path": path, "frames": root / "frames"}


def _key(manifest: Manifest) -> tuple:
    videos = sorted(
        (v.id, v.label, v.label_index, v.subset, v.path, v.n_frames, v.fps, v.segment)
        for v in manifest.videos
    )
    return manifest.labels, videos


@pytest.mark.parametrize("fmt", LIST_FORMATS)
def test_list_formats_round_trip(dataset, tmp_path, fmt):
    manifest = dataset["manifest"]
    written = export_manifest(manifest, fmt, tmp_path / "lists", video_ext=".avi")
    names = {p.name for p in written}
    assert names == {list_file_name(fmt, s) for s in ("train", "val", "test")} | {"labels.txt"}
    lists = [p for p in written if p.name != "labels.txt"]
    back, report = import_manifest(lists, fmt, dataset["frames"])
    assert report.left_out == [] and report.kept == len(manifest.videos)
    assert _key(back) == _key(manifest)


def test_list_lines_are_what_the_tools_parse(dataset, tmp_path):
    manifest = dataset["manifest"]
    first = next(v for v in manifest.videos if v.subset == "train")
    export_manifest(manifest, "mmaction-rawframes", tmp_path / "raw.txt", subset="train")
    line = (tmp_path / "raw.txt").read_text().splitlines()[manifest.subset("train").videos.index(first)]
    assert line.split() == [first.path, str(first.n_frames), str(first.label_index)]
    export_manifest(manifest, "pyslowfast", tmp_path / "ps", video_ext=".mp4")
    assert (tmp_path / "ps" / "test.csv").read_text() == "test/unknown_0001.mp4 -1\n"
    assert (tmp_path / "ps" / "labels.txt").read_text().splitlines() == manifest.labels


@pytest.mark.parametrize("fmt", ["seed", "csv"])
def test_file_formats_round_trip(dataset, tmp_path, fmt):
    manifest = dataset["manifest"]
    out = tmp_path / f"m.{fmt}"
    export_manifest(manifest, fmt, out)
    back, _ = import_manifest([out], fmt, dataset["frames"])
    assert _key(back) == _key(manifest)


def test_csv_keeps_segments_and_needs_no_frames(tmp_path):
    videos = [
        VideoRecord("a", "run", 0, "train", "run/a", 50, 29.97, [3, 40]),
        VideoRecord("b", "jump", 1, "val", "jump/b", 7, None),
        VideoRecord("c", None, None, "test", "test/c", 9, 25.0),
    ]
    manifest = Manifest(["run", "jump"], videos)
    (tmp_path / "m.csv").write_text(csv_text(manifest))
    back, _ = import_manifest([tmp_path / "m.csv"], "csv")
    assert _key(back) == _key(manifest)


def test_pyslowfast_paths_of_another_machine_are_found(dataset, tmp_path):
    manifest = dataset["manifest"]
    train = manifest.subset("train").videos
    lines = [f"/mnt/data/kinetics/train/{v.path}.mp4 {v.label_index}" for v in train]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "labels.txt").write_text("\n".join(manifest.labels) + "\n")
    back, report = import_manifest([tmp_path / "train.csv"], "pyslowfast", dataset["frames"])
    assert report.left_out == []
    assert _key(back) == _key(manifest.subset("train"))


def test_what_a_format_cannot_hold_is_refused(dataset, tmp_path):
    spaced = Manifest(["air drumming"], [VideoRecord("x", "air drumming", 0, "train", "air drumming/x", 5)])
    with pytest.raises(ExportError, match="white space"):
        export_manifest(spaced, "mmaction-videos", tmp_path / "out")
    segment = Manifest(["a"], [VideoRecord("x", "a", 0, "train", "a/x", 50, segment=[1, 10])])
    with pytest.raises(ExportError, match="segment"):
        export_manifest(segment, "mmaction-rawframes", tmp_path / "out")
    with pytest.raises(ExportError, match="extension"):
        export_manifest(dataset["manifest"], "pyslowfast", tmp_path / "out", video_ext="mp4")
    assert not (tmp_path / "out").exists()  # nothing half-written


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a/b 3\n", "expected 'frame_dir total_frames label'"),
        ("a/b x 1\n", "integers"),
        ("a/b 3 7\n", "not in the 3-label list"),
        ("/ 3 0\n", "names no folder"),
    ],
)
def test_bad_list_lines_name_their_line(dataset, tmp_path, text, match):
    (tmp_path / "labels.txt").write_text("a\nb\nc\n")
    (tmp_path / "val_rawframes.txt").write_text("ok/1 3 0\n" + text)
    with pytest.raises(AnnotationError, match=match) as info:
        import_manifest([tmp_path / "val_rawframes.txt"], "mmaction-rawframes", dataset["frames"])
    assert "val_rawframes.txt:2" in str(info.value)


def test_subset_comes_from_the_name_or_the_option(dataset, tmp_path):
    assert guess_subset(Path("ucf101_train_split_1_rawframes.txt")) == "train"
    assert guess_subset(Path("kinetics400_val_list_videos.txt")) == "val"
    assert guess_subset(Path("list.txt")) is None and guess_subset(Path("trainval.txt")) is None
    (tmp_path / "list.txt").write_text("")
    with pytest.raises(AnnotationError, match="--subset"):
        import_manifest([tmp_path / "list.txt"], "mmaction-videos", dataset["frames"])


def test_hostile_list_paths_stay_inside_the_frame_root(dataset, tmp_path):
    (tmp_path / "train.csv").write_text("../../../etc/passwd 0\n")
    back, report = import_manifest([tmp_path / "train.csv"], "pyslowfast", dataset["frames"])
    assert back.videos == [] and report.counts() == {"missing": 1}


def test_cli_round_trip_for_every_format(dataset, tmp_path):
    for fmt in FORMATS:
        out = tmp_path / fmt
        run("manifest", "export", dataset["path"], "--format", fmt, "-o", out)
        files = sorted(p for p in out.iterdir() if p.name != "labels.txt") if out.is_dir() else [out]
        back = tmp_path / f"{fmt}.jsonl"
        run("manifest", "import", *files, "--format", fmt, "--frames", dataset["frames"], "-o", back, "-q")
        assert _key(read_manifest(back)) == _key(dataset["manifest"]), fmt


def test_cli_errors_are_one_line(dataset, tmp_path):
    (tmp_path / "list.txt").write_text("a/b 1\n")
    out = run("manifest", "import", tmp_path / "list.txt", "--format", "pyslowfast", "--frames",
              dataset["frames"], "-o", tmp_path / "m.jsonl", code=1)  # fmt: skip
    assert "--subset" in out
    out = run("manifest", "import", tmp_path / "list.txt", "--format", "mmaction-videos", "--subset", "val",
              "-o", tmp_path / "m", code=1)  # fmt: skip
    assert "needs --frames" in out and len(out.strip().splitlines()) == 1


def test_dataclass_fields_are_all_in_the_csv():
    from vr.manifests.interop import CSV_FIELDS

    assert tuple(f.name for f in dataclasses.fields(VideoRecord)) == CSV_FIELDS
