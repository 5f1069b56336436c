"""The Doover WebSocket gateway (spec §7): live channel events over one connection.

Use it through the client::

    async with AsyncDataClient(token=...) as client:
        async with client.subscribe(agent_id, "telemetry") as events:
            async for event in events:
                ...

Layers, innermost first: :mod:`._frames` (msgspec frame decoding/encoding),
:mod:`._protocol` (the I/O-free session state machine), :mod:`._websocket` (websockets'
sans-I/O protocol over anyio streams), :mod:`._subscription` (bounded per-subscriber
buffers) and :mod:`._session` (the task-group owner: reader, writer, keepalive,
reconnects). See ``docs/gateway.md``.
"""

from __future__ import annotations

from websockets.exceptions import InvalidURI
from websockets.uri import parse_uri

from ._session import GatewaySession, GatewaySettings
from ._subscription import Subscription
from .events import (
    AggregateUpdate,
    AlarmTrigger,
    ChannelSubscription,
    ChannelSync,
    ChannelUnsubscription,
    EventsDropped,
    GatewayError,
    GatewayEvent,
    MessageCreate,
    MessageUpdate,
    OneShotMessage,
    Reconnected,
)

__all__ = [
    "AggregateUpdate",
    "AlarmTrigger",
    "ChannelSubscription",
    "ChannelSync",
    "ChannelUnsubscription",
    "EventsDropped",
    "GatewayError",
    "GatewayEvent",
    "GatewaySession",
    "GatewaySettings",
    "MessageCreate",
    "MessageUpdate",
    "OneShotMessage",
    "Reconnected",
    "Subscription",
    "checked_gateway_url",
    "gateway_url_for",
]


def checked_gateway_url(url: str) -> str:
    """``url`` if it is a gateway URL a connection can be opened to.

    Raises:
        ValueError: ``url`` is not a ``ws://`` or ``wss://`` URL with a host (and a port
            in range, if any).
    """
    try:
        parse_uri(url)
    except (InvalidURI, ValueError) as exc:
        raise ValueError(f"gateway_url must be a ws:// or wss:// URL: {exc}") from None
    return url


def gateway_url_for(base_url: str) -> str:
    """The gateway URL derived from a data API base URL.

    ``http`` becomes ``ws`` and ``https`` ``wss``; a trailing ``/api`` becomes
    ``/gateway`` (any other path gets ``/gateway`` appended).

    Raises:
        ValueError: ``base_url`` is not an http(s) or ws(s) URL.
    """
    scheme, sep, rest = base_url.partition("://")
    schemes = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
    if not sep or scheme.lower() not in schemes:
        raise ValueError(f"cannot derive a gateway URL from {base_url!r}")
    rest = rest.rstrip("/")
    host, slash, path = rest.partition("/")
    path = f"/{path}" if slash else ""
    if path == "/api" or path.endswith("/api"):
        path = path[: -len("/api")]
    return f"{schemes[scheme.lower()]}://{host}{path}/gateway"
