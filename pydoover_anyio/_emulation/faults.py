"""Injected latency and faults for the local emulators, plus a request log.

A :class:`FaultPlan` is shared between the test (which arranges faults from any thread)
and the server (which consumes them per request); all of its state sits behind one lock.
:class:`FaultMiddleware` wraps any ASGI app and applies the plan.

Rules this module enforces:

* Every request first waits the global latency (``latency`` plus a uniform jitter in
  ``[-jitter, +jitter]``, never negative), then consumes at most one fault.
* Queued rules win over the random mode. Rules are consumed in the order they were
  added; a rule with a ``path`` prefix only matches requests whose path starts with it.
* The random mode (``set_error_rate``) draws from a seeded RNG, so a run is repeatable
  for a given seed and request order.
* A fault queued with ``after=True`` lets the app handle the request first (its effects
  stay, e.g. a stored create), discards the app's response and sends the fault instead:
  the "the server did it but the client never heard" case.
* A ``drop`` or ``stall`` queued with ``at_byte=N`` sends the app's real response and
  cuts the connection (or pauses) once ``N`` bytes of its body are out: what a lost or
  stalled download looks like, with a true prefix of the body before the failure.
* Every request (faulted or not) is logged with the status actually sent, the fault and
  the delay applied, before the client receives the end of the response (so a test that
  got its answer finds it logged). The log is bounded (oldest entries are dropped first).
  Entries also keep the request headers and body as received; they are decoded (header
  names lower-cased, a gzip/deflate body decompressed) only when a test reads them.
"""

from __future__ import annotations

import json
import random
import threading
import zlib
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from http import HTTPStatus
from typing import Any

import anyio

from .asgi import (
    HTML_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    decode_headers,
    send_response,
)
from .server import AbortConnection

__all__ = [
    "RANDOM_KINDS",
    "Fault",
    "FaultKind",
    "FaultMiddleware",
    "FaultPlan",
    "LoggedRequest",
    "RequestLog",
]


class FaultKind(StrEnum):
    """What an injected fault does to one request."""

    FAIL = "fail"
    """Answer with an error status (500 by default) and a short text body."""
    RATE_LIMIT = "rate_limit"
    """Answer 429 with a ``Retry-After`` header."""
    DROP = "drop"
    """Announce a body, send part of it, then cut the connection (with ``at_byte``: the
    app's own body, cut after that many bytes)."""
    MALFORMED = "malformed"
    """Answer 200 ``application/json`` with a truncated, invalid JSON body."""
    HTML = "html"
    """Answer with an HTML maintenance page (200 by default)."""
    STALL = "stall"
    """Wait ``seconds`` before handling the request normally (with ``at_byte``: handle it,
    and pause ``seconds`` after that many bytes of the response body)."""


RANDOM_KINDS = (
    FaultKind.FAIL,
    FaultKind.RATE_LIMIT,
    FaultKind.DROP,
    FaultKind.MALFORMED,
    FaultKind.HTML,
)
"""The kinds the random mode chooses from unless told otherwise (never a stall)."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault.

    Attributes:
        kind: What the fault does.
        status: The status sent by ``fail`` and ``html`` faults.
        retry_after: The ``Retry-After`` seconds sent by ``rate_limit`` faults.
        seconds: How long a ``stall`` fault waits.
        body: The body of a ``fail`` fault (``None`` means the status's reason phrase).
        content_type: The content type of that body.
        after: Let the app handle the request first (keeping its effects) and send the
            fault instead of the app's response. Not meaningful for ``stall``.
        at_byte: For ``drop`` and ``stall``: apply the fault to the app's response once
            this many bytes of its body are sent (``None``: before the request).
    """

    kind: FaultKind
    status: int = 500
    retry_after: int = 1
    seconds: float = 0.0
    body: bytes | None = None
    content_type: str = TEXT_CONTENT_TYPE
    after: bool = False
    at_byte: int | None = None


