"""A raw loopback HTTP/1.1 server for transport tests: each handler writes its answer
bytes by hand, so it can produce any edge case a real server or proxy can."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio
import httpx
import trustme
from anyio.abc import SocketStream

from pydoover_anyio.runtime import AnyioHTTPTransport

Handler = Callable[[SocketStream, bytes, bytes, int], Awaitable[bool]]


async def read_request(stream: SocketStream, buffer: bytearray) -> tuple[bytes, bytes] | None:
    """Read one request: (head, body). ``None`` when the client closed the connection
    (also in the middle of a request: that one is not counted)."""
    try:
        return await _read_request(stream, buffer)
    except (anyio.EndOfStream, anyio.BrokenResourceError):
        return None


async def _read_request(stream: SocketStream, buffer: bytearray) -> tuple[bytes, bytes]:
    while b"\r\n\r\n" not in buffer:
        buffer += await stream.receive()
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    buffer[:] = rest
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        if name.strip().lower() == b"transfer-encoding":
            chunked = True
    if chunked:
        while not buffer.endswith(b"0\r\n\r\n"):
            buffer += await stream.receive()
        body = bytes(buffer)
        buffer.clear()
        return head, body
    while len(buffer) < length:
        buffer += await stream.receive()
    body = bytes(buffer[:length])
    del buffer[:length]
    return head, body


class Server:
    """Serves each connection with ``handler(stream, head, body, n)`` until it returns False."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.finished = 0  # connections whose handling ended (either side closed)
        self.requests = 0
        self.port = 0
        self._one_finished = anyio.Event()

    def connection_finished(self) -> None:
        self.finished += 1
        self._one_finished.set()
        self._one_finished = anyio.Event()

    async def wait_finished(self, count: int) -> None:
        """Until ``count`` connections have ended."""
        while self.finished < count:
            await self._one_finished.wait()


@asynccontextmanager
async def serve(
    handler: Handler, *, tls: ssl.SSLContext | None = None, handshake_delay: float = 0
) -> AsyncIterator[Server]:
    server = Server(handler)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    server.port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def connection(stream: SocketStream) -> None:
        server.connections += 1
        try:
            await serve_connection(stream)
        finally:
            server.connection_finished()

    async def serve_connection(stream: SocketStream) -> None:
        buffer = bytearray()
        async with stream:
            sock: anyio.abc.ByteStream = stream
            if tls is not None:
                await anyio.sleep(handshake_delay)
                try:
                    sock = await anyio.streams.tls.TLSStream.wrap(
                        stream, server_side=True, ssl_context=tls, standard_compatible=False
                    )
                except (anyio.EndOfStream, anyio.BrokenResourceError, ssl.SSLError, OSError):
                    return  # the client refused the certificate
            while True:
                request = await read_request(sock, buffer)  # type: ignore[arg-type]
                if request is None:
                    return
                server.requests += 1
                if not await handler(sock, *request, server.requests):  # type: ignore[arg-type]
                    return

    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, connection)
        yield server
        group.cancel_scope.cancel()


def respond(body: bytes = b"ok", *, status: str = "200 OK", extra: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def ok(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
    await stream.send(respond(b"echo:" + head.split(b" ")[1] + b":" + body))
    return True


def client(**kwargs: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=AnyioHTTPTransport(**kwargs))  # type: ignore[arg-type]


@contextmanager
def deaf_server() -> Iterator[int]:
    """A listening socket that never accepts: the kernel completes each connection and
    buffers what arrives until the (small) receive buffer is full; its port."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


UPLOAD = b"u" * (32 << 20)  # more than loopback socket buffers take without a reader


def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts for 127.0.0.1 under a fresh test CA."""
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    return server_context, client_context
