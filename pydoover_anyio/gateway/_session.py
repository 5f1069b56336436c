"""The gateway session owner: one connection per client, reconnected for as long as needed.

Structure (DESIGN rule 3): the session's runner is a task in the client's own task group
(entered by ``async with AsyncDataClient(...)``); each connection is a task group of
three tasks that all end with it:

* the reader: reads frames, feeds the protocol, routes events into the subscriptions'
  buffers (never waiting for a consumer, but yielding so that consumers that keep up
  are not dropped from; see :mod:`._subscription`);
* the writer: writes the protocol's frames (nothing before Ready, see :mod:`._protocol`);
* the keepalive: the Hello/Ready deadline, then a WebSocket ping every
  ``ping_interval`` seconds that must be answered within ``ping_timeout`` (plus op 1
  heartbeats if the server acknowledged the first one). Frames still arriving count as
  an answer: the pong may be queued behind a burst the reader has not reached yet, and
  a connection that delivers data is alive. A dead connection (nothing at all for
  ``ping_timeout`` after a ping) is therefore noticed within ``ping_interval +
  ping_timeout`` seconds.

Between connections the runner refreshes the token and waits a full-jitter exponential
backoff (``reconnect_base`` doubling up to ``reconnect_cap``, reset by each Ready);
after SessionCancelled it reconnects at once (once: until the next Ready, another one is
backed off from, so a server that cancels every Identify is not hammered). It stops
when nothing is wanted (no subscription, no queued request) and starts again on demand.

Errors: connection failures, 5xx and 429 are retried for ever, and so is a token
refresh that failed the same way (``TokenRefreshError.transient``: no connection to the
token endpoint, or a 429/5xx from it). A refused upgrade (401 after one token
refresh, 403, 404, other 4xx) or a token refresh refused otherwise is final: every
subscription and waiting request raises it, as the package's typed exception. So are
three connections in a row that the server closes before Ready with a refusal code
(1008 or 4000-4999, see :func:`_refuses`): a ``DooverAPIError`` naming the code.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from typing import Any, Final

import anyio
import anyio.abc
import anyio.lowlevel

from pydoover_anyio.auth import AsyncAuth
from pydoover_anyio.errors import (
    DooverAPIError,
    DooverConnectionError,
    TokenRefreshError,
    error_for_status,
)
from pydoover_anyio.runtime import ClientClosedError

from . import _protocol as pr
from ._protocol import ChannelKey, GatewayProtocol, Phase
from ._subscription import CHECKPOINT_EVERY, Subscription
from ._websocket import HandshakeRejected, WebSocket, WebSocketClosed, connect
from .events import Reconnected

__all__ = ["GatewaySession", "GatewaySettings"]

logger = logging.getLogger("pydoover_anyio.gateway")

_RETRYABLE_STATUS: Final = frozenset({408, 429})
#: Server errors that say the handshake can never succeed here (the upgrade or the HTTP
#: version is not supported). Every other 5xx is retried: a subscription outlives a
#: deploy or an overloaded proxy (e.g. the 52x of some CDNs), and REST's narrower set
#: (500/502/503/504) is about one request, not a long-lived connection.
_FINAL_SERVER_STATUS: Final = frozenset({501, 505})
#: Close codes that refuse a session when they come before Ready: policy violation
#: (1008), and the 4000-4999 range servers use for their own reasons (a revoked token,
#: say). The spec names none (UNRESOLVED), so they are not final at once (a server may
#: use one for a passing condition): only this many refusals in a row, with the usual
#: backoff between them, end the subscriptions. Any other close is retried for ever.
_REFUSALS_TO_GIVE_UP: Final = 3


#: The close code of a message larger than ``max_message_size``.
_MESSAGE_TOO_BIG: Final = 1009

#: The shortest keepalive interval a Hello's ``heartbeat_interval`` may set (seconds);
#: a shorter ``ping_interval`` the user chose is kept.
_MIN_HEARTBEAT_INTERVAL: Final = 1.0


def _refuses(code: int | None) -> bool:
    """Whether a close code before Ready refuses the session (see above)."""
    return code == 1008 or (code is not None and 4000 <= code <= 4999)


#: The settings that must be above zero (a zero backoff would hammer a failing server).
_POSITIVE_SETTINGS: Final = (
    "ping_interval",
    "ping_timeout",
    "open_timeout",
    "close_timeout",
    "write_timeout",
    "reconnect_base",
    "reconnect_cap",
)


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """Tunables of the gateway connection (all times in seconds).

    Attributes:
        ping_interval: Seconds between keepalive pings.
        ping_timeout: Seconds a ping (and a heartbeat, once acknowledged) may go unanswered,
            with no frame received either, before the connection counts as dead.
        open_timeout: Seconds from starting to connect until ``Ready``.
        close_timeout: Seconds the close handshake may take.
        write_timeout: Seconds one frame write may take before the connection counts
            as dead.
        reconnect_base: The first backoff ceiling (doubles per failed attempt).
        reconnect_cap: The largest backoff ceiling.
        buffer_size: Events buffered per subscription (see the overflow policy in
            :mod:`pydoover_anyio.gateway._subscription`).
        max_message_size: The largest frame accepted, in bytes (``None``: no limit; at
            least 1024). A larger event fails the connection; the next one Identifies
            afresh (the event is lost: consumers see ``events_missed`` and a ChannelSync).
        ssl_context: The TLS context for ``wss://`` (default: the system's, verified).
        sharing_mode: Identify's ``sharing_mode``.
    """

    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    open_timeout: float = 10.0
    close_timeout: float = 5.0
    write_timeout: float = 10.0
    reconnect_base: float = 1.0
    reconnect_cap: float = pr.MAX_RECONNECT_DELAY
    buffer_size: int = 1000
    max_message_size: int | None = 4 * 1024 * 1024
    ssl_context: ssl.SSLContext | None = None
    sharing_mode: str = "internal"

    def __post_init__(self) -> None:
        for name in _POSITIVE_SETTINGS:
            if not getattr(self, name) > 0:  # NaN too
                raise ValueError(f"{name} must be positive, not {getattr(self, name)!r}")
        if self.reconnect_cap < self.reconnect_base:
            raise ValueError("reconnect_cap must be at least reconnect_base")
        if self.buffer_size < 2:
            raise ValueError("buffer_size must be at least 2")
        if self.max_message_size is not None and self.max_message_size < 1024:
            # Below that even Hello and Ready fail the connection, on every reconnect.
            raise ValueError(
                f"max_message_size must be None or at least 1024, not {self.max_message_size!r}"
            )


class _Fatal(Exception):  # noqa: N818 - internal signal carrying the final error
    def __init__(self, error: BaseException) -> None:
        self.error = error


class GatewaySession:
    """The client's gateway session (see the module docstring).

    Args:
        url: The gateway URL (``ws://`` or ``wss://``).
        auth: The client's auth object (tokens refreshed before each connect).
        user_agent: Sent on the upgrade request.
        organisation_id: Identify's and the subscriptions' default organisation.
        settings: Timeouts, buffers and limits.
        host: The task group the runner lives in.
    """

    def __init__(
        self,
        *,
        url: str,
        auth: AsyncAuth,
        user_agent: str,
        organisation_id: int | None,
        settings: GatewaySettings,
        host: anyio.abc.TaskGroup,
    ) -> None:
        self.url = url
        self.settings = settings
        self._auth = auth
        self._user_agent = user_agent
        self._host = host
        self.protocol = GatewayProtocol(
            organisation_id=organisation_id, sharing_mode=settings.sharing_mode
        )
        self._routes: dict[ChannelKey, list[Subscription]] = {}
        self._op_waiters: dict[int, anyio.Event] = {}
        self._running = False
        self._closed = False
        self._failure: BaseException | None = None
        self._write_wake: anyio.Event | None = None
        self._ready = anyio.Event()
        self._reconnect_now = False
        self._heartbeat_interval: float | None = None
        self._ready_deadline = 0.0  # open_timeout after the connection's connect began
        self._heartbeats_acked = False
        self._heartbeat_ack: anyio.Event | None = None
        self._dead = False
        #: How the server closed this connection before Ready, if with a refusal code.
        self._refusal: WebSocketClosed | None = None
        self._scope: anyio.CancelScope | None = None
        self.connections = 0
        """How many connections were opened (for tests and diagnostics)."""

    # -- the application's side -------------------------------------------------------------

    async def subscribe(
        self,
        agent_id: int,
        name: str,
        *,
        organisation_id: int | None,
        diff_only: bool,
        buffer_size: int | None,
    ) -> Subscription:
        """Add a subscriber; returns once its first ChannelSync is buffered.

        Raises:
            ClientClosedError: the client is closed.
            DooverAPIError: the gateway failed for good (e.g. the token was refused).
        """
        self._check_open()
        key = (int(agent_id), name)
        size = self.settings.buffer_size if buffer_size is None else buffer_size
        sub = Subscription(key, size, self._request_sync)
        self._routes.setdefault(key, []).append(sub)
        self.protocol.subscribe(key, organisation_id=organisation_id, diff_only=diff_only)
        self._changed()
        try:
            await sub.wait_synced()
        except BaseException:
            self.unsubscribe(sub)
            raise
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove a subscriber (its wire subscription goes with the last one)."""
        subs = self._routes.get(sub.key)
        if subs is None or sub not in subs:
            return
        subs.remove(sub)
        if not subs:
            del self._routes[sub.key]
        self.protocol.unsubscribe(sub.key)
        sub.close()
        self._changed()

    async def request(self, make: Any, *args: Any) -> None:
        """Queue a SyncChannel/OneShot request and wait until it is written.

        Raises:
            ClientClosedError: the client is closed.
            DooverAPIError: the gateway failed for good.
        """
        self._check_open()
        ticket: int = make(*args)
        waiter = self._op_waiters[ticket] = anyio.Event()
        self._changed()
        try:
            await waiter.wait()
        finally:
            self._op_waiters.pop(ticket, None)
            unsent = self.protocol.is_pending(ticket)
            if unsent:
                self.protocol.cancel(ticket)
        if unsent:  # (written is written: a failure after it does not undo it)
            raise self._failure or ClientClosedError("the client was closed")

    def close(self) -> None:
        """Stop for good: every subscription and waiting request ends."""
        if self._closed:
            return
        self._closed = True
        if self._scope is not None:
            self._scope.cancel()
        self._fail_all(ClientClosedError("the client was closed"))

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError("the client is closed; create a new one")
        if self._failure is not None and not self._running:
            if self._routes or self._op_waiters:
                raise self._failure
            self._failure = None  # everything that saw the failure is gone: try again

    def _request_sync(self, key: ChannelKey) -> None:
        self.protocol.resync(key)
        self._changed()

    def _changed(self) -> None:
        """Demand or output changed: wake the writer, start the runner if needed (not
        after a final failure, until everything that saw it is gone: see _check_open)."""
        self._wake_writer()
        if (
            not self._running
            and not self._closed
            and self._failure is None
            and not self.protocol.idle
        ):
            self._running = True
            self._host.start_soon(self._run, name="pydoover-anyio gateway")

    def _fail_all(self, error: BaseException) -> None:
        for subs in self._routes.values():
            for sub in subs:
                sub.fail(error)
        for waiter in self._op_waiters.values():
            waiter.set()

    # -- the runner ---------------------------------------------------------------------------

    async def _run(self) -> None:
        with anyio.CancelScope() as self._scope:
            await self._run_connections()
        self._scope = None

    async def _run_connections(self) -> None:
        attempt = 0
        refusals = 0  # connections closed with a refusal code before Ready, in a row
        may_skip_backoff = True  # one immediate reconnect per SessionCancelled streak
        try:
            while not self.protocol.idle and not self._closed:
                try:
                    got_ready = await self._connection()
                except _Fatal as fatal:
                    self._give_up(fatal.error)
                    return
                refusals = 0 if got_ready or self._refusal is None else refusals + 1
                if refusals >= _REFUSALS_TO_GIVE_UP:
                    self._give_up(self._refused(refusals))
                    return
                cancelled, self._reconnect_now = self._reconnect_now, False
                if got_ready and not cancelled:
                    attempt = 0
                    may_skip_backoff = True
                if self.protocol.idle or self._closed:
                    break
                if cancelled and may_skip_backoff:
                    # SessionCancelled: Identify afresh at once, but only once until a
                    # session that is not cancelled (a server that cancels every Identify,
                    # or every session right after its Ready, is backed off from).
                    may_skip_backoff = False
                    continue
                delay = pr.reconnect_delay(
                    attempt, base=self.settings.reconnect_base, cap=self.settings.reconnect_cap
                )
                attempt += 1
                logger.info("gateway reconnecting in %.2f s (attempt %d)", delay, attempt)
                await anyio.sleep(delay)
        except Exception as exc:  # a bug: report it to the consumers, never crash the host
            logger.exception("gateway session crashed")
            error = DooverAPIError(f"the gateway session crashed: {exc!r}")
            self._failure = error
            self._fail_all(error)
        finally:
            self._running = False
            if not self.protocol.idle and not self._closed and self._failure is None:
                self._changed()  # demand arrived while stopping: start again

    def _give_up(self, error: BaseException) -> None:
        self._failure = error
        logger.error("gateway failed for good: %s", error)
        self._fail_all(error)

    def _refused(self, times: int) -> DooverAPIError:
        """The final error after ``times`` refusals in a row (see :func:`_refuses`)."""
        closed = self._refusal
        assert closed is not None
        return DooverAPIError(
            f"the gateway at {self.url} refused the session {times} times in a row "
            f"before Ready ({closed})"
        )

    async def _open(self) -> WebSocket:
        settings = self.settings
        refreshed = False
        while True:
            try:
                await self._auth.ensure_token()
            except TokenRefreshError as exc:
                if exc.transient:  # no connection to the token endpoint, or busy: try later
                    raise
                raise _Fatal(exc) from None
            headers = {"User-Agent": self._user_agent, **self._auth.get_auth_headers()}
            token = self._auth.token
            try:
                return await connect(
                    self.url,
                    headers,
                    ssl_context=settings.ssl_context,
                    max_size=settings.max_message_size,
                )
            except ssl.SSLCertVerificationError as exc:
                # The server's identity is wrong, not its availability: retrying cannot help.
                error = DooverConnectionError(
                    f"TLS certificate check failed for {self.url}: {exc.verify_message}",
                    method="GET",
                    url=self.url,
                )
                error.__cause__ = exc
                raise _Fatal(error) from None
            except HandshakeRejected as exc:
                if exc.status == 401 and not refreshed:
                    refreshed = True
                    try:
                        if await self._auth.refresh_after_unauthorized(token):
                            continue
                    except TokenRefreshError as refresh_error:
                        if refresh_error.transient:
                            raise
                        raise _Fatal(refresh_error) from None
                if exc.status in _RETRYABLE_STATUS or (
                    exc.status >= 500 and exc.status not in _FINAL_SERVER_STATUS
                ):
                    raise
                raise _Fatal(error_for_status(exc.status, "GET", self.url, exc.body)) from None

    async def _connection(self) -> bool:
        """One connection, from connect to close; returns whether it reached Ready."""
        settings = self.settings
        self._refusal = None
        self._ready_deadline = anyio.current_time() + settings.open_timeout
        try:
            with anyio.fail_after(settings.open_timeout):
                ws = await self._open()
        except (
            OSError,
            TimeoutError,
            WebSocketClosed,
            HandshakeRejected,
            TokenRefreshError,
        ) as exc:
            # (a TokenRefreshError here is transient: see _open)
            logger.warning("gateway connect to %s failed: %s", self.url, exc)
            return False
        ws.write_timeout = settings.write_timeout
        ws.received_at = anyio.current_time()  # the handshake's answer
        self.connections += 1
        protocol = self.protocol
        protocol.connection_made()
        self._ready = anyio.Event()
        self._heartbeats_acked = False
        self._heartbeat_interval = None
        self._dead = False
        try:
            async with anyio.create_task_group() as tg:
                scope = tg.cancel_scope
                tg.start_soon(self._reader, ws, scope)
                tg.start_soon(self._writer, ws, scope)
                tg.start_soon(self._keepalive, ws, scope)
        finally:
            ready_seen = self._ready.is_set()
            dead = self._dead
            protocol.connection_lost(refused=self._refusal is not None)
            self._write_wake = None
            if dead:
                await ws.abort()
            else:
                await ws.aclose(close_timeout=settings.close_timeout)
        return ready_seen

    async def _reader(self, ws: WebSocket, scope: anyio.CancelScope) -> None:
        protocol = self.protocol
        routes = self._routes
        receive = protocol.receive_one
        dispatch = pr.Dispatch
        checkpoint = anyio.lowlevel.checkpoint
        try:
            while True:
                # Let the consumers take what was routed before reading again: the next
                # read then carries more frames, and the loop wakes less often per event.
                await checkpoint()
                budget = CHECKPOINT_EVERY
                frames = await ws.read()
                for frame in frames:
                    try:
                        out = receive(frame)
                    except ValueError as exc:  # FrameError
                        logger.warning("skipping a malformed gateway frame: %s", exc)
                        continue
                    if type(out) is dispatch:
                        pressed = False
                        for sub in routes.get(out.key, ()):
                            if sub.put(out.event):
                                pressed = True
                        budget -= 1
                        if pressed or not budget:  # let the consumers run (see _subscription)
                            budget = CHECKPOINT_EVERY
                            await checkpoint()
                    else:
                        self._on_output(out, scope)
                        if protocol.has_data_to_send:
                            self._wake_writer()
        except WebSocketClosed as exc:
            logger.info("gateway connection closed: %s", exc)
            if _refuses(exc.code) and not self._ready.is_set():
                self._refusal = exc
            if exc.sent_code == _MESSAGE_TOO_BIG:
                # A resumed session would replay the event too big to take, and fail
                # again, for ever: Identify afresh instead (consumers are told events
                # were missed, and get a ChannelSync).
                logger.warning("a gateway event exceeded max_message_size; it is lost")
                self.protocol.forget_session()
            scope.cancel()

    def _on_output(self, out: pr.Output, scope: anyio.CancelScope) -> None:
        if isinstance(out, pr.SessionReady):
            logger.info("gateway ready (resumed=%s, replayed=%s)", out.resumed, out.replayed)
            if out.reconnect:
                for key, subs in self._routes.items():
                    missed = out.events_missed(key)
                    for sub in subs:
                        if not sub.synced:  # new since the drop: its ChannelSync is coming
                            continue
                        sub.put(
                            Reconnected(
                                channel=sub.channel, resumed=out.resumed, events_missed=missed
                            )
                        )
            self._ready.set()
        elif isinstance(out, pr.Broadcast):
            for subs in self._routes.values():
                for sub in subs:
                    sub.put_channel_event(out.event)
        elif isinstance(out, pr.HelloReceived):
            self._heartbeat_interval = out.heartbeat_interval
        elif isinstance(out, pr.HeartbeatAck):
            self._heartbeats_acked = True
            if self._heartbeat_ack is not None:
                self._heartbeat_ack.set()
        elif isinstance(out, pr.SessionCancelled):
            logger.info("gateway session cancelled by the server; identifying afresh")
            self._reconnect_now = True
            scope.cancel()
        elif isinstance(out, pr.Skipped):
            logger.debug("gateway frame skipped: %s", out.reason)

    def _wake_writer(self) -> None:
        waiter = self._write_wake
        if waiter is not None:
            waiter.set()

    async def _writer(self, ws: WebSocket, scope: anyio.CancelScope) -> None:
        protocol = self.protocol
        try:
            while True:
                while frames := protocol.data_to_send():
                    for frame, ticket in frames:
                        if ticket is not None and not protocol.is_pending(ticket):
                            continue  # its caller gave up while an earlier frame was written
                        await ws.send(frame)
                        if ticket is not None:
                            protocol.sent(ticket)
                            waiter = self._op_waiters.get(ticket)
                            if waiter is not None:
                                waiter.set()
                if protocol.idle and protocol.phase is Phase.READY:
                    logger.debug("gateway idle: closing the connection")
                    scope.cancel()
                    return
                self._write_wake = waiter = anyio.Event()
                await waiter.wait()
        except WebSocketClosed:
            scope.cancel()

    async def _keepalive(self, ws: WebSocket, scope: anyio.CancelScope) -> None:
        settings = self.settings
        # The connect and upgrade spent part of open_timeout; Hello..Ready gets the rest.
        with anyio.CancelScope(deadline=self._ready_deadline) as handshake:
            await self._ready.wait()
        if handshake.cancelled_caught:
            logger.warning("gateway: no Ready within %s s; reconnecting", settings.open_timeout)
            self._dead = True
            scope.cancel()
            return
        # One heartbeat to learn whether the server acknowledges them.
        self._heartbeat_ack = anyio.Event()
        self.protocol.heartbeat()
        self._wake_writer()
        # A server's shorter heartbeat interval is kept to (down to a floor: a Hello of
        # 0.001 ms must not make a ping flood); a longer one is not waited for, so
        # liveness stays bounded by ping_interval + ping_timeout.
        interval = min(self._heartbeat_interval or settings.ping_interval, settings.ping_interval)
        interval = max(interval, min(settings.ping_interval, _MIN_HEARTBEAT_INTERVAL))
        try:
            while True:
                await anyio.sleep(interval)
                pong = await ws.ping()
                ack: anyio.Event | None = None
                if self._heartbeats_acked:
                    ack = self._heartbeat_ack = anyio.Event()
                    self.protocol.heartbeat()
                    self._wake_writer()
                if not await self._answered(ws, pong, ack):
                    logger.warning(
                        "gateway connection dead: no answer to a ping, and nothing received, "
                        "within %s s",
                        settings.ping_timeout,
                    )
                    self._dead = True
                    scope.cancel()
                    return
        except WebSocketClosed:
            scope.cancel()

    async def _answered(self, ws: WebSocket, pong: anyio.Event, ack: anyio.Event | None) -> bool:
        """Whether the ping (and heartbeat) was answered before ``ping_timeout`` passed
        with nothing received at all (not even part of a frame)."""
        limit = wait = self.settings.ping_timeout
        while True:
            with anyio.move_on_after(wait) as waiting:
                await pong.wait()
                if ack is not None:
                    await ack.wait()
            if not waiting.cancelled_caught:
                return True
            quiet = anyio.current_time() - ws.received_at
            if quiet >= limit:
                return False
            wait = limit - quiet  # frames keep coming: wait for ping_timeout of silence
