"""A request the server may already have taken is never re-sent as if it had not been:
after a redirect answered it, or after a reused connection closed having taken it. Both
paths (fast and httpx), against raw servers on loopback."""

from __future__ import annotations

import anyio
import httpx
import pytest
from anyio.abc import SocketAttribute, SocketStream
from raw_http_support import Handler, deaf_server, read_request, respond, serve
from test_runtime_conformance import PATHS

from pydoover_anyio.runtime import Request, RetryPolicy, Transport

pytestmark = pytest.mark.anyio

RETRY = RetryPolicy(max_retries=2, backoff_base=0.001)


@pytest.fixture(params=PATHS)
def path(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def transport_for(path: str, port: int, **options: object) -> Transport:
    transport = Transport(
        f"http://127.0.0.1:{port}",
        http="auto" if path == "fast" else "httpx",
        **options,  # type: ignore[arg-type]
    )
    assert transport.fast_path is (path == "fast")
    return transport


async def closed_port() -> int:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port: int = listener.extra(SocketAttribute.local_port)
    await listener.aclose()
    return port


def redirecting_to(location: str, seen: list[bytes]) -> Handler:
    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        seen.append(head.split(b"\r\n")[0])
        await stream.send(respond(b"", status="303 See Other", extra=f"Location: {location}\r\n"))
        return True

    return handler


@pytest.mark.parametrize("status", ["302 Found", "303 See Other", "307 Temporary Redirect"])
async def test_a_post_redirected_where_nothing_listens_is_sent_once(path: str, status: str) -> None:
    dead = await closed_port()
    seen: list[bytes] = []

    async def created(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        seen.append(head.split(b"\r\n")[0])
        location = f"Location: http://127.0.0.1:{dead}/items/1\r\n"
        await stream.send(respond(b"", status=status, extra=location))
        return True

    async with serve(created) as server:
        transport = transport_for(path, server.port, follow_redirects=True, retry=RETRY)
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await transport.send(Request("POST", "/items", content=b'{"n": 1}'))
        await transport.aclose()
    assert seen == [b"POST /items HTTP/1.1"]
    assert "redirect, then ConnectError" in str(caught.value)


async def test_an_attempt_deadline_in_a_redirects_connect_is_a_read_timeout(path: str) -> None:
    """The redirect points at a TLS port whose handshake never ends: the deadline passes
    while connecting there, but the POST itself was answered, so it is not re-sent."""
    seen: list[bytes] = []
    with deaf_server() as tls_port:
        handler = redirecting_to(f"https://127.0.0.1:{tls_port}/r", seen)
        async with serve(handler) as server:
            transport = transport_for(
                path,
                server.port,
                follow_redirects=True,
                retry=RETRY,
                attempt_timeout=0.3,
                verify=False,
            )
            with anyio.fail_after(10), pytest.raises(httpx.ReadTimeout):
                await transport.send(Request("POST", "/items", content=b"{}"))
            await transport.aclose()
    assert seen == [b"POST /items HTTP/1.1"]


async def test_a_redirect_to_an_unparsable_host_is_a_protocol_error(path: str) -> None:
    """httpx lets its IDNA check's own error escape for such a Location."""
    async with serve(redirecting_to("http://xn--/", [])) as server:
        transport = transport_for(
            path, server.port, follow_redirects=True, retry=RetryPolicy(max_retries=0)
        )
        with pytest.raises(httpx.RemoteProtocolError, match="Invalid URL in location header"):
            await transport.send(Request("GET", "/x"))
        await transport.aclose()


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_a_request_marked_not_idempotent_is_not_repeated_on_a_fresh_connection(
    path: str, method: str
) -> None:
    """The server takes the request on the pooled connection, then closes it unanswered."""
    seen: list[bytes] = []

    async def handler(stream: SocketStream, head: bytes, body: bytes, n: int) -> bool:
        seen.append(head.split(b" ")[0])
        if n == 2:
            return False
        await stream.send(respond(b"done"))
        return True

    async with serve(handler) as server:
        transport = transport_for(path, server.port, retry=RETRY)
        await transport.send(Request("GET", "/warm"))  # leaves one pooled connection
        with pytest.raises(httpx.RemoteProtocolError):
            await transport.send(Request(method, "/charge", content=b"1", idempotent=False))
        await transport.aclose()
    assert seen == [b"GET", method.encode()]


async def test_a_delete_taken_by_a_closed_connection_then_404_is_deleted(path: str) -> None:
    """The DELETE deletes, the server goes down before answering (so the fast path's
    repeat on a fresh connection fails to connect), comes back, and answers the retry
    with 404: the delete happened, which is a 204, not a 'nothing was sent'."""
    deletes = 0
    listener = (await anyio.create_tcp_listener(local_host="127.0.0.1")).listeners[0]
    port = listener.extra(SocketAttribute.local_port)

    async def connection(stream: SocketStream) -> None:
        nonlocal deletes
        buffer = bytearray()
        async with stream:
            while (request := await read_request(stream, buffer)) is not None:
                if request[0].startswith(b"GET"):
                    await stream.send(respond(b"warm"))
                    continue
                deletes += 1
                if deletes == 1:  # deleted; down before answering
                    await listener.aclose()
                    group.start_soon(come_back)
                    return
                await stream.send(respond(b"", status="404 Not Found"))

    async def serving(current: anyio.abc.SocketListener) -> None:
        while True:
            try:
                stream = await current.accept()
            except (anyio.ClosedResourceError, OSError):
                return
            group.start_soon(connection, stream)

    async def come_back() -> None:
        nonlocal listener
        await anyio.sleep(0.1)
        again = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=port)
        listener = again.listeners[0]
        group.start_soon(serving, listener)

    retry = RetryPolicy(max_retries=3, backoff_base=0.3, random=lambda: 1.0)
    async with anyio.create_task_group() as group:
        group.start_soon(serving, listener)
        transport = transport_for(path, port, retry=retry)
        await transport.send(Request("GET", "/warm"))
        with anyio.fail_after(10):
            response = await transport.send(Request("DELETE", "/items/1"))
        await transport.aclose()
        await listener.aclose()
        group.cancel_scope.cancel()
    assert deletes == 2
    assert response.status_code == 204
