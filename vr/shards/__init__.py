"""WebDataset shards of frames and flow: planning, writing, index, verification, summary."""

from vr.shards.build import BuildResult, ShardError, build_shards
from vr.shards.index import ShardIndexError, read_index
from vr.shards.info import format_info, shard_info
from vr.shards.plan import ShardOptions, parse_size
from vr.shards.verify import Problem, verify_shards

__all__ = [
    "BuildResult",
    "Problem",
    "ShardError",
    "ShardIndexError",
    "ShardOptions",
    "build_shards",
    "format_info",
    "parse_size",
    "read_index",
    "shard_info",
    "verify_shards",
]
