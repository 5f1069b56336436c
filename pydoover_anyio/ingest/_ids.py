"""Client-chosen message ids for ingestion: unique, time-true and ordered (I/O-free).

An ingested message's id is a snowflake (spec §5) laid out as pydoover lays them out::

    bits 63..22  milliseconds since DOOVER_EPOCH   the put time, or the given timestamp
    bits 21..18  region id                         0
    bits 17..8   instance id                       the ingestor's lane (1..1023)
    bits  7..4   type id                           SnowflakeType.Message
    bits  3..0   sequence                          0..15 within one millisecond

Rules this module enforces:

* Two ingestors alive in one process never share a lane (:class:`LaneRegistry`), and the
  last 512 lanes given up are avoided while others are free. Lane 0, the default of
  ``generate_snowflake_id`` and of pydoover, is never picked at random. A lane handed out
  again carries on above the last millisecond its previous holder minted "now" ids in.
* Within one ingestor an id is never handed out twice: the allocator remembers how many
  sequence numbers it used in each millisecond it minted in.
* Ids minted for "now" are strictly increasing, even when the clock steps back: a
  millisecond whose 16 sequence numbers are used borrows the next one, so above 16 ids
  per millisecond the ids' time runs ahead of the clock.
* An id for an explicit timestamp carries that millisecond; ids sharing it get
  increasing sequence numbers in the order they were minted, the 17th and later spill
  into the following milliseconds.
* Memory is bounded: the allocator remembers at most ``capacity`` milliseconds. When it
  must forget, it forgets the oldest first and refuses (``ValueError``) any later
  timestamp at or before the newest millisecond it forgot, instead of risking a
  duplicate.
"""

from __future__ import annotations

import heapq
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final

from ..snowflake import DOOVER_EPOCH, MAX_SNOWFLAKE, TIMESTAMP_SHIFT, SnowflakeType

__all__ = ["DEFAULT_CAPACITY", "LANES", "IdAllocator", "LaneRegistry"]

#: Milliseconds an allocator remembers (a dict entry and a heap slot each, ~100 bytes).
DEFAULT_CAPACITY: Final = 1 << 16
#: Instance ids an ingestor may use; 0 is only used when asked for explicitly.
MAX_LANE: Final = 0x3FF
_SEQUENCES: Final = 16
_MAX_MS: Final = MAX_SNOWFLAKE >> TIMESTAMP_SHIFT
_TYPE_BITS: Final = int(SnowflakeType.Message) << 4
#: Lanes handed back recently, avoided while other free lanes exist.
_RECENT: Final = 512


def _clock_ms() -> int:
    """Milliseconds since the Doover epoch, from the wall clock."""
    return time.time_ns() // 1_000_000 - DOOVER_EPOCH