@dataclass(slots=True)
class _Rule:
    fault: Fault
    remaining: int
    path: str | None


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request as the server saw and answered it.

    Attributes:
        method: The HTTP method.
        path: The request path (no query string).
        query: The raw query string, without ``?`` (empty when there is none).
        status: The status sent, or ``None`` if no response was started.
        fault: The fault applied, or ``None``.
        delay: Seconds of latency (and stall) applied before handling.
        raw_headers: The request headers as received (ASGI name/value byte pairs).
        raw_body: The request body as received (possibly compressed).

    ``raw_headers`` and ``raw_body`` take no part in equality; read them decoded through
    :attr:`headers`, :attr:`body` and :meth:`json`.
    """

    method: str
    path: str
    query: str
    status: int | None
    fault: FaultKind | None
    delay: float
    raw_headers: Sequence[tuple[bytes, bytes]] = field(default=(), compare=False, repr=False)
    raw_body: bytes = field(default=b"", compare=False, repr=False)

    @property
    def headers(self) -> dict[str, str]:
        """The request headers, names lower-cased; repeated headers joined with ``, ``."""
        return decode_headers(self.raw_headers)

    @property
    def body(self) -> bytes:
        """The request body, decompressed per ``Content-Encoding`` (gzip or deflate).

        A body that does not decompress is returned as received.
        """
        encoding = self.headers.get("content-encoding", "").strip().lower()
        try:
            if encoding in ("gzip", "x-gzip"):
                return zlib.decompress(self.raw_body, wbits=zlib.MAX_WBITS | 16)
            if encoding == "deflate":
                return zlib.decompress(self.raw_body)
        except zlib.error:
            return self.raw_body
        return self.raw_body

    def json(self) -> Any:
        """The (decompressed) body parsed as JSON.

        Raises:
            ValueError: The body is not JSON.
        """
        return json.loads(self.body)


class RequestLog:
    """A thread-safe, bounded log of the requests a server handled.

    Args:
        maxlen: How many entries to keep; the oldest are dropped first.
    """

    def __init__(self, maxlen: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[LoggedRequest] = deque(maxlen=maxlen)

    def append(self, entry: LoggedRequest) -> None:
        """Record one request."""
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LoggedRequest]:
        """Return a snapshot of the log, oldest first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class FaultPlan:
    """Latency and faults to inject, consumed request by request (thread-safe).

    Args:
        latency: Seconds every request waits before it is handled.
        jitter: Each request's latency varies uniformly by up to this many seconds.
        seed: Seed of the RNG used for jitter and the random mode.
    """

    def __init__(self, *, latency: float = 0.0, jitter: float = 0.0, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._rules: list[_Rule] = []
        self._latency = 0.0
        self._jitter = 0.0
        self._error_rate = 0.0
        self._random_faults: tuple[Fault, ...] = ()
        self._random_path: str | None = None
        self.set_latency(latency, jitter)

    @property
    def latency(self) -> float:
        """The base latency in seconds."""
        return self._latency

    @property
    def jitter(self) -> float:
        """The latency jitter in seconds."""
        return self._jitter

    @property
    def pending(self) -> int:
        """How many queued faults are still to be consumed."""
        with self._lock:
            return sum(rule.remaining for rule in self._rules)

    def set_latency(self, seconds: float, jitter: float = 0.0) -> None:
        """Set the latency every request waits.

        Args:
            seconds: The base latency.
            jitter: The latency varies uniformly in ``[seconds - jitter, seconds + jitter]``.

        Raises:
            ValueError: A negative value.
        """
        if seconds < 0 or jitter < 0:
            raise ValueError("latency and jitter must not be negative")
        with self._lock:
            self._latency, self._jitter = float(seconds), float(jitter)

    def fail(
        self,
        n: int = 1,
        status: int = 500,
        *,
        path: str | None = None,
        body: bytes | None = None,
        content_type: str = TEXT_CONTENT_TYPE,
        after: bool = False,
    ) -> None:
        """Answer the next ``n`` matching requests with an error status.

        Args:
            n: How many requests.
            status: The status to send.
            path: Only requests whose path starts with this prefix.
            body: The body (default: the status's reason phrase).
            content_type: The body's content type.
            after: Handle each request first (its effects stay), then send the error.
        """
        fault = Fault(
            FaultKind.FAIL, status=status, body=body, content_type=content_type, after=after
        )
        self._add(fault, n, path)

    def rate_limit(
        self, n: int = 1, retry_after: int = 1, *, path: str | None = None, after: bool = False
    ) -> None:
        """Answer the next ``n`` matching requests 429 with ``Retry-After``.

        Args:
            n: How many requests.
            retry_after: The ``Retry-After`` value in whole seconds.
            path: Only requests whose path starts with this prefix.
            after: Handle each request first (its effects stay), then send the 429.
        """
        fault = Fault(FaultKind.RATE_LIMIT, status=429, retry_after=retry_after, after=after)
        self._add(fault, n, path)

    def drop(
        self,
        n: int = 1,
        *,
        path: str | None = None,
        after: bool = False,
        at_byte: int | None = None,
    ) -> None:
        """Cut the connection mid-response for the next ``n`` matching requests.

        Args:
            n: How many requests.
            path: Only requests whose path starts with this prefix.
            after: Handle each request first (its effects stay), then cut the connection.
            at_byte: Send the app's own response instead, and cut the connection once
                this many bytes of its body are out (a body no longer is sent whole).

        Raises:
            ValueError: ``at_byte`` is negative or combined with ``after``.
        """
        _check_at_byte(at_byte, after)
        self._add(Fault(FaultKind.DROP, status=200, after=after, at_byte=at_byte), n, path)

    def malformed(self, n: int = 1, *, path: str | None = None, after: bool = False) -> None:
        """Answer the next ``n`` matching requests 200 with invalid JSON.

        Args:
            n: How many requests.
            path: Only requests whose path starts with this prefix.
            after: Handle each request first (its effects stay), then send the bad body.
        """
        self._add(Fault(FaultKind.MALFORMED, status=200, after=after), n, path)

    def html(
        self, n: int = 1, status: int = 200, *, path: str | None = None, after: bool = False
    ) -> None:
        """Answer the next ``n`` matching requests with an HTML maintenance page.

        Args:
            n: How many requests.
            status: The status to send with the page.
            path: Only requests whose path starts with this prefix.
            after: Handle each request first (its effects stay), then send the page.
        """
        self._add(Fault(FaultKind.HTML, status=status, after=after), n, path)

    def stall(
        self,
        n: int = 1,
        seconds: float = 5.0,
        *,
        path: str | None = None,
        at_byte: int | None = None,
    ) -> None:
        """Delay the next ``n`` matching requests, then handle them normally.

        Args:
            n: How many requests.
            seconds: The extra delay.
            path: Only requests whose path starts with this prefix.
            at_byte: Handle the request at once, and pause once this many bytes of the
                response body are out (a body no longer is sent whole).

        Raises:
            ValueError: A negative delay or ``at_byte``.
        """
        if seconds < 0:
            raise ValueError("a stall cannot be negative")
        _check_at_byte(at_byte, after=False)
        self._add(Fault(FaultKind.STALL, seconds=float(seconds), at_byte=at_byte), n, path)

    def set_error_rate(
        self,
        rate: float,
        *,
        kinds: Iterable[FaultKind | str | Fault] = RANDOM_KINDS,
        retry_after: int = 0,
        path: str | None = None,
    ) -> None:
        """Fault a random share of requests that no queued rule matched.

        Args:
            rate: The probability, from 0 (off) to 1 (every request), of a fault.
            kinds: The kinds chosen from, uniformly (``fail`` sends 500); a
                :class:`Fault` is used as given, e.g. ``Fault(FaultKind.FAIL, status=503,
                after=True)`` or a stall after handling, ``Fault(FaultKind.STALL,
                seconds=2, at_byte=0)``.
            retry_after: The ``Retry-After`` of random ``rate_limit`` faults.
            path: Only requests whose path starts with this prefix.

        Raises:
            ValueError: A rate outside ``[0, 1]`` or an empty or invalid ``kinds``.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError("the error rate must be between 0 and 1")
        faults = tuple(
            kind if isinstance(kind, Fault) else _random_fault(FaultKind(kind), retry_after)
            for kind in kinds
        )
        if not faults:
            raise ValueError("the random mode needs at least one fault kind")
        with self._lock:
            self._error_rate, self._random_faults, self._random_path = rate, faults, path

    def clear(self) -> None:
        """Remove every queued fault, the random mode and the latency."""
        with self._lock:
            self._rules.clear()
            self._error_rate, self._random_faults, self._random_path = 0.0, (), None
            self._latency = self._jitter = 0.0

    def take(self, path: str) -> tuple[float, Fault | None]:
        """Consume what applies to one request.

        Args:
            path: The request path.

        Returns:
            The latency to wait (in seconds) and the fault to apply, if any.
        """
        with self._lock:
            delay = self._latency
            if self._jitter:
                delay = max(0.0, delay + self._rng.uniform(-self._jitter, self._jitter))
            for index, rule in enumerate(self._rules):
                if rule.path is None or path.startswith(rule.path):
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        del self._rules[index]
                    return delay, rule.fault
            in_scope = self._random_path is None or path.startswith(self._random_path)
            if self._error_rate and in_scope and self._rng.random() < self._error_rate:
                return delay, self._rng.choice(self._random_faults)
            return delay, None

    def _add(self, fault: Fault, n: int, path: str | None) -> None:
        if n < 1:
            raise ValueError("the number of requests to fault must be at least 1")
        with self._lock:
            self._rules.append(_Rule(fault, n, path))


def _check_at_byte(at_byte: int | None, after: bool) -> None:
    if at_byte is not None and (at_byte < 0 or after):
        raise ValueError("at_byte must be 0 or more, and cannot be combined with after")


def _random_fault(kind: FaultKind, retry_after: int) -> Fault:
    if kind is FaultKind.STALL:
        raise ValueError("the random mode cannot stall; use stall() instead")
    if kind is FaultKind.RATE_LIMIT:
        return Fault(kind, status=429, retry_after=retry_after)
    if kind is FaultKind.FAIL:
        return Fault(kind, status=500)
    return Fault(kind, status=200)


_MAINTENANCE_PAGE = b"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Down for maintenance</title></head>
<body>
<h1>We'll be back soon</h1>
<p>The service is undergoing scheduled maintenance. Please try again later.</p>
</body>
</html>
"""
_MALFORMED_BODY = b'[{"uuid":"8d1f6a52-3c6e-4f0b-9a7e-2b1c0d9e8f7a","datetime":"2024-01-0'
_DROP_BODY = b'[{"uuid":"0b6f1c2d-4e5a-4b7c-8d9e-0f1a2b3c4d5e","datetime":"2024-01-01T00:00:00Z",'
_DROP_ANNOUNCED = 4096  # the Content-Length a dropped response announces


class FaultMiddleware:
    """ASGI middleware applying a :class:`FaultPlan` and filling a :class:`RequestLog`.

    Non-HTTP scopes (WebSocket, lifespan) pass through untouched.

    Args:
        app: The wrapped ASGI app.
        plan: The faults and latency to apply.
        log: Where each HTTP request is recorded.
    """

    def __init__(self, app: ASGIApp, plan: FaultPlan, log: RequestLog) -> None:
        self.app = app
        self.plan = plan
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        delay, fault = self.plan.take(path)
        if fault is not None and fault.kind is FaultKind.STALL and fault.at_byte is None:
            delay += fault.seconds
        status: int | None = None
        logged = False
        chunks: list[bytes] = []

        def record() -> None:
            nonlocal logged
            if not logged:
                logged = True
                query = bytes(scope.get("query_string", b"")).decode("latin-1")
                kind = None if fault is None else fault.kind
                entry = LoggedRequest(
                    scope["method"],
                    path,
                    query,
                    status,
                    kind,
                    delay,
                    raw_headers=scope.get("headers", ()),
                    raw_body=b"".join(chunks),
                )
                self.log.append(entry)

        async def logging_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def logging_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif not message.get("more_body", False):
                record()  # before the client can see the response end
            await send(message)

        try:
            if delay:
                await anyio.sleep(delay)
            if fault is not None and fault.at_byte is not None:
                await self.app(scope, logging_receive, _interrupting(fault, logging_send))
            elif fault is None or fault.kind is FaultKind.STALL:
                await self.app(scope, logging_receive, logging_send)
            else:
                if fault.after:
                    await self.app(scope, logging_receive, _discard)
                else:
                    await _drain(logging_receive)
                await _apply(fault, logging_send)
        finally:
            record()


def _interrupting(fault: Fault, send: Send) -> Send:
    """An ASGI ``send`` that cuts (``drop``) or pauses (``stall``) the response body once
    ``fault.at_byte`` bytes of it are out."""
    assert fault.at_byte is not None
    remaining = fault.at_byte
    done = False

    async def interrupting_send(message: Message) -> None:
        nonlocal remaining, done
        if done or message["type"] != "http.response.body":
            await send(message)
            return
        body: bytes = message.get("body", b"")
        more = bool(message.get("more_body", False))
        if len(body) < remaining or (len(body) == remaining and more):
            remaining -= len(body)
            await send(message)
            return
        done = True
        head, tail = body[:remaining], body[remaining:]
        if head:
            await send({"type": "http.response.body", "body": head, "more_body": True})
        if fault.kind is FaultKind.DROP:
            raise AbortConnection("injected fault: connection dropped mid-response")
        await anyio.sleep(fault.seconds)
        await send({"type": "http.response.body", "body": tail, "more_body": more})

    return interrupting_send


async def _discard(message: Message) -> None:
    """An ASGI ``send`` that throws the app's response away (for ``after`` faults)."""


async def _drain(receive: Receive) -> None:
    """Read the request body the app never will, so the log holds it."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _apply(fault: Fault, send: Send) -> None:
    """Send the response a (non-stall) fault stands for."""
    if fault.kind is FaultKind.FAIL:
        body = fault.body
        if body is None:
            body = _reason(fault.status).encode()
        await send_response(send, fault.status, body, content_type=fault.content_type)
    elif fault.kind is FaultKind.RATE_LIMIT:
        unit = "second" if fault.retry_after == 1 else "seconds"
        detail = f"Request was throttled. Expected available in {fault.retry_after} {unit}."
        await send_response(
            send,
            429,
            json.dumps({"detail": detail}).encode(),
            content_type=JSON_CONTENT_TYPE,
            headers=[("retry-after", str(fault.retry_after))],
        )
    elif fault.kind is FaultKind.MALFORMED:
        await send_response(send, 200, _MALFORMED_BODY, content_type=JSON_CONTENT_TYPE)
    elif fault.kind is FaultKind.HTML:
        await send_response(send, fault.status, _MAINTENANCE_PAGE, content_type=HTML_CONTENT_TYPE)
    else:  # FaultKind.DROP
        headers = [
            (b"content-type", JSON_CONTENT_TYPE.encode()),
            (b"content-length", str(_DROP_ANNOUNCED).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": _DROP_BODY, "more_body": True})
        raise AbortConnection("injected fault: connection dropped mid-response")


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
