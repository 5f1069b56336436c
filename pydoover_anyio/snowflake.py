"""Doover snowflake ids: time from an id, query bounds from a time, and new ids.

A snowflake is an unsigned 64-bit integer. Its top bits count milliseconds since
:data:`DOOVER_EPOCH` (2025-01-01T00:00:00Z)::

    bits 63..22  milliseconds since DOOVER_EPOCH
    bits 21..18  region id        (as pydoover lays them out; servers and the JS SDK
    bits 17..8   instance id       may read the low 22 bits differently, so only the
    bits  7..4   type id           time is reliable in an id minted elsewhere)
    bits  3..0   sequence

Rules this module enforces:

* Ids are plain ``int`` and never pass through ``float`` (they exceed 2**53).
* A naive ``datetime`` means UTC (pydoover read it as local time); aware ones are converted.
* Time arithmetic is exact integer arithmetic on milliseconds (no ``timestamp() * 1000``).
* Query bounds (``before``/``after``) carry zero low bits and are clamped to
  ``0..MAX_SNOWFLAKE``, so a time before the epoch means "from the beginning".
* :func:`generate_snowflake_id` never returns the same id twice in a process: ids are
  strictly increasing, borrowing the next millisecond when 16 were minted in one.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Final, NamedTuple

__all__ = [
    "DOOVER_EPOCH",
    "DOOVER_EPOCH_DATETIME",
    "MAX_SNOWFLAKE",
    "TIMESTAMP_SHIFT",
    "SnowflakeFields",
    "SnowflakeType",
    "datetime_to_ms",
    "generate_snowflake_id",
    "generate_snowflake_id_at",
    "get_datetime_from_snowflake",
    "ms_to_datetime",
    "snowflake_bound",
    "snowflake_fields",
    "snowflake_to_ms",
]

#: Unix milliseconds of 2025-01-01T00:00:00Z, time zero of every snowflake.
DOOVER_EPOCH: Final = 1_735_689_600_000
#: :data:`DOOVER_EPOCH` as an aware datetime.
DOOVER_EPOCH_DATETIME: Final = datetime(2025, 1, 1, tzinfo=UTC)
#: How far the millisecond count is shifted left in an id.
TIMESTAMP_SHIFT: Final = 22
#: The largest id this package produces (ids stay within signed 64 bits).
MAX_SNOWFLAKE: Final = 2**63 - 1

_UNIX_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)
_MAX_MS: Final = MAX_SNOWFLAKE >> TIMESTAMP_SHIFT


class SnowflakeType(IntEnum):
    """The kind of object an id was minted for (bits 7..4 of pydoover's layout)."""

    Unknown = 0
    Agent = 1
    Message = 2
    Channel = 3
    WSSSession = 4
    ProcessorSchedule = 5
    Token = 6
    NotificationEndpoint = 7
    NotificationSubscription = 8
    Attachment = 9
    Alarm = 10
    OneShotMessage = 11


class SnowflakeFields(NamedTuple):
    """An id taken apart with pydoover's layout (see the module docstring)."""

    timestamp_ms: int
    region_id: int
    instance_id: int
    type_id: int
    sequence: int


def datetime_to_ms(value: datetime) -> int:
    """Unix milliseconds of ``value`` (naive = UTC), rounded down, exactly.

    Args:
        value: The instant.

    Returns:
        Milliseconds since 1970-01-01T00:00:00Z.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _UNIX_EPOCH) // _ONE_MS


def ms_to_datetime(ms: float) -> datetime:
    """The aware UTC datetime of Unix milliseconds ``ms`` (exact for an int; a float is
    rounded to the microsecond).

    Args:
        ms: Milliseconds since 1970-01-01T00:00:00Z.

    Returns:
        The instant, in UTC.

    Raises:
        ValueError: ``ms`` is not a number of milliseconds a datetime can hold (e.g.
            microseconds sent by mistake, infinity or NaN).
    """
    try:
        return _UNIX_EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        raise ValueError(f"{ms!r} ms since the Unix epoch is outside the datetime range") from None


def snowflake_to_ms(snowflake_id: int) -> int:
    """Unix milliseconds at which ``snowflake_id`` was minted.

    Args:
        snowflake_id: Any Doover id.

    Returns:
        Milliseconds since 1970-01-01T00:00:00Z.
    """
    return (snowflake_id >> TIMESTAMP_SHIFT) + DOOVER_EPOCH


def get_datetime_from_snowflake(snowflake_id: int) -> datetime:
    """The aware UTC datetime at which ``snowflake_id`` was minted (pydoover's name).

    Args:
        snowflake_id: Any Doover id.

    Returns:
        The instant, in UTC, to the millisecond.
    """
    return ms_to_datetime(snowflake_to_ms(snowflake_id))


def snowflake_fields(snowflake_id: int) -> SnowflakeFields:
    """Take an id apart with pydoover's bit layout.

    Args:
        snowflake_id: The id.

    Returns:
        Its Unix-millisecond time, region, instance, type and sequence.
    """
    return SnowflakeFields(
        timestamp_ms=snowflake_to_ms(snowflake_id),
        region_id=(snowflake_id >> 18) & 0xF,
        instance_id=(snowflake_id >> 8) & 0x3FF,
        type_id=(snowflake_id >> 4) & 0xF,
        sequence=snowflake_id & 0xF,
    )


def snowflake_bound(value: int | datetime) -> int:
    """A ``before``/``after`` query value: an id as is, or the zero-low-bits id of a time.

    Bounds are exclusive on the server, so ``after=t`` includes ids minted during the
    millisecond of ``t`` and ``before=t`` excludes them.

    Args:
        value: An id, or an instant (naive = UTC).

    Returns:
        The id; for an instant ``(unix_ms - DOOVER_EPOCH) << 22``, clamped to
        ``0..MAX_SNOWFLAKE``.

    Raises:
        TypeError: ``value`` is neither an int nor a datetime (``bool`` is refused).
    """
    if isinstance(value, datetime):
        ms = min(max(datetime_to_ms(value) - DOOVER_EPOCH, 0), _MAX_MS)
        return ms << TIMESTAMP_SHIFT
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    raise TypeError(f"a query bound must be an int id or a datetime, not {type(value).__name__}")


def _compose(ms: int, type_id: int, region_id: int, instance_id: int, sequence: int) -> int:
    """Assemble an id from its parts (``ms`` is relative to the Doover epoch)."""
    for name, part, limit in (
        ("type_id", type_id, 0xF),
        ("region_id", region_id, 0xF),
        ("instance_id", instance_id, 0x3FF),
    ):
        if not 0 <= part <= limit:
            raise ValueError(f"{name} must be in 0..{limit}, got {part}")
    if not 0 <= ms <= _MAX_MS:
        raise ValueError("snowflake time must lie between 2025-01-01 and the year 2094")
    return ms << TIMESTAMP_SHIFT | region_id << 18 | instance_id << 8 | int(type_id) << 4 | sequence


def generate_snowflake_id_at(
    at: datetime,
    type_id: int = SnowflakeType.Unknown,
    region_id: int = 0,
    instance_id: int = 0,
    use_rand: bool = False,
) -> int:
    """An id for the instant ``at`` (pydoover's signature; naive = UTC here).

    Args:
        at: The instant the id encodes.
        type_id: A :class:`SnowflakeType` value (0..15).
        region_id: 0..15.
        instance_id: 0..1023.
        use_rand: Fill the 4 sequence bits randomly instead of with zeros.

    Returns:
        The id.

    Raises:
        ValueError: A part is out of range, or ``at`` is before 2025-01-01T00:00:00Z.
    """
    sequence = secrets.randbelow(16) if use_rand else 0
    ms = datetime_to_ms(at) - DOOVER_EPOCH
    return _compose(ms, type_id, region_id, instance_id, sequence)


class _Sequencer:
    """Hands out strictly increasing ``(ms, sequence)`` pairs, thread-safely."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ms = -1
        self._sequence = 15

    def next(self) -> tuple[int, int]:
        now = time.time_ns() // 1_000_000 - DOOVER_EPOCH
        with self._lock:
            if now > self._ms:
                # A random first sequence makes two processes minting in the same
                # millisecond (with the same type/region/instance) unlikely to collide.
                self._ms, self._sequence = now, secrets.randbelow(16)
            elif self._sequence < 15:
                self._sequence += 1
            else:  # 16 ids in this millisecond (or the clock went back): borrow the next
                self._ms, self._sequence = self._ms + 1, 0
            return self._ms, self._sequence

    def forked(self) -> None:
        """In a forked child: a new lock (another thread may have held the parent's), and
        the parent's millisecond left to it, whose next sequence the child would repeat."""
        self._lock = threading.Lock()
        self._sequence = 15


_SEQUENCER = _Sequencer()


def _renew_after_fork() -> None:
    _SEQUENCER.forked()


os.register_at_fork(after_in_child=_renew_after_fork)


def generate_snowflake_id(
    type_id: int = SnowflakeType.Unknown, region_id: int = 0, instance_id: int = 0
) -> int:
    """A new id for now, e.g. a client-chosen message id that makes a create idempotent.

    Ids from one process are unique and strictly increasing (across threads too).

    Args:
        type_id: A :class:`SnowflakeType` value, e.g. ``SnowflakeType.Message``.
        region_id: 0..15.
        instance_id: 0..1023.

    Returns:
        The id.

    Raises:
        ValueError: A part is out of range.
    """
    ms, sequence = _SEQUENCER.next()
    return _compose(ms, type_id, region_id, instance_id, sequence)
