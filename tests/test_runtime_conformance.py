"""The fast path and httpx's path give the same results, on both backends.

Every test here runs once per HTTP path (``fast``: :meth:`Transport.send` straight to
``AnyioHTTPTransport``; ``httpx``: through ``httpx.AsyncClient`` with httpx's own
transport) and once per anyio backend, and asserts the same outcome, whichever path.
Where the wire itself can differ, a test sends through both paths and compares them.
"""

from __future__ import annotations

import gzip
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
import trustme
from anyio.abc import SocketStream
from raw_http_support import UPLOAD, Handler, deaf_server, respond, serve

from gps_tracker import AsyncClient as GpsClient
from gps_tracker import Config
from gps_tracker.client.exceptions import ApiConnectionError
from gps_tracker.emulator import InvoxiaEmulator
from pydoover_anyio import AsyncDataClient
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.errors import DooverConnectionError, NotFoundError
from pydoover_anyio.runtime import Request, RetryPolicy, Transport

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryPolicy(max_retries=2, backoff_base=0.001)
PATHS = ["fast", "httpx"]


class ApiError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"status {status}")
        self.status = status


class UnreachableError(Exception):
    def __init__(self, exc: httpx.RequestError, where: str) -> None:
        super().__init__(f"{where}: {type(exc).__name__}")
        self.kind = type(exc).__name__


def check(response: httpx.Response) -> None:
    if response.status_code >= 400:
        raise ApiError(response.status_code)


#: A 200 whose gzip body is not gzip.
CORRUPT_GZIP = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nJUNK"


def answering(raw: bytes) -> Handler:
    """A handler that answers every request with ``raw`` and keeps the connection."""

    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        await stream.send(raw)
        return True

    return handler


def make(path: str, base_url: str, **options: Any) -> Transport:
    options.setdefault("retry", FAST_RETRY)
    transport = Transport(
        base_url,
        http="auto" if path == "fast" else "httpx",
        check_response=check,
        map_transport_error=UnreachableError,
        **options,
    )
    assert transport.fast_path is (path == "fast")
    return transport


