"""The bare-socket byte stream under the connection layer, on both backends."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest
import trustme
from anyio.abc import SocketAttribute, SocketStream
from anyio.streams.tls import TLSStream

from pydoover_anyio.runtime import _socket

pytestmark = pytest.mark.anyio


async def test_round_trips_large_sends_eof_and_close() -> None:
    received = bytearray()

    async def peer(stream: SocketStream) -> None:
        async with stream:
            while True:
                try:
                    received.extend(await stream.receive())
                except anyio.EndOfStream:
                    break
            await stream.send(b"bye")

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, peer)
        stream = await _socket.connect("127.0.0.1", port)
        assert stream.extra(SocketAttribute.raw_socket) is stream.sock
        payload = bytes(range(256)) * 40_000  # 10 MB: the send has to wait for room
        await stream.send(payload)
        await stream.send_eof()
        assert await stream.receive() == b"bye"
        with pytest.raises(anyio.EndOfStream):
            await stream.receive()
        await stream.aclose()
        await stream.aclose()  # idempotent
        with pytest.raises(anyio.ClosedResourceError):
            await stream.send(b"x")
        group.cancel_scope.cancel()
    assert bytes(received) == payload


@contextlib.contextmanager
def unanswering_port() -> Iterator[int]:
    """A port whose accept queue is full: a new connection's handshake goes unanswered
    (as on a route that drops packets) until the client gives up."""
    with socket.socket() as listening, socket.socket() as queued:
        listening.bind(("127.0.0.1", 0))
        listening.listen(0)
        port = listening.getsockname()[1]
        queued.connect(("127.0.0.1", port))  # takes the only place in the queue
        yield port


def refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@contextlib.contextmanager
def resolving_to(monkeypatch: pytest.MonkeyPatch, *ports: int) -> Iterator[None]:
    """``getaddrinfo`` answers with one loopback address per port, in this order."""

    async def fake(host: str, port: int, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", each)) for each in ports]

    monkeypatch.setattr(anyio, "getaddrinfo", fake)
    yield


async def serving() -> tuple[Any, int]:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    return listener, listener.extra(SocketAttribute.local_port)


async def test_an_unanswering_address_is_raced_by_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    listener, good = await serving()
    before = open_descriptors()
    with unanswering_port() as stuck, resolving_to(monkeypatch, stuck, good):
        started = anyio.current_time()
        with anyio.fail_after(5):  # without the race: until the kernel gives up (minutes)
            stream = await _socket.connect("example.test", 443)
        waited = anyio.current_time() - started
        assert stream.sock.getpeername()[1] == good
        assert _socket.HAPPY_EYEBALLS_DELAY <= waited < 2
        await stream.aclose()
    await listener.aclose()
    assert open_descriptors() <= before  # the losing attempt's socket was closed


async def test_a_refused_address_hands_over_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    listener, good = await serving()
    with resolving_to(monkeypatch, refused_port(), good):
        started = anyio.current_time()
        stream = await _socket.connect("example.test", 443)
        assert anyio.current_time() - started < _socket.HAPPY_EYEBALLS_DELAY
        assert stream.sock.getpeername()[1] == good
        await stream.aclose()
    with (
        resolving_to(monkeypatch, refused_port(), refused_port()),
        pytest.raises(ConnectionRefusedError),
    ):
        await _socket.connect("example.test", 443)
    await listener.aclose()


async def test_a_race_cancelled_from_outside_leaves_no_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = open_descriptors()
    with (
        unanswering_port() as stuck,
        unanswering_port() as also_stuck,
        resolving_to(monkeypatch, stuck, also_stuck),
    ):
        with anyio.move_on_after(0.4) as scope:  # both attempts are under way by then
            await _socket.connect("example.test", 443)
        assert scope.cancelled_caught
    assert open_descriptors() <= before


def test_address_families_alternate_in_the_resolvers_order() -> None:
    v6 = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (f"::{i}", 1)) for i in (1, 2, 3)]
    v4 = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (f"10.0.0.{i}", 1)) for i in (1, 2)]
    order = _socket._alternating_families([*v6, *v4])
    assert order == [v6[0], v4[0], v6[1], v4[1], v6[2]]
    assert _socket._alternating_families([v4[0], *v6]) == [v4[0], v6[0], v6[1], v6[2]]


async def test_connection_refused_and_cancelled_waits() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)
    await listener.aclose()
    with pytest.raises(ConnectionRefusedError):
        await _socket.connect("127.0.0.1", port)

    async def silent(stream: SocketStream) -> None:
        async with stream:
            await anyio.sleep(5)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, silent)
        stream = await _socket.connect("127.0.0.1", port)
        with anyio.move_on_after(0.05) as scope:
            await stream.receive()
        assert scope.cancelled_caught
        await stream.aclose()
        group.cancel_scope.cancel()


# --- TLS (start_tls / TLSSocketStream) against anyio's own TLS server stream ---------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def other_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def _open_fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _assert_fd_count(expected: int) -> None:
    """The open-fd count returns to ``expected`` (asyncio closes transports a tick later)."""
    for _ in range(50):
        if _open_fd_count() == expected:
            return
        await anyio.sleep(0.01)
    assert _open_fd_count() == expected


def _assert_fd_closed(fd: int) -> None:
    with pytest.raises(OSError, match="Bad file descriptor") as info:
        os.fstat(fd)
    assert info.value.errno == errno.EBADF


@contextlib.asynccontextmanager
async def _tls_server(
    context: ssl.SSLContext, handler: Callable[[TLSStream], Awaitable[None]]
) -> AsyncIterator[int]:
    """Serve TLS on a loopback port (no close_notify on close); yields the port."""

    async def accept(tcp: SocketStream) -> None:
        async with tcp:  # also when cancelled mid-handshake
            try:
                stream = await TLSStream.wrap(
                    tcp, server_side=True, ssl_context=context, standard_compatible=False
                )
            except (ssl.SSLError, OSError, anyio.BrokenResourceError, anyio.EndOfStream):
                return
            async with stream:
                with contextlib.suppress(anyio.BrokenResourceError, anyio.EndOfStream):
                    await handler(stream)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, accept)
        yield port
        group.cancel_scope.cancel()


async def _hold(stream: TLSStream) -> None:
    """A server handler that keeps the connection open and says nothing."""
    await anyio.sleep(5)


async def _start_tls(port: int, context: ssl.SSLContext) -> _socket.TLSSocketStream:
    raw = await _socket.connect("127.0.0.1", port)
    return await _socket.start_tls(raw, context, "localhost")


async def test_tls_round_trips_large_payloads_both_ways(
    server_context: ssl.SSLContext,
    client_context: ssl.SSLContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits = {"writable": 0}
    wait_writable = anyio.wait_writable

    async def counting_wait_writable(obj: Any) -> None:
        waits["writable"] += 1
        await wait_writable(obj)

    monkeypatch.setattr(_socket.anyio, "wait_writable", counting_wait_writable)

    async def echo(stream: TLSStream) -> None:
        async for chunk in stream:
            await stream.send(chunk)

    payload = os.urandom(1 << 20) * 6  # 6 MB: sends wait for room, receives span records
    received = bytearray()
    receives = 0
    async with _tls_server(server_context, echo) as port:
        stream = await _start_tls(port, client_context)
        assert isinstance(stream.extra(SocketAttribute.raw_socket), ssl.SSLSocket)
        async with stream, anyio.create_task_group() as group:
            group.start_soon(stream.send, payload)
            with anyio.fail_after(10):
                while len(received) < len(payload):
                    received.extend(await stream.receive())
                    receives += 1
    assert received == payload
    assert receives > len(payload) // 65536
    assert waits["writable"] > 0  # the send did hit SSLWantWriteError


@pytest.mark.parametrize("ignore_unexpected_eof", [True, False])
async def test_tls_peer_closing_without_close_notify_ends_the_stream(
    server_context: ssl.SSLContext,
    client_context: ssl.SSLContext,
    ignore_unexpected_eof: bool,
) -> None:
    # OP_IGNORE_UNEXPECTED_EOF changes how OpenSSL reports a ragged EOF; both end the stream.
    if ignore_unexpected_eof:
        client_context.options |= ssl.OP_IGNORE_UNEXPECTED_EOF
    else:
        client_context.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF

    async def say_and_drop(stream: TLSStream) -> None:
        await stream.send(b"last words")
        await stream.transport_stream.aclose()  # TCP FIN, no close_notify

    async with _tls_server(server_context, say_and_drop) as port:
        stream = await _start_tls(port, client_context)
        async with stream:
            with anyio.fail_after(5):
                received = bytearray()
                while len(received) < len(b"last words"):
                    received.extend(await stream.receive())
                assert received == b"last words"
                with pytest.raises(anyio.EndOfStream):
                    await stream.receive()
                with pytest.raises(anyio.EndOfStream):
                    await stream.receive()


async def test_tls_untrusted_certificate_fails_and_closes_the_socket(
    server_context: ssl.SSLContext, other_ca: trustme.CA
) -> None:
    context = ssl.create_default_context()
    other_ca.configure_trust(context)

    async def never(stream: TLSStream) -> None:
        raise AssertionError("the handshake should not succeed")

    before = _open_fd_count()
    async with _tls_server(server_context, never) as port:
        raw = await _socket.connect("127.0.0.1", port)
        fd = raw.sock.fileno()
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            await _socket.start_tls(raw, context, "localhost")
        # Checked while the traceback (and so the handshake's frame) is still alive: the
        # socket is closed by start_tls, not by the garbage collector.
        assert info.traceback
        assert raw.sock.fileno() == -1
        _assert_fd_closed(fd)
    await _assert_fd_count(before)


async def test_tls_cancelled_handshake_closes_the_socket() -> None:
    async def mute(stream: SocketStream) -> None:
        async with stream:
            await anyio.sleep(5)

    context = ssl.create_default_context()
    before = _open_fd_count()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, mute)
        raw = await _socket.connect("127.0.0.1", port)
        fd = raw.sock.fileno()
        with anyio.move_on_after(0.1) as scope:
            await _socket.start_tls(raw, context, "localhost")
        assert scope.cancelled_caught
        assert raw.sock.fileno() == -1
        _assert_fd_closed(fd)
        group.cancel_scope.cancel()
    await _assert_fd_count(before)


async def test_tls_aclose_is_idempotent_and_closes_for_good(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async with _tls_server(server_context, _hold) as port:
        stream = await _start_tls(port, client_context)
        fd = stream.sock.fileno()
        await stream.aclose()
        await stream.aclose()
        _assert_fd_closed(fd)
        with pytest.raises(anyio.ClosedResourceError):
            await stream.receive()
        with pytest.raises(anyio.ClosedResourceError):
            await stream.send(b"x")
        with pytest.raises(NotImplementedError):
            await stream.send_eof()


async def test_tls_aclose_wakes_a_waiting_receive(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async with _tls_server(server_context, _hold) as port:
        stream = await _start_tls(port, client_context)

        async def close_soon() -> None:
            await anyio.sleep(0.05)
            await stream.aclose()

        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                group.start_soon(close_soon)
                with pytest.raises(anyio.ClosedResourceError):
                    await stream.receive()


async def test_tls_small_receives_drain_decrypted_data_without_waiting(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    messages = [b"hello", b" world", b", one record " * 50]
    sent = anyio.Event()
    done = anyio.Event()

    async def burst(stream: TLSStream) -> None:
        for message in messages:  # back to back: separate records, one flight
            await stream.send(message)
        sent.set()
        await done.wait()  # keep the connection open: a stranded byte would hang

    expected = b"".join(messages)
    async with _tls_server(server_context, burst) as port:
        stream = await _start_tls(port, client_context)
        async with stream:
            with anyio.fail_after(5):
                await sent.wait()
                await anyio.sleep(0.02)  # let every record reach the socket
                received = bytearray()
                while len(received) < len(expected):
                    chunk = await stream.receive(3)
                    assert 0 < len(chunk) <= 3
                    received.extend(chunk)
            assert received == expected
            done.set()
