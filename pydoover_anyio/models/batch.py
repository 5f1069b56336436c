"""Multi-agent reads and batch mutations (spec §3.6, §3.7, §4.2)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import msgspec

from pydoover_anyio.snowflake import datetime_to_ms

from ._base import (
    Id,
    Model,
    OptionalMsDatetime,
    PlainModel,
    coerce_ids,
    dec_hook,
    register_decoder,
)
from .channels import Aggregate, Attachment, Message

__all__ = [
    "MAX_BATCH_MUTATIONS",
    "AgentAggregate",
    "BatchAggregateResponse",
    "BatchMessageResponse",
    "BatchMutationItem",
    "BatchMutationResponse",
    "BatchMutationResult",
]

#: The most items one batch mutation request may carry.
MAX_BATCH_MUTATIONS: Final = 50


class BatchMessageResponse(Model):
    """Messages of several agents on one channel.

    ``next_cursors`` maps each agent that hit its per-agent limit to the oldest id
    returned for it (pass it back as that agent's ``agent_before``); ``next`` and
    ``at_limit_agent_ids`` are the older single-cursor form.
    """

    _omit_none = frozenset({"next", "next_cursors", "at_limit_agent_ids"})

    results: list[Message]
    count: int
    next: Id | None = None
    next_cursors: dict[Id, Id] | None = None
    at_limit_agent_ids: list[Id] | None = None


class AgentAggregate(PlainModel):
    """One agent's aggregate of a channel (flat on the wire: ``agent_id`` beside the
    aggregate's fields).

    Args:
        agent_id: The agent (an int, or its decimal string).
        aggregate: Its aggregate of the channel.
    """

    __slots__ = ("agent_id", "aggregate")

    def __init__(self, agent_id: int, aggregate: Aggregate) -> None:
        self.agent_id = int(agent_id)
        self.aggregate = aggregate

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentAggregate:
        """Build it from its flat JSON object.

        Raises:
            msgspec.ValidationError: ``data`` has the wrong shape (a ``ValueError``).
        """
        wire = msgspec.convert(data, _AgentAggregateWire, strict=False, dec_hook=dec_hook)
        return cls(wire.agent_id, Aggregate(wire.data, wire.attachments, wire.last_updated))

    def to_dict(self) -> dict[str, Any]:
        """The flat JSON object: ``agent_id`` and the aggregate's fields."""
        return {"agent_id": self.agent_id, **self.aggregate.to_dict()}

    @property
    def data(self) -> Any:
        """The aggregate's data."""
        return self.aggregate.data

    @property
    def attachments(self) -> list[Attachment]:
        """The aggregate's attachments."""
        return self.aggregate.attachments

    @property
    def last_updated(self) -> datetime | None:
        """When the aggregate last changed (aware UTC), or ``None``."""
        return self.aggregate.last_updated


class _AgentAggregateWire(msgspec.Struct):
    agent_id: Id
    data: Any
    attachments: list[Attachment] = msgspec.field(default_factory=list)
    last_updated: OptionalMsDatetime = None  # Aggregate makes it a datetime


register_decoder(AgentAggregate, AgentAggregate.from_dict)


class BatchAggregateResponse(Model):
    """Aggregates of several agents on one channel."""

    results: list[AgentAggregate]
    count: int


class BatchMutationItem(PlainModel):
    """One entry of a batch mutation; every item names its own agent and channel.

    ``message_id`` is required to update or delete, and makes a create idempotent (a
    retry writes the same message instead of a second one).

    Args:
        agent_id: The agent owning the channel.
        channel_name: The channel.
        data: The message data (or the aggregate patch).
        message_id: The message to write; see above.
        timestamp: Unix milliseconds, or a datetime (naive = UTC), sent as ``ts``.
        ttl: Seconds the message lives.
        replace: Dotted aggregate paths overwritten instead of merged.
        suppress_hooks: Skip processor and notification hooks for this item.
    """

    __slots__ = (
        "agent_id",
        "channel_name",
        "data",
        "message_id",
        "replace",
        "suppress_hooks",
        "timestamp",
        "ttl",
    )

    def __init__(
        self,
        agent_id: int,
        channel_name: str,
        data: dict[str, Any] | None = None,
        message_id: int | None = None,
        timestamp: int | datetime | None = None,
        ttl: int | None = None,
        replace: list[str] | None = None,
        suppress_hooks: bool | None = None,
    ) -> None:
        self.agent_id = int(agent_id)
        self.channel_name = channel_name
        self.data = data
        self.message_id = None if message_id is None else int(message_id)
        self.timestamp = timestamp
        self.ttl = ttl
        self.replace = replace
        self.suppress_hooks = suppress_hooks

    def to_dict(self) -> dict[str, Any]:
        """The wire item: ids as decimal strings, ``ts`` in Unix ms, unset keys left out."""
        item: dict[str, Any] = {"agent_id": str(self.agent_id), "channel_name": self.channel_name}
        if self.data is not None:
            item["data"] = self.data
        if self.message_id is not None:
            item["message_id"] = str(self.message_id)
        if self.timestamp is not None:
            ts = self.timestamp
            item["ts"] = datetime_to_ms(ts) if isinstance(ts, datetime) else int(ts)
        if self.ttl is not None:
            item["ttl"] = self.ttl
        if self.replace is not None:
            item["replace"] = self.replace
        if self.suppress_hooks is not None:
            item["suppress_hooks"] = self.suppress_hooks
        return item


class BatchMutationResult(Model):
    """The outcome of one item of a batch mutation."""

    _omit_none = frozenset({"message_id", "error"})

    agent_id: Id
    channel_name: str
    success: bool
    message_id: Id | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        coerce_ids(self, "agent_id", "message_id")


class BatchMutationResponse(Model):
    """Per-item outcomes in request order; a batch may partially succeed."""

    items: list[BatchMutationResult]
    count: int
    succeeded: int
    failed: int

    @property
    def failures(self) -> list[BatchMutationResult]:
        """The items that failed (retry only these)."""
        return [item for item in self.items if not item.success]
