"""A small WebSocket client: websockets' sans-I/O ``ClientProtocol`` over anyio streams.

Why this layer (measured in ``research/perf2.md`` §6, same server and machine): this
driver received ~120,000 messages/s on both asyncio and trio with no close races in
150/150 runs; aiohttp ~90,000-115,000/s (asyncio only); httpx-ws ~10,000/s with a
``LocalProtocolError`` close race on trio. The protocol object only turns bytes into
events and events into bytes, so pongs and the close echo are plain bytes to write:
there is no send-side state that can race with a close.

websockets' frame parser is a chain of generators (about 2 µs a frame, more than the
rest of the gateway's per-event work together), so the receive hot path slices the
common frame itself: a whole, final, unmasked text or binary frame without reserved
bits while no fragmented message is open. Every other frame (control frames,
fragments, anything malformed) goes whole to websockets, whose parser is only ever fed
at frame boundaries and so keeps its complete state and rules. Its handshake parser is
fed the response head only, for the same reason.

Rules this module enforces:

* TCP via ``anyio.connect_tcp``; ``wss://`` via anyio's TLS stream (certificate and host
  name verified with the given or the default SSL context).
* Every read feeds the protocol and writes what it answers (pongs, the close echo) before
  returning, so a connection whose reader keeps reading always answers pings.
* Messages larger than ``max_size`` fail the connection (close 1009), as soon as a frame
  header announces too much: nothing larger is ever buffered.
* After a Close frame or a protocol failure nothing more is delivered (websockets
  discards the rest), and the reader learns of the close at once: waiting for the
  server to close TCP is left to ``aclose()``, which bounds it.
* Writes are serialised by one lock and shielded with a deadline, so a cancelled writer
  never leaves half a frame on the wire.
* ``aclose()`` is shielded and bounded: Close frame, wait for the server's Close and EOF
  for at most ``close_timeout``, then the socket is closed. ``abort()`` just closes.
"""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import Sequence
from typing import Final

import anyio
import anyio.abc
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

__all__ = ["HandshakeRejected", "WebSocket", "WebSocketClosed", "connect"]

#: The most one read takes from the socket (a few hundred typical frames). Not more:
#: above glibc's mmap threshold (128 KiB) every ``recv()`` maps and unmaps its buffer,
#: measured 10 µs per call against 0.6 µs at 64 KiB when little data is waiting.
_READ_SIZE: Final = 2**16
#: The largest handshake response head accepted.
_MAX_HEAD: Final = 2**16
_TEXT, _BINARY, _CONT, _PONG = Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.PONG
_STREAM_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


class WebSocketClosed(Exception):  # noqa: N818 - an event, reported to the session owner
    """The connection is closed (by either side, or lost).

    Attributes:
        code: The close code received, or ``None`` (1006: no Close frame).
        reason: The close reason received.
        sent_code: The close code this side sent (1009: a message over the size limit),
            or ``None``.
    """

    def __init__(self, code: int | None, reason: str, sent_code: int | None = None) -> None:
        self.code = code
        self.reason = reason
        self.sent_code = sent_code
        super().__init__(f"connection closed (code {code}{': ' + reason if reason else ''})")


class HandshakeRejected(Exception):  # noqa: N818 - carries the HTTP answer
    """The server answered the upgrade with an HTTP status instead of 101.

    Attributes:
        status: The HTTP status.
        body: The response body as text (truncated).
    """

    def __init__(self, status: int, body: str) -> None:
        self.status = status
        self.body = body
        super().__init__(f"WebSocket upgrade refused with HTTP {status}")


