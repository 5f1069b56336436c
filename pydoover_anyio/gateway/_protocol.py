"""The gateway session as an I/O-free state machine: frames in, outputs and frames out.

Like h11, it never touches a socket or a clock. The session owner feeds it what happened
(``connection_made``, each received frame, ``connection_lost``) and what the application
wants (``subscribe``, ``sync_channel``, ...); it answers with :class:`Output` values and
with frames to write (``data_to_send``).

Rules this module enforces (spec §7, §8 #27-#32):

* Phases: CLOSED -> AWAITING_HELLO -> AWAITING_READY -> READY. ``Hello`` is answered with
  Resume (op 11) when a session is stored, else Identify (op 10). Nothing else is sent
  before ``Ready``: subscribes, syncs and one-shots wait in order (#32).
* Several subscribers of one channel share one wire subscription (reference counted):
  the first sends Subscribe (op 12), the last Unsubscribe (op 13).
* On ``Ready`` the wire subscriptions are reconciled with the wanted ones: a resumed
  session's listed subscriptions are not re-sent (#29); missing ones are subscribed and
  stale ones unsubscribed.
* Every channel whose consumers need fresh state gets a ChannelSync: a newly subscribed
  channel gets one from the server's answer to Subscribe, any other is asked with op 14
  (a second subscriber, or a resume without replay).
* Sequence numbers (``s``) are tracked per session; a dispatch at or below the last one
  seen is a replayed duplicate and dropped. Resume sends the last one (``seq``) so a
  server can replay what was missed (#27).
* SyncChannel / OneShot requests are queued until a Ready connection takes them and are
  kept until the owner confirms they were written (:meth:`sent`), so a connection lost
  before the write does not drop them (#28). One cancelled before it was handed to the
  writer is not sent.
* A resync (:meth:`resync`, after a consumer missed events) is not such a request: it
  lapses with the channel's last subscriber.
* ``SessionCancelled`` (op 3) forgets the session: the next Hello is answered with
  Identify.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import msgspec

from pydoover_anyio.runtime.retry import RetryPolicy

from . import _frames as fr
from .events import ChannelSync, GatewayError

__all__ = [
    "MAX_RECONNECT_DELAY",
    "Broadcast",
    "ChannelKey",
    "Dispatch",
    "GatewayProtocol",
    "HeartbeatAck",
    "HelloReceived",
    "Output",
    "Phase",
    "SessionCancelled",
    "SessionReady",
    "Skipped",
    "reconnect_delay",
]

#: ``(agent_id, channel name)``: how subscriptions and events are matched.
ChannelKey: TypeAlias = tuple[int, str]

#: Seconds: the ceiling of the reconnect backoff (spec §7.5 step 7).
MAX_RECONNECT_DELAY: Final = 30.0


def reconnect_delay(
    attempt: int,
    *,
    base: float = 1.0,
    cap: float = MAX_RECONNECT_DELAY,
    rng: random.Random | None = None,
) -> float:
    """Exponential backoff with full jitter: uniform in ``[0, min(cap, base * 2**attempt))``.

    Args:
        attempt: Failed attempts since the last Ready (0 for the first retry).
        base: The first ceiling, in seconds.
        cap: The largest ceiling, in seconds.
        rng: The random source (tests pass a seeded one).
    """
    policy = RetryPolicy(backoff_base=base, backoff_max=cap, random=(rng or random).random)
    return policy.delay(min(attempt, 64) + 1)  # its attempts count from 1


class Phase(enum.Enum):
    """Where a connection is in the handshake."""

    CLOSED = "closed"
    AWAITING_HELLO = "awaiting_hello"
    AWAITING_READY = "awaiting_ready"
    READY = "ready"


class Dispatch(msgspec.Struct, frozen=True, gc=False):
    """A channel event for the subscribers of ``key``.

    A msgspec struct rather than a dataclass like the other outputs: one is made per
    event, and a frozen dataclass's ``__init__`` costs ~7x more (290 ns against 40 ns).
    """

    key: ChannelKey
    event: Any


@dataclass(frozen=True, slots=True)
class Broadcast:
    """A server error for every subscription (it names no channel)."""

    event: GatewayError


@dataclass(frozen=True, slots=True)
class HelloReceived:
    """The server said Hello; ``heartbeat_interval`` in seconds when it sent one."""

    heartbeat_interval: float | None


@dataclass(frozen=True, slots=True)
class SessionReady:
    """The session is Ready.

    Attributes:
        reconnect: A Ready was seen before on this protocol (this is a re-connection).
        resumed: The stored session was resumed.
        replayed: ... and the server confirmed it replays missed events.
        subscribed_again: Channels the session did not hold, subscribed to again: nothing
            of theirs is replayed, whatever ``replayed`` says.
    """

    reconnect: bool
    resumed: bool
    replayed: bool
    subscribed_again: frozenset[ChannelKey] = frozenset()

    def events_missed(self, key: ChannelKey) -> bool:
        """Whether events of channel ``key`` may have been missed since the drop."""
        return not self.replayed or key in self.subscribed_again


@dataclass(frozen=True, slots=True)
class SessionCancelled:
    """The server cancelled the session (op 3); reconnect and Identify."""


@dataclass(frozen=True, slots=True)
class HeartbeatAck:
    """The server acknowledged a heartbeat (op 2)."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A frame that was ignored, and why (for the log)."""

    reason: str


