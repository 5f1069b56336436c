"""``doover-anyio messages list|tail``: a channel's messages, and new ones live.

``tail --follow`` subscribes over the WebSocket gateway *before* reading the history,
so no message created in between is lost, and prints each new message once (events
for messages already printed are skipped by id). After a reconnect that may have
missed events (or a dropped-events notice) it reads what it missed over REST, from the
last message it printed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

import anyio
import click

from ..gateway import EventsDropped, GatewayError, MessageCreate, Reconnected
from ..models import Message
from ._output import message_json, message_line, time_option
from ._params import CHANNEL
from ._runner import PROG, Session, Settings, run, shared_options
from ._seed import simulate_device

__all__ = ["messages"]

_MAX_PAGE = 200


@click.group()
def messages() -> None:
    """A channel's messages."""


async def _newest(
    session: Session,
    channel: str,
    limit: int,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Message]:
    """The ``limit`` newest messages in the range (0: all), oldest first."""
    before: datetime | None = until
    if before is None and since is not None:
        before = datetime.now(UTC) + timedelta(minutes=1)  # walk backward from now
    page_size = min(limit, _MAX_PAGE) if limit else _MAX_PAGE
    iterator = session.doover.iter_messages(
        session.agent(), channel, before=before, after=since, page_size=page_size
    )
    found: list[Message] = []
    try:
        async for message in iterator:
            found.append(message)
            if limit and len(found) >= limit:
                break
    finally:
        await iterator.aclose()
    found.reverse()
    return found


def _printer(as_json: bool) -> Callable[[Message], None]:
    render = message_json if as_json else message_line

    def emit(message: Message) -> None:
        click.echo(render(message))  # flushed per line: tail output reaches pipes at once

    return emit


@messages.command("list")
@click.argument("channel", type=CHANNEL)
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="How many of the newest messages to print (0: all in the range).",
)
@click.option(
    "--since",
    callback=time_option,
    metavar="TIME",
    help="Only messages after this time (e.g. 2h, 2026-03-01).",
)
@click.option(
    "--until", callback=time_option, metavar="TIME", help="Only messages before this time."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per message.")
@shared_options()
@click.pass_obj
def list_messages(
    settings: Settings,
    channel: str,
    limit: int,
    since: datetime | None,
    until: datetime | None,
    as_json: bool,
) -> None:
    """Print a channel's newest messages, oldest first: time, id, data."""

    async def body(session: Session) -> list[Message]:
        return await _newest(session, channel, limit, since, until)

    emit = _printer(as_json)
    for message in run(settings, body):
        emit(message)


@messages.command("tail")
@click.argument("channel", type=CHANNEL)
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="How many of the newest messages to print first.",
)
@click.option(
    "-f", "--follow", is_flag=True, help="Then print new messages as they arrive, until Ctrl-C."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per message.")
@shared_options()
@click.pass_obj
def tail(settings: Settings, channel: str, lines: int, follow: bool, as_json: bool) -> None:
    """Print the newest messages; with --follow, new ones live over the gateway.

    With --emulator and --follow a simulated device writes a reading to the channel
    every half second, so there is something to follow.
    """
    emit = _printer(as_json)

    async def body(session: Session) -> None:
        if not follow:
            for message in await _newest(session, channel, lines) if lines else []:
                emit(message)
            return
        await _follow(session, channel, lines, emit)

    run(settings, body)


#: Message ids ``tail -f`` remembers to print each message once (the newest this many).
_RECENT_IDS: Final = 10_000


class _RecentIds:
    """The last ``limit`` ids added, as a set (older ones are forgotten)."""

    def __init__(self, limit: int) -> None:
        self._ids: dict[int, None] = {}
        self._limit = limit

    def add(self, message_id: int) -> bool:
        """Remember ``message_id``; whether it is new."""
        if message_id in self._ids:
            return False
        self._ids[message_id] = None
        if len(self._ids) > self._limit:
            del self._ids[next(iter(self._ids))]
        return True


async def _follow(
    session: Session, channel: str, lines: int, emit: Callable[[Message], None]
) -> None:
    client = session.doover
    agent = session.agent()
    async with client.subscribe(agent, channel) as events:
        history = await _newest(session, channel, max(lines, 1))
        # Each message once: a live event may repeat one the history (fetched after
        # subscribing) holds. Not "newer than the last": a device uploading a reading it
        # took offline creates a message with an older id, which is new all the same.
        printed = _RecentIds(_RECENT_IDS)
        for message in history:
            printed.add(message.id)
        last = history[-1].id if history else 0
        for message in history[-lines:] if lines else []:
            emit(message)
        async with anyio.create_task_group() as group:
            if session.emulators.doover is not None:
                group.start_soon(simulate_device, client, agent, channel)
            async for event in events:
                if isinstance(event, MessageCreate):
                    if printed.add(event.message.id):
                        emit(event.message)
                        last = max(last, event.message.id)
                elif (isinstance(event, Reconnected) and event.events_missed) or isinstance(
                    event, EventsDropped
                ):
                    async for message in client.iter_messages(agent, channel, after=last):
                        if printed.add(message.id):
                            emit(message)
                        last = max(last, message.id)
                elif isinstance(event, GatewayError):
                    click.echo(f"{PROG}: warning: gateway: {event.message}", err=True)
