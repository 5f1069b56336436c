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
* The multi-agent endpoint answers newest first, so forward (oldest first) multi-agent
  paging yields a window only once it is proved complete: a probe below the page's
  frontier came back empty. Otherwise the window narrows to the probe's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

__all__ = [
    "TWO_DAYS",
    "ChannelPlanner",
    "MultiAgentForwardPlanner",
    "MultiAgentPlanner",
    "PageBounds",
]

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
            frontier = _highest(
                frontier, _limited_frontier(fresh.values(), self._agent_limit, self._agent_of)
            )
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

    def _next_window(self) -> None:
        low = self._window_low
        if low <= self._floor:
            self.finished = True
            return
        # Bounds are exclusive: the next window's ``before`` is low + 1 so an id equal
        # to the old window's ``after`` is not skipped.
        self._cursor = low + 1
        self._window_low = self._low_for(self._cursor)


class MultiAgentForwardPlanner(Generic[M]):
    """Forward (oldest first) cursor over several agents' messages above ``after``.

    Pages come back newest first, so a page of the window ``(low, top)`` is only known to
    hold everything from its frontier up. A probe ``(low, frontier)`` settles the rest:
    empty means the page is the whole window, to be yielded oldest first; otherwise the
    probe is the page of the narrower window ``(low, frontier)`` and ``top`` is pushed
    to revisit once that is done. A revisited window lies inside the complete part of a
    page already seen: its page is complete when it still holds that part's oldest
    message (new messages may have come in at the top since, pushing older ones off the
    page: then it is probed like any other). Nothing assumes a short page is complete,
    so a server capping ``limit`` loses nothing. Memory: one page, plus two ids per
    narrowing.

    Args:
        after: the caller's exclusive lower bound.
        ceiling: the exclusive upper bound of the walk (a bound just past "now").
        agent_message_limit: the per-agent limit sent with each request, or ``None``.
        agent_of: the agent id a message belongs to.
    """

    def __init__(
        self,
        after: int,
        *,
        ceiling: int,
        agent_message_limit: int | None,
        agent_of: Callable[[M], int],
    ) -> None:
        self._low = after
        self._ceiling = ceiling
        self._agent_limit = agent_message_limit
        self._agent_of = agent_of
        self._top = min(ceiling, after + TWO_DAYS)
        #: Windows to revisit, innermost last: their top, and the oldest message their
        #: page held (the proof that a new page of them is whole).
        self._pending: list[tuple[int, int]] = []
        self._page: dict[int, M] | None = None  # a page waiting for its probe
        self._frontier = 0
        self._expected: int | None = None  # a revisited window's proof
        self.finished = self._top - self._low <= 1

    def next_bounds(self) -> PageBounds:
        """The bounds of the next page or probe to request (the same for every chunk)."""
        high = self._top if self._page is None else self._frontier
        return PageBounds(high, self._low)

    def feed(self, chunks: Sequence[Sequence[M]]) -> list[M]:
        """Take one response per chunk of agents; return the messages to yield, oldest first."""
        low = self._low
        high = self._top if self._page is None else self._frontier
        merged: dict[int, M] = {}
        frontier: int | None = None
        for chunk in chunks:
            fresh = _unique(chunk, lambda mid: low < mid < high)
            if fresh:
                merged.update(fresh)
                frontier = _highest(frontier, min(fresh))
                limited = _limited_frontier(fresh.values(), self._agent_limit, self._agent_of)
                frontier = _highest(frontier, limited)
        if self._page is not None:
            if not merged:  # the probe is empty: the waiting page is the whole window
                return self._complete(self._page)
            self._pending.append((self._top, self._frontier))  # revisit (frontier, top)
            self._top = high
        expected, self._expected = self._expected, None
        if expected in merged or frontier is None or frontier - low <= 1:
            return self._complete(merged)  # nothing can lie below the frontier
        self._page, self._frontier = merged, frontier
        return []

    def _complete(self, page: dict[int, M]) -> list[M]:
        """Yield ``page`` as the whole current window, then move to the next window."""
        self._page = None
        self._low = self._top - 1  # bounds are exclusive: ids from the old top on are next
        if self._pending:
            self._top, self._expected = self._pending.pop()
        elif self._low >= self._ceiling - 1:
            self.finished = True
        else:
            self._top = min(self._ceiling, self._low + TWO_DAYS)
        return sorted(page.values(), key=lambda m: m.id)


def _limited_frontier(
    messages: Iterable[M], agent_limit: int | None, agent_of: Callable[[M], int]
) -> int | None:
    """The highest oldest-id among agents that reached ``agent_limit`` in ``messages``."""
    if agent_limit is None:
        return None
    counts: dict[int, int] = {}
    oldest: dict[int, int] = {}
    for message in messages:
        agent = agent_of(message)
        counts[agent] = counts.get(agent, 0) + 1
        oldest[agent] = min(oldest.get(agent, message.id), message.id)
    limited = [oldest[a] for a, n in counts.items() if n >= agent_limit]
    return max(limited) if limited else None


def _highest(current: int | None, candidate: int | None) -> int | None:
    if candidate is None:
        return current
    return candidate if current is None else max(current, candidate)
