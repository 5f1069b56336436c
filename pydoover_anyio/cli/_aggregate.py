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
from ._params import CHANNEL
from ._records import too_long_number
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
@click.argument("channel", type=CHANNEL)
@click.option("--compact", is_flag=True, help="Print the JSON on one line.")
@shared_options()
@click.pass_obj
def get(settings: Settings, channel: str, compact: bool) -> None:
    """Print a channel's aggregate data."""

    async def body(session: Session) -> Aggregate:
        return await session.doover.fetch_channel_aggregate(session.agent(), channel)

    _show(run(settings, body), compact)


#: The deepest nesting sent: far below where encoding the request could run out of stack.
MAX_DEPTH = 500


def _depth(value: Any) -> int:
    """How deeply ``value`` (decoded JSON) nests its arrays and objects."""
    deepest, level = 0, [(value, 0)]
    while level:
        item, depth = level.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            level.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            level.extend((child, depth + 1) for child in item)
    return deepest


def _read_source(text: str) -> tuple[str, str]:
    """(where it came from, the text) of DATA: itself, ``@FILE`` or ``-`` (stdin)."""
    if text != "-" and not text.startswith("@"):
        return "DATA", text
    source = "stdin" if text == "-" else text[1:]
    if text == "-" and sys.stdin is None:
        raise click.BadParameter("stdin is closed", param_hint="DATA")
    try:
        if text == "-":
            raw = sys.stdin.buffer.read()
        else:
            with open(source, "rb") as handle:
                raw = handle.read()
    except OSError as exc:
        raise click.BadParameter(f"{source}: {exc.strerror}", param_hint="DATA") from None
    try:
        return source, raw.decode("utf-8-sig")  # a BOM is fine, as in ingest
    except UnicodeDecodeError as exc:
        raise click.BadParameter(
            f"{source} is not UTF-8 text (byte {exc.start + 1})", param_hint="DATA"
        ) from None


def _read_patch(text: str) -> dict[str, Any]:
    source, text = _read_source(text)
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
    except ValueError:  # the only other one: an integer too long to convert
        raise click.BadParameter(
            f"{source} is not valid JSON: {too_long_number()}", param_hint="DATA"
        ) from None
    if not isinstance(value, dict):
        raise click.BadParameter(
            f"{source} must be a JSON object, not {type(value).__name__}", param_hint="DATA"
        )
    if _depth(value) > MAX_DEPTH:
        raise click.BadParameter(
            f"{source} is nested more than {MAX_DEPTH} deep", param_hint="DATA"
        )
    try:
        encode_json(value)  # Python's json reads NaN, Infinity and 1e999, which JSON has not
    except ValueError as exc:
        raise click.BadParameter(f"{source} cannot be sent: {exc}", param_hint="DATA") from None
    return value


@aggregate.command("patch")
@click.argument("channel", type=CHANNEL)
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
