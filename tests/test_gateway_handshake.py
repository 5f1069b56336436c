"""What the client does with a server's odd handshakes (a scripted server, not the
emulator): any Hello starts Identify, SessionCancelled on every Identify is backed off
from, and closes that refuse the session end the subscriptions instead of hanging."""

from __future__ import annotations

import dataclasses
import logging
import struct
import time

import anyio
import pytest
from gateway_support import (
    FAST,
    ScriptedGateway,
    gateway_only_client,
    receive,
    send,
    serve_after_identify,
)
from websockets.sync.server import ServerConnection

from pydoover_anyio import ChannelSync, EventsDropped
from pydoover_anyio.errors import DooverAPIError

pytestmark = pytest.mark.anyio


HELLOS = [
    '{"op":0,"t":"Hello"}',
    '{"op":0,"t":"Hello","d":null}',
    '{"op":0,"t":"Hello","d":"hi"}',
    '{"op":0,"t":"Hello","d":{"heartbeat_interval":41250.5}}',
    '{"op":0,"t":"Hello","d":{"heartbeat_interval":-1000}}',
    '{"op":0,"t":"Hello","d":{"heartbeat_interval":true}}',
    '{"op":0,"t":"Hello","d":{"heartbeat_interval":"20000"}}',
    '{"op":0,"t":"Hello","d":{"heartbeat_interval":1e999}}',
]


@pytest.mark.parametrize("hello", HELLOS)
async def test_any_hello_is_answered_with_identify(hello: str) -> None:
    def script(connection: ServerConnection, n: int) -> None:
        connection.send(hello)
        assert receive(connection)["op"] == 10
        serve_after_identify(connection)

    with ScriptedGateway(script) as gateway:
        async with gateway_only_client(gateway.url) as client:
            with anyio.fail_after(5):
                async with client.subscribe(1, "c") as events:
                    assert isinstance(await events.__anext__(), ChannelSync)
                    await anyio.sleep(0.3)  # keepalive rounds: none fails on the interval
        assert gateway.connections == 1


READIES = [
    {"session_id": 204119000000000004, "session_token": "t"},
    {"session_id": "s", "session_token": 5, "subscriptions": None},
]


@pytest.mark.parametrize("ready", READIES)
async def test_a_ready_with_numbers_for_ids_or_null_subscriptions_is_taken(
    ready: dict[str, object],
) -> None:
    def script(connection: ServerConnection, n: int) -> None:
        send(connection, {"op": 0, "t": "Hello", "d": {}})
        receive(connection)
        serve_after_identify(connection, ready)

    with ScriptedGateway(script) as gateway:
        async with gateway_only_client(gateway.url) as client:
            with anyio.fail_after(5):
                async with client.subscribe(1, "c") as events:
                    assert isinstance(await events.__anext__(), ChannelSync)
        assert gateway.connections == 1


@pytest.mark.parametrize("after_ready", [False, True], ids=["on-identify", "after-ready"])
async def test_session_cancelled_on_every_identify_is_backed_off_from(after_ready: bool) -> None:
    # After a Ready too: a session cancelled at once does not earn a fresh immediate retry.
    def cancel(connection: ServerConnection, n: int) -> None:
        send(connection, {"op": 0, "t": "Hello", "d": {}})
        assert receive(connection)["op"] == 10
        if after_ready:
            ready = {"session_id": str(n), "session_token": "t"}
            send(connection, {"op": 0, "t": "Ready", "d": ready})
        send(connection, {"op": 3, "d": {}})
        connection.close()

    with ScriptedGateway(cancel) as gateway:
        async with gateway_only_client(gateway.url) as client:
            client.gateway_settings = dataclasses.replace(
                FAST, reconnect_base=0.5, reconnect_cap=0.5
            )
            with anyio.move_on_after(1.5):
                async with client.subscribe(1, "c"):
                    pytest.fail("subscribed")
    # One immediate reconnect, then a backoff of 0.25 s on average (it was hundreds).
    assert 2 <= gateway.connections <= 20


def closing_with(code: int, *, keep_tcp_open: bool = False) -> ScriptedGateway:
    """Refuses every Identify with a Close ``code``; with ``keep_tcp_open`` the Close
    frame is written by hand and TCP is left for the client to close."""

    def close(connection: ServerConnection, n: int) -> None:
        send(connection, {"op": 0, "t": "Hello", "d": {}})
        receive(connection)
        if not keep_tcp_open:
            connection.close(code, "no session for you")
            return
        payload = struct.pack("!H", code) + b"no session for you"
        connection.socket.sendall(bytes([0x88, len(payload)]) + payload)
        while connection.socket.recv(65536):  # the close echo, then the client's EOF
            pass

    return ScriptedGateway(close)


