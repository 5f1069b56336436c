"""``doover-anyio channels list``: an agent's channels."""

from __future__ import annotations

import click
from rich.table import Table
from rich.text import Text

from ..models import Channel
from ._output import compact_json, format_time, short_json, stdout_console
from ._runner import Session, Settings, run, shared_options

__all__ = ["channels"]


@click.group()
def channels() -> None:
    """An agent's channels."""


@channels.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per channel.")
@shared_options()
@click.pass_obj
def list_channels(settings: Settings, as_json: bool) -> None:
    """List the agent's channels with their aggregates."""

    async def body(session: Session) -> list[Channel]:
        return await session.doover.list_channels(session.agent(), include_daily_summaries=False)

    found = sorted(run(settings, body), key=lambda channel: channel.name)
    if as_json:
        for channel in found:
            aggregate = channel.aggregate
            click.echo(
                compact_json(
                    {
                        "name": channel.name,
                        "id": None if channel.id is None else str(channel.id),
                        "owner_id": str(channel.owner_id),
                        "is_private": channel.is_private,
                        "aggregate": None if aggregate is None else aggregate.data,
                        "last_updated": (
                            None
                            if aggregate is None or aggregate.last_updated is None
                            else format_time(aggregate.last_updated)
                        ),
                    }
                )
            )
        return
    console = stdout_console()
    table = Table(show_edge=False, pad_edge=False)
    widest = max([len("channel"), *(len(channel.name) for channel in found)])
    table.add_column("channel", no_wrap=True)
    table.add_column("private", no_wrap=True)
    table.add_column("aggregate updated", no_wrap=True)
    table.add_column("aggregate", no_wrap=True)
    room = max(console.width - widest - len("private") - 24 - 9, 20)  # rich's own cut is odd
    for channel in found:
        aggregate = channel.aggregate
        updated = None if aggregate is None else aggregate.last_updated
        data = None if aggregate is None else aggregate.data
        table.add_row(  # data as Text: a "[" in a name or a value is not rich markup
            Text(channel.name),
            "yes" if channel.is_private else "no",
            "-" if updated is None else format_time(updated),
            "-" if data in (None, {}) else Text(short_json(data, room)),
        )
    console.print(table)
