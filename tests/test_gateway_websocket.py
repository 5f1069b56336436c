"""The WebSocket driver's receive path against websockets' own parser, and its handshake.

``WebSocket._feed`` slices the common data frame itself and hands every other frame to
websockets. These tests feed the same byte streams, cut at random points, to it and to a
bare websockets ``ClientProtocol`` and require the same messages, the same frames written
back (pongs, Close) and the same final state, including for malformed streams.
"""

from __future__ import annotations

import base64
import hashlib
import random
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
import anyio.abc
import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.streams import StreamReader
from websockets.uri import parse_uri

from pydoover_anyio.gateway._websocket import HandshakeRejected, WebSocket, WebSocketClosed, connect

URI = parse_uri("ws://127.0.0.1/gateway")
TEXT, BINARY, CONT, CLOSE, PING, PONG = 1, 2, 0, 8, 9, 10


def raw(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bool = False
) -> bytes:
    """One frame as a server would write it (anything goes: no validation here)."""
    head = bytearray([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head.append(bit | n)
    elif n < 65536:
        head.append(bit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(bit | 127)
        head += struct.pack("!Q", n)
    if mask:
        key = b"\x01\x02\x03\x04"
        head += key
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes(head) + payload


def close_frame(code: int, reason: str = "") -> bytes:
    return raw(CLOSE, struct.pack("!H", code) + reason.encode())


def written(proto: ClientProtocol) -> list[tuple[int, bytes]]:
    """The frames the client wrote (unmasked); a Close as its code only."""
    return client_frames(b"".join(proto.data_to_send()))


def client_frames(data: bytes) -> list[tuple[int, bytes]]:
    reader = StreamReader()
    reader.feed_data(data)
    frames = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=True)
        try:
            next(parser)
        except StopIteration as done:
            frame = done.value
        data = bytes(frame.data)
        frames.append((frame.opcode.value, data[:2] if frame.opcode is Opcode.CLOSE else data))
    return frames


def reference(chunks: list[bytes], max_size: int | None) -> tuple[Any, ...]:
    """What websockets alone makes of the stream (messages assembled as the driver does)."""
    proto = ClientProtocol(URI, state=State.OPEN, max_size=max_size)
    messages: list[bytes] = []
    fragments: list[bytes] | None = None
    for chunk in chunks:
        proto.receive_data(chunk)
        for event in proto.events_received():
            assert isinstance(event, Frame)
            if event.opcode in (Opcode.TEXT, Opcode.BINARY):
                if event.fin:
                    messages.append(bytes(event.data))
                else:
                    fragments = [bytes(event.data)]
            elif event.opcode is Opcode.CONT and fragments is not None:
                fragments.append(bytes(event.data))
                if event.fin:
                    messages.append(b"".join(fragments))
                    fragments = None
    return messages, written(proto), proto.state, _close(proto)


def ours(chunks: list[bytes], max_size: int | None) -> tuple[Any, ...]:
    proto = ClientProtocol(URI, state=State.OPEN, max_size=max_size)
    ws = WebSocket(None, proto, max_size)  # type: ignore[arg-type]  # _feed needs no stream
    messages: list[bytes] = []
    for chunk in chunks:
        messages += ws._feed(chunk)
    return messages, written(proto), proto.state, _close(proto)


def _close(proto: ClientProtocol) -> Any:
    received = proto.close_rcvd
    return None if received is None else (received.code, received.reason)


def cuts(data: bytes, rng: random.Random) -> list[list[bytes]]:
    """The stream whole, byte by byte (if short), and cut at random points."""
    ways = [[data]]
    if len(data) < 3000:
        ways.append([data[i : i + 1] for i in range(len(data))])
    for _ in range(6):
        points = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 12))))
        ways.append([data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)])
    return ways


def same(data: bytes, max_size: int | None = 2**20, seed: int = 0) -> tuple[Any, ...]:
    rng = random.Random(seed)
    expected = reference([data], max_size)
    for chunks in cuts(data, rng):
        assert ours(chunks, max_size) == expected, [len(c) for c in chunks]
        assert reference(chunks, max_size) == expected
    return expected


