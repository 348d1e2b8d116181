"""Reading ffmpeg's stderr: messages by level, the telling error line, signs of a damaged container.

Run ffmpeg with ``LOG_ARGS`` (``-loglevel level+verbose``) so every line carries its level, e.g.
``[in#0/avi @ 0x5591] [warning] Packet corrupt (stream = 0, dts = 96).``, and so that ffmpeg ends with
its per-stream counts (``Input stream #0:0 (video): 100 packets read (…); 80 frames decoded; 20 decode
errors``): :func:`decode_health` turns them into what a report says of a damaged video that still
decoded in part (its frames are kept, the video is listed as a warning).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

LOG_ARGS = ("-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+verbose")

_LEVELS = "trace|debug|verbose|info|warning|error|fatal|panic"
_LINE = re.compile(rf"^((?:\[[^\]]*@[^\]]*\]\s*)*)\[({_LEVELS})\] ?(.*)$")
_NOISE = (
    "At least one output file must be specified",
    "Error opening input file",
    "Error opening output file",
    "Conversion failed",
)
_ERRORISH = re.compile(
    r"error|invalid|not found|no such|denied|corrupt|partial|truncat|failed|prematur|damaged", re.I
)
# Messages of a demuxer that ran out of (or into broken) container data: the file is cut or damaged.
_DAMAGE = re.compile(r"partial file|ended prematurely|corrupt input packet|packet corrupt|truncat", re.I)
# ffmpeg's closing count of the input video stream (verbose level; "decode errors" since ffmpeg 6)
_INPUT_STATS = re.compile(
    r"Input stream #0:\d+ \(video\): (\d+) packets read \(\d+ bytes\); (\d+) frames decoded;"
    r"(?: (\d+) decode errors;)?"
)


@dataclass
class FfmpegLog:
    """An ffmpeg log split by level; ``text`` is the log at info level and above without level tags,
    ``verbose`` the verbose lines."""

    text: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    verbose: list[str] = field(default_factory=list)


def parse_log(raw: str) -> FfmpegLog:
    """Split a ``level+verbose`` (or ``level+info``) log; untagged lines count as info."""
    log = FfmpegLog("")
    lines = []
    for line in raw.splitlines():
        match = _LINE.match(line)
        if match is None:
            lines.append(line)
            continue
        context, level, message = match.groups()
        if level in ("verbose", "debug", "trace"):
            log.verbose.append(message)
            continue
        lines.append(message)
        if level in ("error", "fatal", "panic"):
            log.errors.append(f"{context}{message}")
        elif level == "warning":
            log.warnings.append(f"{context}{message}")
    log.text = "\n".join(lines)
    return log


@dataclass
class DecodeHealth:
    """How well a video decoded: the video stream's packets (the frames its container holds), the
    frames decoded from them, the decoder's errors, and its first error message."""

    packets: int | None = None
    decoded: int | None = None
    errors: int = 0
    first_error: str = ""

    @property
    def damaged(self) -> bool:
        return self.errors > 0 or (self.packets is not None and (self.decoded or 0) < self.packets)

    def warning(self) -> str:
        """One line for a report ('' when the video decoded whole)."""
        if not self.damaged:
            return ""
        counts = f"{self.decoded} of {self.packets} frames decoded" if self.packets is not None else ""
        errors = f"{self.errors} decode error(s)" if self.errors else ""
        first = f" (first: {self.first_error})" if self.first_error else ""
        return "damaged: " + ", ".join(p for p in (counts, errors) if p) + first

    def check(self, strict: bool, error: Callable[[str], Exception] | None = None) -> str:
        """The report's warning for a damaged video ('' when it decoded whole); with ``strict`` a damaged
        video raises ``error(warning)`` instead (default: :class:`~vr.video.probe.VideoError`)."""
        warning = self.warning()
        if warning and strict:
            if error is None:
                from vr.video.probe import VideoError

                error = VideoError
            raise error(warning)
        return warning

    def to_json(self) -> dict:
        return {"packets": self.packets, "decoded": self.decoded, "errors": self.errors}


def decode_health(log: FfmpegLog) -> DecodeHealth:
    """The :class:`DecodeHealth` of the first video stream from a ``level+verbose`` log (counts are
    None where ffmpeg printed none)."""
    health = DecodeHealth()
    decoder_errors = [m for m in log.errors if _is_decoder_message(m)]
    counted = None
    for message in log.verbose:
        match = _INPUT_STATS.search(message)
        if match:
            health.packets, health.decoded = int(match.group(1)), int(match.group(2))
            counted = None if match.group(3) is None else int(match.group(3))
            break
    # ffmpeg's count of the packets it could not decode; without it (older ffmpeg), the decoder's messages
    health.errors = counted if counted is not None else len(decoder_errors)
    if decoder_errors:
        health.first_error = _clean(decoder_errors[0])
    return health


def _is_decoder_message(message: str) -> bool:
    """Whether an error line comes from a decoder (its last context is ``[codec @ 0x…]``/``[dec:…]``),
    not from the demuxer, a filter or the muxer."""
    contexts = re.findall(r"\[([^\]]*@[^\]]*)\]", message)
    if not contexts:
        return False
    last = contexts[-1].split(" @ ")[0]
    return last.startswith("dec:") or (
        re.fullmatch(r"[a-z0-9_]+", last) is not None and last not in _NOT_DECODERS
    )


_NOT_DECODERS = frozenset({"null", "image2", "rawvideo", "graph", "fps", "scale", "out", "in", "mjpeg_muxer"})


def _clean(line: str) -> str:
    line = re.sub(r"^(\[[^\]]+\]\s*)+", "", line.strip())
    return re.sub(r"^Error opening (input|output)( files?)?: ", "", line)


def error_line(stderr: str | list[str]) -> str:
    """The first error-looking line of an ffmpeg log (or list of messages), without ffmpeg's boilerplate."""
    lines = stderr.splitlines() if isinstance(stderr, str) else stderr
    useful = [_clean(ln) for ln in lines if ln.strip()]
    useful = [ln for ln in useful if ln and not ln.startswith(_NOISE)]
    for line in useful:
        if _ERRORISH.search(line):
            return line
    return useful[-1] if useful else "ffmpeg failed"


def damage(log: FfmpegLog) -> str | None:
    """The first message saying the container is cut short or damaged, None when there is none."""
    for message in log.errors + log.warnings:
        if _DAMAGE.search(message):
            return _clean(message)
    return None
