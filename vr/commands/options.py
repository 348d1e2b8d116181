"""Option parsers shared by several commands."""

from __future__ import annotations

import json
from typing import Any

import click


def _key_values(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...], lists: bool
) -> dict[str, Any]:
    """``KEY=VALUE`` items: VALUE as JSON when it parses, else (``lists``) a comma-separated list, else a
    string."""
    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.isidentifier():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", ctx, param)
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw.split(",") if lists and "," in raw else raw
    return out


def model_args_option(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, Any]:
    """``--model-arg KEY=VALUE`` (repeatable): VALUE as JSON when it parses (``0.25``, ``true``,
    ``[1,1,1,1]``), a comma-separated list (``st_struct=A,B``), else a string (``shortcut=B``)."""
    return _key_values(ctx, param, values, lists=True)


def storage_options_option(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, Any]:
    """``--storage-option KEY=VALUE`` (repeatable): options of the remote filesystem (``fsspec``), VALUE as
    JSON when it parses (``anon=true``), else a string (``endpoint_url=http://127.0.0.1:9000``)."""
    return _key_values(ctx, param, values, lists=False)


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
