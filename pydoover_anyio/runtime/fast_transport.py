"""``AnyioHTTPTransport``: a lean HTTP/1.1 transport for httpx on anyio streams.

httpx stays the public HTTP layer (requests, responses, auth, redirects, exceptions);
this replaces only its default connection pool (httpcore), whose bookkeeping grows with
the number of open connections and dominated our concurrent paging
(../shared/research/perf2.md §3). Rules this module enforces:

* **Pool:** per origin, a LIFO stack of idle connections. Taking and returning a
  connection never awaits, so tasks on one loop cannot race and no lock is needed. Only
  the connection about to be reused is checked (one ``poll(0)`` on its socket: an idle
  socket that is readable was closed, or sent something unexpected, by the server).
  At most ``max_connections`` requests hold a connection at once; the rest wait, up to
  the pool timeout.
* **Parsing:** llhttp through ``httptools`` (C): Content-Length, chunked and
  close-delimited bodies, 1xx responses skipped, HEAD, 204 and 304 without bodies. A
  response head (status line and headers) over ``MAX_RESPONSE_HEAD`` bytes is a protocol
  error, as in httpcore: a server that never ends its headers cannot fill the memory.
  Bytes after a complete final response (a body longer than its Content-Length, a
  second response) leave that response as it is; its connection is not reused. A 1xx
  and the final response in one read are two messages; trailers are dropped. Keep-alive
  is the final response's head's (as in h11). A body without framing ends only at an
  orderly close (a reset is a read error). Stricter
  than h11 (llhttp's rules): a response with both Content-Length and Transfer-Encoding,
  a repeated Content-Length, a folded header line or a bare LF line end is a protocol
  error (RFC 9112 allows each of these to be one).
  Compressed bodies are left to httpx, which decodes them.
* **Timeouts:** connect bounded by ``connect``; one cancel scope per request whose
  deadline first bounds the wait for a free connection (``pool``), then moves forward
  after every chunk sent or received (``write``/``read``; the wait for a streamed
  request body's next chunk is not timed). Each maps to the httpx exception.
* **Large bodies stream:** a response body is read eagerly only up to ``buffer_limit``
  bytes; the rest is handed to httpx as a stream that reads from the connection as it
  is consumed (each read bounded by ``read``), so ``client.send(..., stream=True)``
  never holds more than ``buffer_limit`` plus one read. Until that stream ends or is
  closed, the response keeps its connection and its slot; a stream closed early closes
  the connection instead of returning it to the pool.
* **Stale connections:** when a reused connection turns out closed before any response
  byte arrives, the request is repeated once on a new connection, but only if it is
  safe to repeat (an idempotent method with an in-memory body); otherwise httpx's
  ``RemoteProtocolError`` is raised and the retry policy decides.
* **Cancellation** in the middle of an exchange closes that connection; it never goes
  back to the pool.
* **Sockets:** plain non-blocking sockets (:mod:`._socket`; anyio's own asyncio stream
  costs twice as much per round trip), so a ready socket costs one system call per
  send or receive; on asyncio a socket stays registered with the selector between
  responses (:mod:`._backend.readiness`).
* **TLS** with an ``ssl.SSLSocket`` on those sockets (:mod:`._socket`, ALPN
  ``http/1.1``), verified with the system trust store by default. Proxies and HTTP/2
  are not supported: :class:`Transport` falls back to httpx's own transport when proxies
  are configured in the environment.
"""

from __future__ import annotations

import ssl
import sys
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any, Final

import anyio
import httptools
import httpx

from . import _socket
from ._attempt_progress import PROGRESS_EXTENSION, AttemptProgress, Phase, sent_error
from ._request_head import Framing, RequestHeadWriter

__all__ = ["REPEATABLE_EXTENSION", "AnyioHTTPTransport"]

#: A request extension: ``True`` or ``False`` says whether the request may be sent again
#: on a fresh connection when a reused one closes without answering (by default: when
#: its method is idempotent).
REPEATABLE_EXTENSION: Final = "pydoover_anyio.repeatable"

