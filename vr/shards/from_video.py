"""`--from-video`: a sample's RGB members decoded from its video by ffmpeg and JPEG-encoded in memory."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from vr.shards.format import rgb_member
from vr.shards.plan import SampleSpec, ShardOptions
from vr.shards.samples import Members, SampleError
from vr.video.decode import iter_frames
from vr.video.ffmpeg_log import DecodeHealth
from vr.video.jpeg import encode_jpeg
from vr.video.probe import VideoError


def video_members(
    spec: SampleSpec, path: Path, options: ShardOptions
) -> tuple[Members, tuple[int, int], str]:
    """The RGB members of ``spec`` from the video at ``path`` (the record's segment, if any), their size,
    and a warning ('' when none) when the decoder reported errors in a video read to its end (with
    ``options.strict`` such a video raises :class:`SampleError` instead).

    Scaling and frame rate follow ``extract-frames`` (short side ``video_size``, ``video_fps``), so the
    frames match those of extract-frames followed by `vr shard` up to JPEG error.
    """
    first, end = (spec.record.segment or [1, None])[:2]
    members: Members = []
    size = (0, 0)
    health = DecodeHealth()
    frames = iter_frames(path, size=options.video_size, fps=options.video_fps, even=False, health=health)
    try:
        with closing(frames):
            for index, frame in enumerate(frames, start=1):
                if end is not None and index >= end:
                    break
                if index >= first:
                    name = rgb_member(spec.key, len(members) + 1)
                    members.append((name, encode_jpeg(frame, options.video_quality)))
                    size = (frame.shape[1], frame.shape[0])
    except VideoError as e:
        raise SampleError(f"video does not decode: {e}", spec.video) from None
    if not members:
        raise SampleError("no frames decoded in the segment" if spec.record.segment else "no frames decoded")
    return members, size, health.check(options.strict, lambda warning: SampleError(warning, spec.video))
