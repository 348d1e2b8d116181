"""Credentials never reach a file ``vr`` writes or its output: the one redactor every writer uses.

:func:`redact` returns a copy of a JSON-like value (dicts, lists, strings; tensors and numbers pass
through untouched) in which

- every string under a key that names a secret (``token``, ``password``, ``secret``, ``key``,
  ``Authorization``, ``Cookie``, ``credential``, ``signature``, …, at any depth: ``headers``,
  ``client_kwargs`` and nested options included) is :data:`REDACTED`;
- ``user:password@`` in a URL keeps the user, loses the password; a URL query parameter that names a
  secret (``?token=…``, ``X-Amz-Signature=…``) loses its value;
- ``Bearer …``/``Basic …`` authorisation values and AWS access key ids are replaced wherever they are;
- every secret value :func:`remember` was shown (the storage options of this run) is replaced wherever
  it appears, in any string, under any key.

:func:`redact_text` does the same to one string; :func:`install` makes every log record and everything
written to standard output and error pass through it (the CLI installs it before any command runs).
A run resumed from its files never gets a credential back from them: :func:`drop_redacted` leaves out
what was redacted, so it must come again from the command line or the environment.
"""

from __future__ import annotations

import io
import logging
import re
import sys
import threading
from collections.abc import Mapping
from typing import Any

REDACTED = "<redacted>"
# key names that hold secrets (matched anywhere in the name, any case): aws_secret_access_key, api_key,
# Authorization, X-Auth-Token, session_token, password, private_key_id, client_secret, Cookie, ...
SECRET_KEY = re.compile(
    r"secret|token|passw|pwd|credential|auth|cookie|signature|sig$|private|(^|[_\-.])key($|[_\-.])|apikey"
    r"|access_?key|session",
    re.IGNORECASE,
)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^/@:\s]*):(?P<password>[^/@\s]+)@")
_QUERY = re.compile(r"(?P<name>[?&;][^=&#\s]+)=(?P<value>[^&#\s]*)")
# an authorisation value: a scheme, then a token of 8+ characters holding a digit or a symbol (so that
# "Basic augmentation" in prose is left alone)
_T = r"[A-Za-z0-9._~+/=\-]"
_SCHEMES = re.compile(
    rf"\b(?P<scheme>Bearer|Basic|Token|Digest)\s+(?={_T}*?[0-9._~+/=\-]){_T}{{8,}}", re.IGNORECASE
)
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
_MIN_REMEMBERED = 4  # shorter values are not looked for inside other strings (they would hit words)

_known: set[str] = set()
_known_lock = threading.Lock()


def is_secret_key(name: object) -> bool:
    """Whether a key of that name holds a secret."""
    return isinstance(name, str) and SECRET_KEY.search(name) is not None


def remember(value: Any) -> None:
    """Learn the secret strings of ``value`` (e.g. a run's storage options): every string under a
    secret-named key, and the password of a URL; from now on they are replaced wherever they appear."""
    found: list[str] = []
    _collect(value, False, found)
    with _known_lock:
        _known.update(s for s in found if len(s) >= _MIN_REMEMBERED and s != REDACTED)


def forget_all() -> None:
    """Forget what :func:`remember` learnt (tests)."""
    with _known_lock:
        _known.clear()


def _collect(value: Any, secret: bool, found: list[str]) -> None:
    if isinstance(value, str):
        if secret:
            found.append(value)
            for match in _SCHEMES.finditer(value):  # "Bearer abc": abc alone is the secret too
                found.append(match.group(0).split(None, 1)[1])
        found.extend(m.group("password") for m in _USERINFO.finditer(value))
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _collect(v, secret or is_secret_key(k), found)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            _collect(v, secret, found)


def redact_text(text: str) -> str:
    """``text`` with every credential it holds replaced (see the module docstring)."""
    if not isinstance(text, str) or not text:
        return text
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    text = _QUERY.sub(lambda m: f"{m['name']}={REDACTED}" if is_secret_key(m["name"][1:]) else m[0], text)
    text = _SCHEMES.sub(lambda m: f"{m['scheme']} {REDACTED}", text)
    return _AWS_KEY_ID.sub(REDACTED, text)


def redact_argv(args: list[str]) -> list[str]:
    """A command line with its credentials replaced: ``KEY=VALUE`` arguments whose key names a secret
    (``--storage-option token=…``) lose the value, and every argument passes :func:`redact_text`."""
    out = []
    for arg in args:
        key, sep, _ = arg.partition("=")
        out.append(f"{key}={REDACTED}" if sep and is_secret_key(key.lstrip("-")) else redact_text(arg))
    return out


def redact(value: Any, _secret: bool = False) -> Any:
    """A copy of ``value`` with every credential replaced by :data:`REDACTED` (module docstring);
    anything but dicts, lists, tuples and strings (tensors, numbers, None) is returned as it is."""
    if isinstance(value, str):
        return REDACTED if _secret and value else redact_text(value)
    if isinstance(value, bytes) and _secret:
        return REDACTED
    if isinstance(value, Mapping):
        return {k: redact(v, _secret or is_secret_key(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, _secret) for v in value]
    if isinstance(value, tuple):
        return tuple(redact(v, _secret) for v in value)
    return value


def holds_redacted(value: Any) -> bool:
    """Whether ``value`` (at any depth) holds something :func:`redact` replaced."""
    if isinstance(value, str):
        return REDACTED in value
    if isinstance(value, Mapping):
        return any(holds_redacted(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(holds_redacted(v) for v in value)
    return False


def drop_redacted(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` without the entries that hold a redacted value: read back from a file, they must
    come again from the command line or the environment."""
    return {k: v for k, v in options.items() if not holds_redacted(v)}


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


_FILTER = _RedactingFilter()


def install_logging() -> None:
    """Redact every log record of this process before any handler writes it (idempotent)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "vr_redacts", False):
        return

    def make_record(*args, **kw) -> logging.LogRecord:
        record = factory(*args, **kw)
        _FILTER.filter(record)
        return record

    make_record.vr_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_record)


class RedactingStream(io.TextIOBase):
    """A text stream that writes what it is given through :func:`redact_text` to ``stream``."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(redact_text(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self):  # type: ignore[override]
        return getattr(self.stream, "encoding", "utf-8")

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def install() -> None:
    """Redact every log record and everything written to ``sys.stdout``/``sys.stderr`` from now on."""
    install_logging()
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))
