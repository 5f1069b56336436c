"""I/O-free planner for the location history (``GET /devices/{id}/tracker_data/``).

The endpoint returns ONE page: the newest P locations (P unknown, about 20, assumed
constant only once checked: see "Short pages") inside the window ``timestamp=L`` ..
``timestamp_max=M`` (integer Unix seconds, both optional), in any order. Whether a
bound is inclusive, and whether it compares exact times or whole seconds, is unknown,
so every rule here holds under all eight mixes.
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
* Complete: a page that is empty, or holding an item older than the segment (a page is
  the newest items of its query, so it then holds all of the segment's rest), or with
  nothing new and shorter than the longest page seen so far (unless page sizes vary).
* Short pages: a page with new items that is shorter than the longest seen so far
  holds all of its window if the server's page size is constant (a count cap). The spec
  leaves that open, so it is assumed only once checked, and never by the oldest window
  (open below, or down to ``not_before``): that one always asks once more, as 0.9.2
  walked to an empty page, since only that answer tells the end of the history from a
  page cut short (by a cap on the time a page spans, say). The first two other windows
  with a short page ask once more too (also when ``max_count`` no longer needs them);
  while they do, later ones wait for the verdict. Two answers with nothing new: short
  pages end their windows from then on, and a short page's cursor time counts as whole
  (its items are released, so ``max_count`` may end there). Any check with new items:
  the page size varies (logged at INFO), every window walks on past a short page, one
  with nothing new steps down like a stall, windows a trusted short page ended are
  walked again, and those already released are recorded as a gap.
* Stall: a full page with nothing new means the two seconds at the top hold a whole
  page. The upper bound steps down one second; this is exact whenever no two
  consecutive seconds hold more than a page (then at most two stalls occur in a row).
  Otherwise the stepped-over seconds may hide locations: they are recorded in
  :attr:`LocationPlanner.gaps` and logged (INFO) on ``gps_tracker.paging``. After three
  stalls in a row (e.g. a server that ignores the bounds) the segment is given up: its
  unseen range is recorded and logged as a WARNING. Every request adds an item, lowers a
  bound or ends a segment, so the walk terminates.
* Scheduling: free request slots go to the unfinished windows with the most work left
  (expected requests, from the observed density), ties newest first; once half of
  ``max_buffered`` is held, the first unfinished window goes before all (it holds back
  every release). With a finite ``max_count``, windows beyond what the newer ones are
  expected to supply get none.
* Splitting (only once the page size is trusted, i.e. two pages of the longest length
  or ``page_size_hint`` reached, and under ``max_live_segments`` unfinished windows): when
  a slot would idle (every needed window has its request in flight), or when, with
  every slot busy, a window is expected to take more than the average (all expected
  work spread over the driver's slots) plus ``_SLACK`` of it (at least one round). The
  window with the most left keeps the newest part of its unseen range below its cursor
  and hands older parts to new windows, cut at whole seconds (each at least one second,
  none before the epoch) from its density, steadied by the density seen overall. Sizing:
  the fewest rounds ``k`` whose ``k`` requests per piece could hold what is left at
  ``_FILL_MAX`` of their capacity, then the fewest pieces that hold it at ``_FILL``
  (each piece's last page is part empty, so fewer pieces cost fewer requests). A
  piece's first page brings ``P`` new items, later ones ``P - 1`` (the cursor's second
  is covered again). With a finite ``max_count`` only what is still needed counts; for
  all of the history an open-ended window plans for as much again as is known (little
  waste past the end of history). New windows cut from an open end never plan more
  than ``max_buffered`` has room for beside the items held and those the other windows
  (but the first) are expected to bring, since all of them wait for the newer windows.
  The oldest piece stays open-ended when the window was, since only an open query
  finds where older history resumes after a gap. A split never changes the result: a
  page in flight for the cut window that reaches below its new edge just completes it
  (that page is the newest ``P`` of a query covering all of the window's rest, so it
  holds all of it). No estimate affects correctness.
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
from enum import Enum
from typing import Generic, Protocol, TypeVar
from uuid import UUID

__all__ = ["Gap", "LocationLike", "LocationPlanner", "PageRequest", "aware", "query_params"]

logger = logging.getLogger(__name__)

_US = 1_000_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_US = dt.timedelta(microseconds=1)
#: Consecutive pages without anything new after which a segment is given up.
_MAX_STALLS = 3
#: A ``max_count`` this large asks for every location (no history comes near it).
_UNLIMITED_COUNT = 2**53
#: The most of its requests' capacity a planned piece may fill (chooses the rounds).
_FILL_MAX = 0.95
#: The share of its requests' capacity a piece is planned to fill when the rounds leave
#: room (chooses the number of pieces; the rest is headroom for the density's noise).
_FILL = 0.8
#: How much longer than the average (a share of it, at least one round) a walk may be
#: expected to take before it is cut while every slot is busy.
_SLACK = 0.25
#: Short pages whose window, asked once more, must bring nothing new before a short page
#: is taken as the end of its window (see the module's rules).
_SHORT_PAGE_CHECKS = 2


class _ShortPages(Enum):
    """Whether a short page with new items proves that its window holds nothing more."""

    UNPROVEN = "unproven"  # one window's next page will tell
    TRUSTED = "trusted"  # that page brought nothing new: the page size is constant
    DISTRUSTED = "distrusted"  # it brought new items: the page size varies


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


def aware(moment: dt.datetime) -> dt.datetime:
    """``moment`` with a timezone: a naive one is local time, read as
    ``datetime.timestamp()`` reads it (as 0.9.2 did), also in a DST gap or fold, where
    ``astimezone()`` picks the other side. Exact to the microsecond."""
    if moment.tzinfo is not None:
        return moment
    whole = int(moment.replace(microsecond=0).timestamp())
    return dt.datetime.fromtimestamp(whole, dt.UTC) + dt.timedelta(microseconds=moment.microsecond)


def _micros(moment: dt.datetime) -> int:
    """Exact integer microseconds since the epoch (naive means local time)."""
    return (aware(moment) - _EPOCH) // _ONE_US


class _Segment(Generic[_L]):
    """One disjoint exact time range [lo, hi) (microseconds, None = unbounded) and its walk."""

    __slots__ = (
        "at_cursor",
        "awaiting",
        "complete",
        "count",
        "cursor",
        "ended_on_trust",
        "hi",
        "items",
        "lo",
        "newest",
        "pending",
        "sealed",
        "stalls",
        "upper",
    )

    def __init__(self, lo: int | None, hi: int | None) -> None:
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
        self.complete = False
        #: Ended by a short page, if short pages prove anything (see ``_ShortPages``).
        self.awaiting = False
        #: Every item at the cursor's time has been seen (a short page held it).
        self.sealed = False
        #: Ended by a short page while short pages were trusted.
        self.ended_on_trust = False
        self.pending: int | None = None
        self.stalls = 0
        #: Newest time seen (the cursor is the oldest).
        self.newest: int | None = None

    def lower_query(self) -> int | None:
        """The ``timestamp`` value covering the segment's lower edge."""
        return None if self.lo is None else self.lo // _US - 1

    def bottom(self) -> int | None:
        """Oldest edge of the unseen range: the cursor, or the lowered upper bound."""
        if self.cursor is None:
            return None
        if self.upper is None:
            return self.cursor
        return min(self.cursor, self.upper * _US)

    def spaced(self) -> int:
        """The intervals between the items seen, to set against :meth:`covered`."""
        return max(0, self.count - 1)

    def covered(self) -> int:
        """Microseconds from the oldest to the newest item seen.

        Only the span between items: the empty stretches from them to the window's edges
        (a silent week before a cut edge, say) say nothing of how dense the unseen rest
        is, and counted in they make it look sparse and its walk unsplittable.
        """
        if self.newest is None or self.cursor is None:
            return 0
        return self.newest - self.cursor