def test_data_frames_of_every_length_encoding() -> None:
    sizes = [0, 1, 125, 126, 127, 200, 65535, 65536, 70000]
    data = b"".join(raw(TEXT if i % 2 else BINARY, bytes([i]) * n) for i, n in enumerate(sizes))
    messages, out, state, _ = same(data)
    assert [len(m) for m in messages] == sizes
    assert (out, state) == ([], State.OPEN)


def test_control_frames_and_fragments_between_data_frames() -> None:
    data = b"".join(
        [
            raw(TEXT, b'{"a":1}'),
            raw(PING, b"p1"),
            raw(TEXT, b"he", fin=False),
            raw(PING, b"p2"),
            raw(CONT, b"ll", fin=False),
            raw(PONG, b"unsolicited"),
            raw(CONT, b"o"),
            raw(BINARY, b"\x00\x01"),
            close_frame(1000, "bye"),
            raw(TEXT, b"after the close: discarded"),
        ]
    )
    messages, out, state, close = same(data)
    assert messages == [b'{"a":1}', b"hello", b"\x00\x01"]
    assert out == [(PONG, b"p1"), (PONG, b"p2"), (CLOSE, struct.pack("!H", 1000))]
    assert (state, close) == (State.CLOSING, (1000, "bye"))


@pytest.mark.parametrize(
    "bad",
    [
        raw(TEXT, b"x", rsv=4),  # a reserved bit, no extension negotiated
        raw(3, b"x"),  # a reserved opcode
        raw(TEXT, b"masked", mask=True),  # a server must not mask
        raw(PING, b"x" * 126),  # a control frame too long
        raw(PING, b"x", fin=False),  # a fragmented control frame
        raw(CONT, b"x"),  # a continuation with nothing to continue
        raw(TEXT, b"a", fin=False) + raw(TEXT, b"b"),  # a new message inside a fragmented one
        raw(CLOSE, b"\x03\xe8\xff"),  # a close reason that is not UTF-8
    ],
)
def test_protocol_errors_fail_the_connection_the_same_way(bad: bytes) -> None:
    data = raw(TEXT, b"before") + bad + raw(TEXT, b"after")
    messages, out, state, _ = same(data)
    assert messages == [b"before"]
    assert out[-1][0] == CLOSE
    assert state is State.CLOSING


def test_too_big_fails_with_1009_before_the_payload_arrives() -> None:
    for data in (
        raw(TEXT, b"ok") + raw(TEXT, b"x" * 1001),
        raw(TEXT, b"ok") + raw(TEXT, b"x" * 600, fin=False) + raw(CONT, b"x" * 600),
    ):
        messages, out, _, _ = same(data, max_size=1000)
        assert messages == [b"ok"]
        assert out == [(CLOSE, struct.pack("!H", 1009))]
    proto = ClientProtocol(URI, state=State.OPEN, max_size=1000)
    ws = WebSocket(None, proto, 1000)  # type: ignore[arg-type]
    assert ws._feed(raw(TEXT, b"x" * 5000)[:20]) == []  # the header alone is enough
    assert proto.state is State.CLOSING
    assert ws._feed(raw(TEXT, b"more")) == []  # and nothing is delivered after it
    proto = ClientProtocol(URI, state=State.OPEN, max_size=1000)
    ws = WebSocket(None, proto, 1000)  # type: ignore[arg-type]
    assert ws._feed(raw(TEXT, b"x" * 600, fin=False) + raw(CONT, b"x" * 600)[:4]) == []
    assert proto.state is State.CLOSING  # the continuation's header: 1200 bytes in all


def test_random_streams() -> None:
    rng = random.Random(7)
    for seed in range(40):
        frames = []
        fragmented = False
        for _ in range(rng.randint(1, 30)):
            kind = rng.random()
            size = rng.choice([0, 5, 60, 125, 126, 300, 70000]) if kind < 0.9 else 3
            if kind < 0.6:
                frames.append(raw(TEXT if fragmented is False else CONT, b"a" * size))
                fragmented = False
            elif kind < 0.7:
                frames.append(raw(CONT if fragmented else BINARY, b"b" * size, fin=False))
                fragmented = True
            elif kind < 0.85:
                frames.append(raw(PING, bytes([rng.randrange(256)]) * min(size, 125)))
            elif kind < 0.95:
                frames.append(raw(PONG, b"q"))
            else:
                frames.append(raw(rng.choice([TEXT, CONT, 5]), b"?", rsv=rng.choice([0, 2])))
        same(b"".join(frames), max_size=rng.choice([None, 2**20, 1000]), seed=seed)


