"""The records the emulated Doover keeps, and their wire encodings (spec §4.1).

Rules this module enforces:

* Ids go on the wire as decimal strings, never JSON numbers.
* A message's JSON is encoded once, when it is stored or changed, and kept with it, so
  a listing is a bisection, a slice and a byte join.
* A channel's messages are kept sorted by id (appending is O(1) for ids minted now;
  inserting an older id or deleting is a bisection and a list shift), next to a
  per-day count for ``daily_message_summaries``.
* Listing bounds are exclusive. The caller picks the order: newest first takes the
  ``limit`` newest ids of the window, oldest first the ``limit`` oldest.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import msgspec

from ._ids import ms_of

__all__ = [
    "AgentRecord",
    "AggregateRecord",
    "ChannelRecord",
    "MessageRecord",
    "MessageStore",
    "encode_message",
]

_ENCODER = msgspec.json.Encoder()


def encode_message(
    message_id: int, author_id: int, channel: dict[str, str], data: Any, attachments: list[Any]
) -> bytes:
    """Encode one Message object."""
    return _ENCODER.encode(
        {
            "id": str(message_id),
            "author_id": str(author_id),
            "channel": channel,
            "data": data,
            "attachments": attachments,
        }
    )


@dataclass(slots=True)
class MessageRecord:
    """One stored message.

    Attributes:
        id: The snowflake id (it encodes the creation instant).
        author_id: The agent that wrote it.
        data: Its data.
        attachments: Its Attachment objects, wire-shaped.
        ttl: The time to live in seconds, if any (stored, not enforced).
        body: The Message object, JSON-encoded.
    """

    id: int
    author_id: int
    data: Any
    attachments: list[dict[str, Any]]
    ttl: int | None
    body: bytes


class MessageStore:
    """One channel's messages, sorted by id."""

    __slots__ = ("_by_id", "_daily", "_ids")

    def __init__(self) -> None:
        self._ids: list[int] = []
        self._by_id: dict[int, MessageRecord] = {}
        self._daily: Counter[int] = Counter()  # messages per UTC day number

    def __len__(self) -> int:
        return len(self._ids)

    def get(self, message_id: int) -> MessageRecord | None:
        """Return one message, or ``None``."""
        return self._by_id.get(message_id)

    def put(self, record: MessageRecord) -> None:
        """Store a new message or replace the one with the same id."""
        ids = self._ids
        if record.id not in self._by_id:
            if not ids or record.id > ids[-1]:
                ids.append(record.id)
            else:
                insort(ids, record.id)
            self._daily[_day(record.id)] += 1
        self._by_id[record.id] = record

    def remove(self, message_id: int) -> MessageRecord | None:
        """Delete one message; return it, or ``None`` if there was none."""
        record = self._by_id.pop(message_id, None)
        if record is not None:
            ids = self._ids
            del ids[bisect_left(ids, message_id)]
            day = _day(message_id)
            self._daily[day] -= 1
            if not self._daily[day]:
                del self._daily[day]
        return record

    def window(
        self, after: int | None, before: int | None, limit: int, *, oldest_first: bool
    ) -> list[MessageRecord]:
        """Up to ``limit`` messages with ``after < id < before``.

        Args:
            after: The exclusive lower bound, if any.
            before: The exclusive upper bound, if any.
            limit: The most messages to return.
            oldest_first: Take (and return) the oldest of the window first, not the newest.

        Returns:
            The messages, in the chosen order.
        """
        ids = self._ids
        low = 0 if after is None else bisect_right(ids, after)
        high = len(ids) if before is None else bisect_left(ids, before)
        if low >= high or limit <= 0:
            return []
        by_id = self._by_id
        if oldest_first:
            return [by_id[i] for i in ids[low : min(high, low + limit)]]
        return [by_id[i] for i in reversed(ids[max(low, high - limit) : high])]

    def newest_first(self, after: int | None, before: int | None) -> Iterator[MessageRecord]:
        """Every message with ``after < id < before``, newest first, lazily."""
        ids = self._ids
        low = 0 if after is None else bisect_right(ids, after)
        high = len(ids) if before is None else bisect_left(ids, before)
        by_id = self._by_id
        for index in range(high - 1, low - 1, -1):
            yield by_id[ids[index]]

    def all(self) -> list[MessageRecord]:
        """Every message, oldest first."""
        return [self._by_id[i] for i in self._ids]

    def daily_summaries(self) -> list[dict[str, Any]]:
        """Message counts per UTC day, oldest day first."""
        return [
            {"date": (_UNIX_DAY_0 + timedelta(days=day)).isoformat(), "count": count}
            for day, count in sorted(self._daily.items())
        ]


