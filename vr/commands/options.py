"""Option parsers shared by several commands."""

from __future__ import annotations

import json
from typing import Any

import click


def model_args_option(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, Any]:
    """``--model-arg KEY=VALUE`` (repeatable): VALUE as JSON when it parses (``0.25``, ``true``,
    ``[1,1,1,1]``), a comma-separated list (``st_struct=A,B``), else a string (``shortcut=B``)."""
    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.isidentifier():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", ctx, param)
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw.split(",") if "," in raw else raw
    return out
