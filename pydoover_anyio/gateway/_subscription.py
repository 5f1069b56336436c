"""One subscriber's bounded event buffer and its async iterator.

Overflow policy (DESIGN rule 4): each subscription buffers at most ``buffer_size``
events. The reader never waits for a consumer (so a slow consumer cannot stall ping
handling or other subscriptions): while the buffer is full, new events for this
subscription are discarded and counted. Once the consumer makes room it receives one
:class:`~pydoover_anyio.gateway.events.EventsDropped` with the count, and the client asks
the server for a :class:`~pydoover_anyio.gateway.events.ChannelSync`, which follows. What
the consumer already had in its buffer is kept, in order.

The buffer is a deque plus one event, not an anyio memory object stream: a memory
stream's ``receive()`` always yields to the scheduler, which costs about as much per
event as the whole decode. Here an available event is returned at once, with a
checkpoint every :data:`CHECKPOINT_EVERY` events so that a consumer that never awaits
anything else still lets other tasks run and can be cancelled.

A subscriber's first event is its own ChannelSync (or a GatewayError, the server's
answer instead): events routed to it before that (a second subscriber of a channel
already live, whose sync is asked for with op 14) are not delivered. They predate its
starting point, and the ChannelSync that follows reflects them.

Scheduling, so that a consumer that keeps up is never dropped from: one socket read can
hold thousands of events, so the reader yields to the scheduler after at most
:data:`CHECKPOINT_EVERY` routed events (never more than a consumer takes between two
of its own checkpoints), and after every event that leaves a buffer more than half full
(:meth:`Subscription.put` says so), which lets even a consumer that awaits something
per event catch up; it also yields once before every socket read, so consumers drain
what was routed and the next read carries more frames. Yielding is not waiting: the
reader stays runnable and keeps reading and answering pings whatever the consumers do.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import anyio
import anyio.lowlevel
import msgspec

from pydoover_anyio.models import ChannelID

from .events import ChannelSync, EventsDropped, GatewayError, GatewayEvent

if TYPE_CHECKING:
    from ._protocol import ChannelKey

__all__ = ["CHECKPOINT_EVERY", "Subscription"]

#: Events returned without yielding before one checkpoint (and the most events the
#: reader routes between two of its own). Fewer checkpoints mean fewer, fuller socket
#: reads under a burst (measured against the emulator: 64 -> 256 with the reader's
#: yield before each read, about +10-15 % events/s); 256 events are ~0.5 ms of work.
CHECKPOINT_EVERY: Final = 256


class Subscription:
    """The events of one channel for one subscriber; iterate it with ``async for``.

    Created by ``AsyncDataClient.subscribe``; ends when the ``async with`` block ends.
    Iteration raises the client's typed error if the gateway fails for good (for
    example :class:`~pydoover_anyio.errors.UnauthorizedError`), and
    :class:`~pydoover_anyio.runtime.ClientClosedError` once the client is closed.
    """

    def __init__(
        self,
        key: ChannelKey,
        buffer_size: int,
        request_sync: Callable[[ChannelKey], None],
    ) -> None:
        if buffer_size < 2:
            raise ValueError(f"buffer_size must be at least 2, got {buffer_size!r}")
        self.key = key
        self.channel = ChannelID(agent_id=key[0], name=key[1])
        self.buffer_size = buffer_size
        self._half = buffer_size // 2
        self._items: deque[GatewayEvent] = deque()
        self._dropped = 0
        self._dropped_total = 0
        self._waiter: anyio.Event | None = None
        self._synced = anyio.Event()
        self._answered = False  # the first ChannelSync (or GatewayError) came: _synced
        self._request_sync = request_sync
        self._error: BaseException | None = None
        self._closed = False
        self._streak = 0

    def __repr__(self) -> str:
        return (
            f"<Subscription agent_id={self.key[0]} name={self.key[1]!r} "
            f"buffered={len(self._items)}>"
        )

    @property
    def buffered(self) -> int:
        """Events waiting to be read."""
        return len(self._items)

    @property
    def synced(self) -> bool:
        """Whether the server's first answer (a ChannelSync) has arrived."""
        return self._synced.is_set()

    @property
    def dropped(self) -> int:
        """Events discarded on overflow since the subscription started."""
        return self._dropped_total

    # -- the reader's side (synchronous, never waits) -------------------------------------

    def put(self, event: GatewayEvent) -> bool:
        """Buffer one event, or count it as dropped when the buffer is full.

        Returns:
            Whether the event was buffered and the buffer is now more than half full:
            the reader should let the consumer run.
        """
        kind = type(event)
        if not self._answered:
            if kind is not ChannelSync and kind is not GatewayError:
                return False  # before its first ChannelSync (see the module docstring)
            self._answered = True
            self._synced.set()
        items = self._items
        size = len(items)
        if self._dropped and size < self.buffer_size:
            items.append(self._marker())
            size += 1
        if size >= self.buffer_size:
            self._dropped += 1
            self._dropped_total += 1
            return False
        items.append(event)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.set()
        return size >= self._half

    def put_channel_event(self, event: GatewayEvent) -> bool:
        """Buffer an event that names no channel, with this subscription's channel.

        Returns:
            As :meth:`put`.
        """
        return self.put(msgspec.structs.replace(event, channel=self.channel))

    def fail(self, error: BaseException) -> None:
        """End the subscription with ``error`` (raised after the buffered events)."""
        if self._error is None and not self._closed:
            self._error = error
        self._wake()

    def close(self) -> None:
        """End iteration after the buffered events."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        self._synced.set()
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.set()

    def _marker(self) -> EventsDropped:
        count, self._dropped = self._dropped, 0
        self._request_sync(self.key)
        return EventsDropped(channel=self.channel, count=count)

    async def wait_synced(self) -> None:
        """Wait for the server's answer: the first ChannelSync or a GatewayError (or the end).

        Raises:
            BaseException: the error the subscription failed with.
        """
        await self._synced.wait()
        if self._error is not None and not self._items:
            raise self._error

    # -- the consumer's side ----------------------------------------------------------------

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> GatewayEvent:
        items = self._items
        if items:
            self._streak += 1
            if self._streak >= CHECKPOINT_EVERY:
                self._streak = 0
                await anyio.lowlevel.checkpoint()
                if not items:
                    return await self._slow_next()
            return items.popleft()
        return await self._slow_next()

    async def _slow_next(self) -> GatewayEvent:
        self._streak = 0
        items = self._items
        while True:
            if items:
                return items.popleft()
            if self._dropped:
                return self._marker()
            if self._error is not None:
                raise self._error
            if self._closed:
                raise StopAsyncIteration
            waiter = self._waiter
            if waiter is None:  # one event for every task waiting on this subscription
                waiter = self._waiter = anyio.Event()
            await waiter.wait()

    async def receive(self) -> GatewayEvent:
        """The next event (same as one step of ``async for``).

        Raises:
            anyio.EndOfStream: the subscription has ended.
        """
        try:
            return await self.__anext__()
        except StopAsyncIteration:
            raise anyio.EndOfStream from None
