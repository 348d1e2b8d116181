"""The tiny shard and folder builders of tests/helpers/shards.py, checked."""

from __future__ import annotations

import json

from helpers.shards import (
    make_shards,
)


def test_shards_are_webdataset_readable(tmp_path):
    import webdataset as wds

    make_shards(tmp_path, [("v.a/1", 0, 3), ("v2", 1, 2)], per_shard=1)
    samples = list(wds.WebDataset(sorted(str(p) for p in tmp_path.glob("*.tar")), shardshuffle=False))
    assert [json.loads(s["json"])["id"] for s in samples] == ["v.a/1", "v2"]
    assert sorted(k for k in samples[0] if k.startswith("rgb_")) == [
        "rgb_00001.jpg",
        "rgb_00002.jpg",
        "rgb_00003.jpg",
    ]