Output: TypeAlias = (
    Dispatch | Broadcast | HelloReceived | SessionReady | SessionCancelled | HeartbeatAck | Skipped
)


@dataclass(slots=True)
class _Wanted:
    count: int
    organisation_id: int | None
    diff_only: bool


@dataclass(slots=True)
class _Op:
    ticket: int
    frame: bytes
    on_wire: bool = False  # handed to data_to_send on the current connection


class GatewayProtocol:
    """One client's gateway session state, across connections.

    Args:
        organisation_id: Sent in Identify and as each subscription's default.
        sharing_mode: Identify's ``sharing_mode`` (``"internal"``, ``"external"``, ``"none"``).
    """

    def __init__(
        self, *, organisation_id: int | None = None, sharing_mode: str = "internal"
    ) -> None:
        self.organisation_id = organisation_id
        self.sharing_mode = sharing_mode
        self.phase = Phase.CLOSED
        self.session: tuple[str, str] | None = None
        self.seq: int | None = None
        self._wanted: dict[ChannelKey, _Wanted] = {}
        self._wire: set[ChannelKey] = set()
        #: Channels whose last subscriber left while not Ready, with their organisation:
        #: the next Ready may list them as still held (unsubscribed then).
        self._left: dict[ChannelKey, int | None] = {}
        self._unsynced: set[ChannelKey] = set()
        self._ops: dict[int, _Op] = {}
        self._next_ticket = 0
        self._outbox: list[tuple[bytes, int | None]] = []
        self._resuming = False
        self._ever_ready = False

    # -- what the application wants ---------------------------------------------------------

    @property
    def pending_ops(self) -> int:
        """Queued SyncChannel / OneShot requests not yet written."""
        return len(self._ops)

    @property
    def idle(self) -> bool:
        """Nothing is wanted: no subscriber and no queued request."""
        return not self._wanted and not self._ops

    def subscribe(
        self, key: ChannelKey, *, organisation_id: int | None = None, diff_only: bool = False
    ) -> bool:
        """Add a subscriber of ``key``; returns whether it is the first.

        The subscriber gets a ChannelSync: from the server's answer to Subscribe for the
        first, from a SyncChannel request for later ones.
        """
        wanted = self._wanted.get(key)
        self._unsynced.add(key)
        if wanted is not None:
            wanted.count += 1
            if self.phase is Phase.READY:
                self._outbox.append((fr.sync_channel(*key, wanted.organisation_id), None))
            return False
        org = organisation_id if organisation_id is not None else self.organisation_id
        wanted = self._wanted[key] = _Wanted(1, org, diff_only)
        self._left.pop(key, None)
        if self.phase is Phase.READY:
            if key in self._wire:
                self._outbox.append((fr.sync_channel(*key, org), None))
            else:
                self._outbox.append((fr.subscribe(*key, org, diff_only), None))
                self._wire.add(key)
        return True

    def unsubscribe(self, key: ChannelKey) -> bool:
        """Remove a subscriber of ``key``; returns whether it was the last."""
        wanted = self._wanted.get(key)
        if wanted is None:
            return False
        wanted.count -= 1
        if wanted.count > 0:
            return False
        del self._wanted[key]
        self._unsynced.discard(key)
        if self.phase is not Phase.READY:
            self._left[key] = wanted.organisation_id
        elif key in self._wire:
            self._outbox.append((fr.unsubscribe(*key, wanted.organisation_id), None))
            self._wire.discard(key)
        return True

    def resync(self, key: ChannelKey) -> None:
        """Ask for a fresh ChannelSync of a subscribed channel (its consumer missed events):
        now when Ready, else at the next Ready. It is no request to wait for: it lapses
        when the channel's last subscriber leaves, so it never keeps the session busy."""
        wanted = self._wanted.get(key)
        if wanted is None:
            return
        self._unsynced.add(key)
        if self.phase is Phase.READY:
            self._outbox.append((fr.sync_channel(*key, wanted.organisation_id), None))

    def sync_channel(self, key: ChannelKey, organisation_id: int | None = None) -> int:
        """Queue a SyncChannel request (op 14); returns its ticket."""
        org = organisation_id if organisation_id is not None else self.organisation_id
        return self._queue(fr.sync_channel(*key, org))

    def one_shot(self, key: ChannelKey, data: Any) -> int:
        """Queue a OneShot message (op 15); returns its ticket.

        Raises:
            TypeError: ``data`` is not JSON-serialisable.
        """
        return self._queue(fr.one_shot(*key, data))

    def cancel(self, ticket: int) -> None:
        """Forget a queued request (its caller gave up)."""
        self._ops.pop(ticket, None)

    def is_pending(self, ticket: int) -> bool:
        """Whether a request still waits to be written."""
        return ticket in self._ops

    def heartbeat(self) -> None:
        """Queue a heartbeat (op 1) when Ready."""
        if self.phase is Phase.READY:
            self._outbox.append((fr.heartbeat(self.seq), None))

    def forget_session(self) -> None:
        """Drop the stored session so the next connection Identifies afresh."""
        self.session = None
        self.seq = None

    def _queue(self, frame: bytes) -> int:
        self._next_ticket += 1
        op = _Op(self._next_ticket, frame)
        self._ops[op.ticket] = op
        if self.phase is Phase.READY:
            op.on_wire = True
            self._outbox.append((frame, op.ticket))
        return op.ticket

    # -- what the connection did ----------------------------------------------------------

    def connection_made(self) -> None:
        """A new connection is open (before Hello)."""
        self.connection_lost()  # nothing of a previous connection carries over
        self.phase = Phase.AWAITING_HELLO

    def connection_lost(self, *, refused: bool = False) -> None:
        """The connection ended; unsent frames are dropped (requests stay queued).

        ``refused``: the server closed it before Ready with a refusal code. In answer to
        Resume that says the session is gone, so the next Hello gets an Identify.
        """
        if refused and self._resuming:
            self.forget_session()
        self.phase = Phase.CLOSED
        self._outbox.clear()
        self._wire.clear()
        self._resuming = False
        for op in self._ops.values():
            op.on_wire = False

    def data_to_send(self) -> list[tuple[bytes, int | None]]:
        """Frames to write now, in order, each with its request ticket (or ``None``);
        a request cancelled since it was queued is left out."""
        out, self._outbox = self._outbox, []
        ops = self._ops
        return [item for item in out if item[1] is None or item[1] in ops]

    def sent(self, ticket: int) -> None:
        """A request's frame was written; it is no longer pending."""
        self._ops.pop(ticket, None)

    @property
    def has_data_to_send(self) -> bool:
        """Whether :meth:`data_to_send` has frames."""
        return bool(self._outbox)

    def receive(self, frame: bytes | str) -> list[Output]:
        """Process one received text frame.

        Returns:
            What the owner must act on, in order.

        Raises:
            FrameError: the frame is not JSON or not the documented shape.
        """
        return [self.receive_one(frame)]

    def receive_one(self, frame: bytes | str) -> Output:
        """Process one received text frame (:meth:`receive` without the list).

        Raises:
            FrameError: the frame is not JSON or not the documented shape.
        """
        decoded = fr.decode_frame(frame)
        if decoded is None:  # not a well-formed dispatch of a known event
            other = self._decode_other(frame)
            if not isinstance(other, tuple):
                return other
            decoded = other
        seq, payload = decoded
        kind = type(payload)
        if kind is fr.Hello:
            return self._on_hello(payload)
        if kind is fr.Ready:
            return self._on_ready(payload)
        if seq is not None:
            last = self.seq
            if last is not None and seq <= last:
                return Skipped(f"duplicate {fr.event_name(payload)} (s={seq} <= {last})")
            self.seq = seq
        if kind is GatewayError:
            return Broadcast(payload)
        channel = payload.channel
        key = (channel.agent_id, channel.name)
        if key not in self._wanted:
            return Skipped(f"{fr.event_name(payload)} for a channel not subscribed")
        if kind is ChannelSync:
            self._unsynced.discard(key)
        return Dispatch(key, payload)

    def _decode_other(self, frame: bytes | str) -> Output | tuple[int | None, Any]:
        """The two-step decode: another op's output, or a dispatch's ``(s, payload)``."""
        envelope = fr.decode_envelope(frame)
        op = envelope.op
        if op != fr.OP_DISPATCH:
            if op == fr.OP_HEARTBEAT_ACK:
                return HeartbeatAck()
            if op == fr.OP_SESSION_CANCELLED:
                self.forget_session()
                return SessionCancelled()
            return Skipped(f"unknown op {op}")
        name = envelope.t
        if name is None:
            return Skipped("a dispatch without an event name")
        payload = fr.decode_dispatch(name, envelope.d)
        if payload is None:
            return Skipped(f"unknown event {name!r}")
        return envelope.s, payload

    def _on_hello(self, hello: fr.Hello) -> Output:
        if self.phase is not Phase.AWAITING_HELLO:
            return Skipped(f"Hello in phase {self.phase.value}")
        if self.session is not None:
            self._outbox.append((fr.resume(*self.session, self.seq), None))
            self._resuming = True
        else:
            self._outbox.append((fr.identify(self.organisation_id, self.sharing_mode), None))
            self._resuming = False
        self.phase = Phase.AWAITING_READY
        interval = hello.heartbeat_interval
        return HelloReceived(None if not interval else interval / 1000.0)

    def _on_ready(self, ready: fr.Ready) -> Output:
        if self.phase is not Phase.AWAITING_READY:
            return Skipped(f"Ready in phase {self.phase.value}")
        resumed = (
            self._resuming and self.session is not None and ready.session_id == self.session[0]
        )
        replayed = resumed and ready.replayed
        if not replayed:
            # Only a confirmed replay continues the old numbering for certain (spec §9
            # leaves ``s`` across connections open): otherwise a server numbering each
            # connection afresh would have its new events, the promised ChannelSync
            # among them, dropped as duplicates. Consumers were told events_missed=True.
            self.seq = None
        self.session = (ready.session_id, ready.session_token)
        self._resuming = False
        self.phase = Phase.READY
        held = {(s.channel.agent_id, s.channel.name): s for s in ready.subscriptions}
        out = self._outbox
        left, self._left = self._left, {}
        for key in held.keys() - self._wanted.keys():  # in the organisation it was held in
            org = held[key].organisation_id
            if org is None:
                org = left.get(key, self.organisation_id)
            out.append((fr.unsubscribe(*key, org), None))
        subscribed: set[ChannelKey] = set()
        for key, wanted in self._wanted.items():
            if key not in held:
                out.append((fr.subscribe(*key, wanted.organisation_id, wanted.diff_only), None))
                subscribed.add(key)
        self._wire = set(self._wanted)
        # Resynchronise what the server will not sync by itself.
        fresh = replayed or not self._ever_ready
        stale = self._unsynced if fresh else self._unsynced | self._wanted.keys()
        for key in stale - subscribed:
            if key in self._wanted:
                out.append((fr.sync_channel(*key, self._wanted[key].organisation_id), None))
        for op in self._ops.values():
            op.on_wire = True
            out.append((op.frame, op.ticket))
        reconnect = self._ever_ready
        self._ever_ready = True
        return SessionReady(reconnect, resumed, replayed, frozenset(subscribed))
