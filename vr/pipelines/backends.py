"""The loader backends by name (no imports: the command line reads them for its choices)."""

BACKENDS = ("torch", "dali")  # clip loaders over shard and frame folders (build_loader's ``backend``)
VIDEO_BACKEND = "dali-video"  # DALI's reader on raw video files (`vr train --loader dali-video`)
LOADERS = (*BACKENDS, VIDEO_BACKEND)  # what `vr train --loader` takes
