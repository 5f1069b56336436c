"""``doover-anyio aggregate get|patch``: a channel's aggregate (its merged current state).

Both print the aggregate's data as JSON on stdout (indented; ``--compact`` for one
line). ``patch`` takes a JSON object, ``@FILE`` or ``-`` (stdin) and deep-merges it
(``null`` deletes a key), or replaces the data with ``--replace``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from .._wire import encode_json
from ..models import Aggregate
from ._output import compact_json
from ._runner import Session, Settings, run, shared_options

__all__ = ["aggregate"]


@click.group()
def aggregate() -> None:
    """A channel's aggregate."""


def _show(found: Aggregate | None, compact: bool) -> None:
    data = None if found is None else found.data
    if compact:
        click.echo(compact_json(data))
    else:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@aggregate.command("get")
@click.argument("channel")
@click.option("--compact", is_flag=True, help="Print the JSON on one line.")
@shared_options()
@click.pass_obj
def get(settings: Settings, channel: str, compact: bool) -> None:
    """Print a channel's aggregate data."""

    async def body(session: Session) -> Aggregate:
        return await session.doover.fetch_channel_aggregate(session.agent(), channel)

    _show(run(settings, body), compact)


def _read_patch(text: str) -> dict[str, Any]:
    source = "DATA"
    if text == "-":
        source, text = "stdin", sys.stdin.read()
    elif text.startswith("@"):
        source = text[1:]
        try:
            with open(source, encoding="utf-8-sig") as handle:  # a BOM is fine, as in ingest
                text = handle.read()
        except OSError as exc:
            raise click.BadParameter(f"{source}: {exc.strerror}", param_hint="DATA") from None
        except UnicodeDecodeError as exc:
            raise click.BadParameter(
                f"{source} is not UTF-8 text (byte {exc.start + 1})", param_hint="DATA"
            ) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(
            f"{source} is not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})",
            param_hint="DATA",
        ) from None
    except RecursionError:
        raise click.BadParameter(
            f"{source} is nested too deeply to read", param_hint="DATA"
        ) from None
    if not isinstance(value, dict):
        raise click.BadParameter(
            f"{source} must be a JSON object, not {type(value).__name__}", param_hint="DATA"
        )
    try:
        encode_json(value)  # Python's json reads NaN, Infinity and 1e999, which JSON has not
    except ValueError as exc:
        raise click.BadParameter(f"{source} cannot be sent: {exc}", param_hint="DATA") from None
    return value


@aggregate.command("patch")
@click.argument("channel")
@click.argument("data")
@click.option("--replace", is_flag=True, help="Replace the data instead of merging into it.")
@click.option("--compact", is_flag=True, help="Print the JSON on one line.")
@shared_options()
@click.pass_obj
def patch(settings: Settings, channel: str, data: str, replace: bool, compact: bool) -> None:
    """Merge DATA into a channel's aggregate and print the result.

    DATA is a JSON object ('{"mode": "auto"}'), @FILE, or - to read stdin. Keys set to
    null are deleted.
    """
    change = _read_patch(data)

    async def body(session: Session) -> Aggregate | None:
        return await session.doover.update_channel_aggregate(
            session.agent(), channel, change, replace_data=replace
        )

    _show(run(settings, body), compact)
