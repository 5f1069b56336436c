"""I/O-free planner for the location history (``GET /devices/{id}/tracker_data/``).

The endpoint returns ONE page: the newest P locations (P unknown but constant, about 20)
inside the window ``timestamp=L`` .. ``timestamp_max=M`` (integer Unix seconds, both
optional), in any order. Whether a bound is inclusive, and whether it compares exact
times or whole seconds, is unknown, so every rule here holds under all eight mixes.
The planner sends nothing itself (like h11): a driver asks it for requests, sends them
concurrently, feeds each page back in any order and pops the locations it resolved::

    planner: LocationPlanner[TrackerData] = LocationPlanner(not_before, not_after, max_count)
    while not planner.finished:
        requests = planner.next_requests(8)
        ...  # send them concurrently; for each answer: planner.feed(request, page)
        yield from planner.pop_resolved()

Rules this module enforces (times are integer microseconds, never floats):

* Covering window: an exact range [a, b) with integer seconds a, b is queried as
  ``timestamp=a-1&timestamp_max=b``; under every semantics that window holds all of
  [a, b) and nothing outside [a-1, b+1). Items outside the range are dropped here; the
  user bounds are applied exactly (``not_before <= t <= not_after``).
* Segments: the wanted range is cut into disjoint segments, newest first, each walked by
  one request at a time. A segment's cursor c is the oldest time it has seen; every item
  of the segment newer than c has been seen, so an item is new iff it is older than c, or
  at c with an unseen uuid. After a page with new items the upper bound becomes
  ``floor(c)+1`` (c's whole second again, so same-second siblings are never skipped).
* Complete: a page that is empty, shorter than the longest page seen so far (a short
  page holds its whole window) or holding an item older than the segment.
* Stall: a full page with nothing new means the two seconds at the top hold a whole
  page. The upper bound steps down one second; this is exact whenever no two
  consecutive seconds hold more than a page (then at most two stalls occur in a row).
  Otherwise the stepped-over seconds may hide locations: they are recorded in
  :attr:`LocationPlanner.gaps` and logged (INFO) on ``gps_tracker.paging``. After three
  stalls in a row (e.g. a server that ignores the bounds) the segment is given up: its
  unseen range is recorded and logged as a WARNING. Every request adds an item, lowers a
  bound or ends a segment, so the walk terminates.
* Concurrency: after a full page with new items, a segment may split the rest of its
  range: it keeps the newest window below its cursor and hands out older windows of the
  same width (from the density that page showed), under ``max_live_segments``. The
  oldest window stays open-ended when the segment was, since only an open query finds
  where older history resumes after a gap. With a finite ``max_count`` the windows hold
  about half a page each (most finish in one request) and cover only what is still
  needed; older segments get no request while newer ones are expected to supply enough.
  For all of the history they hold about four pages each (fewer requests per location)
  and at most double what is known to exist (little waste past the end of history).
  The page size is trusted for splitting once confirmed (two pages of the longest
  length) or once it reaches ``page_size_hint``; correctness never depends on it.
* Release: items are resolved newest first (ties by uuid) as soon as every newer
  segment is complete; a segment's own items newer than its cursor are final too. Only
  the first incomplete segment may keep fetching once ``max_buffered`` unresolved items
  are held, which bounds memory for :meth:`AsyncClient.iter_locations`.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar
from uuid import UUID

__all__ = ["Gap", "LocationLike", "LocationPlanner", "PageRequest", "query_params"]

logger = logging.getLogger(__name__)

_US = 1_000_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_US = dt.timedelta(microseconds=1)
#: Consecutive pages without anything new after which a segment is given up.
_MAX_STALLS = 3
#: Pages per window when all history is wanted (fewer, longer windows cost fewer requests).
_OPEN_WINDOW_PAGES = 4


class LocationLike(Protocol):
    """What the planner reads from a location: its time and its unique id."""

    @property
    def datetime(self) -> dt.datetime | None:
        """When the location was taken (aware); ``None`` items are skipped."""

    @property
    def uuid(self) -> UUID:
        """The location's unique id."""


_L = TypeVar("_L", bound=LocationLike)


@dataclass(frozen=True, slots=True)
class PageRequest:
    """One ``GET /devices/{id}/tracker_data/`` to send, then to pass back to ``feed``.

    Attributes:
        timestamp: The ``timestamp`` (lower bound) query value, or ``None`` to omit it.
        timestamp_max: The ``timestamp_max`` (upper bound) query value, or ``None``.
        token: Opaque id pairing the answer with the planner's state.
    """

    timestamp: int | None
    timestamp_max: int | None
    token: int


