"""Naming the attempt deadline's timeout after the phase it stopped (through httpx's client).

The phases seen on the wire are held to the fast path's in test_runtime_conformance.py;
here: how httpcore's trace events map to phases, and that a transport which cannot report
its phase, or a client that may send another request than the one watched, keeps the
cautious ``ReadTimeout`` (a request that may have been applied is not re-sent).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest

from pydoover_anyio.runtime import Request, RetryPolicy, Transport
from pydoover_anyio.runtime._attempt_progress import AttemptProgress, Phase

pytestmark = pytest.mark.anyio


async def traced(*events: str) -> Phase:
    progress = AttemptProgress()
    for event in events:
        await progress.trace(event, {})
    return progress.phase


async def test_httpcore_events_map_to_phases() -> None:
    assert await traced() is Phase.WAITING
    assert await traced("connection.connect_tcp.started") is Phase.CONNECTING
    assert await traced("socks.connect_tcp.complete", "proxy.start_tls.started") is Phase.CONNECTING
    assert await traced("connection.retry.started") is Phase.CONNECTING
    assert await traced("http11.send_request_headers.started") is Phase.SENDING
    assert await traced("http2.send_request_body.started") is Phase.SENDING
    assert await traced("http11.send_request_body.complete") is Phase.ANSWERING
    assert await traced("http11.receive_response_headers.started") is Phase.ANSWERING


async def test_a_phase_only_moves_forward() -> None:
    # A proxy's CONNECT exchange, then the tunnel's TLS handshake: still answering.
    events = ("http11.receive_response_headers.complete", "proxy.start_tls.started")
    assert await traced(*events) is Phase.ANSWERING


async def test_closing_a_failed_response_says_nothing_and_an_unknown_event_is_answering() -> None:
    # httpcore closes the response of a request cancelled while it was being sent.
    events = ("http11.send_request_headers.started", "http11.response_closed.started")
    assert await traced(*events) is Phase.SENDING
    assert await traced("http11.something_new.started") is Phase.ANSWERING


async def stall(request: httpx.Request) -> httpx.Response:
    await anyio.sleep(5)
    return httpx.Response(200)


class HTTPTransportOfItsOwn(httpx.AsyncHTTPTransport):
    """A subclass may send differently; it is not trusted to report its phases."""


async def idle_hook(request: httpx.Request) -> None:
    return None


ONE = httpx.Limits(max_connections=1)


@asynccontextmanager
async def waiting_for_the_only_connection(
    http: httpx.AsyncClient, max_retries: int
) -> AsyncIterator[Transport]:
    """A transport over ``http`` whose one connection a request to a server that never
    answers holds; the requests after it have an attempt deadline of 0.2 s."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")  # never answers
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with http, listener, anyio.create_task_group() as group:
        transport = Transport(
            f"http://127.0.0.1:{port}", client=http, timeout=5.0,
            retry=RetryPolicy(max_retries=max_retries, backoff_base=0.001),
        )  # fmt: skip
        group.start_soon(transport.send, Request("GET", "/holds-the-only-connection"))
        await anyio.sleep(0.05)
        transport.attempt_timeout = 0.2
        yield transport
        group.cancel_scope.cancel()


@pytest.mark.parametrize(
    "client",
    [
        lambda: httpx.AsyncClient(transport=httpx.MockTransport(stall)),
        lambda: httpx.AsyncClient(transport=HTTPTransportOfItsOwn(limits=ONE)),
        lambda: httpx.AsyncClient(limits=ONE, event_hooks={"request": [idle_hook]}),
        lambda: httpx.AsyncClient(limits=ONE, auth=("user", "secret")),
    ],
    ids=["mock transport", "transport subclass", "request hook", "auth flow"],
)
async def test_a_deadline_where_the_phase_is_unknown_is_a_read_timeout(client: object) -> None:
    """A POST stopped while it waits for the only connection: nothing was sent, but
    nothing reported may also mean that nobody reports, so it counts as maybe applied
    and is not re-sent."""
    http: httpx.AsyncClient = client()  # type: ignore[operator]
    async with waiting_for_the_only_connection(http, max_retries=3) as transport:
        with anyio.fail_after(3), pytest.raises(httpx.ReadTimeout, match="attempt deadline"):
            await transport.send(Request("POST", "/publish", content=b"{}"))


async def test_a_plain_httpx_client_names_the_pool_wait(caplog: pytest.LogCaptureFixture) -> None:
    """The same POST through a client that reports its phases is re-sent until the
    attempts run out: it never left."""
    http = httpx.AsyncClient(limits=ONE)
    async with waiting_for_the_only_connection(http, max_retries=2) as transport:
        with (
            caplog.at_level(logging.INFO, logger="pydoover_anyio.runtime"),
            anyio.fail_after(3),
            pytest.raises(httpx.PoolTimeout, match="attempt deadline"),
        ):
            await transport.send(Request("POST", "/publish", content=b"{}"))
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retrying")]
    assert len(retries) == 2
    assert all("after PoolTimeout" in message for message in retries)
