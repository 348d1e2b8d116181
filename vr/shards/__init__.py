"""WebDataset shards of frames and flow: planning, writing, index, verification, summary."""

from vr.shards.build import BuildResult, ShardError, build_shards
from vr.shards.format import ShardIndexError, read_index
from vr.shards.info import format_info, shard_info
from vr.shards.plan import ShardOptions, parse_size
from vr.shards.reader import Member, TarFormatError, iter_members
from vr.shards.reindex import ReindexResult, reindex_shards
from vr.shards.verify import Problem, verify_shards

__all__ = [
    "BuildResult",
    "Member",
    "Problem",
    "ReindexResult",
    "ShardError",
    "ShardIndexError",
    "ShardOptions",
    "TarFormatError",
    "build_shards",
    "format_info",
    "iter_members",
    "parse_size",
    "read_index",
    "reindex_shards",
    "shard_info",
    "verify_shards",
]
