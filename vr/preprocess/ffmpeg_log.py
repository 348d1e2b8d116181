"""Reading ffmpeg's stderr: messages by level, the telling error line, signs of a damaged container.

Run ffmpeg with ``LOG_ARGS`` (``-loglevel level+info``) so every line carries its level, e.g.
``[in#0/avi @ 0x5591] [warning] Packet corrupt (stream = 0, dts = 96).``
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

LOG_ARGS = ("-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info")

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


@dataclass
class FfmpegLog:
    """An ffmpeg log split by level; ``text`` is the whole log without level tags."""

    text: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_log(raw: str) -> FfmpegLog:
    """Split a ``level+info`` log (untagged lines count as info)."""
    log = FfmpegLog("")
    lines = []
    for line in raw.splitlines():
        match = _LINE.match(line)
        if match is None:
            lines.append(line)
            continue
        context, level, message = match.groups()
        lines.append(message)
        if level in ("error", "fatal", "panic"):
            log.errors.append(f"{context}{message}")
        elif level == "warning":
            log.warnings.append(f"{context}{message}")
    log.text = "\n".join(lines)
    return log


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
