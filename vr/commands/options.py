"""Option parsers shared by several commands."""

from __future__ import annotations

import json
import math
from typing import Any

import click


class Real(click.FloatRange):
    """A float option in a range that is also finite (``nan`` and ``inf`` pass a plain FloatRange)."""

    name = "float"

    def convert(self, value, param, ctx):
        value = super().convert(value, param, ctx)
        if not math.isfinite(value):
            self.fail(f"{value} is not a finite number", param, ctx)
        return value


SEED = click.IntRange(0, 2**32 - 1)  # numpy's SeedSequence takes non-negative seeds


class _Jobs(click.ParamType):
    """joblib's ``n_jobs``: N workers, or -1 for all cores, -2 for all but one, ...; never 0."""

    name = "integer"

    def convert(self, value, param, ctx):
        try:
            jobs = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not an integer", param, ctx)
        if jobs == 0:
            self.fail("0 jobs: give N >= 1, or -1 for all cores", param, ctx)
        return jobs


JOBS = _Jobs()


def _key_values(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...], lists: bool
) -> dict[str, Any]:
    """``KEY=VALUE`` items: VALUE as JSON when it parses, else (``lists``) a comma-separated list (each
    item as JSON when it parses: ``1,1,2`` is three integers), else a string."""
    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.isidentifier():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", ctx, param)
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = [_json_or_str(v) for v in raw.split(",")] if lists and "," in raw else raw
    return out


def _json_or_str(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def model_args_option(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, Any]:
    """``--model-arg KEY=VALUE`` (repeatable): VALUE as JSON when it parses (``0.25``, ``true``,
    ``[1,1,1,1]``), a comma-separated list (``st_struct=A,B``, ``layers=1,1,2,1``), else a string
    (``shortcut=B``)."""
    return _key_values(ctx, param, values, lists=True)


def storage_options_option(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, Any]:
    """``--storage-option KEY=VALUE`` (repeatable): options of the remote filesystem (``fsspec``), VALUE as
    JSON when it parses (``anon=true``), else a string (``endpoint_url=http://127.0.0.1:9000``); the
    credentials among them are remembered so that no file or output line holds them (``vr.redact``)."""
    from vr.redact import remember
    from vr.storage import StorageError, check_storage_options

    options = _key_values(ctx, param, values, lists=False)
    remember(options)
    try:
        return check_storage_options(options)
    except StorageError as e:
        raise click.BadParameter(str(e), ctx, param) from None


def remote_options(func):
    """``--cache-dir`` and ``--storage-option`` for commands that read shard folders at a URL."""
    func = click.option(
        "--storage-option",
        "storage_options",
        multiple=True,
        callback=storage_options_option,
        metavar="KEY=VALUE",
        help="For a URL: an fsspec option, e.g. endpoint_url=http://minio:9000 for s3:// (repeatable); "
        "credentials come from the usual environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, ...).",
    )(func)
    return click.option(
        "--cache-dir",
        type=click.Path(file_okay=False),
        default=None,
        help="For a URL: keep each fetched shard here (checked against its SHA-256), read it locally after.",
    )(func)


def model_args_options(help_text: str):
    """The ``--model-arg KEY=VALUE`` option (repeatable) of every command that builds a model."""
    return click.option(
        "--model-arg",
        "model_args",
        multiple=True,
        callback=model_args_option,
        metavar="KEY=VALUE",
        help=help_text,
    )
