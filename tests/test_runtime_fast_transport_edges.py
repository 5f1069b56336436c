"""``AnyioHTTPTransport`` where servers are sloppy or callers unusual: ``Connection: close``
on a 1xx or in a trailer, bytes after a closing response, a body cut by a reset, HTTP/1.0,
``httpx.Limits`` extremes, closing mid-download, slow upload sources and stale pooled
connections. Each case is checked against httpx's own transport where they should agree."""

from __future__ import annotations

import socket
import struct
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from anyio.abc import SocketAttribute, SocketStream
from raw_http_support import Handler, client, ok, respond, serve

from pydoover_anyio.runtime import AnyioHTTPTransport, Request, RetryPolicy, Transport

pytestmark = pytest.mark.anyio


def answering(answer: bytes, *, keep_open: bool = True) -> Handler:
    """A handler that answers every request with ``answer``."""

    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        await stream.send(answer)
        return keep_open

    return handler


async def both_agree(handler: Handler, path: str = "/") -> tuple[httpx.Response, httpx.Response]:
    """The response of httpx's own transport, then ours, to a GET of ``path``."""
    async with serve(handler) as server:
        url = f"http://127.0.0.1:{server.port}{path}"
        async with httpx.AsyncClient() as reference:
            theirs = await reference.get(url)
        async with client() as http:
            mine = await http.get(url)
    return theirs, mine


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(respond(b"abc", extra="Connection: close\r\n") + b"junk", id="close"),
        pytest.param(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabcdef", id="http-1.0"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\n\r\nxx",
            id="chunked-close",
        ),
    ],
)
async def test_bytes_after_a_closing_response_leave_it_as_it_was(answer: bytes) -> None:
    theirs, mine = await both_agree(answering(answer, keep_open=False))
    assert theirs.content == mine.content == b"abc"


async def test_a_1xx_saying_close_does_not_end_the_exchange() -> None:
    answer = b"HTTP/1.1 100 Continue\r\nConnection: close\r\n\r\n" + respond(b"final")
    theirs, mine = await both_agree(answering(answer))
    assert theirs.content == mine.content == b"final"


async def test_trailers_are_dropped_even_content_length() -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nTrailer: Content-Length\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\nContent-Length: 99\r\n\r\n"
    )
    theirs, mine = await both_agree(answering(answer))
    assert theirs.content == mine.content == b"abc"


async def test_a_trailer_saying_close_leaves_the_connection_usable() -> None:
    """As in h11, only the head decides keep-alive: the POST that follows on the same
    connection is answered, and it is sent once."""
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\nConnection: close\r\n\r\n"
    )
    methods: list[bytes] = []

    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        methods.append(head.split(b" ")[0])
        await stream.send(chunked if methods[-1] == b"GET" else respond(b"created"))
        return True

    async with serve(handler) as server, client() as http:
        url = f"http://127.0.0.1:{server.port}/"
        assert (await http.get(url)).content == b"abc"
        assert (await http.post(url, content=b"x")).content == b"created"
    assert methods == [b"GET", b"POST"]
    assert server.connections == 1


@pytest.mark.parametrize("buffer_limit", [64 * 1024, 1], ids=["buffered", "streamed"])
async def test_a_close_delimited_body_cut_by_a_reset_is_a_read_error(buffer_limit: int) -> None:
    """Only an orderly close ends a body without framing: a reset is a failure, never a
    truncated body passed off as complete."""

    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        await stream.send(b"HTTP/1.1 200 OK\r\n\r\npart-of-the-body")
        await anyio.sleep(0.3)  # the client has read it and waits for more
        raw = stream.extra(SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return False  # closing now sends a reset

    async with serve(handler) as server:
        url = f"http://127.0.0.1:{server.port}/"
        async with httpx.AsyncClient() as reference:
            with pytest.raises(httpx.ReadError):
                await reference.get(url)
        async with client(buffer_limit=buffer_limit) as http:
            with pytest.raises(httpx.ReadError):
                await http.get(url)


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc", id="length"),
        pytest.param(b"HTTP/1.0 200 OK\r\n\r\nabc", id="close-delimited"),
    ],
)
async def test_the_response_reports_its_http_version(answer: bytes) -> None:
    theirs, mine = await both_agree(answering(answer, keep_open=False))
    assert theirs.http_version == "HTTP/1.0"
    assert mine.http_version == "HTTP/1.0"
    assert mine.content == b"abc"
    _, current = await both_agree(answering(respond(b"abc")))
    assert current.http_version == "HTTP/1.1"


