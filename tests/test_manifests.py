"""Manifests from small annotation files in each dataset's official format over tiny real frame folders."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.cli import invoke

from vr.layout import commit_folder, image_name, temp_sibling
from vr.manifests.build import build_manifest
from vr.manifests.info import count_table
from vr.manifests.listing import AnnotationError, SplitError
from vr.manifests.resnets3d import import_seed_json, to_seed_json
from vr.manifests.schema import read_manifest

JPEG = cv2.imencode(".jpg", np.full((8, 8, 3), 127, np.uint8))[1].tobytes()


def make_frames(root: Path, rel: str, n: int, fps: float | None = 25.0, marker: bool = True) -> Path:
    """``n`` 8x8 JPEGs in ``root/rel``, committed with a completion marker (or left unmarked)."""
    final = root / rel
    final.parent.mkdir(parents=True, exist_ok=True)
    folder = temp_sibling(final) if marker else final
    folder.mkdir()
    for i in range(1, n + 1):
        (folder / image_name(i)).write_bytes(JPEG)
    if marker:
        info = {"n_frames": n} if fps is None else {"n_frames": n, "fps": fps}
        commit_folder(folder, final, info)
    return final


def write(path: Path, text: str, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def by_id(manifest) -> dict:
    return {v.id: v for v in manifest.videos}


def left_out(report) -> dict[str, str]:
    return {item.id: item.reason for item in report.left_out}


def run(*args: str):
    return invoke(["manifest", *map(str, args)])


@pytest.fixture
def ucf(tmp_path: Path) -> tuple[Path, Path]:
    """UCF101-format split 1 (CRLF lines like the official files) and frames with every problem case."""
    ann, frames = tmp_path / "ucfTrainTestlist", tmp_path / "frames"
    write(ann / "classInd.txt", "1 Zumba\n2 Archery\n3 Basketball\n", "\r\n")
    write(
        ann / "trainlist01.txt",
        "Zumba/v_Zumba_g01_c01.avi 1\nArchery/v_Archery_g01_c01.avi 2\n"
        "Basketball/v_Basketball_g01_c01.avi 3\nBasketball/v_Basketball_g02_c01.avi 3\n",
        "\r\n",
    )
    write(ann / "testlist01.txt", "Zumba/v_Zumba_g05_c01.avi\nArchery/v_Archery_g05_c01.avi\n", "\r\n")
    make_frames(frames, "Zumba/v_Zumba_g01_c01", 5, fps=30.0)
    make_frames(frames, "Archery/v_Archery_g01_c01", 3)
    make_frames(frames, "Basketball/v_Basketball_g01_c01", 0)  # empty
    make_frames(frames, "Basketball/v_Basketball_g02_c01", 4, marker=False)  # seed-made, no marker
    make_frames(frames, "Zumba/v_Zumba_g05_c01", 6)
    # v_Archery_g05_c01 is missing
    return ann, frames


def test_ucf101_labels_subsets_counts_and_report(ucf):
    ann, frames = ucf
    manifest, report = build_manifest("ucf101", ann, frames)
    assert manifest.labels == ["Zumba", "Archery", "Basketball"]  # classInd order, not sorted
    videos = by_id(manifest)
    assert set(videos) == {"v_Zumba_g01_c01", "v_Archery_g01_c01", "v_Zumba_g05_c01"}
    zumba = videos["v_Zumba_g01_c01"]
    assert (zumba.label, zumba.label_index, zumba.subset, zumba.n_frames, zumba.fps) == (
        "Zumba",
        0,
        "train",
        5,
        30.0,
    )
    assert zumba.path == "Zumba/v_Zumba_g01_c01" and zumba.segment is None
    assert videos["v_Archery_g01_c01"].label_index == 1
    assert videos["v_Zumba_g05_c01"].subset == "val"
    assert left_out(report) == {
        "v_Basketball_g01_c01": "empty",
        "v_Basketball_g02_c01": "incomplete",
        "v_Archery_g05_c01": "missing",
    }
    assert (report.listed, report.kept) == (6, 3)
    assert manifest.meta["split"] == 1


def test_ucf101_unmarked_folders_counted_only_when_allowed(ucf):
    ann, frames = ucf
    manifest, report = build_manifest("ucf101", ann, frames, allow_unmarked=True, subsets=["train"])
    videos = by_id(manifest)
    assert videos["v_Basketball_g02_c01"].n_frames == 4 and videos["v_Basketball_g02_c01"].fps is None
    assert {v.subset for v in manifest.videos} == {"train"}
    assert left_out(report) == {"v_Basketball_g01_c01": "empty"}


def test_ucf101_unknown_split_and_malformed_lines(ucf):
    ann, frames = ucf
    with pytest.raises(SplitError, match="split 2 not found.*splits there: 1"):
        build_manifest("ucf101", ann, frames, split=2)
    write(ann / "trainlist01.txt", "Zumba/v_Zumba_g01_c01.avi 1\nArchery/v_Archery_g01_c01.avi 3\n")
    with pytest.raises(AnnotationError, match=r"trainlist01.txt:2: index 3 does not match class 'Archery'"):
        build_manifest("ucf101", ann, frames)
    write(ann / "trainlist01.txt", "Zumba/v_Zumba_g01_c01.avi 1\nDancing/v_Dancing_g01_c01.avi 4\n")
    with pytest.raises(AnnotationError, match=r"trainlist01.txt:2: class 'Dancing' is not in classInd"):
        build_manifest("ucf101", ann, frames)


def test_hmdb51_tags_and_sorted_labels(tmp_path):
    ann, frames = tmp_path / "splits", tmp_path / "frames"
    write(ann / "ride_bike_test_split1.txt", "bike_a.avi 1 \nbike_b.avi 2 \nbike_c.avi 0 \n")
    write(ann / "brush_hair_test_split1.txt", "hair_a.avi 2 \nhair_b.avi 1 \n")
    write(ann / "ride_bike_test_split2.txt", "bike_a.avi 2 \nbike_b.avi 1 \nbike_c.avi 1 \n")
    write(ann / "brush_hair_test_split2.txt", "hair_a.avi 1 \nhair_b.avi 0 \n")
    for rel, n in [
        ("ride_bike/bike_a", 4),
        ("ride_bike/bike_b", 5),
        ("brush_hair/hair_a", 6),
        ("brush_hair/hair_b", 2),
    ]:
        make_frames(frames, rel, n)
    manifest, report = build_manifest("hmdb51", ann, frames, split=1)
    assert manifest.labels == ["brush_hair", "ride_bike"]
    got = {v.id: (v.label, v.label_index, v.subset, v.n_frames) for v in manifest.videos}
    assert got == {
        "bike_a": ("ride_bike", 1, "train", 4),
        "bike_b": ("ride_bike", 1, "val", 5),
        "hair_a": ("brush_hair", 0, "val", 6),
        "hair_b": ("brush_hair", 0, "train", 2),
    }
    assert report.left_out == []  # tag 0 is not listed for this split
    manifest2, report2 = build_manifest("hmdb51", ann, frames, split=2)
    assert {v.id: v.subset for v in manifest2.videos} == {
        "bike_a": "val",
        "bike_b": "train",
        "hair_a": "train",
    }
    assert left_out(report2) == {"bike_c": "missing"}
    with pytest.raises(SplitError, match="HMDB51 split 3 not found"):
        build_manifest("hmdb51", ann, frames, split=3)
    write(ann / "brush_hair_test_split1.txt", "hair_a.avi 2\nhair_b.avi 7\n")
    with pytest.raises(AnnotationError, match=r"brush_hair_test_split1.txt:2: expected"):
        build_manifest("hmdb51", ann, frames, split=1)


KINETICS_TRAIN = """label,youtube_id,time_start,time_end,split,is_cc
zumba,zz1,10,20,train,0
air drumming,ad1,0,10,train,0
abseiling,ab1,5,15,train,0
air drumming,ad2,123,133,train,0
"""


def test_kinetics_folder_of_csvs(tmp_path):
    ann, frames = tmp_path / "k", tmp_path / "frames"
    write(ann / "kinetics_train.csv", KINETICS_TRAIN)
    write(ann / "kinetics_val.csv", "label,youtube_id,time_start,time_end,split\nabseiling,ab9,1,11,val\n")
    write(ann / "kinetics_test.csv", "youtube_id,time_start,time_end,split\ntt1,30,40,test\n")
    make_frames(frames, "zumba/zz1_000010_000020", 3)
    make_frames(frames, "air drumming/ad1_000000_000010", 4)
    make_frames(frames, "air_drumming/ad2_000123_000133", 5)  # crawler-style underscores
    make_frames(frames, "abseiling/ab9_000001_000011", 6)
    make_frames(frames, "test/tt1_000030_000040", 7)
    manifest, report = build_manifest("kinetics", ann, frames)
    assert manifest.labels == ["abseiling", "air drumming", "zumba"]
    got = {v.id: (v.label, v.label_index, v.subset, v.path) for v in manifest.videos}
    assert got == {
        "zz1_000010_000020": ("zumba", 2, "train", "zumba/zz1_000010_000020"),
        "ad1_000000_000010": ("air drumming", 1, "train", "air drumming/ad1_000000_000010"),
        "ad2_000123_000133": ("air drumming", 1, "train", "air_drumming/ad2_000123_000133"),
        "ab9_000001_000011": ("abseiling", 0, "val", "abseiling/ab9_000001_000011"),
        "tt1_000030_000040": (None, None, "test", "test/tt1_000030_000040"),
    }
    assert left_out(report) == {"ab1_000005_000015": "missing"}


def test_kinetics_single_csv_with_split_column_and_errors(tmp_path):
    frames = tmp_path / "frames"
    make_frames(frames, "zumba/zz1_000010_000020", 3)
    csv = write(tmp_path / "all.csv", KINETICS_TRAIN + "zumba,zz2,0,10,val,0\n")
    manifest, report = build_manifest("kinetics", csv, frames, subsets=["val"])
    assert manifest.videos == [] and left_out(report) == {"zz2_000000_000010": "missing"}
    write(tmp_path / "bad.csv", KINETICS_TRAIN + "zumba,zz3,ten,20,train,0\n")
    with pytest.raises(AnnotationError, match=r"bad.csv:6: time_start/time_end must be numbers"):
        build_manifest("kinetics", tmp_path / "bad.csv", frames)
    write(tmp_path / "unknown.csv", KINETICS_TRAIN + "yoga,yy1,0,10,val,0\n")
    with pytest.raises(
        AnnotationError, match=r"unknown.csv:6: label 'yoga' does not occur in the train rows"
    ):
        build_manifest("kinetics", tmp_path / "unknown.csv", frames)
    with pytest.raises(SplitError, match="no numbered splits"):
        build_manifest("kinetics", csv, frames, split=1)


def activitynet_json(path: Path) -> Path:
    data = {
        "version": "VERSION 1.3",
        "taxonomy": [
            {"nodeId": 0, "nodeName": "Root", "parentId": None, "parentName": None},
            {"nodeId": 1, "nodeName": "Sports", "parentId": 0, "parentName": "Root"},
            {"nodeId": 3, "nodeName": "Long jump", "parentId": 1, "parentName": "Sports"},
            {"nodeId": 2, "nodeName": "Drinking coffee", "parentId": 0, "parentName": "Root"},
        ],
        "database": {
            "aaa": {
                "subset": "training",
                "duration": 2.0,
                "url": "https://www.youtube.com/watch?v=aaa",
                "annotations": [
                    {"label": "Long jump", "segment": [0.0, 1.05]},
                    {"label": "Long jump", "segment": [1.5, 5.0]},
                    {"label": "Long jump", "segment": [3.0, 4.0]},
                ],
            },
            "bbb": {
                "subset": "validation",
                "fps": 5.0,
                "annotations": [{"label": "Drinking coffee", "segment": [0.5, 1.0]}],
            },
            "ccc": {"subset": "testing", "annotations": []},
            "ddd": {"subset": "training", "annotations": []},
            "eee": {"subset": "training", "annotations": [{"label": "Drinking coffee", "segment": [0, 1]}]},
        },
    }
    write(path, json.dumps(data, indent=1))
    return path


def test_activitynet_segments_to_frames(tmp_path):
    ann, frames = activitynet_json(tmp_path / "activity_net.v1-3.min.json"), tmp_path / "frames"
    make_frames(frames, "v_aaa", 20, fps=10.0)
    make_frames(frames, "v_bbb", 8, fps=None)  # fps from the JSON
    make_frames(frames, "v_ccc", 4, fps=None)  # no fps needed for a whole test video
    make_frames(frames, "v_eee", 9, fps=None)  # no fps anywhere
    manifest, report = build_manifest("activitynet", ann, frames)
    assert manifest.labels == ["Long jump", "Drinking coffee"]  # taxonomy leaves, taxonomy order
    got = {v.id: (v.label_index, v.subset, v.path, v.segment, v.fps) for v in manifest.videos}
    assert got == {
        "aaa_seg00": (0, "train", "v_aaa", [1, 11], 10.0),
        "aaa_seg01": (0, "train", "v_aaa", [16, 21], 10.0),
        "bbb_seg00": (1, "val", "v_bbb", [3, 6], 5.0),
        "ccc": (None, "test", "v_ccc", None, None),
    }
    assert left_out(report) == {
        "ddd": "no_annotations",
        "aaa_seg02": "empty_segment",
        "eee_seg00": "no_fps",
    }
    with_map, report2 = build_manifest("activitynet", ann, frames, fps_map={"eee": 4.0}, subsets=["train"])
    assert by_id(with_map)["eee_seg00"].segment == [1, 5]
    assert left_out(report2) == {"ddd": "no_annotations", "aaa_seg02": "empty_segment"}
    only_val, report3 = build_manifest("activitynet", ann, frames, subsets=["val"])
    assert [v.id for v in only_val.videos] == ["bbb_seg00"] and report3.left_out == []


def test_mit_category_order_and_test_set(tmp_path):
    ann, frames = tmp_path / "Moments_in_Time", tmp_path / "frames"
    write(ann / "moments_categories.txt", "walking,0\nbarking,1\nclapping,2\n")
    write(ann / "trainingSet.csv", "walking/giphy-w1.mp4,walking,3,0\nbarking/yt-b1.mp4,barking,3,0\n")
    write(ann / "validationSet.csv", "clapping/c1.mp4,clapping,3,0\n")
    write(ann / "testingSet.csv", "t1.mp4\n")
    make_frames(frames, "walking/giphy-w1", 3)
    make_frames(frames, "barking/yt-b1", 4)
    make_frames(frames, "test/t1", 5)
    manifest, report = build_manifest("mit", ann, frames)
    assert manifest.labels == ["walking", "barking", "clapping"]
    got = {v.id: (v.label, v.label_index, v.subset, v.n_frames) for v in manifest.videos}
    assert got == {
        "giphy-w1": ("walking", 0, "train", 3),
        "yt-b1": ("barking", 1, "train", 4),
        "t1": (None, None, "test", 5),
    }
    assert left_out(report) == {"c1": "missing"}
    write(ann / "validationSet.csv", "clapping/c1.mp4,clapping,3,0\nsinging/s1.mp4,singing,3,0\n")
    with pytest.raises(AnnotationError, match=r"validationSet.csv:2: label 'singing' is not in"):
        build_manifest("mit", ann, frames)


def test_folder_of_classes_flat_and_with_subsets(tmp_path):
    frames = tmp_path / "frames"
    make_frames(frames, "walk/clip_b", 3)
    make_frames(frames, "jump/clip_a", 2)
    make_frames(frames, "jump/clip_c", 0)
    (frames / "_report.json").write_text("{}")
    manifest, report = build_manifest("folder", frames, frames)
    assert manifest.labels == ["jump", "walk"]
    assert {v.id: (v.label_index, v.subset) for v in manifest.videos} == {
        "clip_a": (0, "train"),
        "clip_b": (1, "train"),
    }
    assert left_out(report) == {"clip_c": "empty"}
    out = tmp_path / "folder.jsonl"
    result = run("build", "--dataset", "folder", "--frames", frames, "-o", out, "-q")  # annotations = frames
    assert result.exit_code == 0, result.output
    assert [v.id for v in read_manifest(out).videos] == ["clip_a", "clip_b"]
    assert read_manifest(out).meta["frames"] == str(frames.resolve())

    videos = tmp_path / "videos"
    for rel in ["train/walk/w1.mp4", "train/jump/j1.avi", "val/jump/j2.mp4"]:
        write(videos / rel, "not decoded here")
    make_frames(frames, "walk/w1", 2)
    make_frames(frames, "jump/j1", 2)
    make_frames(frames, "val/jump/j2", 2)
    manifest, report = build_manifest("folder", videos, frames)
    assert {v.id: (v.subset, v.path) for v in manifest.videos} == {
        "j1": ("train", "jump/j1"),
        "w1": ("train", "walk/w1"),
        "j2": ("val", "val/jump/j2"),
    }


def seed_json(path: Path) -> dict:
    """An annotation JSON as the seed's ucf101_json.py/kinetics_json.py write it."""
    data = {
        "labels": ["Zumba", "Archery"],
        "database": {
            "v_Zumba_g01_c01": {"subset": "training", "annotations": {"label": "Zumba", "segment": [1, 6]}},
            "v_Archery_g01_c01": {
                "subset": "validation",
                "annotations": {"label": "Archery", "segment": [2, 4]},
            },
            "x_test": {"subset": "testing", "annotations": {"segment": [1, 3]}},
        },
    }
    write(path, json.dumps(data))
    return data


