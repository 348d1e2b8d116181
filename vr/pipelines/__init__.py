"""Loaders: temporal/spatial sampling, shard reading, the DALI and torch pipelines.

``build_loader(source, modality, mode, ...)`` is the entry point (:mod:`vr.pipelines.loader`); both
backends draw the same clips (:mod:`vr.pipelines.sampling`) and yield the same batches
(:mod:`vr.pipelines.loader_base`). ``VideoClipLoader`` (:mod:`vr.pipelines.video`) reads raw videos
with DALI's video reader.
"""

from __future__ import annotations

from vr.lazy import lazy_exports

# exported lazily, so that importing a light submodule (vr.pipelines.backends) loads no torch
_EXPORTS = {
    "build_loader": "loader",
    "FolderSource": "sources",
    "ShardSource": "sources",
    "SourceError": "sources",
    "open_source": "sources",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