@dataclass(slots=True)
class _Walk(Generic[_L]):
    """A survey entry: an unfinished window, its density and what is left to fetch."""

    segment: _Segment[_L]
    density: float
    wanted: float
    work: float  # requests still needed (at least one)


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
        max_buffered: float = 1000,
        page_size_hint: int = 20,
        label: str = "tracker_data",
    ) -> None:
        """Plan the ``max_count`` newest locations with ``not_before <= t <= not_after``.

        Args:
            not_before: Oldest time wanted (inclusive), or ``None``. Naive is local time.
            not_after: Newest time wanted (inclusive), or ``None``. Naive is local time.
            max_count: How many locations at most; ``math.inf`` for all, ``<= 0`` for none.
            max_live_segments: Most unfinished time windows at once (at least the number
                of requests the driver keeps in flight, or splitting cannot fill them).
            max_buffered: Unresolved items held before only the newest window may fetch
                (``math.inf`` when the caller keeps every item anyway).
            page_size_hint: Page length trusted for splitting before one is confirmed.
            label: Names the walk (e.g. ``"device 42"``) in log messages.

        Raises:
            ValueError: ``max_count`` is NaN.
        """
        if max_count != max_count:  # NaN (math.isnan overflows on a huge int)
            raise ValueError("max_count must be a number or math.inf, not NaN")
        self._limit: int | None = (
            None
            if max_count >= _UNLIMITED_COUNT  # more than any history: all of it
            else 0
            if max_count <= 0
            else math.ceil(max_count)
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
        self._done_span = 0
        self._done_spaced = 0
        self._page_max = 0
        self._page_max_hits = 0
        self._short_pages = _ShortPages.UNPROVEN
        #: Windows whose next page checks a short page; ``_checks_left`` more are needed.
        self._checkers: list[_Segment[_L]] = []
        self._checks_left = _SHORT_PAGE_CHECKS
        #: The seconds spanned by released windows a trusted short page ended (a gap,
        #: should page sizes vary after all; live ones are reopened then).
        self._released_on_trust: Gap | None = None
        self._next_token = 0
        self.requests_sent = 0
        self.gaps: list[Gap] = []
        self.undated = 0
        lo = None if not_before is None else _micros(not_before)
        hi = None if not_after is None else _micros(not_after) + 1
        if self._limit != 0 and (lo is None or hi is None or lo < hi):
            self._segments.append(_Segment(lo, hi))

    @property
    def finished(self) -> bool:
        """True once no request is needed any more (pop the last items after this)."""
        return not self._segments

    def next_requests(self, limit: int) -> list[PageRequest]:
        """Hand out up to ``limit`` new requests, the longest walks first.

        Never empty while the planner is unfinished and every request handed out has
        been fed back. Slots no window can use are filled by splitting a window.

        Args:
            limit: The most requests to return (the driver's free slots).

        Returns:
            Requests to send now; each must be passed back to :meth:`feed` once.
        """
        if limit <= 0 or not self._segments:
            return []
        unresolved = sum(len(segment.items) for segment in self._segments)
        if unresolved >= self._max_buffered:
            # Bounded memory: only the first unfinished window may fetch, and none splits.
            first = next(
                segment for segment in self._segments if not (segment.complete or segment.awaiting)
            )
            return [] if first.pending is not None else [self._issue(first)]
        survey = self._rebalance(limit, self._survey(), self._max_buffered - unresolved)
        waiting = [walk for walk in survey if walk.segment.pending is None]
        # The longest walks first (stable: ties stay newest first); but once half the
        # buffer is used, the first unfinished window, which holds back every release.
        gate = self._segments[0] if 2 * unresolved >= self._max_buffered else None
        waiting.sort(key=lambda walk: (walk.segment is not gate, -walk.work))
        return [self._issue(walk.segment) for walk in waiting[:limit]]

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
        """Apply one page to its segment: new items, cursor, completion or stall."""
        size = len(page)
        if size > self._page_max:
            self._page_max, self._page_max_hits = size, 1
        elif size == self._page_max:
            self._page_max_hits += 1
        fresh: list[tuple[int, _L]] = []
        fresh_ids: set[UUID] = set()
        below = False
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
            newest = max(when for when, _ in fresh)
            if segment.newest is None or newest > segment.newest:
                segment.newest = newest
            if segment.cursor is None or oldest < segment.cursor:
                segment.cursor = oldest
                segment.at_cursor = set()
                segment.sealed = False
            segment.at_cursor.update(item.uuid for when, item in fresh if when == oldest)
            segment.items.extend(fresh)
            segment.count += len(fresh)
            segment.stalls = 0
            cover = oldest // _US + 1
            segment.upper = cover if segment.upper is None else min(segment.upper, cover)
        if segment in self._checkers:
            self._checked(segment, trusted=not fresh)
        short = size < self._page_max
        if size == 0 or below:
            segment.complete = True
        elif short and not fresh:
            if self._short_pages is _ShortPages.DISTRUSTED:
                self._stall(segment)  # what is left may lie below a varying cap
            else:
                segment.complete = True
        elif short:
            self._short_page(segment)
        elif not fresh:
            self._stall(segment)

    def _short_page(self, segment: _Segment[_L]) -> None:
        """A page with new items, shorter than the longest: the window's end, if proven so.

        The oldest window (open below, or down to ``not_before``) always asks once more
        (as 0.9.2 asked for an empty page there): only that page tells the end of the
        history from a page cut short. Either way a short page was not cut by the page
        size, nor can a cap on the time it spans cut between equal times: the cursor's
        time is complete (``sealed``) once the page size is known to be constant.
        """
        if self._short_pages is _ShortPages.TRUSTED:  # (a count cap that varies may cut
            segment.sealed = True  # between equal times: not before the page size is known)
        if segment is self._segments[-1]:  # the oldest window: open below, or not_before's
            self._checkers.append(segment)
        elif self._short_pages is _ShortPages.TRUSTED:
            segment.complete = True
            segment.ended_on_trust = True
        elif self._short_pages is _ShortPages.UNPROVEN:
            if len(self._checkers) < self._checks_left:
                self._checkers.append(segment)  # its next request is a check
            else:
                segment.awaiting = True

    def _checked(self, checker: _Segment[_L], *, trusted: bool) -> None:
        """A check's answer; once decided, end the windows that waited or let them walk on."""
        self._checkers.remove(checker)
        if trusted:
            if self._short_pages is not _ShortPages.UNPROVEN:
                return
            self._checks_left -= 1
            if self._checks_left:
                return
            self._short_pages = _ShortPages.TRUSTED
        else:
            if self._short_pages is _ShortPages.DISTRUSTED:
                return
            self._short_pages = _ShortPages.DISTRUSTED
            logger.info(
                "%s: the page size varies; every window walks on after a short page",
                self._label,
            )
            self._reopen_trusted_ends()
        for segment in self._segments:
            if segment.awaiting:
                segment.awaiting = False
                segment.complete = segment.ended_on_trust = trusted

    def _reopen_trusted_ends(self) -> None:
        """Walk on in the windows a short page ended; those already released are a gap."""
        for segment in self._segments:
            if segment.ended_on_trust:
                segment.ended_on_trust = segment.complete = False
        if self._released_on_trust is not None:
            why = "ended by short pages before page sizes varied"
            self._record(self._released_on_trust, why, logging.WARNING)
            self._released_on_trust = None

    def _note_ended_on_trust(self, segment: _Segment[_L]) -> None:
        """Remember the seconds of a released window a trusted short page ended."""
        assert segment.lo is not None
        assert segment.cursor is not None
        start, stop = segment.lo // _US, segment.cursor // _US + 1
        known = self._released_on_trust
        if known is not None:
            assert known.start is not None
            assert known.stop is not None
            start, stop = min(start, known.start), max(stop, known.stop)
        self._released_on_trust = Gap(start, stop)

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

    # -- splitting -----------------------------------------------------------------

    def _survey(self) -> list[_Walk[_L]]:
        """The unfinished windows still needed, newest first, with their remaining work.

        A window's density is its own, steadied by the overall one (a prior of one page at
        the overall density keeps a single page from deciding alone). What a window still
        holds is that density times its unseen range; an open-ended window holds as much
        again as is known when all of the history is wanted, else what is still needed.
        """
        segments = self._segments
        known = self._done_count
        spaced = self._done_spaced
        span = self._done_span
        for segment in segments:
            known += segment.count
            spaced += segment.spaced()
            span += segment.covered()
        overall = spaced / span if spaced > 0 and span else 1 / _US
        prior = max(1, self._page_max)
        prior_span = prior / overall
        per_page = max(1, self._page_max - 1)
        limit = self._limit
        walks: list[_Walk[_L]] = []
        ahead: float = self._done_count
        for segment in segments:
            if limit is not None and ahead >= limit:
                if segment in self._checkers:  # not needed for the result, but its check
                    walks.append(_Walk(segment, 1 / _US, 0.0, 1.0))  # decides the waiting
                continue
            if segment.complete or segment.awaiting:
                ahead += segment.count
                continue
            density = (segment.spaced() + prior) / (segment.covered() + prior_span)
            bottom = segment.hi if segment.cursor is None else segment.bottom()
            if segment.lo is not None and bottom is not None:
                wanted = density * max(0, bottom - segment.lo)
                holds = segment.count + wanted
            else:
                wanted = known if limit is None else math.inf
                holds = math.inf
            if limit is not None:
                wanted = max(0.0, min(wanted, limit - ahead - segment.count))
            walks.append(_Walk(segment, density, wanted, max(1.0, wanted / per_page)))
            ahead += holds
        return walks

    def _rebalance(self, limit: int, survey: list[_Walk[_L]], budget: float) -> list[_Walk[_L]]:
        """Split the longest walk while slots would idle or it would finish far last.

        With ``limit`` free slots and the requests in flight as the driver's concurrency:
        a slot no window can use gets a piece of the walk with the most left to fetch; and
        a walk expected to need more than ``_SLACK`` rounds beyond the average (all work
        spread over all slots) is cut to about that average, its pieces waiting for slots
        (which go to the longest walks first).

        Returns:
            The survey, taken again after any split.
        """
        page = self._page_max
        if page < 2 or not (page >= self._page_hint or self._page_max_hits >= 2):
            return survey
        capacity = limit + len(self._by_token)
        for _ in range(capacity):
            room = self._max_live - sum(not segment.complete for segment in self._segments)
            longest: _Walk[_L] | None = None
            waiting = 0
            work = 0.0
            for walk in survey:
                work += walk.work
                if walk.segment.pending is None:
                    waiting += 1
                if walk.segment.cursor is not None and (
                    longest is None or walk.wanted > longest.wanted
                ):
                    longest = walk
            if longest is None or room <= 0:
                break
            if limit > waiting:
                pieces = min(limit - waiting, room)
            else:
                rounds = max(1.0, work / capacity)
                if longest.work <= rounds + max(1.0, _SLACK * rounds):
                    break
                pieces = min(math.ceil(longest.work / rounds) - 1, room)
            wanted = longest.wanted
            if longest.segment.lo is None:
                # New windows from an open end hold items that wait for every newer window:
                # plan no more than the buffer has room for beside what is planned already.
                first = self._segments[0]
                planned = sum(
                    walk.wanted
                    for walk in survey
                    if walk.segment.lo is not None and walk.segment is not first
                )
                room_left = budget - planned
                if room_left < page:
                    break
                wanted = min(wanted, room_left)
            if not self._cut(longest.segment, wanted, longest.density, pieces):
                break
            survey = self._survey()
        return survey

    def _cut(
        self, segment: _Segment[_L], wanted: float, density: float, free: int
    ) -> list[_Segment[_L]]:
        """Split ``segment`` so it and at most ``free`` new pieces share ``wanted`` items.

        Returns:
            The new pieces (older than ``segment``, newest first); empty for no split.
        """
        page = self._page_max
        if page < 2 or wanted <= _FILL * (page - 1):
            return []  # (pages of one item bring nothing new after the first: no plan)

        def held(rounds: int, pieces: int, fill: float) -> float:
            # ``segment`` keeps walking (P - 1 new per page); a new piece's first page is P.
            return fill * (rounds * (page - 1) + pieces * (page + (rounds - 1) * (page - 1)))

        # The fewest rounds that hold ``wanted`` (held() is linear in rounds: solved, not
        # counted up, since ``wanted`` may be an estimate of billions).
        per_round = _FILL_MAX * (page - 1) * (1 + free)
        rounds = max(1, math.ceil((wanted - _FILL_MAX * free) / per_round))
        while rounds > 1 and held(rounds - 1, free, _FILL_MAX) >= wanted:
            rounds -= 1  # float rounding, either way: at most a step
        while held(rounds, free, _FILL_MAX) < wanted:
            rounds += 1
        count = 1
        while count < free and held(rounds, count, _FILL) < wanted:
            count += 1
        own = rounds * (page - 1)
        share = page + (rounds - 1) * (page - 1)
        total = own + count * share
        bottom = segment.bottom()
        assert bottom is not None
        # ``segment`` keeps its own share (its pending page, if any, is one of its rounds).
        ahead_of_cut = wanted * own / total
        edges: list[int] = []
        edge = min(int((bottom - ahead_of_cut / density) // _US), -(-bottom // _US) - 1)
        for _ in range(count):
            if edges and edge >= edges[-1]:
                edge = edges[-1] - 1  # every piece spans at least one second
            if edge <= 0 or (segment.lo is not None and edge * _US <= segment.lo):
                break  # nothing is older than the epoch (nor than the segment)
            edges.append(edge)
            edge = int((edge * _US - wanted * share / total / density) // _US)
        if not edges:
            return []
        pieces: list[_Segment[_L]] = []
        for index, top in enumerate(edges):
            last = index == len(edges) - 1
            lo = segment.lo if last else edges[index + 1] * _US
            pieces.append(_Segment(lo, top * _US))
        segment.lo = edges[0] * _US
        at = self._segments.index(segment) + 1
        self._segments[at:at] = pieces
        return pieces

    def _resolve(self) -> None:
        """Move every item whose place in the result is final to the ready list."""
        while self._segments:
            segment = self._segments[0]
            if segment.complete:
                batch, segment.items = segment.items, []
                self._segments.pop(0)
                if segment.ended_on_trust:
                    self._note_ended_on_trust(segment)
                self._done_count += segment.count
                self._done_span += segment.covered()
                self._done_spaced += segment.spaced()
            elif segment.cursor is None:
                return
            else:
                cursor = segment.cursor - 1 if segment.sealed else segment.cursor
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