def test_seed_json_round_trip(tmp_path):
    frames = tmp_path / "jpg"
    original = seed_json(tmp_path / "ucf101_01.json")
    make_frames(frames, "Zumba/v_Zumba_g01_c01", 5)
    make_frames(frames, "Archery/v_Archery_g01_c01", 4)
    make_frames(frames, "test/x_test", 2)
    manifest, report = import_seed_json(tmp_path / "ucf101_01.json", frames)
    assert report.left_out == []
    got = {v.id: (v.label, v.label_index, v.subset, v.path, v.n_frames, v.segment) for v in manifest.videos}
    assert got == {
        "v_Zumba_g01_c01": ("Zumba", 0, "train", "Zumba/v_Zumba_g01_c01", 5, None),
        "v_Archery_g01_c01": ("Archery", 1, "val", "Archery/v_Archery_g01_c01", 4, [2, 4]),
        "x_test": (None, None, "test", "test/x_test", 2, None),
    }
    assert to_seed_json(manifest) == original

    out, back = tmp_path / "m.jsonl", tmp_path / "back.json"
    result = run("import", tmp_path / "ucf101_01.json", "--frames", frames, "-o", out, "-q")
    assert result.exit_code == 0, result.output
    result = run("export", out, "-o", back)
    assert result.exit_code == 0, result.output
    assert json.loads(back.read_text()) == original
    assert read_manifest(out).labels == original["labels"]


