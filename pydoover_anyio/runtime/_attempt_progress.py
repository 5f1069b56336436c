"""How far an attempt through ``httpx.AsyncClient`` got, to name its deadline's timeout.

Why: the transport bounds each attempt through httpx's client with a deadline of its own
(``anyio.fail_after``), which httpx knows nothing of. When it passes, the timeout's class
tells the retry layer whether the request may have reached the server: one still waiting
for a pooled connection (``PoolTimeout``) or connecting (``ConnectTimeout``) can be sent
again whatever its method; one being sent (``WriteTimeout``) or answered
(``ReadTimeout``) may have taken effect. The fast path knows its own phase; here the
connection layer reports it, into an :class:`AttemptProgress` put on the request:

* httpx's own transport (httpcore) through its ``trace`` request extension, whose
  events name each phase as it starts (``connection.connect_tcp.started``,
  ``http11.send_request_headers.started``, ...);
* :class:`~.fast_transport.AnyioHTTPTransport` (a transport-owned client's, used by
  :meth:`~.transport.Transport.open`) by setting it under :data:`PROGRESS_EXTENSION`.

Rules this module enforces:

* A phase only moves forward: an attempt that may have sent its request stays "may have
  been applied" (a proxy's ``CONNECT`` exchange then the tunnel's TLS handshake count as
  answering, which errs towards not re-sending). An event it does not know counts as
  answering, for the same reason.
* Only a transport known to report every phase is watched (the transport module
  decides), because for it "nothing reported" means "still waiting for a connection".
  Any other transport (a mock, a caller's own) gets no progress, and its deadline is a
  ``ReadTimeout`` as before.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Final

import httpx

__all__ = [
    "NOT_SENT_ERRORS",
    "PROGRESS_EXTENSION",
    "AttemptProgress",
    "Phase",
    "sent_error",
    "timeout_error",
]

#: The request extension under which :class:`AnyioHTTPTransport` reports its phase.
PROGRESS_EXTENSION: Final = "pydoover_anyio.progress"

#: Failures before the request went out: a pool wait, a connect (or TLS handshake).
NOT_SENT_ERRORS: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class Phase(IntEnum):
    """How far an attempt got, in the order an attempt goes."""

    WAITING = 0  # for a free connection from the pool
    CONNECTING = 1  # a TCP connect or TLS handshake (the request is not out)
    SENDING = 2  # the request is going out
    ANSWERING = 3  # the request is out (or may be): the server's answer is awaited


#: httpcore's trace event names (``<layer>.<name>.<started|complete|failed>``) by name.
_PHASE_OF_EVENT: Final = {
    "connect_tcp": Phase.CONNECTING,
    "connect_unix_socket": Phase.CONNECTING,
    "start_tls": Phase.CONNECTING,
    "retry": Phase.CONNECTING,  # another connect attempt
    "send_request_headers": Phase.SENDING,
    "send_request_body": Phase.SENDING,  # ``.complete``: answering (see trace)
    "receive_response_headers": Phase.ANSWERING,
    "receive_response_body": Phase.ANSWERING,
}
#: Events that say nothing about progress (httpcore closes a failed attempt's response,
#: also one whose request never went out).
_NEUTRAL_EVENTS: Final = frozenset({"response_closed", "close"})


class AttemptProgress:
    """The furthest :class:`Phase` one attempt (with its redirects) has reached."""

    __slots__ = ("phase",)

    def __init__(self) -> None:
        self.phase = Phase.WAITING

    def reach(self, phase: Phase) -> None:
        """Record ``phase``, unless a later one was reached already."""
        if phase > self.phase:
            self.phase = phase

    async def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's ``trace`` extension: record the event's phase."""
        _, _, rest = event.partition(".")
        name, _, stage = rest.rpartition(".")
        if name not in _NEUTRAL_EVENTS:
            phase = _PHASE_OF_EVENT.get(name, Phase.ANSWERING)
            if name == "send_request_body" and stage == "complete":
                phase = Phase.ANSWERING
            self.reach(phase)


def timeout_error(
    progress: AttemptProgress | None, request: httpx.Request, limit: float, awaited: str
) -> httpx.TimeoutException:
    """The timeout for an attempt deadline of ``limit`` s that passed at ``progress``.

    Args:
        awaited: what a ``ReadTimeout`` says was not received in time.
    """
    phase = Phase.ANSWERING if progress is None else progress.phase
    why = f"within {limit} s (the attempt deadline)"
    if phase is Phase.WAITING:
        return httpx.PoolTimeout(f"no free connection {why}", request=request)
    if phase is Phase.CONNECTING:
        return httpx.ConnectTimeout(f"not connected {why}", request=request)
    if phase is Phase.SENDING:
        return httpx.WriteTimeout(f"the request was not sent {why}", request=request)
    return httpx.ReadTimeout(f"no {awaited} {why}", request=request)


def sent_error(
    error: httpx.TransportError, request: httpx.Request, first: str
) -> httpx.TransportError:
    """A failure before sending (:data:`NOT_SENT_ERRORS`) of a second step of an attempt
    whose request may already have reached the server (``first`` says how: a redirect
    answered it, or a reused connection closed after taking it), as the error of such an
    attempt: a ``ReadTimeout`` for a timeout, else a ``RemoteProtocolError``."""
    message = f"{first}, then {type(error).__name__}: {error}"
    if isinstance(error, httpx.TimeoutException):
        return httpx.ReadTimeout(message, request=request)
    return httpx.RemoteProtocolError(message, request=request)
