"""Loaders: temporal/spatial sampling, shard reading, the DALI and torch pipelines.

``build_loader(source, modality, mode, ...)`` is the entry point (:mod:`vr.pipelines.loader`); both
backends draw the same clips (:mod:`vr.pipelines.sampling`) and yield the same batches
(:mod:`vr.pipelines.loader_base`). ``VideoClipLoader`` (:mod:`vr.pipelines.video`) reads raw videos
with DALI's video reader.
"""

from vr.pipelines.loader import build_loader
from vr.pipelines.sources import FolderSource, ShardSource, SourceError, open_source

__all__ = ["FolderSource", "ShardSource", "SourceError", "build_loader", "open_source"]
