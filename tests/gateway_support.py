"""What the gateway tests share: fast settings, an emulator with a channel, ``next_of``,
and a scripted server for behaviour the emulator does not have."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import anyio
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol
from websockets.sync.server import ServerConnection, serve

from pydoover_anyio import AsyncDataClient, GatewaySettings

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


def gateway_only_client(gateway_url: str, settings: GatewaySettings = FAST) -> AsyncDataClient:
    """A client of only the gateway at ``gateway_url`` (its REST API is unreachable)."""
    client = AsyncDataClient("http://127.0.0.1:9/api", token="t", gateway_url=gateway_url)
    client.gateway_settings = settings
    return client


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
    after ``upgrade_delay`` seconds, taking messages up to ``max_size`` bytes."""

    def __init__(
        self, script: Script, upgrade_delay: float = 0.0, max_size: int | None = 2**20
    ) -> None:
        self._script = script
        self._lock = threading.Lock()
        self.connections = 0
        self._upgrade_delay = upgrade_delay
        self._server = serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._delay_upgrade,
            max_size=max_size,
        )
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


class RawConnection:
    """One connection of a :class:`RawGateway`: reads only when the script asks, so a
    script that stops asking is a server that stops reading (TCP pushes back), and never
    answers a ping."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._proto = ServerProtocol(max_size=None)
        self._frames: list[dict[str, Any]] = []
        self._upgraded = False

    def _receive(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the client closed the connection")
        self._proto.receive_data(data)
        for event in self._proto.events_received():
            if isinstance(event, Request):
                self._proto.send_response(self._proto.accept(event))
                self.sock.sendall(b"".join(self._proto.data_to_send()))
                self._upgraded = True
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self._frames.append(json.loads(event.data))
        self._proto.data_to_send()  # pongs and the close echo are never sent

    def upgrade(self) -> None:
        """Answer the WebSocket handshake."""
        while not self._upgraded:
            self._receive()

    def receive(self) -> dict[str, Any]:
        """The client's next text frame, decoded."""
        while not self._frames:
            self._receive()
        return self._frames.pop(0)

    def send(self, message: dict[str, Any]) -> None:
        self.sock.sendall(text_frame(json.dumps(message).encode()))


def text_frame(payload: bytes) -> bytes:
    """An unmasked final text frame, as a server writes it."""
    size = len(payload)
    if size < 126:
        head = bytes([0x81, size])
    elif size < 65536:
        head = bytes([0x81, 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x81, 127]) + size.to_bytes(8, "big")
    return head + payload


class RawGateway:
    """A WebSocket server on loopback, on a bare socket and websockets' sans-I/O parser,
    running ``script(connection, n)`` in a thread per connection (websockets' threaded
    server reads ahead in the background, and answers pings)."""

    def __init__(self, script: Callable[[RawConnection, int], None]) -> None:
        self._script = script
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self._listener.getsockname()[1]}/gateway"
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> RawGateway:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (a close alone not)
        self._listener.close()
        self._thread.join(5)

    def _serve(self) -> None:
        with suppress(OSError):
            while True:
                sock, _ = self._listener.accept()
                self.connections += 1
                args = (RawConnection(sock), self.connections)
                threading.Thread(target=self._run, args=args, daemon=True).start()

    def _run(self, connection: RawConnection, n: int) -> None:
        with suppress(OSError), connection.sock:
            connection.upgrade()
            self._script(connection, n)


def hello_ready_sync(connection: RawConnection) -> dict[str, Any]:
    """Hello, Identify, Ready and one Subscribe answered with a ChannelSync; returns the
    subscribed channel."""
    connection.send({"op": 0, "t": "Hello", "d": {}})
    connection.receive()  # Identify
    connection.send({"op": 0, "t": "Ready", "d": {"session_id": "S", "session_token": "T"}})
    channel: dict[str, Any] = connection.receive()["d"]["channel"]
    sync = {"channel": channel, "aggregate": {"data": {}}}
    connection.send({"op": 0, "t": "ChannelSync", "s": 1, "d": sync})
    return channel