@pytest.fixture(params=PATHS)
def path(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def outcome(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes, int]:
    """What a caller can observe (headers without the server's Date)."""
    headers = [(k, v) for k, v in response.headers.multi_items() if k != "date"]
    return response.status_code, headers, response.content, len(response.history)


# -- the wire ---------------------------------------------------------------------------


async def test_both_paths_put_the_same_bytes_on_the_wire() -> None:
    heads: list[bytes] = []

    async def record(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        heads.append(head + b"|" + body)
        await stream.send(respond(b"{}"))
        return True

    requests = [
        Request("GET", "/agents/1/channels/a%20b/aggregate"),
        Request("GET", "items", params=(("a", "1 2"), ("a", "x"), ("b", "é&=?"))),
        Request("GET", "items", params=(("a", "1"), ("b", "2"), ("a", "3"))),  # a=1&a=3&b=2
        Request("GET", "/odd path/é/./x"),
        Request("POST", "/items/", headers=(("Content-Type", "application/json"),), content=b"{}"),
        Request("PUT", "/items/1", headers=(("user-agent", "mine"), ("X-A", "1"), ("X-A", "2"))),
        Request("DELETE", "/items/1"),
        # A caller's chunked framing is kept, for a body in memory too.
        Request("POST", "/items", headers=(("Transfer-Encoding", "chunked"),), content=b"abc"),
        Request("POST", "/items", headers=(("Content-Length", "2"),), content=b"{}"),
        # As h11 writes them: one Content-Length for equal ones, Host first, "chunked".
        Request("POST", "/items", headers=(("Content-Length", "2"),) * 2, content=b"{}"),
        Request("POST", "/items", headers=(("Content-Length", "2, 2"),), content=b"{}"),
        Request("GET", "/items", headers=(("X-A", "1"), ("Host", "other.example"))),
        Request("POST", "/items", headers=(("Transfer-Encoding", "Chunked"),), content=b"abc"),
    ]
    async with serve(record) as server:
        seen: dict[str, list[bytes]] = {}
        for path in PATHS:
            heads.clear()
            transport = make(
                path,
                f"http://127.0.0.1:{server.port}/base/",
                headers={"Authorization": "Basic x"},
                user_agent="ua/1",
            )
            for request in requests:
                await transport.send(request)
            await transport.aclose()
            seen[path] = list(heads)
    assert seen["fast"] == seen["httpx"]
    assert b"GET /base/items?a=1+2&a=x&b=%C3%A9%26%3D%3F HTTP/1.1" in seen["fast"][1]


# -- bodies -----------------------------------------------------------------------------

BIG = bytes(range(256)) * 4096  # 1 MiB


async def bodies(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
    target = head.split(b" ")[1]
    if target == b"/chunked":
        await stream.send(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
        )
    elif target == b"/gzip":
        packed = gzip.compress(b'{"zipped": true}')
        await stream.send(respond(packed, extra="Content-Encoding: gzip\r\n"))
    elif target == b"/big":
        await stream.send(respond(BIG))
    elif target == b"/204":
        await stream.send(b"HTTP/1.1 204 No Content\r\n\r\n")
    elif target == b"/304":
        await stream.send(b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n")
    elif target == b"/close":
        await stream.send(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
        return False
    elif target == b"/redirect":
        await stream.send(respond(b"", status="302 Found", extra="Location: /chunked\r\n"))
    elif target == b"/informational":  # a 1xx and the final answer in one write
        await stream.send(
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
            + respond(b"final", extra="X-Final: 1\r\n")
        )
    elif target == b"/overlong":  # more body than its Content-Length says
        await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbodyEXTRA")
        return False
    elif target == b"/twice":  # a second, unasked-for response right behind the first
        await stream.send(respond(b"first") + respond(b"", status="404 Not Found"))
        return False
    elif target == b"/trailer":  # trailers are not headers of the response
        await stream.send(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"2\r\nok\r\n0\r\nX-Trailer: 1\r\n\r\n"
        )
    elif target == b"/padded":  # whitespace around a header value is not part of it
        await stream.send(respond(b"ok", extra="X-Padded:   value \t\r\n"))
    elif target == b"/loop":
        await stream.send(respond(b"", status="307 Redirect", extra="Location: /loop\r\n"))
    elif target == b"/cookie":
        await stream.send(respond(b"set", extra="Set-Cookie: session=abc; Path=/\r\n"))
    elif target == b"/echo-cookie":
        cookie = [line for line in head.split(b"\r\n") if line.lower().startswith(b"cookie:")]
        await stream.send(respond(b"|".join(cookie)))
    else:
        await stream.send(respond(b"ok"))
    return True


@pytest.fixture
async def bodies_server() -> AsyncIterator[str]:
    async with serve(bodies) as server:
        yield f"http://127.0.0.1:{server.port}"


@pytest.mark.parametrize(
    "target",
    [
        "/chunked",
        "/gzip",
        "/big",
        "/204",
        "/304",
        "/close",
        "/redirect",
        "/informational",
        "/overlong",
        "/twice",
        "/padded",
        "/trailer",
    ],
)
async def test_responses_are_the_same(bodies_server: str, target: str) -> None:
    results = []
    for path in PATHS:
        transport = make(path, bodies_server, follow_redirects=True)
        results.append(outcome(await transport.send(Request("GET", target))))
        await transport.aclose()
    assert results[0] == results[1]
    _, _, content, _ = results[0]
    expected = {
        "/chunked": b"abcdefg",
        "/gzip": b'{"zipped": true}',
        "/big": BIG,
        "/204": b"",
        "/304": b"",
        "/close": b"until the end",
        "/redirect": b"abcdefg",
        "/informational": b"final",
        "/overlong": b"body",
        "/twice": b"first",
        "/padded": b"ok",
        "/trailer": b"ok",
    }
    assert content == expected[target]


async def test_a_redirect_not_followed_says_where_it_leads(bodies_server: str) -> None:
    seen = []
    for path in PATHS:
        transport = make(path, bodies_server)  # follow_redirects=False
        response = await transport.send(Request("GET", "/redirect"))
        assert response.status_code == 302
        assert response.next_request is not None
        seen.append((str(response.next_request.url), response.next_request.method))
        await transport.aclose()
    assert seen[0] == seen[1] == (f"{bodies_server}/chunked", "GET")


async def test_each_path_decodes_gzip_and_follows_redirects(bodies_server: str, path: str) -> None:
    transport = make(path, bodies_server, follow_redirects=True)
    response = await transport.send(Request("GET", "/gzip"))
    assert response.json() == {"zipped": True}
    redirected = await transport.send(Request("GET", "/redirect"))
    assert redirected.content == b"abcdefg"
    assert [r.status_code for r in redirected.history] == [302]
    assert str(redirected.url).endswith("/chunked")
    with pytest.raises(UnreachableError) as caught:  # the mapper sees a redirect loop too
        await transport.send(Request("GET", "/loop"))
    assert caught.value.kind == "TooManyRedirects"
    await transport.aclose()


async def test_cookies_set_by_the_server_are_sent_back(bodies_server: str, path: str) -> None:
    transport = make(path, bodies_server)
    await transport.send(Request("GET", "/cookie"))
    assert (await transport.send(Request("GET", "/echo-cookie"))).content == b"Cookie: session=abc"
    await transport.aclose()


# -- errors, retries and timeouts --------------------------------------------------------


async def test_statuses_retries_and_retry_after(path: str) -> None:
    async def flaky(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        target = head.split(b" ")[1]
        if target == b"/busy" and n % 2 == 1:
            await stream.send(respond(b"", status="429 Too Many", extra="Retry-After: 0\r\n"))
        elif target == b"/missing":
            await stream.send(respond(b"nope", status="404 Not Found"))
        elif target == b"/broken":
            await stream.send(respond(b"", status="503 Unavailable"))
        else:
            await stream.send(respond(b"ok"))
        return True

    async with serve(flaky) as server:
        transport = make(path, f"http://127.0.0.1:{server.port}")
        assert (await transport.send(Request("POST", "/busy", content=b"x"))).content == b"ok"
        assert server.requests == 2  # a 429 is re-sent even for a POST
        with pytest.raises(ApiError) as caught:
            await transport.send(Request("GET", "/missing"))
        assert caught.value.status == 404
        assert server.requests == 3  # a 404 is final
        with pytest.raises(ApiError) as caught:
            await transport.send(Request("GET", "/broken"))
        assert caught.value.status == 503
        assert server.requests == 6  # first attempt + 2 retries
        with pytest.raises(ApiError):
            await transport.send(Request("POST", "/broken", content=b"x"))
        assert server.requests == 7  # a POST is not re-sent after a 5xx
        await transport.aclose()


async def test_connection_refused_is_mapped(path: str) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    transport = make(path, f"http://127.0.0.1:{port}", retry=RetryPolicy(max_retries=0))
    with pytest.raises(UnreachableError) as caught:
        await transport.send(Request("GET", "/x"))
    assert caught.value.kind == "ConnectError"
    await transport.aclose()


async def test_read_timeout_and_attempt_deadline(path: str) -> None:
    async def silent(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        await anyio.sleep(5)
        return False

    async def drip(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):
            await anyio.sleep(0.02)
            await stream.send(b"x")
        return True

    no_retry = RetryPolicy(max_retries=0)
    async with serve(silent) as server:
        transport = make(path, f"http://127.0.0.1:{server.port}", timeout=0.1, retry=no_retry)
        with anyio.fail_after(3), pytest.raises(UnreachableError) as caught:
            await transport.send(Request("GET", "/x"))
        assert caught.value.kind == "ReadTimeout"
        await transport.aclose()
    async with serve(drip) as server:
        # Every read is quick, but the whole answer takes 2 s: the attempt deadline ends it.
        transport = make(
            path, f"http://127.0.0.1:{server.port}", timeout=1.0, attempt_timeout=0.2,
            retry=no_retry,
        )  # fmt: skip
        with anyio.fail_after(3), pytest.raises(UnreachableError) as caught:
            await transport.send(Request("GET", "/x"))
        assert caught.value.kind == "ReadTimeout"
        await transport.aclose()


async def test_a_tls_handshake_without_an_answer_is_a_connect_timeout(path: str) -> None:
    with deaf_server() as port:  # the TCP connect succeeds; nobody answers the hello
        transport = make(
            path, f"https://127.0.0.1:{port}", timeout=httpx.Timeout(5, connect=0.2),
            retry=RetryPolicy(max_retries=0),
        )  # fmt: skip
        with anyio.fail_after(3), pytest.raises(UnreachableError) as caught:
            await transport.send(Request("GET", "/x"))
        assert caught.value.kind == "ConnectTimeout"
        await transport.aclose()


async def test_an_upload_the_server_does_not_read_is_a_write_timeout(path: str) -> None:
    with deaf_server() as port:
        transport = make(
            path, f"http://127.0.0.1:{port}", timeout=httpx.Timeout(5, write=0.2),
            retry=RetryPolicy(max_retries=0),
        )  # fmt: skip
        with anyio.fail_after(3), pytest.raises(UnreachableError) as caught:
            await transport.send(Request("POST", "/upload", content=UPLOAD))
        assert caught.value.kind == "WriteTimeout"
        await transport.aclose()


async def hold(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
    """Answers with the path; ``/holds...`` and ``/download`` after 0.5 s."""
    path = head.split(b" ", 2)[1]
    if path.startswith((b"/holds", b"/download")):
        await anyio.sleep(0.5)
    await stream.send(respond(path))
    return True


@asynccontextmanager
async def one_connection_held(path: str, **options: Any) -> AsyncIterator[tuple[Transport, Any]]:
    """A transport of one connection to a ``hold`` server, and the server; a request
    holds that connection for 0.5 s from the start (the block waits for it at the end)."""
    async with serve(hold) as server:
        transport = make(
            path, f"http://127.0.0.1:{server.port}", limits=httpx.Limits(max_connections=1),
            **options,
        )  # fmt: skip
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(transport.send, Request("GET", "/holds-the-only-connection"))
                await anyio.sleep(0.05)
                yield transport, server
        finally:
            await transport.aclose()


async def test_a_full_pool_is_a_pool_timeout(path: str) -> None:
    no_retry = RetryPolicy(max_retries=0)
    timeout = httpx.Timeout(5, pool=0.1)
    async with one_connection_held(path, timeout=timeout, retry=no_retry) as (transport, _):
        with anyio.fail_after(3), pytest.raises(UnreachableError) as caught:
            await transport.send(Request("GET", "/waits"))
        assert caught.value.kind == "PoolTimeout"


# The attempt deadline, shorter than every httpx timeout here, names the phase it stopped:
# a request still waiting for a connection or connecting was not sent and may be re-sent.


async def test_the_attempt_deadline_in_the_pool_wait_is_a_pool_timeout(path: str) -> None:
    no_retry = RetryPolicy(max_retries=0)
    async with one_connection_held(path, timeout=5.0, retry=no_retry) as (transport, _):
        transport.attempt_timeout = 0.2
        with anyio.fail_after(3), pytest.raises(UnreachableError) as caught:
            await transport.send(Request("GET", "/waits"))
        assert caught.value.kind == "PoolTimeout"


async def test_the_attempt_deadline_in_a_connect_is_a_connect_timeout(path: str) -> None:
    with deaf_server() as port:  # the TCP connect succeeds; nobody answers the TLS hello
        transport = make(
            path, f"https://127.0.0.1:{port}", timeout=5.0, attempt_timeout=0.2,
            retry=RetryPolicy(max_retries=0),
        )  # fmt: skip
        with anyio.fail_after(3), pytest.raises(UnreachableError) as caught:
            await transport.send(Request("POST", "/x", content=b"{}"))
        assert caught.value.kind == "ConnectTimeout"
        await transport.aclose()


async def test_the_attempt_deadline_in_an_upload_is_a_write_timeout(path: str) -> None:
    with deaf_server() as port:
        transport = make(
            path, f"http://127.0.0.1:{port}", timeout=5.0, attempt_timeout=0.2,
            retry=RetryPolicy(max_retries=0),
        )  # fmt: skip
        with anyio.fail_after(3), pytest.raises(UnreachableError) as caught:
            await transport.send(Request("POST", "/upload", content=UPLOAD))
        assert caught.value.kind == "WriteTimeout"
        await transport.aclose()


async def test_a_post_the_attempt_deadline_stopped_in_the_pool_wait_is_sent_again(
    path: str,
) -> None:
    """It never left, so it is re-sent (a POST is not re-sent after a ReadTimeout), and
    the server gets it exactly once."""
    async with one_connection_held(path, timeout=5.0) as (transport, server):
        transport.attempt_timeout = 0.3
        with anyio.fail_after(3):
            response = await transport.send(Request("POST", "/publish", content=b"{}"))
    assert response.content == b"/publish"
    assert server.requests == 2  # the GET and one POST


async def test_open_names_the_attempt_deadline_as_send_does(path: str) -> None:
    """A download (:meth:`Transport.open`, through httpx's client on both paths)."""
    async with one_connection_held(path, timeout=5.0) as (transport, _):
        transport.attempt_timeout = 0.2
        with anyio.fail_after(3), pytest.raises(httpx.PoolTimeout):
            await transport.open(Request("GET", "/download"))
        await anyio.sleep(0.5)  # the holding request has its answer by now
        with anyio.fail_after(3), pytest.raises(httpx.ReadTimeout):
            await transport.open(Request("GET", "/download"))  # answered after 0.5 s


async def test_a_response_that_is_not_http_is_a_protocol_error(path: str) -> None:
    async def garbage(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        await stream.send(b"NOT HTTP AT ALL\r\n\r\n")
        return False

    async with serve(garbage) as server:
        transport = make(path, f"http://127.0.0.1:{server.port}", retry=RetryPolicy(max_retries=0))
        with pytest.raises(UnreachableError) as caught:
            await transport.send(Request("GET", "/x"))
        assert caught.value.kind == "RemoteProtocolError"
        await transport.aclose()


BAD_HEADERS = [
    ("X-Token", "abc\n"),  # a token read from a file, newline and all
    ("X-Token", "a\r\nX-Injected: 1"),
    ("X-Token", "a\x00b"),
    ("X-Token", " leading"),
    ("X-Token", "trailing\t"),
    ("X Token", "v"),
    ("X-Token:", "v"),
    ("X-Token\r\nX-Injected", "1"),
]


@pytest.mark.parametrize("header", BAD_HEADERS)
async def test_a_header_that_breaks_http_is_refused_before_sending(
    path: str, header: tuple[str, str]
) -> None:
    async with serve(bodies) as server:
        transport = make(path, f"http://127.0.0.1:{server.port}", retry=RetryPolicy(max_retries=0))
        # The same headers, valid, first: a head that passed must not vouch for another
        # whose lines happen to read alike ("a" then "X-Injected: 1" against one value).
        await transport.send(Request("GET", "/chunked", headers=(("X-Token", "a"),)))
        await transport.send(
            Request("GET", "/chunked", headers=(("X-Token", "a"), ("X-Injected", "1")))
        )
        with pytest.raises(UnreachableError) as caught:
            await transport.send(Request("GET", "/chunked", headers=(header,)))
        assert caught.value.kind == "LocalProtocolError"
        assert server.requests == 2  # nothing of it reached the server
        with pytest.raises(UnreachableError) as caught:
            await transport.send(Request("GE T", "/chunked"))
        assert caught.value.kind == "LocalProtocolError"
        response = await transport.send(Request("GET", "/chunked"))  # still usable
        assert response.status_code == 200
        assert server.requests == 3
        await transport.aclose()


BAD_FRAMING = [
    (("Content-Length", "5"), b"0123456789"),  # the rest would pass for another request
    (("Content-Length", "5"), b""),
    (("Content-Length", "x"), b""),
    (("Transfer-Encoding", "gzip"), b"0123456789"),
    (("Content-Length", "3, 4"), b"abc"),
]


async def test_two_transfer_encodings_are_refused_before_sending(path: str) -> None:
    # "chunked, chunked" would be de-chunked twice by a strict server (h11 refuses it).
    async with serve(bodies) as server:
        transport = make(path, f"http://127.0.0.1:{server.port}", retry=RetryPolicy(max_retries=0))
        twice = (("Transfer-Encoding", "chunked"),) * 2
        with pytest.raises(UnreachableError) as caught:
            await transport.send(Request("POST", "/chunked", headers=twice, content=b"abc"))
        assert caught.value.kind == "LocalProtocolError"
        assert server.requests == 0
        await transport.aclose()


@pytest.mark.parametrize(("header", "content"), BAD_FRAMING)
async def test_a_body_its_head_does_not_frame_is_refused(
    path: str, header: tuple[str, str], content: bytes
) -> None:
    async with serve(bodies) as server:
        transport = make(path, f"http://127.0.0.1:{server.port}", retry=RetryPolicy(max_retries=0))
        with pytest.raises(UnreachableError) as caught:
            await transport.send(Request("POST", "/chunked", headers=(header,), content=content))
        assert caught.value.kind == "LocalProtocolError"
        response = await transport.send(Request("GET", "/chunked"))  # still usable
        assert response.status_code == 200
        assert server.requests == 1  # only that one: nothing passed for a request
        await transport.aclose()


async def test_a_large_response_head_within_the_limit_is_read(path: str) -> None:
    filler = [(f"x-filler-{i}", "f" * 1000) for i in range(60)]  # a 60 KB head

    async def large_head(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        extra = "".join(f"{name}: {value}\r\n" for name, value in filler)
        await stream.send(respond(b"{}", extra=extra))
        return True

    async with serve(large_head) as server:
        transport = make(path, f"http://127.0.0.1:{server.port}")
        response = await transport.send(Request("GET", "/x"))
        assert [(k, v) for k, v in response.headers.multi_items() if k.startswith("x-")] == filler
        await transport.aclose()


async def test_a_response_head_without_end_is_a_protocol_error(path: str) -> None:
    async def endless_head(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        await stream.send(b"HTTP/1.1 200 OK\r\n")
        with anyio.move_on_after(5):  # far more than either path's limit, if it had none
            while True:
                await stream.send(b"X-Filler: " + b"f" * 1000 + b"\r\n")
        return False

    async with serve(endless_head) as server:
        transport = make(path, f"http://127.0.0.1:{server.port}", retry=RetryPolicy(max_retries=0))
        with anyio.fail_after(3), pytest.raises(UnreachableError) as caught:
            await transport.send(Request("GET", "/x"))
        assert caught.value.kind == "RemoteProtocolError"
        await transport.aclose()


async def test_a_partial_body_is_a_protocol_error(path: str) -> None:
    async def partial(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        return False

    async with serve(partial) as server:
        transport = make(path, f"http://127.0.0.1:{server.port}", retry=RetryPolicy(max_retries=1))
        with pytest.raises(UnreachableError) as caught:
            await transport.send(Request("GET", "/x"))
        assert caught.value.kind == "RemoteProtocolError"
        assert server.requests == 2  # a GET is retried once by the policy
        await transport.aclose()


# -- keep-alive and server-closed connections --------------------------------------------


async def test_keep_alive_reuses_one_connection(bodies_server: str, path: str) -> None:
    async def count(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        await stream.send(respond(b"ok"))
        return True

    async with serve(count) as server:
        transport = make(path, f"http://127.0.0.1:{server.port}")
        for _ in range(10):
            await transport.send(Request("GET", "/x"))
        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(transport.send, Request("GET", "/y"))
        assert server.requests == 18
        assert server.connections <= 8
        await transport.aclose()


async def test_a_connection_the_server_closed_while_idle_is_replaced(path: str) -> None:
    async def once(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        await stream.send(respond(b"ok"))  # keep-alive announced, then closed anyway
        return False

    async with serve(once) as server:
        transport = make(path, f"http://127.0.0.1:{server.port}", retry=RetryPolicy(max_retries=0))
        for _ in range(3):
            assert (await transport.send(Request("GET", "/x"))).content == b"ok"
            await anyio.sleep(0.05)  # the close reaches the client before the next request
        assert server.connections == 3
        await transport.aclose()


async def test_a_reused_connection_dying_unanswered(path: str) -> None:
    async def drop_second(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        if n == 2:
            return False  # read the request, close without an answer
        await stream.send(respond(b"ok"))
        return True

    async with serve(drop_second) as server:
        transport = make(path, f"http://127.0.0.1:{server.port}")
        await transport.send(Request("GET", "/warm"))
        assert (await transport.send(Request("GET", "/x"))).content == b"ok"  # repeated
        assert server.requests == 3
        await transport.aclose()
    async with serve(drop_second) as server:
        transport = make(path, f"http://127.0.0.1:{server.port}")
        await transport.send(Request("GET", "/warm"))
        with pytest.raises(UnreachableError) as caught:
            await transport.send(Request("POST", "/create", content=b"x"))  # not repeated
        assert caught.value.kind == "RemoteProtocolError"
        assert server.requests == 2
        await transport.aclose()


# -- the clients over the emulators, both paths --------------------------------------------


@pytest.fixture(scope="module")
def doover() -> Any:
    with DooverEmulator() as emulator:
        yield emulator


async def test_the_doover_client_gives_the_same_results(
    doover: DooverEmulator, anyio_backend: str
) -> None:
    agent = doover.default_agent_id
    results: dict[str, list[Any]] = {}
    for http in ("auto", "httpx"):
        channel = f"conformance-{http}-{anyio_backend}"
        async with AsyncDataClient(doover.url, token=doover.token, http=http) as client:  # type: ignore[arg-type]
            assert client._transport.fast_path is (http == "auto")
            seen: list[Any] = []
            await client.create_channel(agent, channel)
            await client.update_channel_aggregate(agent, channel, {"level": 3, "x": "y" * 500})
            seen.append((await client.fetch_channel_aggregate(agent, channel)).data)
            for seq in range(5):
                await client.create_message(agent, channel, {"seq": seq})
            messages = await client.list_messages(agent, channel, limit=3)
            seen.append([m.data for m in messages])
            seen.append([m.data async for m in client.iter_messages(agent, channel, page_size=2)])
            with pytest.raises(NotFoundError):
                await client.fetch_channel(agent, "no-such-channel")
            results[http] = seen
    assert results["auto"] == results["httpx"]
    assert results["auto"][2] == [{"seq": s} for s in reversed(range(5))]


async def test_the_gps_client_gives_the_same_results() -> None:
    with InvoxiaEmulator(locations_per_tracker=30) as emulator:
        async with GpsClient(emulator.config()) as fast:
            assert fast._transport.fast_path
            devices = await fast.get_devices()
            ours = (await fast.get_users(), devices, await fast.get_locations(devices[0]))
        async with httpx.AsyncClient() as session, GpsClient(emulator.config(), session) as slow:
            assert not slow._transport.fast_path
            devices = await slow.get_devices()
            theirs = (await slow.get_users(), devices, await slow.get_locations(devices[0]))
    assert ours == theirs


@pytest.mark.parametrize("http", ["auto", "httpx"])
async def test_a_corrupt_content_coding_is_each_clients_connection_error(http: str) -> None:
    async with serve(answering(CORRUPT_GZIP)) as server:
        url = f"http://127.0.0.1:{server.port}"
        async with AsyncDataClient(url, token="t", http=http) as doover:  # type: ignore[arg-type]
            with pytest.raises(DooverConnectionError, match="DecodingError"):
                await doover.fetch_channel(1, "c")
        session = httpx.AsyncClient() if http == "httpx" else None
        async with GpsClient(Config("u", "p", url), session) as gps:
            with pytest.raises(ApiConnectionError):
                await gps.get_users()
        if session is not None:
            await session.aclose()


# -- TLS with a private CA (verify=) ---------------------------------------------------------


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_doover(authority: trustme.CA) -> Any:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    with DooverEmulator(ssl_context=server_context) as emulator:
        yield emulator


@pytest.mark.parametrize("http", ["auto", "httpx"])
async def test_verify_trusts_a_private_ca(
    tls_doover: DooverEmulator, authority: trustme.CA, http: str, anyio_backend: str
) -> None:
    assert tls_doover.url.startswith("https://")
    context = ssl.create_default_context()
    authority.configure_trust(context)
    agent = tls_doover.default_agent_id
    async with AsyncDataClient(
        tls_doover.url,
        token=tls_doover.token,
        verify=context,
        http=http,  # type: ignore[arg-type]
    ) as client:
        assert client._transport.fast_path is (http == "auto")
        name = f"tls-{http}-{anyio_backend}"
        await client.create_channel(agent, name)
        assert (await client.fetch_channel(agent, name)).name == name
    async with AsyncDataClient(
        tls_doover.url,
        token=tls_doover.token,
        max_retries=0,
        http=http,  # type: ignore[arg-type]
    ) as client:
        with pytest.raises(DooverConnectionError):  # the system trust store refuses it
            await client.fetch_channel(agent, "anything")


async def test_tls_bodies_keep_alive_and_refusal_are_the_same(authority: trustme.CA) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    async with serve(bodies, tls=server_context) as server:
        base = f"https://127.0.0.1:{server.port}"
        results = []
        for path in PATHS:
            transport = make(path, base, verify=client_context, follow_redirects=True)
            seen = [
                outcome(await transport.send(Request("GET", target)))
                for target in ("/big", "/chunked", "/gzip", "/204", "/redirect", "/big")
            ]
            results.append(seen)
            await transport.aclose()
            refusing = make(path, base, retry=RetryPolicy(max_retries=0))
            with pytest.raises(UnreachableError) as caught:
                await refusing.send(Request("GET", "/x"))
            assert caught.value.kind == "ConnectError"
            await refusing.aclose()
        assert results[0] == results[1]
        assert results[0][0][2] == BIG
        # Two clients with one connection each (all kept alive), two refused handshakes.
        assert server.connections == 4


REFUSED_ANSWERS = {
    # llhttp would take these as chunked (a body still gzipped), or read until the close.
    "gzip-then-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    "gzip-only": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nJUNK",
    "chunked-twice": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nok\r\n0\r\n\r\n"
    ),
    "blank-line-first": b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "status-099": b"HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nok",
}


@pytest.mark.parametrize("answer", list(REFUSED_ANSWERS))
async def test_answers_h11_refuses_are_refused(path: str, answer: str) -> None:
    async with serve(answering(REFUSED_ANSWERS[answer])) as server:
        transport = make(path, f"http://127.0.0.1:{server.port}", retry=RetryPolicy(max_retries=0))
        with anyio.fail_after(5), pytest.raises(UnreachableError) as caught:
            await transport.send(Request("GET", "/"))
        assert caught.value.kind == "RemoteProtocolError"
        await transport.aclose()


async def test_a_corrupt_content_coding_reaches_the_error_mapper(path: str) -> None:
    """httpx's DecodingError is no TransportError; the mapper sees it all the same."""
    async with serve(answering(CORRUPT_GZIP)) as server:
        transport = make(path, f"http://127.0.0.1:{server.port}")
        with pytest.raises(UnreachableError) as caught:
            await transport.send(Request("GET", "/"))
        assert caught.value.kind == "DecodingError"
        assert server.requests == 1  # a complete answer: not re-sent
        await transport.aclose()


async def test_a_connection_our_request_asked_to_close_is_not_reused(path: str) -> None:
    """The server answers, then closes as asked, slowly: a request put on that
    connection meanwhile would fail, and a POST would not be retried."""

    async def honours_close(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        await stream.send(respond(b"answer %d" % n))
        if b"\r\nconnection: close" in head.lower():
            await anyio.sleep(0.2)  # reads nothing more on it
            return False
        return True

    async with serve(honours_close) as server:
        transport = make(path, f"http://127.0.0.1:{server.port}")
        await transport.send(Request("GET", "/bye", headers=(("Connection", "keep-alive, Close"),)))
        with anyio.fail_after(5):
            response = await transport.send(Request("POST", "/items", content=b"{}"))
        assert response.text == "answer 2"
        assert server.connections == 2
        await transport.aclose()