def test_seed_import_reports_missing_and_clips_segments(tmp_path):
    frames = tmp_path / "jpg"
    seed_json(tmp_path / "seed.json")
    make_frames(frames, "Zumba/v_Zumba_g01_c01", 3)  # re-extracted with fewer frames than the JSON says
    make_frames(frames, "Archery/v_Archery_g01_c01", 1)  # segment [2, 4] lies outside
    manifest, report = import_seed_json(tmp_path / "seed.json", frames)
    assert [(v.id, v.n_frames, v.segment) for v in manifest.videos] == [("v_Zumba_g01_c01", 3, None)]
    assert left_out(report) == {"v_Archery_g01_c01": "empty_segment", "x_test": "missing"}


def test_build_cli_writes_manifest_report_and_info(ucf, tmp_path):
    ann, frames = ucf
    out = tmp_path / "out" / "ucf101_01.jsonl"
    out.parent.mkdir()
    result = run("build", "--dataset", "ucf101", "--annotations", ann, "--frames", frames, "-o", out)
    assert result.exit_code == 0, result.output
    assert "1 missing" in result.output and "v_Archery_g05_c01" in result.output
    assert "--allow-unmarked" in result.output
    report = json.loads((tmp_path / "out" / "ucf101_01.jsonl.report.json").read_text())
    assert report["left_out_counts"] == {"missing": 1, "incomplete": 1, "empty": 1}
    assert {item["id"] for item in report["left_out"]} == {
        "v_Archery_g05_c01",
        "v_Basketball_g02_c01",
        "v_Basketball_g01_c01",
    }
    manifest = read_manifest(out)
    assert len(manifest.videos) == 3 and manifest.meta["dataset"] == "ucf101"

    strict = run(
        "build", "--dataset", "ucf101", "--annotations", ann, "--frames", frames, "-o", out, "--strict"
    )
    assert strict.exit_code == 1 and "--strict" in strict.output

    result = run("info", out)
    assert result.exit_code == 0, result.output
    rows = {
        line.split()[0]: line.split()[1:] for line in result.output.splitlines()[2:] if line[:1].isalpha()
    }
    assert rows["Zumba"] == ["1", "1", "2"] and rows["Archery"] == ["1", "0", "1"]
    assert rows["total"] == ["2", "1", "3"]