class IdAllocator:
    """Mints the message ids of one ingestor (one event loop: not thread-safe).

    Args:
        instance_id: The lane, 0..1023 (bits 17..8 of every id).
        region_id: 0..15 (bits 21..18).
        capacity: How many distinct milliseconds are remembered (see the module).
        clock: Milliseconds since the Doover epoch (injectable for tests).
        after_ms: "Now" ids are minted after this millisecond (since the Doover epoch):
            where a previous holder of the lane stopped.

    Raises:
        ValueError: A part out of range.
    """

    def __init__(
        self,
        instance_id: int,
        *,
        region_id: int = 0,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], int] = _clock_ms,
        after_ms: int = -1,
    ) -> None:
        if not 0 <= instance_id <= MAX_LANE:
            raise ValueError(f"instance_id must be in 0..{MAX_LANE}, got {instance_id}")
        if not 0 <= region_id <= 0xF:
            raise ValueError(f"region_id must be in 0..15, got {region_id}")
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.instance_id = instance_id
        self._low = region_id << 18 | instance_id << 8 | _TYPE_BITS
        self._capacity = capacity
        self._clock = clock
        self._used: dict[int, int] = {}  # ms -> sequence numbers used
        self._heap: list[int] = []  # the keys of _used, oldest on top
        self._floor = -1  # the newest forgotten ms; nothing at or before it is minted
        self._now_floor = after_ms + 1  # "now" ids are minted at or after this ms
        self._last_now = after_ms  # the ms of the newest "now" id (or the handed-over mark)

    @property
    def last_now_ms(self) -> int:
        """The millisecond (since the Doover epoch) of the newest "now" id, or -1."""
        return self._last_now

    @property
    def horizon_ms(self) -> int | None:
        """Unix ms of the newest forgotten millisecond (timestamps up to it are refused)."""
        return None if self._floor < 0 else self._floor + DOOVER_EPOCH

    def next_id(self) -> int:
        """An id for now, greater than every id :meth:`next_id` returned before.

        Raises:
            ValueError: The clock is outside the snowflake range.
        """
        ms = max(self._clock(), self._last_now, self._now_floor, self._floor + 1)
        ms, sequence = self._take(ms)
        self._last_now = ms
        return ms << TIMESTAMP_SHIFT | self._low | sequence

    def id_at(self, unix_ms: int) -> int:
        """An id for the instant ``unix_ms`` (normally its millisecond, see the module).

        Raises:
            ValueError: ``unix_ms`` is before 2025-01-01, past the snowflake range, or at
                or before a millisecond this allocator had to forget.
        """
        ms = unix_ms - DOOVER_EPOCH
        if not 0 <= ms <= _MAX_MS:
            raise ValueError(
                f"timestamp {unix_ms} ms cannot be a Doover id (2025-01-01 to the year 2094)"
            )
        if ms <= self._floor:
            raise ValueError(
                f"timestamp {unix_ms} ms is at or before {self.horizon_ms} ms, the newest of"
                f" the {self._capacity} milliseconds this ingestor had to forget; ingest"
                " data that old with a new ingestor (or in time order)"
            )
        ms, sequence = self._take(ms)
        return ms << TIMESTAMP_SHIFT | self._low | sequence

    def _take(self, ms: int) -> tuple[int, int]:
        used = self._used
        while True:
            count = used.get(ms, 0)
            if count < _SEQUENCES:
                break
            ms += 1  # this millisecond is full: borrow the next one
        if ms > _MAX_MS:
            raise ValueError("the snowflake range is exhausted")
        if count == 0:
            heapq.heappush(self._heap, ms)
        used[ms] = count + 1
        while len(used) > self._capacity:  # forget the oldest; it becomes the floor
            oldest = heapq.heappop(self._heap)
            del used[oldest]
            self._floor = max(self._floor, oldest)
        return ms, count


class LaneRegistry:
    """Hands out instance ids so no two live ingestors of a process share one."""

    def __init__(self, *, choose: Callable[[list[int]], int] = secrets.choice) -> None:
        self._lock = threading.Lock()
        self._busy: set[int] = set()
        self._recent: deque[int] = deque(maxlen=_RECENT)
        self._marks: dict[int, int] = {}  # lane -> last "now" millisecond of its last holder
        self._choose = choose

    def acquire(self, wanted: int | None = None) -> int:
        """Reserve ``wanted``, or a random free lane in 1..1023.

        Raises:
            ValueError: ``wanted`` is out of range or held by a live ingestor.
            RuntimeError: Every lane is held.
        """
        with self._lock:
            if wanted is not None:
                if not 0 <= wanted <= MAX_LANE:
                    raise ValueError(f"instance_id must be in 0..{MAX_LANE}, got {wanted}")
                if wanted in self._busy:
                    raise ValueError(
                        f"instance_id {wanted} is in use by another ingestor of this process"
                    )
                lane = wanted
            else:
                recent = set(self._recent)
                free = [n for n in range(1, MAX_LANE + 1) if n not in self._busy]
                fresh = [n for n in free if n not in recent]
                if not free:
                    raise RuntimeError(f"all {MAX_LANE} ingestor lanes of this process are in use")
                lane = self._choose(fresh or free)
            self._busy.add(lane)
            return lane

    def allocator(self, lane: int, *, clock: Callable[[], int] = _clock_ms) -> IdAllocator:
        """An id allocator for ``lane`` that carries on where its last holder stopped."""
        with self._lock:
            mark = self._marks.get(lane, -1)
        return IdAllocator(lane, after_ms=mark, clock=clock)

    def release(self, lane: int, allocator: IdAllocator | None = None) -> None:
        """Give ``lane`` back (with the allocator that used it, to remember its mark)."""
        with self._lock:
            if allocator is not None:
                mark = max(self._marks.get(lane, -1), allocator.last_now_ms)
                if mark >= 0:
                    self._marks[lane] = mark
            self._busy.discard(lane)
            if lane in self._recent:
                self._recent.remove(lane)
            self._recent.append(lane)

    def forked(self) -> None:
        """In a forked child: a new lock (another thread may have held the parent's). The
        parent's lanes stay reserved: its live ingestors go on using them."""
        self._lock = threading.Lock()


#: The process-wide registry every ingestor takes its lane from.
LANES: Final = LaneRegistry()
os.register_at_fork(after_in_child=LANES.forked)
