"""Channels, messages, aggregates and attachments (spec §4.1)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

import msgspec

from pydoover_anyio.snowflake import datetime_to_ms, get_datetime_from_snowflake

from ._base import (
    REQUIRED,
    Id,
    Model,
    OptionalMsDatetime,
    PlainModel,
    ValueObject,
    coerce_ids,
    ms_to_optional_datetime,
    register_decoder,
)
from .alarms import Alarm

__all__ = [
    "Aggregate",
    "Attachment",
    "Channel",
    "ChannelID",
    "File",
    "Message",
    "MessageLogEntry",
]


class ChannelID(Model, gc=False):
    """A reference to a channel: the agent that owns it and its name."""

    agent_id: Id
    name: str

    def __post_init__(self) -> None:
        if type(self.agent_id) is not int:
            coerce_ids(self, "agent_id")


class Attachment(Model, gc=False):
    """A file attached to a message or an aggregate; download it from ``url``.

    ``content_type`` may be null or absent; ``size`` and ``url`` are required (they only
    have a default so that the constructor keeps pydoover's argument order).
    """

    filename: str
    content_type: str | None = None
    size: int = REQUIRED
    url: str = REQUIRED

    def __post_init__(self) -> None:
        size: Any = self.size
        url: Any = self.url
        if size is msgspec.UNSET or url is msgspec.UNSET:
            raise ValueError("an attachment needs `size` and `url`")
        if type(size) is not int:
            coerce_ids(self, "size")

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> Self:
        """:meth:`Model.from_dict`, under pydoover's parameter name for this model."""
        return super().from_dict(payload)


class File(ValueObject):
    """A file to upload with a message or an aggregate update (multipart, spec §3.4).

    It has no JSON form: putting one in a JSON body is a ``TypeError``.

    Args:
        filename: The name the server stores.
        content_type: Its media type, e.g. ``"image/jpeg"``.
        size: Its size in bytes (informational; the bytes are sent as they are).
        data: The content.
    """

    __slots__ = ("content_type", "data", "filename", "size")

    def __init__(self, filename: str, content_type: str, size: int, data: bytes) -> None:
        self.filename = filename
        self.content_type = content_type
        self.size = size
        self.data = data

    def __repr__(self) -> str:
        return (
            f"File(filename={self.filename!r}, content_type={self.content_type!r}, "
            f"size={self.size!r}, data=<{len(self.data)} bytes>)"
        )


class Message(Model):
    """A message in a channel; its creation time is encoded in its id."""

    id: Id
    author_id: Id
    channel: ChannelID
    data: Any
    attachments: list[Attachment] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        if type(self.id) is not int or type(self.author_id) is not int:
            coerce_ids(self, "id", "author_id")

    @property
    def timestamp(self) -> datetime:
        """When the message was created (from its id), in UTC."""
        return get_datetime_from_snowflake(self.id)


class Aggregate(Model):
    """A channel's current merged state.

    ``last_updated`` is an aware UTC datetime, as in pydoover (the wire carries Unix
    milliseconds; :attr:`last_updated_ms` gives them back exactly).
    """

    data: Any
    attachments: list[Attachment] = msgspec.field(default_factory=list)
    last_updated: OptionalMsDatetime = None

    def __post_init__(self) -> None:
        self.last_updated = ms_to_optional_datetime(self.last_updated)

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> Self:
        """:meth:`Model.from_dict`, under pydoover's parameter name for this model."""
        return super().from_dict(payload)

    @property
    def last_updated_ms(self) -> int | None:
        """``last_updated`` as Unix milliseconds, or ``None``."""
        return None if self.last_updated is None else datetime_to_ms(self.last_updated)


class _ReceivedAggregate(msgspec.Struct):
    """A channel's ``aggregate`` as received. pydoover reads an empty object as no
    aggregate; we assume the same of any object without ``data``."""

    data: Any = msgspec.UNSET
    attachments: list[Attachment] = msgspec.field(default_factory=list)
    last_updated: OptionalMsDatetime = None  # Aggregate makes it a datetime


if TYPE_CHECKING:
    _ChannelAggregate = Aggregate | None
else:  # Channel.__post_init__ turns it into an Aggregate or None
    _ChannelAggregate = _ReceivedAggregate | None


class Channel(Model):
    """A channel of an agent; ``aggregate`` is present when it was asked for."""

    _omit_none = frozenset(
        {"aggregate", "id", "alarms_enabled", "daily_message_summaries", "alarms"}
    )

    name: str
    owner_id: Id
    is_private: bool
    aggregate_schema: Any = None
    message_schema: Any = None
    aggregate: _ChannelAggregate = None
    id: Id | None = None
    alarms_enabled: bool | None = None
    daily_message_summaries: list[Any] | None = None
    alarms: list[Alarm] | None = None

    def __post_init__(self) -> None:
        coerce_ids(self, "owner_id", "id")
        received: Any = self.aggregate
        if isinstance(received, _ReceivedAggregate):
            self.aggregate = (
                None
                if received.data is msgspec.UNSET
                else Aggregate(received.data, received.attachments, received.last_updated)
            )


class MessageLogEntry(PlainModel):
    """One processor-invocation log record of a message (an open set of keys).

    ``timestamp`` (Unix ms) and ``type`` are always there; every other key is kept in
    ``fields`` and readable with ``entry["key"]``, ``entry.get("key")`` or the properties.

    Args:
        timestamp: Unix milliseconds of the record.
        type: The record kind, e.g. ``"platform.start"`` or ``"user.log"``.
        **fields: The other keys of the record.
    """

    __slots__ = ("fields", "timestamp", "type")

    def __init__(self, timestamp: int, type: str, **fields: Any) -> None:
        self.timestamp = int(timestamp)
        self.type = type
        self.fields = fields

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MessageLogEntry:
        """Build an entry from its JSON object.

        Raises:
            TypeError: ``data`` is not an object with an integer ``timestamp`` and a
                string ``type``.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"a log entry must be an object, got {type(data).__name__}")
        fields = dict(data)
        timestamp = fields.pop("timestamp", None)
        kind = fields.pop("type", None)
        if isinstance(timestamp, bool) or not isinstance(timestamp, int):
            raise TypeError("a log entry needs an integer `timestamp`")
        if not isinstance(kind, str):
            raise TypeError("a log entry needs a string `type`")
        return cls(timestamp, kind, **fields)

    def to_dict(self) -> dict[str, Any]:
        """The record as received."""
        return {"timestamp": self.timestamp, "type": self.type, **self.fields}

    @property
    def message(self) -> Any:
        """The ``message`` key, if any."""
        return self.fields.get("message")

    @property
    def level(self) -> str | None:
        """The ``level`` key, if any."""
        return self.fields.get("level")

    @property
    def logger(self) -> str | None:
        """The ``logger`` key, if any."""
        return self.fields.get("logger")

    @property
    def request_id(self) -> str | None:
        """The ``requestId`` key, if any."""
        return self.fields.get("requestId")

    @property
    def record(self) -> dict[str, Any] | None:
        """The ``record`` key, if any."""
        return self.fields.get("record")

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key`` (``timestamp`` and ``type`` included), or ``default``."""
        return self.to_dict().get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.to_dict()


register_decoder(MessageLogEntry, MessageLogEntry.from_dict)