def test_count_table_lists_unlabelled_videos(tmp_path):
    frames = tmp_path / "jpg"
    seed_json(tmp_path / "seed.json")
    make_frames(frames, "Zumba/v_Zumba_g01_c01", 5)
    make_frames(frames, "test/x_test", 2)
    manifest, _ = import_seed_json(tmp_path / "seed.json", frames)
    lines = count_table(manifest).splitlines()
    assert lines[0].split() == ["class", "train", "test", "total"]
    assert [line.split() for line in lines if line.startswith("(unlabelled)")] == [
        ["(unlabelled)", "0", "1", "1"]
    ]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--annotations", "{tmp}/nowhere"], 2, "does not exist"),
        (["--annotations", "{tmp}/empty"], 1, "no UCF101 train lists"),
        (["--annotations", "{ann}", "--split", "4"], 2, "UCF101 split 4 not found"),
        (["--annotations", "{ann}", "--split", "0"], 2, "--split"),
        (["--annotations", "{ann}", "--dataset", "mit"], 1, "moments_categories.txt"),
        (["--dataset", "kinetics"], 2, "--annotations is required"),
        (["--annotations", "{ann}/classInd.txt", "--dataset", "kinetics", "--split", "1"], 2, "no numbered"),
    ],
)
def test_build_cli_errors_are_one_line(ucf, tmp_path, args, code, message):
    ann, frames = ucf
    (tmp_path / "empty").mkdir()
    args = [a.format(tmp=tmp_path, ann=ann) for a in args]
    if "--dataset" not in args:
        args += ["--dataset", "ucf101"]
    result = run("build", *args, "--frames", frames, "-o", tmp_path / "m.jsonl")
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def test_cli_reports_malformed_files_with_line(ucf, tmp_path):
    ann, frames = ucf
    (ann / "classInd.txt").unlink()
    result = run(
        "build", "--dataset", "ucf101", "--annotations", ann, "--frames", frames, "-o", tmp_path / "m"
    )
    assert result.exit_code == 1 and "UCF101 class index not found" in result.output
    write(tmp_path / "bad.json", '{"labels": ["a"],\n "database": {\n')
    result = run("import", tmp_path / "bad.json", "--frames", frames, "-o", tmp_path / "m")
    assert result.exit_code == 1 and "bad.json:3: not valid JSON" in result.output
    write(tmp_path / "bad.jsonl", '{"vr_manifest": 1, "labels": []}\n{"id": 1}\n')
    result = run("info", tmp_path / "bad.jsonl")
    assert result.exit_code == 1 and "bad.jsonl:2: bad video record" in result.output
    assert "Traceback" not in result.output


def test_cli_no_videos_found_fails(tmp_path, ucf):
    ann, _ = ucf
    empty = tmp_path / "no_frames"
    empty.mkdir()
    result = run(
        "build", "--dataset", "ucf101", "--annotations", ann, "--frames", empty, "-o", tmp_path / "m.jsonl"
    )
    assert result.exit_code == 1 and "no videos kept" in result.output and "6 missing" in result.output
    assert not (tmp_path / "m.jsonl").exists() and (tmp_path / "m.jsonl.report.json").exists()


def test_export_refuses_activitynet_manifests(tmp_path):
    ann, frames = activitynet_json(tmp_path / "anet.json"), tmp_path / "frames"
    make_frames(frames, "v_aaa", 20, fps=10.0)
    out = tmp_path / "anet.jsonl"
    assert (
        run(
            "build", "--dataset", "activitynet", "--annotations", ann, "--frames", frames, "-o", out
        ).exit_code
        == 0
    )
    result = run("export", out, "-o", tmp_path / "seed.json")
    assert result.exit_code == 1 and "ActivityNet" in result.output