@pytest.mark.parametrize(
    "limits",
    [httpx.Limits(max_keepalive_connections=0), httpx.Limits(keepalive_expiry=0)],
    ids=["no-idle-connections", "no-keep-alive-time"],
)
async def test_limits_that_turn_keep_alive_off_are_honoured(limits: httpx.Limits) -> None:
    connections = {}
    for http in ("httpx", "auto"):
        async with serve(ok) as server:
            transport = Transport(f"http://127.0.0.1:{server.port}", http=http, limits=limits)
            assert transport.fast_path == (http == "auto")
            for _ in range(3):
                await transport.send(Request("GET", "item"))
            await transport.aclose()
            connections[http] = server.connections
    assert connections == {"httpx": 3, "auto": 3}


async def test_no_connection_limit_means_none() -> None:
    wanted = 101  # one more than the fast transport's own default limit
    everyone_in = anyio.Event()

    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        if n == wanted:
            everyone_in.set()
        with anyio.fail_after(5):
            await everyone_in.wait()
        await stream.send(respond(b"x"))
        return True

    async with serve(handler) as server:
        transport = Transport(
            f"http://127.0.0.1:{server.port}",
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
            timeout=httpx.Timeout(10.0, pool=1.0),
            retry=RetryPolicy(max_retries=0),
        )
        assert transport.fast_path
        answered: list[int | str] = []

        async def one() -> None:
            try:
                answered.append((await transport.send(Request("GET", "item"))).status_code)
            except httpx.HTTPError as exc:  # one assertion below, not 100 tracebacks
                answered.append(type(exc).__name__)

        async with anyio.create_task_group() as group:
            for _ in range(wanted):
                group.start_soon(one)
        await transport.aclose()
    assert answered == [200] * wanted


async def test_a_download_still_running_when_the_client_closes_closes_its_connection() -> None:
    big = b"z" * 300_000

    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(big) + big[:1000])
        await anyio.sleep(0.2)
        await stream.send(big[1000:])
        return True

    async with serve(handler) as server:
        http = client()
        async with http.stream("GET", f"http://127.0.0.1:{server.port}/") as response:
            chunks = response.aiter_bytes()
            received = len(await chunks.__anext__())
            await http.aclose()  # e.g. the application shuts down mid-download
            async for chunk in chunks:
                received += len(chunk)
        assert received == len(big)
        with anyio.fail_after(5):
            await server.wait_finished(1)
        assert server.connections == server.finished == 1


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
async def test_the_write_timeout_bounds_writes_not_the_body_source(framing: str) -> None:
    async def source() -> AsyncIterator[bytes]:
        yield b"a" * 10
        await anyio.sleep(0.6)  # twice the write timeout: a live feed, a slow disk
        yield b"b" * 10

    headers = {"Content-Length": "20"} if framing == "content-length" else {}
    timeout = httpx.Timeout(5.0, write=0.3)
    async with serve(ok) as server:
        url = f"http://127.0.0.1:{server.port}/upload"
        async with httpx.AsyncClient(timeout=timeout) as reference:
            theirs = await reference.post(url, content=source(), headers=headers)
        async with httpx.AsyncClient(transport=AnyioHTTPTransport(), timeout=timeout) as http:
            mine = await http.post(url, content=source(), headers=headers)
    assert theirs.status_code == mine.status_code == 200
    assert mine.content.startswith(b"echo:/upload:")


async def test_a_request_on_a_stale_connection_is_repeated_on_a_new_one() -> None:
    """Two pooled connections both went stale: the repeat must not take the second."""
    served: set[int] = set()

    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        if id(stream) in served:
            return False  # took a second request and closes unanswered
        served.add(id(stream))
        if n <= 2:
            await anyio.sleep(0.2)  # the first two requests need two connections
        await stream.send(respond(b"warm" if n <= 2 else b"fresh"))
        return True

    async with serve(handler) as server, client() as http:
        url = f"http://127.0.0.1:{server.port}/"
        async with anyio.create_task_group() as group:
            for _ in range(2):
                group.start_soon(http.get, url)
        assert server.connections == 2
        assert (await http.get(url)).content == b"fresh"
        assert server.connections == 3