# -- the handshake: websockets is fed the response head only ---------------------------------


def _accept(request: bytes) -> bytes:
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    digest = hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
    return base64.b64encode(digest)


@asynccontextmanager
async def serving(
    handle: Callable[[anyio.abc.SocketStream], Awaitable[None]],
) -> AsyncIterator[str]:
    """A loopback TCP server running ``handle`` per connection; yields its ws:// URL."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield f"ws://127.0.0.1:{port}/gateway"
        tg.cancel_scope.cancel()


async def _upgrade_head(stream: anyio.abc.SocketStream) -> bytes:
    """Read a client's upgrade request; return the 101 that accepts it."""
    request = bytearray()
    while b"\r\n\r\n" not in request:
        request += await stream.receive()
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + _accept(bytes(request)) + b"\r\n\r\n"
    )


@pytest.mark.anyio
async def test_frames_in_the_same_read_as_the_101_are_delivered_and_pings_answered() -> None:
    received = bytearray()
    answered = anyio.Event()

    async def handle(stream: anyio.abc.SocketStream) -> None:
        head = await _upgrade_head(stream)
        await stream.send(head + raw(TEXT, b"first") + raw(PING, b"hb") + raw(TEXT, b"second"))
        await stream.send(raw(TEXT, b"third")[:1])  # a frame cut inside its header
        await stream.send(raw(TEXT, b"third")[1:])
        with anyio.move_on_after(2):
            while len(received) < 8:  # the pong: 2 + 4 (mask) + 2 bytes
                received.extend(await stream.receive())
        answered.set()

    async with serving(handle) as url:
        with anyio.fail_after(5):
            ws = await connect(url, {})
            messages = []
            while len(messages) < 3:
                messages += await ws.read()
            assert messages == [b"first", b"second", b"third"]
            await answered.wait()
        await ws.abort()
    assert client_frames(bytes(received)) == [(PONG, b"hb")]


@pytest.mark.anyio
async def test_a_refusal_whose_body_arrives_after_the_head() -> None:
    async def handle(stream: anyio.abc.SocketStream) -> None:
        request = bytearray()
        while b"\r\n\r\n" not in request:
            request += await stream.receive()
        await stream.send(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 11\r\n\r\nnot")
        await anyio.sleep(0.05)
        await stream.send(b" for you")

    async with serving(handle) as url:
        with anyio.fail_after(5), pytest.raises(HandshakeRejected) as refused:
            await connect(url, {})
    assert (refused.value.status, refused.value.body) == (403, "not for you")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("ending", "code", "written_back"),
    [
        (close_frame(1001, "going away"), 1001, [(CLOSE, struct.pack("!H", 1001))]),
        (bytes([0x81, 127]) + (10**9).to_bytes(8, "big"), None, [(CLOSE, struct.pack("!H", 1009))]),
    ],
    ids=["close-frame", "oversize-header"],
)
async def test_a_close_is_reported_at_once_though_the_server_keeps_tcp_open(
    ending: bytes, code: int | None, written_back: list[tuple[int, bytes]]
) -> None:
    # The reader learns of the close when the frame arrives; only aclose() waits for
    # the server's EOF, for close_timeout.
    received = bytearray()

    async def handle(stream: anyio.abc.SocketStream) -> None:
        await stream.send(await _upgrade_head(stream) + raw(TEXT, b"last") + ending)
        with anyio.move_on_after(5), suppress(anyio.EndOfStream, anyio.BrokenResourceError):
            while True:
                received.extend(await stream.receive())  # never closes TCP itself

    async with serving(handle) as url:
        with anyio.fail_after(3):
            ws = await connect(url, {})
            assert await ws.read() == [b"last"]
            with pytest.raises(WebSocketClosed) as closed:
                await ws.read()
            await ws.aclose(close_timeout=0.2)
    assert closed.value.code == code
    assert client_frames(bytes(received))[: len(written_back)] == written_back
