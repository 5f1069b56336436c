"""The ingestor's message ids (I/O-free): unique, time-true, ordered, bounded memory."""

from __future__ import annotations

import random

import pytest

from pydoover_anyio.ingest._ids import IdAllocator, LaneRegistry
from pydoover_anyio.snowflake import DOOVER_EPOCH, SnowflakeType, snowflake_fields

T0 = 40_000_000_000  # a millisecond after the Doover epoch (early 2026)


class FakeClock:
    def __init__(self, ms: int = T0) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_ids_carry_the_lane_the_message_type_and_the_time() -> None:
    allocator = IdAllocator(733, clock=FakeClock())
    fields = snowflake_fields(allocator.next_id())
    assert fields.instance_id == 733
    assert fields.type_id == SnowflakeType.Message
    assert fields.region_id == 0
    assert fields.timestamp_ms == T0 + DOOVER_EPOCH


def test_ids_for_now_strictly_increase_past_16_per_ms_and_when_the_clock_steps_back() -> None:
    clock = FakeClock()
    allocator = IdAllocator(5, clock=clock)
    ids = [allocator.next_id() for _ in range(40)]  # 40 in one millisecond: borrows 2 more
    clock.ms -= 1_000  # the clock steps back a second
    ids += [allocator.next_id() for _ in range(5)]
    clock.ms += 5_000
    ids += [allocator.next_id() for _ in range(5)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    times = [snowflake_fields(i).timestamp_ms - DOOVER_EPOCH for i in ids]
    assert times[:16] == [T0] * 16
    assert times[16:32] == [T0 + 1] * 16
    assert times[-1] == T0 + 4_000


def test_an_explicit_timestamp_becomes_the_ids_time_and_ties_keep_put_order() -> None:
    allocator = IdAllocator(9, clock=FakeClock())
    at = T0 + DOOVER_EPOCH - 60_000  # a minute ago, in Unix ms
    ids = [allocator.id_at(at) for _ in range(16)]
    assert ids == sorted(ids)
    assert {snowflake_fields(i).timestamp_ms for i in ids} == {at}
    spilled = allocator.id_at(at)  # the 17th in one millisecond spills into the next
    assert snowflake_fields(spilled).timestamp_ms == at + 1
    assert allocator.id_at(at + 1) > spilled


def test_now_and_explicit_timestamps_in_the_same_ms_never_collide() -> None:
    clock = FakeClock()
    allocator = IdAllocator(1, clock=clock)
    now_unix = T0 + DOOVER_EPOCH
    ids = []
    for index in range(100):
        ids.append(allocator.next_id() if index % 2 else allocator.id_at(now_unix))
    assert len(set(ids)) == len(ids)
    now_ids = ids[1::2]
    assert now_ids == sorted(now_ids)


def test_random_timestamps_never_repeat_an_id_with_a_small_memory() -> None:
    rng = random.Random(7)
    allocator = IdAllocator(3, capacity=64, clock=FakeClock())
    seen: set[int] = set()
    refused = 0
    for _ in range(5_000):
        at = T0 + DOOVER_EPOCH + rng.randrange(200)
        try:
            minted = allocator.id_at(at)
        except ValueError:
            refused += 1
            continue
        assert minted not in seen
        seen.add(minted)
    assert refused > 0  # some timestamps fell behind what it remembers ...
    assert len(seen) > 1_000  # ... but most were served
    assert len(allocator._used) <= 64


def test_a_timestamp_older_than_the_memory_is_refused_not_risked() -> None:
    allocator = IdAllocator(3, capacity=4, clock=FakeClock())
    base = T0 + DOOVER_EPOCH
    for offset in range(6):  # six distinct milliseconds: the two oldest are forgotten
        allocator.id_at(base + offset)
    assert allocator.horizon_ms == base + 1
    with pytest.raises(ValueError, match="forget"):
        allocator.id_at(base + 1)
    allocator.id_at(base + 2)  # still remembered
    # "now" ids stay above the horizon even when the clock lags behind it
    assert snowflake_fields(allocator.next_id()).timestamp_ms > base + 1


def test_timestamps_outside_the_snowflake_range_are_refused() -> None:
    allocator = IdAllocator(3)
    with pytest.raises(ValueError, match="2025-01-01"):
        allocator.id_at(DOOVER_EPOCH - 1)
    with pytest.raises(ValueError, match="instance_id"):
        IdAllocator(1024)


def test_lanes_of_live_ingestors_differ_and_skip_zero() -> None:
    registry = LaneRegistry()
    lanes = [registry.acquire() for _ in range(1023)]
    assert sorted(lanes) == list(range(1, 1024))
    with pytest.raises(RuntimeError, match="in use"):
        registry.acquire()
    registry.release(lanes[0])
    assert registry.acquire() == lanes[0]  # the only free one


def test_a_lane_given_back_is_not_handed_out_again_soon() -> None:
    registry = LaneRegistry()
    first = registry.acquire()
    registry.release(first)
    assert all(registry.acquire() != first for _ in range(500))


def test_a_lane_handed_out_again_carries_on_above_its_last_now_id() -> None:
    registry = LaneRegistry()
    clock = FakeClock()
    lane = registry.acquire(7)
    first = IdAllocator(7, clock=clock)
    ids = [first.next_id() for _ in range(160)]  # ran 10 ms ahead of the clock
    registry.release(lane, first)
    registry.acquire(7)
    second = registry.allocator(7, clock=clock)  # the clock has not caught up
    assert second.next_id() > max(ids)


def test_an_explicit_lane_is_reserved_and_checked() -> None:
    registry = LaneRegistry()
    assert registry.acquire(0) == 0
    with pytest.raises(ValueError, match="in use"):
        registry.acquire(0)
    with pytest.raises(ValueError, match=r"0\.\.1023"):
        registry.acquire(2000)
    registry.release(0)
    assert registry.acquire(0) == 0
