"""I/O-free cursor planners behind ``iter_messages`` and ``iter_multi_agent_messages``.

Server listing rules they rely on (spec §3.2): ``before``/``after`` are exclusive
snowflake bounds; with ``before`` (alone or with ``after``) a page holds the newest
``limit`` messages below ``before``; with ``after`` alone it holds the oldest ``limit``
messages above ``after``. The multi-agent endpoint accepts at most two days between
``after`` and ``before``.

Rules the planners enforce (the fixes for spec §8 #13/#14):

* Backward paging always sends ``before`` (a bound just past "now" when none is given),
  so a page is never read in the wrong order; forward paging happens only when the
  caller gave ``after`` alone, and its cursor is the newest id seen.
* Each page is filtered to the open interval still to be read and de-duplicated by id,
  so a message is yielded at most once, in order (newest first backward, oldest first
  forward).
* Iteration ends on a page with nothing new, never on a short page: a server that caps
  ``limit`` below the page size cannot end it early.
* Multi-agent pages are only trusted down to their frontier: the highest of each
  chunk's oldest id and each agent's oldest id when it reached ``agent_message_limit``.
  Messages below it are dropped and read again on the next page, so neither chunking
  nor per-agent limits lose a message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

__all__ = ["TWO_DAYS", "ChannelPlanner", "MultiAgentPlanner", "PageBounds"]

#: Two days in snowflake units (milliseconds shifted past the 22 low bits).
TWO_DAYS = (2 * 24 * 60 * 60 * 1000) << 22


class _HasId(Protocol):
    @property
    def id(self) -> int: ...


M = TypeVar("M", bound=_HasId)


@dataclass(frozen=True, slots=True)
class PageBounds:
    """The exclusive bounds of the next page request (``None`` = not sent)."""

    before: int | None
    after: int | None


def _unique(messages: Iterable[M], keep: Callable[[int], bool]) -> dict[int, M]:
    """Messages whose id passes ``keep``, one per id (the first wins)."""
    found: dict[int, M] = {}
    for message in messages:
        if keep(message.id) and message.id not in found:
            found[message.id] = message
    return found


class ChannelPlanner(Generic[M]):
    """Cursor for one channel's messages.

    Args:
        before: the caller's exclusive upper bound, or ``None``.
        after: the caller's exclusive lower bound, or ``None``.
        now_bound: the upper bound used when paging backward without ``before``.
    """

    def __init__(self, before: int | None, after: int | None, *, now_bound: int) -> None:
        self.forward = before is None and after is not None
        self._before = before if before is not None or self.forward else now_bound
        self._after = after
        self.finished = (
            self._before is not None
            and self._after is not None
            and (self._before - self._after <= 1)
        )

    def next_bounds(self) -> PageBounds:
        """The bounds of the next page to request."""
        return PageBounds(self._before, self._after)

    def feed(self, page: Sequence[M]) -> list[M]:
        """Take a page for :meth:`next_bounds`; return the messages to yield, in order."""
        low, high = self._after, self._before
        fresh = _unique(
            page,
            lambda mid: (low is None or mid > low) and (high is None or mid < high),
        )
        if not fresh:
            self.finished = True
            return []
        ordered = sorted(fresh.values(), key=lambda m: m.id, reverse=not self.forward)
        if self.forward:
            self._after = ordered[-1].id
        else:
            self._before = ordered[-1].id
            if self._after is not None and self._before - self._after <= 1:
                self.finished = True
        return ordered


class MultiAgentPlanner(Generic[M]):
    """Backward cursor over several agents' messages, in windows of at most two days.

    Args:
        before: the caller's exclusive upper bound, or ``None`` (then ``now_bound``).
        after: the caller's exclusive lower bound, or ``None`` for two days below the
            upper bound (the server's own default window).
        now_bound: the upper bound used without ``before``.
        agent_message_limit: the per-agent limit sent with each request, or ``None``.
        agent_of: the agent id a message belongs to.
    """

    def __init__(
        self,
        before: int | None,
        after: int | None,
        *,
        now_bound: int,
        agent_message_limit: int | None,
        agent_of: Callable[[M], int],
    ) -> None:
        self._cursor = before if before is not None else now_bound
        self._floor = after if after is not None else max(0, self._cursor - TWO_DAYS)
        self._agent_limit = agent_message_limit
        self._agent_of = agent_of
        self._window_low = self._low_for(self._cursor)
        self.finished = self._cursor - self._floor <= 1

    def _low_for(self, upper: int) -> int:
        return max(self._floor, upper - TWO_DAYS)

    def next_bounds(self) -> PageBounds:
        """The bounds of the next page to request (the same for every chunk)."""
        return PageBounds(self._cursor, self._window_low)

    def feed(self, chunks: Sequence[Sequence[M]]) -> list[M]:
        """Take one response per chunk of agents; return the messages to yield, newest first."""
        low, high = self._window_low, self._cursor
        frontier: int | None = None
        merged: dict[int, M] = {}
        for chunk in chunks:
            fresh = _unique(chunk, lambda mid: low < mid < high)
            if not fresh:
                continue
            frontier = _highest(frontier, min(fresh))
            merged.update(fresh)
            frontier = _highest(frontier, self._agent_frontier(fresh.values()))
        if frontier is None:
            self._next_window()
            return []
        ordered = sorted(
            (m for mid, m in merged.items() if mid >= frontier), key=lambda m: m.id, reverse=True
        )
        self._cursor = frontier
        if self._cursor - low <= 1:
            self._next_window()
        return ordered

    def _agent_frontier(self, messages: Iterable[M]) -> int | None:
        """The highest oldest-id among agents that reached ``agent_message_limit``."""
        if self._agent_limit is None:
            return None
        counts: dict[int, int] = {}
        oldest: dict[int, int] = {}
        for message in messages:
            agent = self._agent_of(message)
            counts[agent] = counts.get(agent, 0) + 1
            oldest[agent] = min(oldest.get(agent, message.id), message.id)
        limited = [oldest[a] for a, n in counts.items() if n >= self._agent_limit]
        return max(limited) if limited else None

    def _next_window(self) -> None:
        low = self._window_low
        if low <= self._floor:
            self.finished = True
            return
        # Bounds are exclusive: the next window's ``before`` is low + 1 so an id equal
        # to the old window's ``after`` is not skipped.
        self._cursor = low + 1
        self._window_low = self._low_for(self._cursor)


def _highest(current: int | None, candidate: int | None) -> int | None:
    if candidate is None:
        return current
    return candidate if current is None else max(current, candidate)