_READ_SIZE: Final = 65536
#: Response bytes read before the body is handed over as a stream instead.
DEFAULT_BUFFER_LIMIT: Final = 64 * 1024
#: The most bytes a status line and headers may take (more is a protocol error).
MAX_RESPONSE_HEAD: Final = 100 * 1024
_IDEMPOTENT: Final = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"})
_NO_BODY_STATUSES: Final = frozenset({204, 304})
_CLOSED_UNANSWERED: Final = "server closed the connection without a response"

Origin = tuple[bytes, bytes, int]


class _StaleConnectionError(Exception):
    """A reused connection closed before the first response byte."""


class _SendCutError(Exception):
    """The connection broke while the request was being written."""


class _ServerProtocolError(Exception):
    """The server broke HTTP/1.1 (mapped to ``httpx.RemoteProtocolError``)."""


class _BytesAfterResponseError(Exception):
    """Raised in a parser callback: bytes followed a complete final response."""


class _Connection:
    """One HTTP/1.1 connection and its response parser (httptools callbacks)."""

    __slots__ = (
        "_parser",
        "body",
        "buffered",
        "cap",
        "chunked",
        "complete",
        "expires",
        "head_size",
        "headers",
        "headers_complete",
        "http_version",
        "keep_alive",
        "reason",
        "received",
        "sent",
        "status",
        "stream",
        "tls",
    )

    def __init__(self, stream: _socket.SocketStream, *, tls: bool) -> None:
        self.stream = stream
        self.tls = tls
        self.expires = 0.0
        self.cap = _NO_DEADLINE  # an overall deadline no bump may pass (see send_request)
        self._parser = self._new_parser()
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.buffered = 0
        self.head_size = 0  # bytes read while the current response's head was incomplete
        self.reason = b""
        self.status = 0
        self.complete = False
        self.headers_complete = False
        self.chunked = False
        self.http_version = _HTTP_11
        self.keep_alive = False
        self.sent = False  # the current request's last byte is in the socket
        self.received = False

    def _new_parser(self) -> httptools.HttpResponseParser:
        parser = httptools.HttpResponseParser(self)
        # Keep-alive is read from the final response's head alone (as h11 does): llhttp
        # must not close its state on a 1xx's or a trailer's `Connection: close`, or
        # refuse a trailer named Content-Length (trailers are dropped; on_headers_complete
        # refuses Content-Length with Transfer-Encoding in the head itself).
        parser.set_dangerous_leniencies(lenient_keep_alive=True, lenient_chunked_length=True)
        return parser

    # -- httptools callbacks ---------------------------------------------------------

    def on_message_begin(self) -> None:
        if not self.complete:
            return  # the exchange's first message, or the next after a 1xx read alone
        if 100 <= self.status < 200:
            self._start_message()  # the final response follows a 1xx in the same read
            return
        # A server that sent more than its response (a body longer than its
        # Content-Length, a second response): the response stands, the connection,
        # whose next bytes would be taken for the next answer, is not reused.
        self.keep_alive = False
        raise _BytesAfterResponseError

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.headers_complete:  # after it: a chunked body's trailers, dropped as h11 does
            value = value.rstrip(b" \t")  # llhttp keeps trailing OWS
            if len(name) == 17 and name.lower() == b"transfer-encoding":
                self._check_transfer_coding(value)
            self.headers.append((name, value))

    def _check_transfer_coding(self, value: bytes) -> None:
        """Only ``chunked``, once (as h11): llhttp would take ``gzip, chunked`` as
        chunked and hand over a body still gzipped, or ``gzip`` as close-delimited."""
        repeated = any(name.lower() == b"transfer-encoding" for name, _ in self.headers)
        if repeated or value.lower() != b"chunked":
            raise _ServerProtocolError("unsupported Transfer-Encoding (only chunked, once)")
        self.chunked = True

    def on_headers_complete(self) -> None:
        self.headers_complete = True
        self.status = self._parser.get_status_code()
        if self.status < 100:
            raise _ServerProtocolError(f"invalid status code {self.status:03d}")
        if self.chunked and any(name.lower() == b"content-length" for name, _ in self.headers):
            raise _ServerProtocolError(
                "invalid HTTP response: both Content-Length and Transfer-Encoding"
            )
        version = self._parser.get_http_version()
        self.http_version = _HTTP_11 if version == "1.1" else f"HTTP/{version}".encode()
        # llhttp resets its flags once the message completes: read keep-alive here.
        self.keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)

    def on_message_complete(self) -> None:
        self.complete = True

    # -- pool helpers ------------------------------------------------------------------

    def reusable(self, now: float) -> bool:
        """Not expired, and its socket has nothing to say (closed or unexpected data)."""
        return now < self.expires and not self.stream.readable.readable_now()

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            await self.stream.aclose()

    # -- one exchange ------------------------------------------------------------------

    async def exchange(
        self,
        head: bytes,
        body: bytes | AsyncIterable[bytes] | _RawBody,
        *,
        is_head: bool,
        scope: anyio.CancelScope,
        timeouts: dict[str, float | None],
        buffer_limit: int,
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes]:
        """Send one request and read its final response: (status, reason, headers, body).

        The body is complete when :attr:`complete` is set; otherwise it holds the first
        ``buffer_limit`` bytes or more, and :meth:`read_more` gives the rest.
        """
        self.sent = self.received = False
        read_timeout = timeouts.get("read")
        # A small in-memory request goes into the socket buffer without waiting, so one
        # deadline (the read timeout) covers its send and the wait for the answer.
        small = isinstance(body, bytes) and len(head) + len(body) <= _SMALL_WRITE
        write_timeout = timeouts.get("write")
        _bump(scope, read_timeout if small else write_timeout, self.cap)
        try:
            await self._send_request(head, body, scope, write_timeout)
            cut = False
        except _SendCutError:
            # The server stopped reading: it may have answered early (a 413 or a 401
            # before the body) and closed. Read what it sent; if nothing came, this ends
            # like any connection closed before its answer.
            cut = True
        self.sent = True
        if cut or not small:
            _bump(scope, read_timeout, self.cap)
        while True:
            self._start_message()
            await self._read_message(is_head, scope, read_timeout, buffer_limit)
            if 100 <= self.status < 200 and self.status != 101:
                continue  # informational: the final response follows
            if cut:
                self.keep_alive = False  # the rest of the request is lost on it
            body = b"".join(self.body)
            self.body = []
            return self.status, self.reason, self.headers, body

    async def _send_request(
        self,
        head: bytes,
        body: bytes | AsyncIterable[bytes] | _RawBody,
        scope: anyio.CancelScope,
        write_timeout: float | None,
    ) -> None:
        """Write the request: the head, then its body (each chunk within ``write_timeout``).

        Raises:
            _SendCutError: the connection broke while writing (not the body's own errors).
        """
        if isinstance(body, bytes):
            await self._write(head + body if body else head)
            return
        await self._write(head)
        # The write timeout bounds each write, not the wait for the body's next chunk
        # (its source keeps its own pace, as with httpx).
        scope.deadline = self.cap
        if isinstance(body, _RawBody):  # framed by the request's Content-Length
            left = body.length
            async for chunk in body.stream:
                if chunk:
                    left -= len(chunk)
                    if left < 0:
                        raise httpx.LocalProtocolError("Too much data for declared Content-Length")
                    await self._timed_write(chunk, scope, write_timeout)
            if left:
                raise httpx.LocalProtocolError("Too little data for declared Content-Length")
            return
        async for chunk in body:
            if chunk:
                chunk_frame = b"%x\r\n%b\r\n" % (len(chunk), chunk)
                await self._timed_write(chunk_frame, scope, write_timeout)
        await self._timed_write(b"0\r\n\r\n", scope, write_timeout)

    async def _timed_write(
        self, data: bytes, scope: anyio.CancelScope, write_timeout: float | None
    ) -> None:
        _bump(scope, write_timeout, self.cap)
        await self._write(data)
        scope.deadline = self.cap

    async def _write(self, data: bytes) -> None:
        try:
            await self.stream.send(data)
        except anyio.BrokenResourceError as exc:
            raise _SendCutError from exc

    def _start_message(self) -> None:
        self.headers, self.body, self.reason = [], [], b""
        self.buffered = self.head_size = 0
        self.complete = self.headers_complete = self.keep_alive = self.chunked = False

    async def _read_message(
        self,
        is_head: bool,
        scope: anyio.CancelScope,
        read_timeout: float | None,
        buffer_limit: int,
    ) -> None:
        while True:
            await self._receive_and_feed()
            if self.headers_complete and (is_head or self.status in _NO_BODY_STATUSES):
                # llhttp cannot be told about HEAD; a fresh parser for the next message.
                if self.buffered:  # it took bytes after the head for a body: see above
                    self.body, self.buffered, self.keep_alive = [], 0, False
                self.complete = True
                self._parser = self._new_parser()
                return
            if self.complete or (self.headers_complete and self.buffered >= buffer_limit):
                return  # complete, or the rest is streamed by read_more()
            _bump(scope, read_timeout, self.cap)

    async def _receive_and_feed(self) -> None:
        """One read from the socket, fed to the parser (which fills the callbacks)."""
        try:
            data = await self.stream.receive(_READ_SIZE)
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError) as exc:
            if not self.received:
                raise _StaleConnectionError from exc
            if not isinstance(exc, anyio.EndOfStream):
                raise  # a reset, not an end: the caller reports a ReadError
            if self.headers_complete and not _has_framing(self.headers):
                self.complete = True  # a close-delimited body ends with the connection
                self.keep_alive = False
                return
            raise _ServerProtocolError("server closed the connection mid-response") from exc
        if not self.received:
            if data[:1] != b"H":  # llhttp skips empty lines there; h11 (and we) refuse them
                raise _ServerProtocolError("invalid HTTP response: no status line first")
            self.received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            raise _ServerProtocolError("unexpected protocol upgrade") from exc
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _BytesAfterResponseError):
                return  # complete; on_message_begin marked the connection
            if isinstance(cause, _ServerProtocolError):
                raise cause from None
            raise
        if not self.headers_complete:
            self.head_size += len(data)
            if self.head_size > MAX_RESPONSE_HEAD:  # httpcore's limit too
                raise _ServerProtocolError(
                    f"the response head is larger than {MAX_RESPONSE_HEAD} bytes"
                )

    async def read_more(self, read_timeout: float | None) -> list[bytes]:
        """The next body chunks of a message still in progress (empty once complete).

        Raises:
            httpx.ReadTimeout: nothing arrived within ``read_timeout``.
            httpx.RemoteProtocolError: the connection closed early or the server broke HTTP.
            httpx.ReadError: the connection failed.
        """
        while not self.complete and not self.body:
            try:
                with anyio.fail_after(read_timeout):
                    await self._receive_and_feed()
            except TimeoutError:
                raise httpx.ReadTimeout("the server stopped sending") from None
            except (_ServerProtocolError, _StaleConnectionError) as exc:
                raise httpx.RemoteProtocolError(
                    "server closed the connection mid-response"
                ) from exc
            except httptools.HttpParserError as exc:
                raise httpx.RemoteProtocolError(f"invalid HTTP response: {exc}") from exc
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                raise httpx.ReadError(f"connection lost: {exc}") from exc
        chunks, self.body = self.body, []
        return chunks


