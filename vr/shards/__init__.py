"""WebDataset shards of frames and flow: planning, writing, index, verification, summary.

The names below load their module on first use, so importing one light submodule (``vr.shards.format``)
does not import OpenCV, NumPy and joblib with the writer.
"""

from __future__ import annotations

from vr.lazy import lazy_exports

_EXPORTS = {
    "BuildResult": "build",
    "ShardError": "build",
    "build_shards": "build",
    "ShardIndexError": "format",
    "read_index": "format",
    "format_info": "info",
    "shard_info": "info",
    "ShardOptions": "plan",
    "parse_size": "plan",
    "Member": "tarstream",
    "TarFormatError": "tarstream",
    "iter_members": "tarstream",
    "ReindexResult": "reindex",
    "reindex_shards": "reindex",
    "Problem": "verify",
    "verify_shards": "verify",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