_UNIX_DAY_0 = date(1970, 1, 1)


def _day(message_id: int) -> int:
    return ms_of(message_id) // 86_400_000


@dataclass(slots=True)
class AggregateRecord:
    """A channel's aggregate.

    Attributes:
        data: The current merged data.
        attachments: Its Attachment objects, wire-shaped.
        last_updated: When it last changed (Unix ms), or ``None`` if never.
    """

    data: dict[str, Any] = field(default_factory=dict)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    last_updated: int | None = None

    def wire(self) -> dict[str, Any]:
        """The Aggregate object."""
        return {
            "data": self.data,
            "attachments": self.attachments,
            "last_updated": self.last_updated,
        }


@dataclass(slots=True)
class ChannelRecord:
    """One channel of an agent.

    Attributes:
        id: The channel's snowflake id.
        name: Its name.
        owner_id: The owning agent.
        is_private: Whether it is private.
        message_schema: The message JSON schema, if any.
        aggregate_schema: The aggregate JSON schema, if any.
        history_since: The earliest message time (Unix ms) it returns, if set.
        default_ttl: The default message time to live (seconds), if set.
        archived: Whether it is archived (hidden from listings).
        aggregate: Its aggregate.
        messages: Its messages.
        alarms: Its alarms (stored alarm objects) by id.
        ref: The ``{"agent_id", "name"}`` ChannelID object.
    """

    id: int
    name: str
    owner_id: int
    is_private: bool = False
    message_schema: dict[str, Any] | None = None
    aggregate_schema: dict[str, Any] | None = None
    history_since: int | None = None
    default_ttl: int | None = None
    archived: bool = False
    aggregate: AggregateRecord = field(default_factory=AggregateRecord)
    messages: MessageStore = field(default_factory=MessageStore)
    alarms: dict[int, dict[str, Any]] = field(default_factory=dict)
    ref: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ref = {"agent_id": str(self.owner_id), "name": self.name}

    def wire(self, *, include_aggregate: bool, include_daily_summaries: bool) -> dict[str, Any]:
        """The Channel object."""
        channel: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "owner_id": str(self.owner_id),
            "is_private": self.is_private,
            "aggregate_schema": self.aggregate_schema,
            "message_schema": self.message_schema,
            "history_since": self.history_since,
            "default_ttl": self.default_ttl,
            "archived": self.archived,
            "alarms_enabled": True,
        }
        if include_aggregate:
            channel["aggregate"] = self.aggregate.wire()
        if include_daily_summaries:
            channel["daily_message_summaries"] = self.messages.daily_summaries()
        return channel


@dataclass(slots=True)
class AgentRecord:
    """One agent (a user, device or organisation member).

    Attributes:
        id: The agent id.
        name: A display name.
        token_self_rotation: Whether it may rotate its own device token (spec §3.13).
        is_superuser: Reported by ``/permissions``.
        resources: The ResourcePermission objects ``/permissions`` reports.
        permissions_updated: When the permissions last changed (Unix ms).
        channels: Its channels by name.
    """

    id: int
    name: str
    token_self_rotation: bool = True
    is_superuser: bool = False
    resources: list[dict[str, str]] = field(default_factory=list)
    permissions_updated: int = 0
    channels: dict[str, ChannelRecord] = field(default_factory=dict)
