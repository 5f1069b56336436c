"""Generated responses, cut at generated points, read alike by the fast path and httpx.

Each example is a keep-alive exchange of two requests whose answers the server writes
in pieces (a read may end anywhere: inside the status line, a header, a chunk size, a
body): informational responses first, then the final one with a Content-Length or a
chunked body, with or without trailers. Both HTTP paths (and the fast path's streamed
body, past a 16-byte buffer limit, over plain TCP and over TLS) must report the same
status, headers and body as the response that was written, and reuse the connection.
The second half sends generated requests, and follows generated redirect chains,
through both paths and compares what the server receives.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from itertools import pairwise
from typing import Any

import anyio
import httpx
import hypothesis.strategies as st
import pytest
from anyio.abc import SocketStream
from hypothesis import HealthCheck, given, settings
from raw_http_support import serve, tls_contexts

from pydoover_anyio.runtime import AnyioHTTPTransport, Request, RetryPolicy, Transport

TLS = tls_contexts()
TOKENS = st.text("abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=12).filter(
    lambda name: name.strip("-") == name
)
VALUES = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,;=/:-_.\"'()",
    max_size=40,
).map(str.strip)


@st.composite
def responses(draw: Any) -> tuple[bytes, tuple[int, list[tuple[str, str]], bytes]]:
    """The bytes of one answer (1xx first, maybe) and what a client must make of it."""
    wire = b""
    for _ in range(draw(st.integers(0, 2))):
        wire += b"HTTP/1.1 %d Info\r\nx-info: %b\r\n\r\n" % (
            draw(st.sampled_from([100, 102, 103])),
            draw(VALUES).encode(),
        )
    status = draw(st.sampled_from([200, 201, 203, 206, 400, 404, 409, 500, 503]))
    headers = [("x-" + draw(TOKENS), draw(VALUES)) for _ in range(draw(st.integers(0, 5)))]
    body = draw(st.binary(max_size=3000))
    chunked = draw(st.booleans())
    if chunked:
        headers.append(("transfer-encoding", "chunked"))
        framed = b""
        rest = body
        while rest:
            size = draw(st.integers(1, max(1, len(rest))))
            framed += b"%x\r\n%b\r\n" % (size, rest[:size])
            rest = rest[size:]
        trailers = b"".join(
            b"x-trailer-%d: %b\r\n" % (i, draw(VALUES).encode())
            for i in range(draw(st.integers(0, 2)))
        )
        framed += b"0\r\n" + trailers + b"\r\n"
    else:
        headers.append(("content-length", str(len(body))))
        framed = body
    head = b"HTTP/1.1 %d Whatever\r\n" % status
    head += b"".join(b"%b: %b\r\n" % (k.encode(), v.encode()) for k, v in headers)
    return wire + head + b"\r\n" + framed, (status, headers, body)


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given points (taken modulo its length)."""
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in pairwise(points)]  # the points are distinct: no empty piece


