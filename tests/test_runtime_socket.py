"""The bare-socket byte stream under the connection layer, on both backends."""

from __future__ import annotations

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream

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