_NO_DEADLINE: Final = float("inf")
_HTTP_11: Final = b"HTTP/1.1"
_UNLIMITED: Final = sys.maxsize
#: Requests up to this size are written without waiting (far below any socket buffer).
_SMALL_WRITE: Final = 16 * 1024
#: ``buffer_limit`` of a response read whole (never handed over as a stream).
_READ_WHOLE: Final = 1 << 62


def _bump(scope: anyio.CancelScope, timeout: float | None, cap: float) -> None:
    """Move the exchange deadline to ``timeout`` from now, never past ``cap``."""
    if timeout is None:
        scope.deadline = cap
    else:
        deadline = anyio.current_time() + timeout
        scope.deadline = deadline if deadline < cap else cap


def _has_framing(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in headers)


class AnyioHTTPTransport(httpx.AsyncBaseTransport):
    """An httpx transport for plain and TLS HTTP/1.1 on anyio (asyncio and trio).

    Args:
        verify: an ``ssl.SSLContext`` to verify servers with, ``True`` for the system
            trust store, or ``False`` to skip verification (tests only).
        max_connections: requests holding a connection at once, across origins
            (``None``: no limit).
        max_idle_per_origin: idle connections kept per origin (``None``: no limit; 0
            keeps none: a connection per request).
        keepalive_expiry: seconds an idle connection may be reused (``None``: no expiry;
            0: never reused).
        buffer_limit: response body bytes read before the rest is streamed (see above).

    After :meth:`aclose`, a connection still streaming a body is closed when it ends.
    """

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        max_connections: int | None = 100,
        max_idle_per_origin: int | None = 100,
        keepalive_expiry: float | None = 5.0,
        buffer_limit: int = DEFAULT_BUFFER_LIMIT,
    ) -> None:
        if isinstance(verify, ssl.SSLContext):
            context = verify
        else:
            context = ssl.create_default_context()
            if not verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["http/1.1"])
        self._ssl_context = context
        self._max_connections = _UNLIMITED if max_connections is None else max_connections
        self._max_idle = _UNLIMITED if max_idle_per_origin is None else max_idle_per_origin
        self._expiry = _NO_DEADLINE if keepalive_expiry is None else keepalive_expiry
        self._buffer_limit = max(1, buffer_limit)
        self._pools: dict[Origin, deque[_Connection]] = {}
        self._slots: anyio.Semaphore | None = None
        self._heads = RequestHeadWriter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.send_request(request)
        progress: AttemptProgress | None = request.extensions.get(PROGRESS_EXTENSION)
        if progress is not None:  # the body (what httpx still reads) is the answer too
            progress.reach(Phase.ANSWERING)
        return response

    async def send_request(
        self, request: httpx.Request, *, deadline: float | None = None, whole: bool = False
    ) -> httpx.Response:
        """Send ``request``; what httpx calls, plus two options for a direct caller.

        Args:
            request: the request (its ``timeout`` extension gives the per-phase timeouts).
            deadline: an absolute :func:`anyio.current_time` no phase may run past (the
                pool wait, the connect and every read and write share it), so a caller
                needs no cancel scope of its own around the call.
            whole: read the whole body before returning (``Response.content`` is then
                ready) instead of streaming what exceeds ``buffer_limit``.
        """
        url = request.url
        scheme = url.raw_scheme
        if scheme not in (b"http", b"https"):
            raise httpx.UnsupportedProtocol(
                f"unsupported URL scheme {url.scheme!r}", request=request
            )
        origin: Origin = (scheme, url.raw_host, url.port or (443 if scheme == b"https" else 80))
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        head, framing = self._heads.head(request)
        body = _request_body(request, framing)
        is_head = request.method == "HEAD"
        repeatable = request.extensions.get(REPEATABLE_EXTENSION)
        if repeatable is None:
            repeatable = request.method.encode() in _IDEMPOTENT
        safe_to_repeat = repeatable and isinstance(body, bytes)
        cap = _NO_DEADLINE if deadline is None else deadline

        slots = self._slots
        if slots is None:  # created on first use, inside the running loop
            slots = self._slots = anyio.Semaphore(self._max_connections)
        # One cancel scope per request carries its deadlines: first the pool wait's, then
        # the exchange's moving one (a scope costs about 9 µs on asyncio, 12 µs on trio,
        # so a second one for the wait was most of what waiting for a slot cost).
        holding = False  # a pool slot (a streamed body takes it over, and releases it)
        connection: _Connection | None = None  # None until the pool wait is over
        with anyio.CancelScope() as scope:
            try:
                if slots.value:  # the common case: no wait (and no WouldBlock raised)
                    slots.acquire_nowait()
                else:
                    pool_timeout = timeouts.get("pool")
                    if pool_timeout is not None:
                        scope.deadline = min(anyio.current_time() + pool_timeout, cap)
                    else:
                        scope.deadline = cap
                    await slots.acquire()
                    scope.deadline = _NO_DEADLINE  # the connect bounds itself (cap included)
                holding = True
                for attempt in (1, 2):
                    try:
                        connection, reused = await self._checkout(
                            origin, request, timeouts, cap, pooled=attempt == 1
                        )
                    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                        if attempt == 1:
                            raise
                        # The closed connection may have taken the request: not "unsent".
                        raise sent_error(exc, request, _CLOSED_UNANSWERED) from exc
                    connection.cap = cap
                    try:
                        status, reason, headers, content = await self._exchange(
                            connection, scope, head, body, is_head, timeouts, request, whole
                        )
                    except _StaleConnectionError:
                        await connection.aclose()
                        if reused and attempt == 1 and safe_to_repeat:
                            scope.deadline = _NO_DEADLINE
                            continue
                        raise httpx.RemoteProtocolError(
                            _CLOSED_UNANSWERED, request=request
                        ) from None
                    except BaseException:
                        await connection.aclose()  # shielded: also when the deadline passed
                        raise
                    scope.deadline = _NO_DEADLINE
                    connection.cap = _NO_DEADLINE  # read_more has its own read timeout
                    if framing.close:  # the request asked the server to close it
                        connection.keep_alive = False
                    stream: httpx.AsyncByteStream
                    if connection.complete:
                        await self._checkin(origin, connection)
                        stream = httpx.ByteStream(content)
                    else:
                        stream = _StreamedBody(
                            self, origin, connection, content, timeouts.get("read"), slots, request
                        )
                        holding = False
                    return httpx.Response(
                        status,
                        headers=headers,
                        stream=stream,
                        extensions={
                            "http_version": connection.http_version,
                            "reason_phrase": reason,
                        },
                    )
            except BaseException:
                progress: AttemptProgress | None = request.extensions.get(PROGRESS_EXTENSION)
                if progress is not None:  # someone's deadline may have stopped it here
                    progress.reach(_phase(holding, connection))
                raise
            finally:
                if holding:
                    slots.release()
        # Only this scope's own deadline gets here: the pool wait's or the exchange's.
        if connection is None:
            raise httpx.PoolTimeout("no free connection in time", request=request)
        if not connection.sent:
            raise httpx.WriteTimeout("the request could not be sent in time", request=request)
        if connection.received or connection.headers_complete:
            raise httpx.ReadTimeout("the server stopped sending", request=request)
        raise httpx.ReadTimeout("no response in time", request=request)

    async def aclose(self) -> None:
        """Close every idle connection; those in use are closed when they are done."""
        self._expiry = 0.0  # nothing is pooled any more
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            while pool:
                await pool.pop().aclose()

    async def _checkout(
        self,
        origin: Origin,
        request: httpx.Request,
        timeouts: dict[str, float | None],
        cap: float,
        *,
        pooled: bool,
    ) -> tuple[_Connection, bool]:
        """A connection to ``origin`` and whether it was reused (only if ``pooled``)."""
        pool = self._pools.get(origin) if pooled else None
        if pool:
            now = time.monotonic()
            while pool:
                connection = pool.pop()
                if connection.reusable(now):
                    return connection, True
                await connection.aclose()
        return await self._connect(origin, request, timeouts.get("connect"), cap), False

    async def _checkin(self, origin: Origin, connection: _Connection) -> None:
        pool = self._pools.setdefault(origin, deque())
        if connection.keep_alive and len(pool) < self._max_idle and self._expiry > 0:
            connection.expires = time.monotonic() + self._expiry
            pool.append(connection)
        else:
            await connection.aclose()

    async def _connect(
        self,
        origin: Origin,
        request: httpx.Request,
        connect_timeout: float | None,
        cap: float,
    ) -> _Connection:
        scheme, host, port = origin
        hostname = host.decode("ascii")
        tls = scheme == b"https"
        try:
            with anyio.fail_after(connect_timeout) as scope:
                if cap < scope.deadline:
                    scope.deadline = cap
                raw = await _socket.connect(hostname, port)
                stream: _socket.SocketStream = raw
                if tls:
                    stream = await _socket.start_tls(raw, self._ssl_context, hostname)
        except TimeoutError:
            raise httpx.ConnectTimeout(
                f"connecting to {hostname}:{port} timed out", request=request
            ) from None
        except (OSError, ssl.SSLError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
            raise httpx.ConnectError(
                f"cannot connect to {hostname}:{port}: {exc}", request=request
            ) from exc
        return _Connection(stream, tls=tls)

    async def _exchange(
        self,
        connection: _Connection,
        scope: anyio.CancelScope,
        head: bytes,
        body: bytes | AsyncIterable[bytes] | _RawBody,
        is_head: bool,
        timeouts: dict[str, float | None],
        request: httpx.Request,
        whole: bool = False,
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes]:
        """One exchange under ``scope``, whose deadline it moves (a passed deadline
        cancels it: the caller maps that to a timeout)."""
        try:
            return await connection.exchange(
                head,
                body,
                is_head=is_head,
                scope=scope,
                timeouts=timeouts,
                buffer_limit=_READ_WHOLE if whole else self._buffer_limit,
            )
        except _ServerProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except httptools.HttpParserError as exc:
            raise httpx.RemoteProtocolError(
                f"invalid HTTP response: {exc}", request=request
            ) from exc
        except httpx.LocalProtocolError as exc:  # a streamed body of the wrong length
            exc.request = request
            raise
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            if connection.received:
                raise httpx.ReadError(f"connection lost: {exc}", request=request) from exc
            raise _StaleConnectionError from exc


def _phase(holding: bool, connection: _Connection | None) -> Phase:
    """How far a request had got when it failed (``connection``: its latest)."""
    if not holding:
        return Phase.WAITING
    if connection is None:
        return Phase.CONNECTING
    # An earlier connection that went stale may have taken the request: it counts too.
    return Phase.ANSWERING if connection.sent else Phase.SENDING


class _StreamedBody(httpx.AsyncByteStream):
    """The rest of a large response body, read from its connection as it is consumed.

    Holds the connection and a pool slot until the body ends (the connection goes back
    to the pool) or the stream is closed early (the connection is closed).
    """

    def __init__(
        self,
        transport: AnyioHTTPTransport,
        origin: Origin,
        connection: _Connection,
        first: bytes,
        read_timeout: float | None,
        slot: anyio.Semaphore,
        request: httpx.Request,
    ) -> None:
        self._transport = transport
        self._origin = origin
        self._connection: _Connection | None = connection
        self._first = first
        self._read_timeout = read_timeout
        self._slot = slot
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._first:
            first, self._first = self._first, b""
            yield first
        while (connection := self._connection) is not None:
            try:
                chunks = await connection.read_more(self._read_timeout)
            except httpx.TransportError as exc:
                exc.request = self._request
                await self._release(reuse=False)
                raise
            except BaseException:
                await self._release(reuse=False)
                raise
            if not chunks and connection.complete:
                await self._release(reuse=True)
                return
            for chunk in chunks:
                yield chunk

    async def aclose(self) -> None:
        await self._release(reuse=False)

    async def _release(self, *, reuse: bool) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if reuse:
                await self._transport._checkin(self._origin, connection)
            else:
                await connection.aclose()
        finally:
            self._slot.release()


class _RawBody:
    """A streamed request body sent as it is, ``length`` bytes (its Content-Length)."""

    __slots__ = ("length", "stream")

    def __init__(self, stream: AsyncIterable[bytes], length: int) -> None:
        self.stream = stream
        self.length = length


def _request_body(
    request: httpx.Request, framing: Framing
) -> bytes | AsyncIterable[bytes] | _RawBody:
    """The body to send: bytes, a stream to send chunked, or a stream to send raw.

    The head's framing decides, as in httpcore: a body is chunked only under
    ``Transfer-Encoding: chunked`` (one in memory too), otherwise it must have the
    declared ``Content-Length`` (none declared: no body). A request httpx rebuilt around
    an in-memory stream (a redirect keeps the original's stream) is sent from memory.

    Raises:
        httpx.LocalProtocolError: an in-memory body of another length than declared.
    """
    try:
        content = request.content  # httpx has already read in-memory bodies
    except httpx.RequestNotRead:
        stream: Any = request.stream
        if not isinstance(stream, httpx.ByteStream):
            if framing.chunked:
                return stream  # type: ignore[no-any-return]
            return _RawBody(stream, framing.length or 0)
        content = b"".join(stream)
    if framing.chunked:
        return httpx.ByteStream(content)  # sent chunked, ending with the last chunk
    declared = framing.length or 0
    if len(content) != declared:
        amount = "much" if len(content) > declared else "little"
        raise httpx.LocalProtocolError(
            f"Too {amount} data for declared Content-Length", request=request
        )
    return content
