"""uvicorn's sans-I/O WebSocket protocol with two wire-level fault switches.

ASGI cannot reach below the WebSocket messages, yet the gateway's fault injection needs
two things that live there: not answering pings (a server that looks alive at TCP level
but is dead) and dropping the TCP connection without a close frame. This subclass puts a
:class:`WireControl` into each WebSocket scope's ``extensions`` under
:data:`WIRE_CONTROL`; the gateway app flips it. Nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

__all__ = ["WIRE_CONTROL", "GatewayWebSocketProtocol", "WireControl"]

#: The ``scope["extensions"]`` key of a connection's :class:`WireControl`.
WIRE_CONTROL: Final = "pydoover.emulator.wire"


class WireControl:
    """Wire-level switches of one WebSocket connection."""

    def __init__(self, protocol: GatewayWebSocketProtocol) -> None:
        self._protocol = protocol
        self.answer_pings: Callable[[], bool] = lambda: True
        """Asked at each ping from the client; ``False`` swallows it (no pong)."""

    def abort(self) -> None:
        """Drop the TCP connection at once (the client sees no close frame)."""
        transport = self._protocol.transport
        if transport is not None and not transport.is_closing():
            transport.abort()


class GatewayWebSocketProtocol(WebSocketsSansIOProtocol):
    """``WebSocketsSansIOProtocol`` plus a :class:`WireControl` per connection."""

    control: WireControl

    def handle_connect(self, event: Request) -> None:
        self.control = WireControl(self)
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][WIRE_CONTROL] = self.control

    def handle_ping(self) -> None:
        if self.control.answer_pings():
            super().handle_ping()
        else:
            self.conn.data_to_send()  # the queued pong: discard it