def query_params(request: PageRequest) -> tuple[tuple[str, str], ...]:
    """The query of ``request`` as 0.9.2 sends it: ``timestamp`` first, only those set.

    Args:
        request: A request from :meth:`LocationPlanner.next_requests`.

    Returns:
        ``(name, value)`` pairs; empty for the plain ``/tracker_data/`` call.
    """
    params: list[tuple[str, str]] = []
    if request.timestamp is not None:
        params.append(("timestamp", str(request.timestamp)))
    if request.timestamp_max is not None:
        params.append(("timestamp_max", str(request.timestamp_max)))
    return tuple(params)


@dataclass(frozen=True, slots=True)
class Gap:
    """Whole seconds ``start <= s < stop`` that may hold locations the planner missed.

    Attributes:
        start: First second of the range, or ``None`` for everything older than ``stop``.
        stop: One past the last second of the range, or ``None`` for no upper end.
    """

    start: int | None
    stop: int | None

    def __contains__(self, second: object) -> bool:
        """Whether the integer Unix second ``second`` lies in the range."""
        if not isinstance(second, int):
            return False
        return (self.start is None or self.start <= second) and (
            self.stop is None or second < self.stop
        )


def _micros(moment: dt.datetime) -> int:
    """Exact integer microseconds since the epoch (naive means local time)."""
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return (moment - _EPOCH) // _ONE_US


