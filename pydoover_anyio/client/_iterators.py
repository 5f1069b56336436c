"""Paging message iterators: async ones with ``collect()``, and their blocking twins.

An async iterator fetches one page when its buffer is empty and holds no task group
between items, so it may be abandoned at any point. Memory is bounded by one page
(a ``deque`` popped from the left). The blocking twins run the async iterator on the
sync client's loop thread (:class:`~pydoover_anyio.runtime.BlockingIterator`).
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol, Self, TypeVar

from ..models import Message
from ..runtime import BlockingIterator
from ..snowflake import snowflake_bound
from ._paging import PageBounds

__all__ = [
    "AsyncMessageIterator",
    "AsyncMultiAgentMessageIterator",
    "MessageIterator",
    "MultiAgentMessageIterator",
    "bound",
    "now_bound",
]

#: How far past "now" the default ``before`` of backward paging lies: tolerates a server
#: clock ahead of ours, and a message minted in the current millisecond.
_NOW_MARGIN = dt.timedelta(minutes=1)

P = TypeVar("P")
P_contra = TypeVar("P_contra", contravariant=True)


def bound(value: int | dt.datetime | None) -> int | None:
    """A query bound as a snowflake int (datetimes: naive = UTC), or ``None``."""
    return None if value is None else snowflake_bound(value)


def now_bound() -> int:
    """The upper bound backward paging starts from when the caller gave none."""
    return snowflake_bound(dt.datetime.now(dt.UTC) + _NOW_MARGIN)


class _Planner(Protocol[P_contra]):
    finished: bool

    def next_bounds(self) -> PageBounds: ...

    def feed(self, page: P_contra, /) -> list[Message]: ...


class _PagedIterator:
    """Drives a planner: fetch a page for its bounds, buffer what it releases."""

    def __init__(self, planner: _Planner[P], fetch: Callable[[PageBounds], Awaitable[P]]) -> None:
        self._planner = planner
        self._fetch = fetch
        self._buffer: deque[Message] = deque()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Message:
        while not self._buffer:
            if self._planner.finished:
                raise StopAsyncIteration
            page = await self._fetch(self._planner.next_bounds())
            self._buffer.extend(self._planner.feed(page))
        return self._buffer.popleft()

    async def collect(self) -> list[Message]:
        """Read every remaining message into a list.

        Returns:
            The messages in iteration order.
        """
        return [message async for message in self]

    async def aclose(self) -> None:
        """Stop iterating and drop the buffered page."""
        self._planner.finished = True
        self._buffer.clear()


class AsyncMessageIterator(_PagedIterator):
    """Async iterator over one channel's messages; see ``AsyncDataClient.iter_messages``.

    Newest first, unless only ``after`` was given (then oldest first).
    """


class AsyncMultiAgentMessageIterator(_PagedIterator):
    """Async iterator over several agents' messages on one channel; see
    ``AsyncDataClient.iter_multi_agent_messages``.

    Newest first, unless only ``after`` was given (then oldest first).
    """


class _BlockingMessages(BlockingIterator[Message]):
    def collect(self) -> list[Message]:
        """Read every remaining message into a list.

        Returns:
            The messages in iteration order.
        """
        return list(self)


class MessageIterator(_BlockingMessages):
    """Blocking iterator over one channel's messages; see ``DataClient.iter_messages``."""


class MultiAgentMessageIterator(_BlockingMessages):
    """Blocking iterator over several agents' messages on one channel; see
    ``DataClient.iter_multi_agent_messages``."""
