"""Values in and out of the command line: times, JSON, consoles.

Rules this module enforces:

* Times given on the command line are ISO 8601 (``2026-03-01``, ``2026-03-01T08:30``,
  ``...T08:30:00+10:00``, ``...Z``), ``now``, or a span back from now (``90s``, ``15m``,
  ``2h``, ``7d``, ``1w``). A time without an offset is UTC.
* Times printed are UTC, ISO 8601 with milliseconds and a ``Z``.
* JSON printed carries snowflake ids as strings (as the API does: they exceed the
  53 bits a JSON number keeps exactly in most tools).
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from ..models import Message

__all__ = [
    "compact_json",
    "error_console",
    "format_time",
    "message_json",
    "message_line",
    "parse_time",
    "progress_bar",
    "progress_wanted",
    "short_json",
    "stdout_console",
    "time_option",
]

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """A command-line time as an aware datetime.

    Raises:
        ValueError: Not a time this module understands (the message says what is).
    """
    now = datetime.now(UTC) if now is None else now
    if text.strip().lower() == "now":
        return now
    span = _SPAN.match(text)
    if span is not None:
        try:
            return now - timedelta(seconds=float(span[1]) * _UNITS[span[2].lower()])
        except OverflowError:  # beyond datetime's years 1..9999
            raise ValueError(f"{text!r} reaches back before the year 1") from None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use ISO 8601 (2026-03-01T08:30Z), 'now', "
            "or a span back from now (15m, 2h, 7d)"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def time_option(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """A click option callback that reads the option with :func:`parse_time`."""
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def format_time(value: datetime) -> str:
    """UTC, ISO 8601, milliseconds, ``Z``."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def compact_json(value: Any) -> str:
    """One-line JSON, keys in their order, non-ASCII kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def short_json(value: Any, width: int) -> str:
    """:func:`compact_json`, cut to ``width`` characters (ending ``...``) when longer."""
    text = compact_json(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def message_json(message: Message) -> str:
    """A message as one JSON object (ids as strings)."""
    return compact_json(
        {
            "id": str(message.id),
            "timestamp": format_time(message.timestamp),
            "agent_id": str(message.channel.agent_id),
            "channel": message.channel.name,
            "author_id": str(message.author_id),
            "data": message.data,
        }
    )


def message_line(message: Message) -> str:
    """A message as one human line: time, id, data."""
    return f"{format_time(message.timestamp)}  {message.id}  {compact_json(message.data)}"


def stdout_console() -> Console:
    """Rich output on stdout (tables); plain text when stdout is not a terminal."""
    return Console(highlight=False, soft_wrap=False)


def error_console() -> Console:
    """Rich output on stderr (progress bars)."""
    return Console(stderr=True, highlight=False)


def progress_wanted(choice: bool | None) -> bool:
    """Show a progress bar: as asked, else when stderr is a terminal."""
    return sys.stderr.isatty() if choice is None else choice


class _Count(ProgressColumn):
    """``done/total`` with thousands separators (``done/?`` while the total is unknown)."""

    def render(self, task: Task) -> Text:
        total = "?" if task.total is None else f"{task.total:,.0f}"
        return Text(f"{task.completed:,.0f}/{total}", style="progress.download")


def progress_bar(*, enabled: bool, unit: str = "messages") -> Progress:
    """A progress bar on stderr: done/total, percentage, rate, elapsed time.

    Disabled, it draws nothing, but its ``console`` still writes lines to stderr (so
    commands print warnings through it either way, without tearing a live bar).
    """
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        _Count(),
        TextColumn(unit),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=error_console(),
        disable=not enabled,
    )
