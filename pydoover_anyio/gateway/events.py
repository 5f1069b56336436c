"""The events a gateway subscription delivers (spec §7.4), as frozen msgspec structs.

Every event has ``.channel`` (a :class:`~pydoover_anyio.models.ChannelID` with
``agent_id`` and ``name``). The server's dispatch events keep the server's names;
:class:`Reconnected` and :class:`EventsDropped` are this client's own and tell a consumer
when its view of the channel may have gone stale:

* :class:`Reconnected`: the connection was re-established. ``events_missed`` is ``False``
  only when the server resumed the session *and* confirmed it replayed what was sent
  while disconnected; otherwise a :class:`ChannelSync` with the current aggregate follows
  (after a fresh Identify the client re-subscribes and the server syncs every channel).
* :class:`EventsDropped`: the consumer fell behind and its buffer overflowed; ``count``
  events were discarded and a :class:`ChannelSync` has been requested.

Unknown fields sent by the server are ignored; ids are exact ``int``.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import msgspec

from pydoover_anyio.models import Aggregate, Alarm, ChannelID, Message
from pydoover_anyio.models._base import Id

__all__ = [
    "AggregateUpdate",
    "AlarmTrigger",
    "ChannelSubscription",
    "ChannelSync",
    "ChannelUnsubscription",
    "EventsDropped",
    "GatewayError",
    "GatewayEvent",
    "MessageCreate",
    "MessageUpdate",
    "OneShotMessage",
    "Reconnected",
]


class _Event(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every gateway event."""

    channel: ChannelID


class ChannelSync(_Event, frozen=True, kw_only=True):
    """The channel's current aggregate: after a subscribe, a resync or ``sync_channel``.

    It can arrive at any time and always replaces what the consumer knew.
    """

    aggregate: Aggregate


class MessageCreate(_Event, frozen=True, kw_only=True):
    """A message was created in the channel."""

    message: Message


class MessageUpdate(_Event, frozen=True, kw_only=True):
    """A message was updated; ``message`` is its new state."""

    message: Message
    author_id: Id | None = None
    organisation_id: Id | None = None
    request_data: Any = None


class AggregateUpdate(_Event, frozen=True, kw_only=True):
    """The channel's aggregate changed; ``aggregate`` is the new state."""

    aggregate: Aggregate
    author_id: Id | None = None
    organisation_id: Id | None = None
    request_data: Any = None


class AlarmTrigger(_Event, frozen=True, kw_only=True):
    """An alarm on the channel changed state (``old_state`` -> ``new_state``)."""

    alarm: Alarm
    old_state: str
    new_state: str
    aggregate: Aggregate | None = None
    organisation_id: Id | None = None
    request_data: Any = None


class OneShotMessage(_Event, frozen=True, kw_only=True):
    """An ephemeral, unpersisted message (op 15) sent to the channel."""

    data: Any
    id: str | None = None
    author_id: Id | None = None


class ChannelSubscription(_Event, frozen=True, kw_only=True):
    """Another session subscribed to the channel."""

    agent_id: Id | None = None
    session_id: Id | None = None
    default_session: bool = False


class ChannelUnsubscription(_Event, frozen=True, kw_only=True):
    """Another session unsubscribed from the channel."""

    agent_id: Id | None = None
    session_id: Id | None = None
    default_session: bool = False


class GatewayError(_Event, frozen=True, kw_only=True):
    """The server reported an error (``WSSErrorEvent``); the session goes on.

    The server's error names no channel; each subscription receives it with its own.
    """

    message: str


class Reconnected(_Event, frozen=True, kw_only=True):
    """The gateway connection was re-established.

    Attributes:
        resumed: The server resumed the previous session (``False``: a fresh Identify).
        events_missed: Events for this channel may have been lost while disconnected;
            a :class:`ChannelSync` follows, so rebuild state from it (or from REST).
    """

    resumed: bool
    events_missed: bool


class EventsDropped(_Event, frozen=True, kw_only=True):
    """The subscription's buffer overflowed and ``count`` events were discarded.

    The client has asked for a :class:`ChannelSync`, which follows.
    """

    count: int


GatewayEvent: TypeAlias = (
    ChannelSync
    | MessageCreate
    | MessageUpdate
    | AggregateUpdate
    | AlarmTrigger
    | OneShotMessage
    | ChannelSubscription
    | ChannelUnsubscription
    | GatewayError
    | Reconnected
    | EventsDropped
)
"""Any event a subscription yields."""
