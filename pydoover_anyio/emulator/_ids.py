"""Snowflake ids as the emulated server mints them (spec §5).

An id is ``(ms since DOOVER_EPOCH) << 22`` plus 22 low bits laid out as region (4),
instance (10), type (4) and a 4-bit counter. The emulator keeps the type nibble honest
and uses the instance bits and the counter together as a 14-bit sequence per
millisecond, so up to 16,384 ids can be minted for one millisecond and every id it
mints is unique, however many are asked for at once or at an explicit instant.
"""

from __future__ import annotations

import threading
import time
from enum import IntEnum

__all__ = [
    "DOOVER_EPOCH_MS",
    "IdKind",
    "Snowflakes",
    "bound_for_ms",
    "ms_of",
    "now_ms",
]

DOOVER_EPOCH_MS = 1_735_689_600_000
"""2025-01-01T00:00:00Z in Unix milliseconds."""

_REGION = 1
_SEQUENCE_LIMIT = 1 << 14  # 10 instance bits + 4 counter bits


class IdKind(IntEnum):
    """The ``type_id`` nibble of a snowflake."""

    UNKNOWN = 0
    AGENT = 1
    MESSAGE = 2
    CHANNEL = 3
    WSS_SESSION = 4
    PROCESSOR_SCHEDULE = 5
    TOKEN = 6
    NOTIFICATION_ENDPOINT = 7
    NOTIFICATION_SUBSCRIPTION = 8
    ATTACHMENT = 9
    ALARM = 10
    ONE_SHOT_MESSAGE = 11


def now_ms() -> int:
    """The current Unix time in milliseconds."""
    return time.time_ns() // 1_000_000


def ms_of(snowflake: int) -> int:
    """The Unix millisecond a snowflake was minted at."""
    return (snowflake >> 22) + DOOVER_EPOCH_MS


def bound_for_ms(unix_ms: int) -> int:
    """The query bound for an instant: its millisecond with all low bits zero."""
    return (unix_ms - DOOVER_EPOCH_MS) << 22


class Snowflakes:
    """A thread-safe snowflake generator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sequence: dict[int, int] = {}

    def mint(self, kind: IdKind, at_ms: int | None = None) -> int:
        """Mint a new, never-seen id.

        Args:
            kind: The type the id stands for.
            at_ms: The Unix millisecond to mint it at (default: now). Instants before
                the epoch are clamped to the epoch.

        Returns:
            The id.
        """
        ms = now_ms() if at_ms is None else at_ms
        offset = max(0, ms - DOOVER_EPOCH_MS)
        with self._lock:
            sequence = self._sequence.get(offset, 0)
            while sequence >= _SEQUENCE_LIMIT:  # that millisecond is full: use the next
                offset += 1
                sequence = self._sequence.get(offset, 0)
            self._sequence[offset] = sequence + 1
        instance, counter = divmod(sequence, 16)
        return (offset << 22) | (_REGION << 18) | (instance << 8) | (int(kind) << 4) | counter
