"""What the gateway tests share: fast settings, an emulator with a channel, ``next_of``,
and a scripted server for behaviour the emulator does not have."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import anyio
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request
from websockets.sync.server import ServerConnection, serve

from pydoover_anyio import GatewaySettings

CHANNEL = "telemetry"

#: Liveness and reconnect timings short enough for tests to see drops and reconnects.
FAST = GatewaySettings(
    ping_interval=0.1,
    ping_timeout=0.25,
    open_timeout=3.0,
    close_timeout=0.5,
    reconnect_base=0.01,
    reconnect_cap=0.05,
)

#: ``FAST`` but with relaxed pings, for tests that must not see a spurious drop.
STEADY = dataclasses.replace(FAST, ping_interval=1.0, ping_timeout=1.0)


async def next_of(events: Any, kind: type, within: float = 5.0) -> Any:
    """The next event, which must be a ``kind``."""
    with anyio.fail_after(within):
        event = await events.__anext__()
    assert isinstance(event, kind), f"expected {kind.__name__}, got {event!r}"
    return event


Script = Callable[[ServerConnection, int], None]


class ScriptedGateway:
    """A WebSocket server on loopback (websockets' threaded one) that runs
    ``script(connection, n)`` for its n-th connection (from 1), each upgrade answered
    after ``upgrade_delay`` seconds."""

    def __init__(self, script: Script, upgrade_delay: float = 0.0) -> None:
        self._script = script
        self._lock = threading.Lock()
        self.connections = 0
        self._upgrade_delay = upgrade_delay
        self._server = serve(self._handle, "127.0.0.1", 0, process_request=self._delay_upgrade)
        self.url = f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/gateway"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedGateway:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._thread.join(5)

    def _delay_upgrade(self, connection: ServerConnection, request: Request) -> None:
        time.sleep(self._upgrade_delay)

    def _handle(self, connection: ServerConnection) -> None:
        with self._lock:
            self.connections += 1
            n = self.connections
        with suppress(ConnectionClosed):
            self._script(connection, n)


def send(connection: ServerConnection, frame: dict[str, Any]) -> None:
    connection.send(json.dumps(frame))


def receive(connection: ServerConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(connection.recv())
    return frame


def serve_after_identify(connection: ServerConnection, ready: Any = None) -> None:
    """Ready (``ready`` as its ``d``), then a ChannelSync for every Subscribe, until the
    client leaves."""
    d = {"session_id": "1", "session_token": "t"} if ready is None else ready
    send(connection, {"op": 0, "t": "Ready", "d": d})
    while True:
        frame = receive(connection)
        if frame["op"] == 12:
            sync = {"channel": frame["d"]["channel"], "aggregate": {"data": {}}}
            send(connection, {"op": 0, "t": "ChannelSync", "d": sync})