class WebSocket:
    """One open WebSocket connection (create it with :func:`connect`)."""

    def __init__(
        self, stream: anyio.abc.ByteStream, proto: ClientProtocol, max_size: int | None
    ) -> None:
        self._stream = stream
        self._proto = proto
        self._limit = sys.maxsize if max_size is None else max_size
        self._fragments: list[bytes] | None = None
        self._fragment_size = 0
        self._partial: list[bytes] = []  # the bytes of an incomplete frame
        self._partial_size = 0
        self._need = 0  # the size of that frame once its header is known (0: not yet)
        self._delegated = False  # websockets' parser stopped (Close or failure): it gets all
        self._pending: list[bytes] = []
        self._eof = False
        self._send_lock = anyio.Lock(fast_acquire=True)
        self._pongs: dict[bytes, anyio.Event] = {}
        self.write_timeout = 10.0
        #: ``anyio.current_time()`` of the last bytes received (0 before any): a frame
        #: still arriving (an event larger than one read) shows the connection alive too.
        self.received_at = 0.0

    @property
    def open(self) -> bool:
        """Whether messages can still be sent."""
        return self._proto.state is State.OPEN and not self._eof

    # -- receiving (I/O-free) ---------------------------------------------------------------

    def _feed(self, data: bytes) -> list[bytes]:
        """Take bytes from the server; return the messages they complete.

        The hot path: a whole, final, unmasked text or binary frame with no reserved bits
        set (first byte ``0x81``/``0x82``) while no fragmented message is open is sliced
        out here. Any other frame is handed, whole and alone, to websockets' parser, which
        therefore always sits at a frame boundary and keeps its full state: it answers
        pings, echoes Close, validates control frames and fragmentation, and fails the
        connection on a protocol error.
        """
        if self._delegated:
            self._proto.receive_data(data)
            return self._process(self._proto.events_received(), [])
        if self._partial:
            self._partial.append(data)
            self._partial_size += len(data)
            if self._partial_size < self._need:
                return []
            data = b"".join(self._partial)
            self._partial = []
        messages: list[bytes] = []
        pos = 0
        end = len(data)
        need = 0
        while end - pos >= 2:
            first = data[pos]
            length = data[pos + 1]
            start = pos + 2
            plain = True
            if length >= 126:  # a longer length field, or a mask (never sent by a server)
                plain = length < 128
                length &= 0x7F
                if length == 126:
                    if end - start < 2:
                        break
                    length = (data[start] << 8) | data[start + 1]
                    start += 2
                elif length == 127:
                    if end - start < 8:
                        break
                    length = int.from_bytes(data[start : start + 8], "big")
                    start += 8
                if not plain:
                    start += 4
            fragments = self._fragments
            if length > (self._limit if fragments is None else self._limit - self._fragment_size):
                self._fail(1009, "message too big")
                return messages
            stop = start + length
            if stop > end:
                need = stop - pos
                break
            if (first == 0x81 or first == 0x82) and plain and fragments is None:
                messages.append(data[start:stop])
            else:
                proto = self._proto
                proto.receive_data(data[pos:stop])
                self._process(proto.events_received(), messages)
                if proto.close_rcvd is not None or proto.parser_exc is not None:
                    self._delegated = True  # websockets now discards what follows
                if self._delegated:
                    return messages
            pos = stop
        if pos < end:
            rest = data[pos:] if pos else data
            self._partial = [rest]
            self._partial_size = len(rest)
            self._need = need
        return messages

    def _fail(self, code: int, reason: str) -> None:
        self._fragments = None
        self._partial = []
        self._delegated = True
        self._proto.fail(code, reason)

    def _process(self, events: Sequence[object], messages: list[bytes]) -> list[bytes]:
        """Turn frames parsed by websockets into messages (appended to ``messages``)."""
        for event in events:
            if type(event) is not Frame:
                continue
            opcode = event.opcode
            if opcode is _TEXT or opcode is _BINARY:
                if event.fin:
                    data = event.data
                    messages.append(data if type(data) is bytes else bytes(data))
                else:
                    self._fragments = [bytes(event.data)]
                    self._fragment_size = len(event.data)
            elif opcode is _CONT:
                fragments = self._fragments
                if fragments is None:
                    continue
                fragments.append(bytes(event.data))
                self._fragment_size += len(event.data)
                if self._fragment_size > self._limit:
                    self._fail(1009, "message too big")
                    break
                if event.fin:
                    self._fragments = None
                    messages.append(b"".join(fragments))
            elif opcode is _PONG:
                waiter = self._pongs.pop(bytes(event.data), None)
                if waiter is not None:
                    waiter.set()
        return messages

    # -- I/O -----------------------------------------------------------------------------------

    async def _flush(self) -> None:
        """Write what the protocol wants to send (shielded, bounded)."""
        out = self._proto.data_to_send()
        if not out:
            return
        with anyio.CancelScope(shield=True), anyio.move_on_after(self.write_timeout) as scope:
            async with self._send_lock:
                try:
                    for chunk in out:
                        if chunk:
                            await self._stream.send(chunk)
                        else:  # the protocol's "half-close now"
                            await self._stream.send_eof()
                except _STREAM_GONE:
                    self._lost()
        if scope.cancelled_caught:
            self._lost()

    def _lost(self) -> None:
        if not self._eof:
            self._eof = True
            self._proto.receive_eof()
            self._proto.data_to_send()

    def _closed_error(self) -> WebSocketClosed:
        received, sent = self._proto.close_rcvd, self._proto.close_sent
        sent_code = None if sent is None else sent.code
        if received is None:
            return WebSocketClosed(None, "", sent_code)
        return WebSocketClosed(received.code, received.reason, sent_code)

    async def read(self) -> list[bytes]:
        """Wait for at least one complete message; return all that arrived (bytes).

        Whatever the protocol answers (pongs, the close echo) is written before this
        returns.

        Raises:
            WebSocketClosed: the connection is closed.
        """
        proto = self._proto
        while True:
            if self._pending:
                messages, self._pending = self._pending, []
                return messages
            # After a Close frame either way (the server's, or the client's on a protocol
            # failure) nothing more is delivered: closed now, not once the server also
            # closes TCP, which :meth:`aclose` waits for (at most ``close_timeout``).
            if self._eof or proto.state is not State.OPEN:
                raise self._closed_error()
            try:
                data = await self._stream.receive(_READ_SIZE)
            except _STREAM_GONE:
                self._lost()
                messages = []
            else:
                self.received_at = anyio.current_time()
                messages = self._feed(data)
            await self._flush()
            if messages:
                return messages

    async def send(self, message: bytes) -> None:
        """Send one text message (UTF-8 bytes).

        Raises:
            WebSocketClosed: the connection is closed.
        """
        if not self.open:
            raise self._closed_error()
        self._proto.send_text(message)
        await self._flush()
        if self._eof:
            raise self._closed_error()

    async def ping(self) -> anyio.Event:
        """Send a ping; returns an event set when its pong arrives.

        Raises:
            WebSocketClosed: the connection is closed.
        """
        if not self.open:
            raise self._closed_error()
        payload = os.urandom(4)
        waiter = self._pongs[payload] = anyio.Event()
        self._proto.send_ping(payload)
        await self._flush()
        return waiter

    async def aclose(self, code: int = 1000, *, close_timeout: float = 5.0) -> None:
        """Close handshake (bounded by ``close_timeout``), then close the socket. Shielded."""
        with anyio.CancelScope(shield=True):
            try:
                if self._proto.state is State.OPEN and not self._eof:
                    self._proto.send_close(code)
                    await self._flush()
                with anyio.move_on_after(close_timeout):
                    while not self._eof and self._proto.state is not State.CLOSED:
                        try:
                            data = await self._stream.receive(_READ_SIZE)
                        except _STREAM_GONE:
                            self._lost()
                            break
                        self._feed(data)
                        await self._flush()
            finally:
                await self._stream.aclose()

    async def abort(self) -> None:
        """Close the socket at once, without a close handshake."""
        self._lost()
        with anyio.CancelScope(shield=True):
            await self._stream.aclose()