async def each_path(base_url: str, **options: Any) -> AsyncIterator[Transport]:
    """A transport on the fast path, then one through httpx, each closed after its turn."""
    for http in ("auto", "httpx"):
        transport = Transport(base_url, http=http, **options)
        assert transport.fast_path is (http == "auto")
        try:
            yield transport
        finally:
            await transport.aclose()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("path", ["fast", "streamed", "tls", "httpx"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    answers=st.lists(responses(), min_size=2, max_size=2),
    cuts=st.lists(st.lists(st.integers(0, 10_000), max_size=6), min_size=2, max_size=2),
)
def test_answers_cut_anywhere_are_read_whole(
    backend: str,
    path: str,
    answers: list[tuple[bytes, tuple[int, list[tuple[str, str]], bytes]]],
    cuts: list[list[int]],
) -> None:
    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        for piece in pieces(answers[n - 1][0], cuts[n - 1]):
            await stream.send(piece)
            await anyio.sleep(0.0005)  # so that the client reads the pieces one by one
        return True

    async def exchange() -> None:
        server_tls, client_tls = TLS if path == "tls" else (None, None)
        async with serve(handler, tls=server_tls) as server:
            if path == "streamed":
                await read_streamed(f"http://127.0.0.1:{server.port}/x")
            elif path == "tls":  # each piece its own TLS record; a read may end inside one
                await read_streamed(f"https://127.0.0.1:{server.port}/x", client_tls)
            else:
                await read_through_transport(f"http://127.0.0.1:{server.port}")
            assert server.connections == 1

    async def read_streamed(url: str, verify: ssl.SSLContext | None = None) -> None:
        # A body beyond 16 bytes is handed over as a stream read as it is consumed.
        fast = AnyioHTTPTransport(buffer_limit=16, verify=verify or True)
        async with httpx.AsyncClient(transport=fast) as client:
            for _, (status, headers, body) in answers:
                async with client.stream("GET", url) as response:
                    content = b"".join([chunk async for chunk in response.aiter_bytes()])
                seen = list(response.headers.multi_items())
                assert (response.status_code, seen, content) == (status, headers, body)

    async def read_through_transport(base_url: str) -> None:
        transport = Transport(  # every status returned as it is, nothing retried
            base_url,
            http="auto" if path == "fast" else "httpx",
            retry=RetryPolicy(max_retries=0),
            check_response=lambda response: None,
        )
        assert transport.fast_path is (path == "fast")
        for _, (status, headers, body) in answers:
            response = await transport.send(Request("GET", "/x"))
            seen = [(k, v) for k, v in response.headers.multi_items()]
            assert (response.status_code, seen, response.content) == (status, headers, body)
        await transport.aclose()

    anyio.run(exchange, backend=backend)


#: Header names, some of them the client's own in any case, or repeated.
NAMES = st.sampled_from(
    ["X-A", "x-a", "X-B", "Accept", "accept", "User-Agent", "x-c"]
) | TOKENS.map("x-".__add__)
PATH_TEXT = st.text("abcXYZ019-._~!$&'()*+,;=:@% é/", max_size=20)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    path=PATH_TEXT,
    params=st.lists(st.tuples(PATH_TEXT, PATH_TEXT), max_size=3),
    headers=st.lists(st.tuples(NAMES, VALUES), max_size=4),
    defaults=st.dictionaries(NAMES, VALUES, max_size=3),
    content=st.none() | st.binary(max_size=200),
)
def test_generated_requests_reach_the_wire_alike(
    backend: str,
    method: str,
    path: str,
    params: list[tuple[str, str]],
    headers: list[tuple[str, str]],
    defaults: dict[str, str],
    content: bytes | None,
) -> None:
    request = Request(method, path, params=tuple(params), headers=tuple(headers), content=content)
    seen: list[bytes] = []

    async def record(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        seen.append(head + b"|" + body)
        await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        return True

    async def send_both() -> None:
        async with serve(record) as server:
            base_url = f"http://127.0.0.1:{server.port}/base/"
            async for transport in each_path(base_url, user_agent="ua/1", headers=defaults):
                await transport.send(request)

    anyio.run(send_both, backend=backend)
    assert seen[0] == seen[1]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    content=st.none() | st.binary(min_size=1, max_size=50),
    statuses=st.lists(st.sampled_from([301, 302, 303, 307, 308]), min_size=1, max_size=3),
    absolute=st.booleans(),
)
def test_redirect_chains_are_followed_alike(
    backend: str, method: str, content: bytes | None, statuses: list[int], absolute: bool
) -> None:
    seen: list[bytes] = []

    async def redirecting(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        seen.append(head + b"|" + body)
        hop = int(head.split(b" ")[1].rsplit(b"/", 1)[1])
        if hop == len(statuses):
            await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
        else:
            port = stream.extra(anyio.abc.SocketAttribute.local_port)
            where = (
                b"http://127.0.0.1:%d/hop/%d" % (port, hop + 1) if absolute else b"%d" % (hop + 1)
            )
            await stream.send(
                b"HTTP/1.1 %d Moved\r\nLocation: %b\r\nContent-Length: 0\r\n\r\n"
                % (statuses[hop], where)
            )
        return True

    results = []

    async def send_both() -> None:
        async with serve(redirecting) as server:
            async for transport in each_path(
                f"http://127.0.0.1:{server.port}/",
                follow_redirects=True,
                headers={"Authorization": "Bearer t"},
            ):
                response = await transport.send(Request(method, "hop/0", content=content))
                results.append(
                    (
                        response.status_code,
                        response.content,
                        [r.status_code for r in response.history],
                    )
                )

    anyio.run(send_both, backend=backend)
    assert results[0] == results[1] == (200, b"done", statuses)
    hops = len(statuses) + 1
    assert seen[:hops] == seen[hops:]  # each hop's request, byte for byte