class _Segment(Generic[_L]):
    """One disjoint exact time range [lo, hi) (microseconds, None = unbounded) and its walk."""

    __slots__ = (
        "at_cursor",
        "complete",
        "count",
        "cursor",
        "expected",
        "hi",
        "items",
        "lo",
        "pending",
        "stalls",
        "upper",
    )

    def __init__(self, lo: int | None, hi: int | None, expected: float) -> None:
        self.lo = lo
        self.hi = hi
        #: Current ``timestamp_max`` (seconds): ceil(hi), then lowered by the walk.
        self.upper: int | None = None if hi is None else -(-hi // _US)
        #: Oldest time seen; all items of the segment newer than it have been seen.
        self.cursor: int | None = None
        self.at_cursor: set[UUID] = set()
        #: Seen items not yet released, as (microseconds, item).
        self.items: list[tuple[int, _L]] = []
        self.count = 0
        self.expected = expected
        self.complete = False
        self.pending: int | None = None
        self.stalls = 0

    def estimate(self) -> float:
        """Items this segment holds: exact once complete, else the larger guess."""
        return self.count if self.complete else max(self.count, self.expected)

    def lower_query(self) -> int | None:
        """The ``timestamp`` value covering the segment's lower edge."""
        return None if self.lo is None else self.lo // _US - 1


class LocationPlanner(Generic[_L]):
    """Plans the pages of one location walk and merges them, exact and newest first.

    Attributes:
        requests_sent: Requests handed out so far.
        gaps: Seconds stepped over or given up without proof that they held nothing
            more; empty means the result is exact.
        undated: Items seen without a datetime (they cannot be placed, so are skipped).
    """

    def __init__(
        self,
        not_before: dt.datetime | None,
        not_after: dt.datetime | None,
        max_count: float,
        *,
        max_live_segments: int = 16,
        max_buffered: int = 1000,
        page_size_hint: int = 20,
        label: str = "tracker_data",
    ) -> None:
        """Plan the ``max_count`` newest locations with ``not_before <= t <= not_after``.

        Args:
            not_before: Oldest time wanted (inclusive), or ``None``. Naive is local time.
            not_after: Newest time wanted (inclusive), or ``None``. Naive is local time.
            max_count: How many locations at most; ``math.inf`` for all, ``<= 0`` for none.
            max_live_segments: Most unfinished time windows at once (about twice the
                number of requests the driver sends at a time).
            max_buffered: Unresolved items held before only the newest window may fetch.
            page_size_hint: Page length trusted for splitting before one is confirmed.
            label: Names the walk (e.g. ``"device 42"``) in log messages.

        Raises:
            ValueError: ``max_count`` is NaN.
        """
        if math.isnan(max_count):
            raise ValueError("max_count must be a number or math.inf, not NaN")
        self._limit: int | None = (
            None if max_count == math.inf else 0 if max_count <= 0 else math.ceil(max_count)
        )
        self._max_live = max(1, max_live_segments)
        self._max_buffered = max_buffered
        self._page_hint = page_size_hint
        self._label = label
        self._segments: list[_Segment[_L]] = []
        self._by_token: dict[int, _Segment[_L]] = {}
        self._ready: list[_L] = []
        self._resolved = 0
        self._done_count = 0
        self._page_max = 0
        self._page_max_hits = 0
        self._next_token = 0
        self.requests_sent = 0
        self.gaps: list[Gap] = []
        self.undated = 0
        lo = None if not_before is None else _micros(not_before)
        hi = None if not_after is None else _micros(not_after) + 1
        if self._limit != 0 and (lo is None or hi is None or lo < hi):
            self._segments.append(_Segment(lo, hi, math.inf))

    @property
    def finished(self) -> bool:
        """True once no request is needed any more (pop the last items after this)."""
        return not self._segments

    def next_requests(self, limit: int) -> list[PageRequest]:
        """Hand out up to ``limit`` new requests, newest range first.

        Never empty while the planner is unfinished and every request handed out has
        been fed back.

        Args:
            limit: The most requests to return.

        Returns:
            Requests to send now; each must be passed back to :meth:`feed` once.
        """
        requests: list[PageRequest] = []
        ahead: float = self._done_count
        unresolved = sum(len(segment.items) for segment in self._segments)
        for index, segment in enumerate(self._segments):
            if len(requests) >= limit or (self._limit is not None and ahead >= self._limit):
                break
            if not segment.complete and segment.pending is None:
                if index > 0 and unresolved >= self._max_buffered:
                    break
                requests.append(self._issue(segment))
            ahead += segment.estimate()
        return requests

    def feed(self, request: PageRequest, page: Sequence[_L]) -> None:
        """Take the answer to ``request`` (the page, in the order received).

        Answers arriving after the planner finished are ignored.

        Args:
            request: A request from :meth:`next_requests`, not fed before.
            page: The locations the server returned for it.

        Raises:
            ValueError: ``request`` is not outstanding (and the planner is unfinished).
        """
        segment = self._by_token.pop(request.token, None)
        if segment is None:
            if self.finished:
                return
            raise ValueError(f"{request!r} is not an outstanding request of this planner")
        segment.pending = None
        self._absorb(segment, page)
        self._resolve()

    def pop_resolved(self) -> list[_L]:
        """Take the locations resolved since the last call, newest first.

        Returns:
            The next locations of the result, in order.
        """
        ready, self._ready = self._ready, []
        return ready

    def _issue(self, segment: _Segment[_L]) -> PageRequest:
        token = self._next_token
        self._next_token += 1
        self.requests_sent += 1
        segment.pending = token
        self._by_token[token] = segment
        return PageRequest(segment.lower_query(), segment.upper, token)

    def _absorb(self, segment: _Segment[_L], page: Sequence[_L]) -> None:
        """Apply one page to its segment: new items, cursor, completion, stall or split."""
        size = len(page)
        if size > self._page_max:
            self._page_max, self._page_max_hits = size, 1
        elif size == self._page_max:
            self._page_max_hits += 1
        upper_before = segment.upper
        fresh: list[tuple[int, _L]] = []
        fresh_ids: set[UUID] = set()
        below = False
        in_range = 0
        for item in page:
            if item.datetime is None:
                self._note_undated()
                continue
            when = _micros(item.datetime)
            if segment.lo is not None and when < segment.lo:
                below = True
                continue
            if segment.hi is not None and when >= segment.hi:
                continue
            in_range += 1
            cursor = segment.cursor
            if cursor is not None and (
                when > cursor or (when == cursor and item.uuid in segment.at_cursor)
            ):
                continue
            if item.uuid not in fresh_ids:
                fresh_ids.add(item.uuid)
                fresh.append((when, item))
        if fresh:
            oldest = min(when for when, _ in fresh)
            if segment.cursor is None or oldest < segment.cursor:
                segment.cursor = oldest
                segment.at_cursor = set()
            segment.at_cursor.update(item.uuid for when, item in fresh if when == oldest)
            segment.items.extend(fresh)
            segment.count += len(fresh)
            segment.stalls = 0
            cover = oldest // _US + 1
            segment.upper = cover if segment.upper is None else min(segment.upper, cover)
        if size == 0 or size < self._page_max or below:
            segment.complete = True
        elif not fresh:
            self._stall(segment)
        else:
            # The page covered [cursor, top): up to the query's upper bound, or (first page
            # of an open range, where every item was new) up to its newest item.
            top = max(when for when, _ in fresh) if upper_before is None else upper_before * _US
            if segment.hi is not None:
                top = min(top, segment.hi)
            self._split(segment, in_range, top)

    def _note_undated(self) -> None:
        if not self.undated:
            logger.warning("%s: skipping locations without a datetime", self._label)
        self.undated += 1

    def _stall(self, segment: _Segment[_L]) -> None:
        """A full page brought nothing new: step the upper bound down, or give up."""
        segment.stalls += 1
        if segment.cursor is not None:
            reference: int | None = segment.cursor // _US
        else:
            reference = None if segment.hi is None else (segment.hi - 1) // _US
        lowest = None if segment.lo is None else segment.lo // _US
        step = segment.upper
        if step is None or reference is None or segment.stalls >= _MAX_STALLS:
            # No bound left to lower (only undated items came back), or stuck for good.
            segment.complete = True
            stop = None if reference is None else reference + 1
            self._record(Gap(lowest, stop), "gave up: pages bring nothing new", logging.WARNING)
            return
        segment.upper = step - 1
        start = step - 1 if lowest is None else max(step - 1, lowest)
        stop = min(step, reference) + 1
        if start < stop:
            self._record(Gap(start, stop), "stepped over seconds that filled a page", logging.INFO)
        if segment.lo is not None and segment.upper * _US <= segment.lo:
            segment.complete = True

    def _record(self, gap: Gap, why: str, level: int) -> None:
        self.gaps.append(gap)
        logger.log(
            level,
            "%s: locations in Unix seconds [%s, %s) may be missing: %s",
            self._label,
            "-inf" if gap.start is None else gap.start,
            "+inf" if gap.stop is None else gap.stop,
            why,
        )

    def _split(self, segment: _Segment[_L], in_range: int, top: int) -> None:
        """Cut the rest of ``segment`` below its cursor into windows fetched in parallel."""
        free = self._max_live - sum(1 for other in self._segments if not other.complete)
        trusted = self._page_max >= self._page_hint or self._page_max_hits >= 2
        if free <= 0 or not trusted or segment.cursor is None:
            return
        page = self._page_max
        known = self._ahead(segment) + segment.count
        if self._limit is None:
            # Big windows (few requests each), at most doubling what is known to exist.
            target = _OPEN_WINDOW_PAGES * page
            windows = min(free, max(1, int(known // target)))
        else:
            need = self._limit - known
            if need <= 0:
                return
            # Half a page each (most finish in one request), more when capped by `free`.
            target = max(1, page // 2, min(_OPEN_WINDOW_PAGES * page, math.ceil(need / free)))
            windows = min(free, math.ceil(need / target))
        cursor = segment.cursor
        span = max(top - cursor, _US)
        width = max(1, -(-target * span // (in_range * _US)))
        density = in_range / span
        edge = cursor // _US + 1 - width
        if segment.lo is not None and edge * _US <= segment.lo:
            return
        children: list[_Segment[_L]] = []
        for _ in range(windows - 1):
            bottom = edge - width
            if segment.lo is not None and bottom * _US <= segment.lo:
                break
            children.append(_Segment(bottom * _US, edge * _US, density * width * _US))
            edge = bottom
        rest = math.inf if segment.lo is None else density * (edge * _US - segment.lo)
        children.append(_Segment(segment.lo, edge * _US, rest))
        segment.lo = (cursor // _US + 1 - width) * _US
        segment.expected = segment.count + density * (cursor - segment.lo)
        at = self._segments.index(segment) + 1
        self._segments[at:at] = children

    def _ahead(self, segment: _Segment[_L]) -> float:
        """Items expected from everything newer than ``segment``."""
        ahead: float = self._done_count
        for other in self._segments:
            if other is segment:
                break
            ahead += other.estimate()
        return ahead

    def _resolve(self) -> None:
        """Move every item whose place in the result is final to the ready list."""
        while self._segments:
            segment = self._segments[0]
            if segment.complete:
                batch, segment.items = segment.items, []
                self._segments.pop(0)
                self._done_count += segment.count
            elif segment.cursor is None:
                return
            else:
                cursor = segment.cursor
                batch = [pair for pair in segment.items if pair[0] > cursor]
                segment.items = [pair for pair in segment.items if pair[0] <= cursor]
            batch.sort(key=lambda pair: (-pair[0], pair[1].uuid))
            if self._limit is not None:
                batch = batch[: self._limit - self._resolved]
            self._ready.extend(item for _, item in batch)
            self._resolved += len(batch)
            if self._limit is not None and self._resolved >= self._limit:
                self._segments.clear()
                self._by_token.clear()
                return
            if not segment.complete:
                return