def _check_handshake(proto: ClientProtocol, response: Response) -> None:
    error = proto.handshake_exc
    if error is None:
        return
    if isinstance(error, InvalidStatus):
        body = bytes(response.body or b"")[:500].decode("utf-8", "replace")
        raise HandshakeRejected(response.status_code, body)
    raise WebSocketClosed(None, f"bad handshake: {error}")


async def connect(
    url: str,
    headers: dict[str, str],
    *,
    ssl_context: ssl.SSLContext | None = None,
    max_size: int | None = 2**22,
) -> WebSocket:
    """Open a WebSocket connection (bound it with the caller's timeout).

    Args:
        url: ``ws://`` or ``wss://`` URL.
        headers: Extra upgrade-request headers (e.g. ``Authorization``).
        ssl_context: For ``wss://``; default: the system's verified default context.
        max_size: The largest message accepted, in bytes (``None``: unlimited).

    Raises:
        HandshakeRejected: the server refused the upgrade with an HTTP status.
        OSError: the TCP or TLS connection failed.
        WebSocketClosed: the connection ended during the handshake.
    """
    uri = parse_uri(url)
    if uri.secure:
        context = ssl_context or ssl.create_default_context()
        stream: anyio.abc.ByteStream = await anyio.connect_tcp(
            uri.host, uri.port, tls=True, ssl_context=context, tls_standard_compatible=False
        )
    else:
        stream = await anyio.connect_tcp(uri.host, uri.port)
    try:
        proto = ClientProtocol(uri, max_size=max_size)
        request = proto.connect()
        for name, value in headers.items():
            request.headers[name] = value
        proto.send_request(request)
        ws = WebSocket(stream, proto, max_size)
        await ws._flush()
        await _handshake(ws)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await stream.aclose()
        raise
    return ws


async def _handshake(ws: WebSocket) -> None:
    """Read the answer to the upgrade request.

    websockets gets the response head only: what follows it is frames, and its frame
    parser must start at a frame boundary (see :meth:`WebSocket._feed`).

    Raises:
        HandshakeRejected: the server refused the upgrade with an HTTP status.
        WebSocketClosed: the connection ended or the answer was not a valid upgrade.
    """
    proto = ws._proto
    head = bytearray()
    rest = b""
    head_fed = False
    while True:
        try:
            data = await ws._stream.receive(_READ_SIZE)
        except _STREAM_GONE:
            raise WebSocketClosed(None, "connection lost during the handshake") from None
        if head_fed:  # a refusal's body
            proto.receive_data(data)
        else:
            head += data
            end = head.find(b"\r\n\r\n")
            if end < 0:
                if len(head) > _MAX_HEAD:
                    raise WebSocketClosed(None, "bad handshake: response head too large")
                continue
            head_fed = True
            proto.receive_data(bytes(head[: end + 4]))
            rest = bytes(head[end + 4 :])
        events = proto.events_received()
        if not events and rest:  # not a 101: a body follows the head
            proto.receive_data(rest)
            rest = b""
            events = proto.events_received()
        if events and isinstance(events[0], Response):
            _check_handshake(proto, events[0])
            if rest:
                ws._pending = ws._feed(rest)
                await ws._flush()
            return
        if proto.handshake_exc is not None:
            raise WebSocketClosed(None, f"bad handshake: {proto.handshake_exc}")
