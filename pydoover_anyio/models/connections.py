"""Gateway connections, their channel subscriptions, and agent permissions (spec §3.9, §4.5)."""

from __future__ import annotations

import msgspec

from ._base import Id, Model
from .channels import ChannelID

__all__ = [
    "AgentPermission",
    "ConnectionDetail",
    "ConnectionSubscription",
    "ConnectionSubscriptionLog",
    "ResourcePermission",
]


class ConnectionSubscription(Model):
    """A channel a gateway connection is subscribed to, since ``subscribed_at`` (Unix ms)."""

    channel: ChannelID
    subscribed_at: int
    connection_id: Id


class ConnectionDetail(Model):
    """A gateway (WebSocket) session of an agent; ``status`` is the server's raw code."""

    _omit_none = frozenset({"last_ping", "latency"})

    agent_id: Id
    session_id: Id
    default_session: bool
    address: str
    status: int
    subscriptions: list[ConnectionSubscription] = msgspec.field(default_factory=list)
    last_ping: int | None = None
    latency: int | float | None = None


class ConnectionSubscriptionLog(Model):
    """When a connection subscribed to and unsubscribed from a channel (Unix ms)."""

    _omit_none = frozenset({"subscribed_at", "unsubscribed_at"})

    channel: ChannelID
    connection_id: Id
    subscribed_at: int | None = None
    unsubscribed_at: int | None = None


class ResourcePermission(Model, gc=False):
    """One grant: a resource id and its permission bit string."""

    permission_id: str
    permission: str


class AgentPermission(Model):
    """The resolved permission set of an agent."""

    _omit_none = frozenset({"last_updated"})

    agent_id: Id
    is_superuser: bool
    resources: list[ResourcePermission] = msgspec.field(default_factory=list)
    last_updated: int | None = None