async def test_open_timeout_bounds_the_connect_and_the_handshake_together() -> None:
    """A slow upgrade leaves Hello..Ready only what is left of ``open_timeout``: a Ready
    later than that (though sooner than ``open_timeout`` after the Hello) is too late."""
    open_timeout, delay = 1.5, 0.9

    def script(connection: ServerConnection, n: int) -> None:
        send(connection, {"op": 0, "t": "Hello", "d": {}})
        assert receive(connection)["op"] == 10
        if n == 1:
            time.sleep(delay)  # Ready at about 1.8 s from the connect: late
        serve_after_identify(connection)

    with ScriptedGateway(script, upgrade_delay=delay) as gateway:
        async with gateway_only_client(gateway.url) as client:
            client.gateway_settings = dataclasses.replace(FAST, open_timeout=open_timeout)
            with anyio.fail_after(10):
                async with client.subscribe(1, "c") as events:
                    assert isinstance(await events.__anext__(), ChannelSync)
        assert gateway.connections == 2


@pytest.mark.parametrize("keep_tcp_open", [False, True], ids=["closed", "tcp-kept-open"])
@pytest.mark.parametrize("code", [1008, 4000, 4004, 4999])
async def test_refusing_closes_before_ready_end_the_subscription(
    code: int, keep_tcp_open: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # A Close frame counts when it arrives, not when the server also closes TCP (it
    # used to be noticed only once open_timeout ran out, and then not as a refusal).
    caplog.set_level(logging.CRITICAL, logger="pydoover_anyio.gateway")
    with closing_with(code, keep_tcp_open=keep_tcp_open) as gateway:
        async with gateway_only_client(gateway.url) as client:
            with anyio.fail_after(5), pytest.raises(DooverAPIError) as caught:
                async with client.subscribe(1, "c"):
                    pytest.fail("subscribed")
    assert f"code {code}" in str(caught.value)
    assert "3 times in a row" in str(caught.value)
    assert gateway.connections == 3


@pytest.mark.parametrize("code", [1000, 1001, 1011, 1012])
async def test_other_closes_before_ready_are_retried(code: int) -> None:
    with closing_with(code) as gateway:
        async with gateway_only_client(gateway.url) as client:
            with anyio.move_on_after(1) as waited:
                async with client.subscribe(1, "c"):
                    pytest.fail("subscribed")
    assert waited.cancelled_caught  # still trying, no error
    assert gateway.connections > 3


async def test_a_resync_pending_when_the_subscriber_leaves_does_not_keep_reconnecting() -> None:
    """Events dropped on overflow ask for a ChannelSync; if the connection is gone by
    then and the subscriber leaves, nothing is left to keep the gateway busy."""
    channel = {"agent_id": "1", "name": "c"}

    def overflow_then_go_down(connection: ServerConnection, n: int) -> None:
        if n > 1:  # down from now on: accept, then close at once
            connection.close(1011)
            return
        send(connection, {"op": 0, "t": "Hello", "d": {}})
        receive(connection)  # Identify
        send(connection, {"op": 0, "t": "Ready", "d": {"session_id": "s", "session_token": "t"}})
        receive(connection)  # Subscribe
        sync = {"channel": channel, "aggregate": {"data": {}}}
        send(connection, {"op": 0, "s": 1, "t": "ChannelSync", "d": sync})
        for i in range(10):  # more than buffer_size=2
            message = {"id": str(100 + i), "author_id": "1", "channel": channel, "data": {}}
            send(connection, {"op": 0, "s": 2 + i, "t": "MessageCreate", "d": message})
        # Let the client read them first: closing with its frames (a ping) unread would
        # reset the connection, and a reset can discard what it had not read yet.
        time.sleep(0.1)
        connection.close(1011)

    with ScriptedGateway(overflow_then_go_down) as gateway:
        async with gateway_only_client(gateway.url) as client:
            with anyio.fail_after(5):
                async with client.subscribe(1, "c", buffer_size=2) as events:
                    await anyio.sleep(0.3)  # the first connection is gone by then
                    assert gateway.connections >= 2
                    async for event in events:
                        if isinstance(event, EventsDropped):
                            break
            await anyio.sleep(0.2)  # an attempt already under way when it left may finish
            settled = gateway.connections
            await anyio.sleep(0.5)
            assert gateway.connections == settled  # it reconnected every 10-50 ms before
