"""Snowflake ids: the worked example of spec §5, parity with pydoover's helpers, naive = UTC,
query bounds, and unique client-side ids."""

from __future__ import annotations

import os
import random
import threading
from datetime import UTC, datetime, timedelta, timezone

import pydoover.api.data._base as pydoover_base
import pydoover.utils.snowflake as theirs
import pytest
from fork_support import exit_code_in_fork, held_by_another_thread

from pydoover_anyio import snowflake
from pydoover_anyio.snowflake import (
    DOOVER_EPOCH,
    MAX_SNOWFLAKE,
    SnowflakeFields,
    SnowflakeType,
    datetime_to_ms,
    generate_snowflake_id,
    generate_snowflake_id_at,
    get_datetime_from_snowflake,
    ms_to_datetime,
    snowflake_bound,
    snowflake_fields,
    snowflake_to_ms,
)

INSTANT = datetime(2026, 3, 15, 12, 34, 56, 789000, tzinfo=UTC)
BOUND = 158915873636089856
MESSAGE_ID = 158915873636352805


def test_epoch() -> None:
    assert DOOVER_EPOCH == 1735689600000 == theirs.DOOVER_EPOCH
    assert datetime_to_ms(snowflake.DOOVER_EPOCH_DATETIME) == DOOVER_EPOCH


def test_worked_example_of_spec_section_5() -> None:
    assert datetime_to_ms(INSTANT) == 1_773_578_096_789
    assert datetime_to_ms(INSTANT) - DOOVER_EPOCH == 37_888_496_789
    assert snowflake_bound(INSTANT) == BOUND == 0x234952525400000
    minted = generate_snowflake_id_at(INSTANT, SnowflakeType.Message, region_id=1, instance_id=3)
    assert minted == BOUND | 1 << 18 | 3 << 8 | 2 << 4
    assert minted | 5 == MESSAGE_ID == 0x234952525440325
    assert MESSAGE_ID.bit_length() == 58
    assert snowflake_to_ms(MESSAGE_ID) == 1_773_578_096_789
    assert get_datetime_from_snowflake(MESSAGE_ID) == INSTANT
    assert snowflake_fields(MESSAGE_ID) == SnowflakeFields(1_773_578_096_789, 1, 3, 2, 5)
    assert int(float(MESSAGE_ID)) == 158915873636352800 != MESSAGE_ID  # why ids stay ints


def test_types_match_pydoover() -> None:
    for member in SnowflakeType:
        assert getattr(theirs.SnowflakeType, member.name) == member.value


def random_instants(count: int) -> list[datetime]:
    rng = random.Random(20260315)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        base + timedelta(microseconds=rng.randrange(0, 60 * 365 * 86400 * 10**6))
        for _ in range(count)
    ]


def test_generate_at_matches_pydoover_on_random_aware_datetimes() -> None:
    for at in random_instants(2000):
        for zone in (UTC, timezone(timedelta(hours=-7, minutes=-30))):
            local = at.astimezone(zone)
            assert generate_snowflake_id_at(local) == theirs.generate_snowflake_id_at(local)
            assert generate_snowflake_id_at(local, 9, 15, 1023) == theirs.generate_snowflake_id_at(
                local, 9, 15, 1023
            )
            assert snowflake_bound(local) == pydoover_base._to_snowflake(local)


def test_id_to_datetime_matches_pydoover_on_random_ids() -> None:
    rng = random.Random(5)
    for _ in range(2000):
        snowflake_id = rng.randrange(0, MAX_SNOWFLAKE + 1)
        assert get_datetime_from_snowflake(snowflake_id) == theirs.get_datetime_from_snowflake(
            snowflake_id
        )


def test_naive_datetimes_are_utc() -> None:
    naive = INSTANT.replace(tzinfo=None)
    assert datetime_to_ms(naive) == datetime_to_ms(INSTANT)
    assert snowflake_bound(naive) == BOUND
    assert generate_snowflake_id_at(naive) == generate_snowflake_id_at(INSTANT)


