"""The emulated gateway (spec §7) at ``/gateway``, with replay and fault injection.

Protocol, as the client sees it: ``Hello`` on connect; Identify (op 10) creates a session
and answers ``Ready``; Resume (op 11) re-attaches a known session, answers ``Ready``
listing its subscriptions and, when the client sent ``seq``, replays every event after it
(``Ready.replayed: true``); an unknown session or token is answered with
SessionCancelled (op 3) and the connection is closed. Subscribe (op 12) and SyncChannel
(op 14) produce a ``ChannelSync``; OneShot (op 15) a ``OneShotMessage`` for every
subscribed session; Heartbeat (op 1) a HeartbeatAck (op 2).

Rules this module enforces:

* Events are produced by the REST writes (the state calls :meth:`GatewayHub.publish`):
  message create and update, aggregate update, and the alarm state changes an aggregate
  change causes (or :meth:`GatewayHub.set_alarm_state` forces). Only sessions
  subscribed to the channel get them.
* Every dispatch after ``Ready`` carries a per-session sequence number ``s`` and is kept
  in the session's log (the last :data:`REPLAY_WINDOW`) whether or not a connection is
  attached, so a resumed session misses nothing.
* Every frame a client sends is recorded (:attr:`GatewayHub.received`); a frame other
  than Identify/Resume/Heartbeat before ``Ready`` is recorded as a violation. Every
  upgrade request is recorded with its bearer token and answer
  (:attr:`GatewayHub.upgrades`).
* Faults (:class:`GatewayFaults`): drop the connection (TCP abort) every N events; stop
  answering pings and heartbeats; resume without replay; plus :meth:`GatewayHub.cancel_sessions`
  (op 3) and :meth:`GatewayHub.inject` (raw frames: malformed, unknown ops or events).
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

import anyio
import msgspec

from pydoover_anyio._emulation.asgi import Receive, Scope, Send

from ._gateway_wire import WIRE_CONTROL, WireControl
from ._http import ApiError
from ._ids import IdKind
from ._store import ChannelRecord

__all__ = [
    "GATEWAY_PATH",
    "REPLAY_WINDOW",
    "GatewayFaults",
    "GatewayHub",
    "ReceivedFrame",
    "UpgradeRequest",
]

GATEWAY_PATH: Final = "/gateway"
REPLAY_WINDOW: Final = 100_000
_POLL: Final = 0.05  # seconds: how often a sender looks for events published off-loop
_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(dict[str, Any])


@dataclass
class GatewayFaults:
    """Misbehaviour of the emulated gateway; change it at any time, from any thread.

    Attributes:
        drop_every: Abort the TCP connection after every N events sent on it.
        answer_pings: ``False``: swallow WebSocket pings and op 1 heartbeats.
        replay: ``False``: a Resume succeeds but replays nothing (``replayed: false``).
        hold: ``True``: keep new events in the sessions' logs without sending them (they
            go out once it is ``False`` again); benchmarks use it to pre-load events.
    """

    drop_every: int | None = None
    answer_pings: bool = True
    replay: bool = True
    hold: bool = False

    def clear(self) -> None:
        """Back to a well-behaved server."""
        self.drop_every = None
        self.answer_pings = True
        self.replay = True
        self.hold = False


@dataclass(frozen=True)
class ReceivedFrame:
    """A frame a client sent: the connection number, its op and payload."""

    connection: int
    op: int | None
    d: Any
    before_ready: bool


@dataclass(frozen=True)
class UpgradeRequest:
    """A WebSocket upgrade request the gateway answered.

    Attributes:
        token: The bearer token it carried (``None``: no ``Authorization: Bearer``).
        status: 101 when accepted, else the HTTP status it was refused with.
    """

    token: str | None = field(repr=False)
    status: int


@dataclass
class _Session:
    id: str
    token: str
    agent_id: int
    subscriptions: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    log: list[tuple[int, str]] = field(default_factory=list)
    seq: int = 0
    connection: _Connection | None = None

    def append(self, name: str, d: bytes | str) -> None:
        self.seq += 1
        body = d.decode() if isinstance(d, bytes) else d
        self.log.append((self.seq, f'{{"op":0,"t":"{name}","s":{self.seq},"d":{body}}}'))
        if len(self.log) > 2 * REPLAY_WINDOW:
            del self.log[:REPLAY_WINDOW]
        connection = self.connection
        if connection is not None:
            connection.wake()

    def after(self, seq: int) -> list[tuple[int, str]]:
        log = self.log
        if not log or log[-1][0] <= seq:
            return []
        start = max(0, seq - log[0][0] + 1)
        return log[start:]


class _Connection:
    def __init__(self, number: int, control: WireControl | None) -> None:
        self.number = number
        self.control = control
        self.session: _Session | None = None
        self.cursor = 0
        self.sent_events = 0
        self.direct: deque[str] = deque()
        self.close_after_direct = False
        self._wake = anyio.Event()
        self._thread = threading.get_ident()

    def wake(self) -> None:
        # anyio events belong to the server loop; a publish from another thread is
        # picked up by the sender's poll instead.
        if threading.get_ident() == self._thread:
            self._wake.set()

    def cancel(self) -> None:
        """Send SessionCancelled (op 3), then close."""
        self.direct.append('{"op":3,"d":{}}')
        self.close_after_direct = True
        self.wake()

    async def wait(self) -> None:
        with anyio.move_on_after(_POLL):
            await self._wake.wait()
        self._wake = anyio.Event()


class GatewayHub:
    """The gateway's sessions and connections over a :class:`DooverState`."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.faults = GatewayFaults()
        self.received: list[ReceivedFrame] = []
        """Every frame clients sent, in order."""
        self.upgrades: list[UpgradeRequest] = []
        """Every upgrade request answered, in order (which token, accepted or not)."""
        self.connections_opened = 0
        self._sessions: dict[str, _Session] = {}
        self._live: set[_Connection] = set()
        self._lock = threading.RLock()

    # -- inspection ---------------------------------------------------------------------

    @property
    def violations(self) -> list[ReceivedFrame]:
        """Frames received before Ready that are not Identify, Resume or Heartbeat."""
        return [f for f in self.received if f.before_ready and f.op not in (1, 10, 11)]

    def ops(self, op: int) -> list[Any]:
        """The payloads of every received frame with this op."""
        return [f.d for f in self.received if f.op == op]

    @property
    def live_connections(self) -> int:
        """Connections currently open."""
        with self._lock:
            return len(self._live)

    # -- producing events (any thread; the state calls publish under its lock) ----------

    def publish(self, kind: str, channel: ChannelRecord, info: dict[str, Any]) -> None:
        """Send a REST write's event to the sessions subscribed to ``channel``."""
        key = (channel.owner_id, channel.name)
        with self._lock:
            sessions = [s for s in self._sessions.values() if key in s.subscriptions]
            if not sessions:
                return
            d = self._payload(kind, channel, info)
            for session in sessions:
                session.append(kind, d)

    def _payload(self, kind: str, channel: ChannelRecord, info: dict[str, Any]) -> bytes:
        org = str(self.state.organisation_id)
        if kind == "MessageCreate":
            body: bytes = info["message"].body
            return body
        if kind == "MessageUpdate":
            record = info["message"]
            return _ENCODER.encode(
                {
                    "channel": channel.ref,
                    "author_id": str(record.author_id),
                    "organisation_id": org,
                    "message": msgspec.Raw(record.body),
                    "request_data": {"data": info.get("request_data")},
                }
            )
        if kind == "AggregateUpdate":
            return _ENCODER.encode(
                {
                    "author_id": str(info.get("author_id") or channel.owner_id),
                    "channel": channel.ref,
                    "aggregate": info["aggregate"].wire(),
                    "request_data": {"data": info.get("request_data")},
                    "organisation_id": org,
                }
            )
        return _ENCODER.encode({"channel": channel.ref, **info})

    def set_alarm_state(
        self, agent_id: int, channel_name: str, alarm_id: int, new_state: str
    ) -> None:
        """Move a stored alarm to ``new_state`` and send the ``AlarmTrigger``.

        Alarms also change state by themselves when their channel's aggregate changes
        (see :meth:`DooverState.evaluate_alarms`); this forces a state.

        Raises:
            NotFound: No such agent, channel or alarm.
        """
        self.state.set_alarm_state(agent_id, channel_name, alarm_id, new_state)

    # -- faults ------------------------------------------------------------------------------

    def cancel_sessions(self) -> None:
        """Send SessionCancelled (op 3) on every live connection and forget all sessions."""
        with self._lock:
            self._sessions.clear()
            for connection in self._live:
                connection.session = None
                connection.cancel()

    def inject(self, frame: str) -> None:
        """Send a raw text frame (malformed, unknown, anything) on every live connection."""
        with self._lock:
            for connection in self._live:
                connection.direct.append(frame)
                connection.wake()

    def drop_connections(self) -> None:
        """Abort every live connection's TCP connection now."""
        with self._lock:
            for connection in self._live:
                if connection.control is not None:
                    connection.control.abort()

    # -- the ASGI side -------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        scheme, _, token = headers.get("authorization", "").partition(" ")
        bearer = token.strip() if scheme.lower() == "bearer" else None
        try:
            claims = self.state.tokens.authenticate(headers)
        except ApiError as error:
            with self._lock:
                self.upgrades.append(UpgradeRequest(bearer, error.status))
            await _refuse(scope, send, error.status, error.message)
            return
        with self._lock:
            self.upgrades.append(UpgradeRequest(bearer, 101))
        await send({"type": "websocket.accept"})
        control = scope.get("extensions", {}).get(WIRE_CONTROL)
        with self._lock:
            self.connections_opened += 1
            connection = _Connection(self.connections_opened, control)
            self._live.add(connection)
        if control is not None:
            faults = self.faults
            control.answer_pings = lambda: faults.answer_pings
        connection.direct.append('{"op":0,"t":"Hello","d":{}}')
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._sender, connection, send, tg.cancel_scope)
                await self._receiver(connection, claims, receive)
                tg.cancel_scope.cancel()
        finally:
            with self._lock:
                self._live.discard(connection)
                session = connection.session
                if session is not None and session.connection is connection:
                    session.connection = None

    async def _receiver(self, connection: _Connection, claims: Any, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            raw = message.get("text") or message.get("bytes") or b""
            try:
                frame = _DECODER.decode(raw)
            except msgspec.DecodeError:
                frame = {}
            op = frame.get("op")
            d = frame.get("d")
            with self._lock:
                self.received.append(
                    ReceivedFrame(connection.number, op, d, connection.session is None)
                )
                self._handle(connection, claims, op, d if isinstance(d, dict) else {}, d)

    def _handle(
        self, connection: _Connection, claims: Any, op: Any, d: dict[str, Any], raw: Any
    ) -> None:
        session = connection.session
        if op == 1:
            if self.faults.answer_pings:
                connection.direct.append('{"op":2,"d":{}}')
                connection.wake()
        elif op == 10:
            session = _Session(
                id=str(self.state.ids.mint(IdKind.WSS_SESSION)),
                token=f"wss_{secrets.token_hex(8)}",
                agent_id=int(claims["agent"]),
            )
            self._sessions[session.id] = session
            self._attach(connection, session, replayed=False, cursor=session.seq)
        elif op == 11:
            found = self._sessions.get(str(d.get("session_id")))
            if found is None or not secrets.compare_digest(
                str(d.get("session_token", "")), found.token
            ):
                connection.cancel()
                return
            seq = d.get("seq")
            oldest = found.log[0][0] if found.log else found.seq + 1
            can_replay = (
                self.faults.replay
                and isinstance(seq, int)
                and seq >= oldest - 1
                and seq <= found.seq
            )
            previous = found.connection
            if previous is not None and previous is not connection:
                previous.session = None
                if previous.control is not None:
                    previous.control.abort()
            cursor = seq if can_replay and isinstance(seq, int) else found.seq
            self._attach(connection, found, replayed=can_replay, cursor=cursor)
        elif session is None:
            return  # a violation (recorded); nothing is served before Ready
        elif op == 12:
            key = _key(d)
            if key is not None:
                session.subscriptions[key] = {"diff_only": bool(d.get("diff_only"))}
                self._sync(session, key)
                self._notify_watchers(session, key, "ChannelSubscription")
        elif op == 13:
            key = _key(d)
            if key is not None and session.subscriptions.pop(key, None) is not None:
                self._notify_watchers(session, key, "ChannelUnsubscription")
        elif op == 14:
            key = _key(d)
            if key is not None:
                self._sync(session, key)
        elif op == 15:
            key = _key(d)
            if key is not None:
                payload = _ENCODER.encode(
                    {
                        "id": None,
                        "author_id": str(session.agent_id),
                        "channel": _ref(key),
                        "data": raw.get("data") if isinstance(raw, dict) else None,
                    }
                )
                for other in self._sessions.values():
                    if key in other.subscriptions:
                        other.append("OneShotMessage", payload)

    def _attach(
        self, connection: _Connection, session: _Session, *, replayed: bool, cursor: int
    ) -> None:
        session.connection = connection
        subscriptions = [
            {"channel": _ref(k), "diff_only": v["diff_only"]}
            for k, v in session.subscriptions.items()
        ]
        ready = {
            "session_id": session.id,
            "session_token": session.token,
            "subscriptions": subscriptions,
            "replayed": replayed,
        }
        connection.direct.append('{"op":0,"t":"Ready","d":' + _ENCODER.encode(ready).decode() + "}")
        connection.cursor = cursor
        connection.session = session
        connection.wake()

    def _notify_watchers(self, session: _Session, key: tuple[int, str], name: str) -> None:
        """Tell the other sessions watching ``key`` that ``session`` (un)subscribed."""
        d = _ENCODER.encode(
            {
                "agent_id": str(session.agent_id),
                "channel": _ref(key),
                "session_id": session.id,
                "default_session": False,
            }
        )
        for other in self._sessions.values():
            if other is not session and key in other.subscriptions:
                other.append(name, d)

    def _sync(self, session: _Session, key: tuple[int, str]) -> None:
        state = self.state
        with state.lock:
            try:
                channel = state.channel(*key)
            except LookupError:
                message = f"channel {key[1]!r} of agent {key[0]} not found"
                session.append("WSSErrorEvent", _ENCODER.encode({"message": message}))
                return
            d = _ENCODER.encode({"channel": channel.ref, "aggregate": channel.aggregate.wire()})
        session.append("ChannelSync", d)

    async def _sender(self, connection: _Connection, send: Send, scope: anyio.CancelScope) -> None:
        faults = self.faults
        try:
            while True:
                while connection.direct:
                    await send({"type": "websocket.send", "text": connection.direct.popleft()})
                if connection.close_after_direct:
                    await send({"type": "websocket.close", "code": 1000})
                    scope.cancel()
                    return
                session = connection.session
                if session is not None and not faults.hold:
                    with self._lock:
                        entries = session.after(connection.cursor)
                    for seq, frame in entries:
                        if connection.session is not session or connection.direct:
                            break
                        await send({"type": "websocket.send", "text": frame})
                        connection.cursor = seq
                        connection.sent_events += 1
                        every = faults.drop_every
                        if every and connection.sent_events % every == 0:
                            if connection.control is not None:
                                connection.control.abort()
                            else:
                                await send({"type": "websocket.close", "code": 1011})
                            scope.cancel()
                            return
                    if entries:
                        continue
                await connection.wait()
        except OSError:  # uvicorn's ClientDisconnected
            scope.cancel()


def _ref(key: tuple[int, str]) -> dict[str, str]:
    """The wire ChannelID of ``key`` (ids as strings)."""
    return {"agent_id": str(key[0]), "name": key[1]}


def _key(d: dict[str, Any]) -> tuple[int, str] | None:
    channel = d.get("channel")
    if not isinstance(channel, dict):
        return None
    try:
        return int(channel["agent_id"]), str(channel["name"])
    except (KeyError, TypeError, ValueError):
        return None


async def _refuse(scope: Scope, send: Send, status: int, message: str) -> None:
    """Refuse the upgrade with an HTTP status (403 where the server cannot say more)."""
    if "websocket.http.response" in scope.get("extensions", {}):
        body = _ENCODER.encode({"message": message})
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})


class GatewayRouter:
    """ASGI layer: WebSocket scopes at :data:`GATEWAY_PATH` go to the hub."""

    def __init__(self, app: Any, hub: GatewayHub) -> None:
        self.app = app
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            if scope["path"] == GATEWAY_PATH:
                await self.hub(scope, receive, send)
            else:
                await receive()
                await send({"type": "websocket.close", "code": 1008})
            return
        await self.app(scope, receive, send)