def test_millisecond_conversions_are_exact() -> None:
    assert datetime_to_ms(INSTANT + timedelta(microseconds=999)) == 1_773_578_096_789
    assert datetime_to_ms(datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)) == -1
    for at in random_instants(500):
        ms = datetime_to_ms(at)
        assert ms_to_datetime(ms) == at.replace(microsecond=at.microsecond // 1000 * 1000)
        assert ms_to_datetime(ms).tzinfo is UTC


def test_bounds() -> None:
    assert snowflake_bound(MESSAGE_ID) == MESSAGE_ID
    assert snowflake_bound(datetime(2024, 6, 1, tzinfo=UTC)) == 0
    assert snowflake_bound(datetime(9999, 1, 1, tzinfo=UTC)) == MAX_SNOWFLAKE >> 22 << 22
    with pytest.raises(TypeError):
        snowflake_bound(True)
    with pytest.raises(TypeError):
        snowflake_bound("158915873636352805")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{"type_id": 16}, {"type_id": -1}, {"region_id": 16}, {"instance_id": 1024}],
)
def test_parts_out_of_range_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be in"):
        generate_snowflake_id(**kwargs)
    with pytest.raises(ValueError, match="must be in"):
        generate_snowflake_id_at(INSTANT, **kwargs)


def test_times_outside_the_id_range_are_refused() -> None:
    with pytest.raises(ValueError, match="2025"):
        generate_snowflake_id_at(datetime(2024, 12, 31, 23, 59, tzinfo=UTC))


def test_random_sequence_bits_only_on_request() -> None:
    assert generate_snowflake_id_at(INSTANT) & 0xF == 0
    assert {generate_snowflake_id_at(INSTANT, use_rand=True) >> 4 for _ in range(20)} == {
        BOUND >> 4
    }


def test_generated_ids_carry_their_parts_and_the_current_time() -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    new_id = generate_snowflake_id(SnowflakeType.Message, region_id=2, instance_id=7)
    after = datetime.now(UTC) + timedelta(seconds=1)
    fields = snowflake_fields(new_id)
    assert (fields.region_id, fields.instance_id, fields.type_id) == (2, 7, 2)
    assert before <= get_datetime_from_snowflake(new_id) <= after


def test_generated_ids_are_unique_and_increasing_across_threads() -> None:
    per_thread: list[list[int]] = [[] for _ in range(4)]

    def mint(into: list[int]) -> None:
        for _ in range(3000):
            into.append(generate_snowflake_id(SnowflakeType.Message))

    threads = [threading.Thread(target=mint, args=(ids,)) for ids in per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for ids in per_thread for i in ids]
    assert len(set(every)) == len(every)
    for ids in per_thread:
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)


def test_a_burst_in_one_millisecond_borrows_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    frozen = (DOOVER_EPOCH + 1_000_000) * 1_000_000
    monkeypatch.setattr(snowflake.time, "time_ns", lambda: frozen)
    monkeypatch.setattr(snowflake, "_SEQUENCER", snowflake._Sequencer())
    ids = [generate_snowflake_id() for _ in range(100)]
    assert ids == sorted(set(ids))
    assert snowflake_to_ms(ids[0]) == DOOVER_EPOCH + 1_000_000
    assert snowflake_to_ms(ids[-1]) > DOOVER_EPOCH + 1_000_000


def test_a_clock_going_back_keeps_ids_increasing(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [(DOOVER_EPOCH + 5_000) * 1_000_000]
    monkeypatch.setattr(snowflake.time, "time_ns", lambda: now[0])
    monkeypatch.setattr(snowflake, "_SEQUENCER", snowflake._Sequencer())
    first = generate_snowflake_id()
    now[0] -= 2_000 * 1_000_000
    second = generate_snowflake_id()
    assert second > first


def test_a_forked_child_mints_ids_while_another_thread_held_the_lock() -> None:
    with held_by_another_thread(snowflake._SEQUENCER._lock):
        assert exit_code_in_fork(lambda: 0 if generate_snowflake_id() else 1) == 0


def test_a_forked_child_does_not_repeat_the_parents_next_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen = (DOOVER_EPOCH + 1_000_000) * 1_000_000  # both mint in the same millisecond
    monkeypatch.setattr(snowflake.time, "time_ns", lambda: frozen)
    monkeypatch.setattr(snowflake, "_SEQUENCER", snowflake._Sequencer())
    before = generate_snowflake_id()
    read_end, write_end = os.pipe()

    def child() -> int:
        os.write(write_end, str(generate_snowflake_id()).encode())
        return 0

    assert exit_code_in_fork(child) == 0
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        in_child = int(pipe.read())
    in_parent = generate_snowflake_id()
    assert in_child != in_parent
    assert min(in_child, in_parent) > before
