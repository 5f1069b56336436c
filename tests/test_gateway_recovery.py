"""The gateway recovering where one thing went wrong: a frame with a value out of range,
an event over ``max_message_size``, a refused Resume, a token endpoint briefly down, and
MessageCreate's wrapped form. Each must cost at most that one event, never the session."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from doover_client_support import running_emulator
from gateway_support import (
    CHANNEL,
    STEADY,
    RawConnection,
    RawGateway,
    ScriptedGateway,
    gateway_only_client,
    hello_ready_sync,
    next_of,
    receive,
    send,
    text_frame,
)
from websockets.sync.server import ServerConnection

from pydoover_anyio import AsyncDataClient, ChannelSync, GatewaySettings, MessageCreate, Reconnected
from pydoover_anyio.auth import ClientCredentialsAuth
from pydoover_anyio.emulator import DooverEmulator

pytestmark = pytest.mark.anyio


@pytest.fixture
def emu() -> Iterator[DooverEmulator]:
    yield from running_emulator(CHANNEL)


async def test_a_value_out_of_range_skips_that_frame_only(emu: DooverEmulator) -> None:
    agent = emu.default_agent_id
    async with AsyncDataClient(base_url=emu.url, token=emu.token) as client:
        client.gateway_settings = STEADY
        async with client.subscribe(agent, CHANNEL) as events:
            await next_of(events, ChannelSync)
            # last_updated in microseconds instead of milliseconds: no datetime holds it
            sync = {
                "channel": {"agent_id": str(agent), "name": CHANNEL},
                "aggregate": {"data": {}, "last_updated": 1773578096789000},
            }
            emu.gateway.inject(json.dumps({"op": 0, "t": "ChannelSync", "d": sync}))
            await client.create_message(agent, CHANNEL, {"after": 1})
            event = await next_of(events, MessageCreate)
            assert event.message.data == {"after": 1}


async def test_an_event_over_the_size_limit_costs_that_event_not_the_session(
    emu: DooverEmulator,
) -> None:
    """Resuming would replay the event and fail again for ever: the client Identifies
    afresh, says events were missed, and resynchronises."""
    agent = emu.default_agent_id
    async with AsyncDataClient(base_url=emu.url, token=emu.token) as client:
        client.gateway_settings = dataclasses.replace(STEADY, max_message_size=20_000)
        async with client.subscribe(agent, CHANNEL) as events:
            await next_of(events, ChannelSync)
            await client.create_message(agent, CHANNEL, {"big": "x" * 50_000})
            back = await next_of(events, Reconnected)
            assert (back.resumed, back.events_missed) == (False, True)
            await next_of(events, ChannelSync)
            await client.create_message(agent, CHANNEL, {"small": 1})
            event = await next_of(events, MessageCreate)
            assert event.message.data == {"small": 1}
    assert emu.gateway.connections_opened == 2


def refuses_resume(connection: ServerConnection, n: int) -> None:
    """A server that forgot every session: it refuses a Resume with a 4xxx close."""
    send(connection, {"op": 0, "t": "Hello", "d": {}})
    if receive(connection)["op"] == 11:
        connection.close(4009, "session timed out")
        return
    send(connection, {"op": 0, "t": "Ready", "d": {"session_id": str(n), "session_token": "t"}})
    while True:
        frame = receive(connection)
        if frame["op"] == 12:
            sync = {"channel": frame["d"]["channel"], "aggregate": {"data": {"n": n}}}
            send(connection, {"op": 0, "t": "ChannelSync", "d": sync})
            if n == 1:
                connection.close(1001, "going away")
                return


async def test_a_refused_resume_is_followed_by_an_identify() -> None:
    with ScriptedGateway(refuses_resume) as gateway:
        async with AsyncDataClient(
            base_url="http://127.0.0.1:1/api", token="tok", gateway_url=gateway.url
        ) as client:
            client.gateway_settings = STEADY
            async with client.subscribe(5, "c") as events:
                await next_of(events, ChannelSync)
                back = await next_of(events, Reconnected)
                assert (back.resumed, back.events_missed) == (False, True)
                sync = await next_of(events, ChannelSync)
                assert sync.aggregate.data == {"n": 3}  # 1: first session, 2: refused Resume


class FailsNextRequests(httpx.AsyncBaseTransport):
    """The emulator, except that the next ``failing`` requests cannot connect."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.failing = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.failing:
            self.failing -= 1
            raise httpx.ConnectError("network is unreachable", request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_a_token_endpoint_briefly_unreachable_at_a_reconnect_is_retried(
    emu: DooverEmulator,
) -> None:
    agent = emu.default_agent_id
    ahead = [0.0]
    transport = FailsNextRequests()
    async with httpx.AsyncClient(transport=transport) as http:
        auth = ClientCredentialsAuth(
            token=emu.issue_token(expires_in=45),
            data_base_url=emu.url,
            client_id=emu.client_id,
            client_secret=emu.client_secret,
            http_client=http,
            clock=lambda: time.time() + ahead[0],
        )
        async with auth, AsyncDataClient(base_url=emu.url, auth=auth) as client:
            client.gateway_settings = STEADY
            async with client.subscribe(agent, CHANNEL) as events:
                await next_of(events, ChannelSync)
                ahead[0] = 20.0  # the token is due for a refresh at the reconnect
                transport.failing = 1  # the outage that also dropped the connection
                emu.gateway.drop_connections()
                assert (await next_of(events, Reconnected)).resumed
                await client.create_message(agent, CHANNEL, {"after": "outage"})
                event = await next_of(events, MessageCreate)
                assert event.message.data == {"after": "outage"}
    assert transport.failing == 0


async def test_a_message_create_wrapped_as_message_is_delivered(emu: DooverEmulator) -> None:
    agent = emu.default_agent_id
    message: dict[str, Any] = {
        "id": "158915873636352805",
        "author_id": str(agent),
        "channel": {"agent_id": str(agent), "name": CHANNEL},
        "data": {"wrapped": True},
        "attachments": [],
    }
    async with AsyncDataClient(base_url=emu.url, token=emu.token) as client:
        client.gateway_settings = STEADY
        async with client.subscribe(agent, CHANNEL) as events:
            await next_of(events, ChannelSync)
            frame = {"op": 0, "t": "MessageCreate", "d": {"message": message}}
            emu.gateway.inject(json.dumps(frame))
            event = await next_of(events, MessageCreate)
            assert event.message.id == 158915873636352805
            assert event.message.data == {"wrapped": True}


@pytest.mark.parametrize("size", [0, -1, 1023])
def test_a_message_size_limit_no_frame_fits_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="max_message_size"):
        GatewaySettings(max_message_size=size)
    assert GatewaySettings(max_message_size=None).max_message_size is None


async def test_a_large_event_arriving_slowly_keeps_the_connection_alive() -> None:
    # It arrives over three ping timeouts, a few KB at a time, and no pong can overtake
    # it (one TCP stream): bytes still flowing show the connection alive.
    blob = {"blob": "x" * 200_000}

    def script(connection: RawConnection, n: int) -> None:
        channel = hello_ready_sync(connection)
        created = {"id": "1000", "author_id": "5", "channel": channel, "data": blob}
        message = {"op": 0, "t": "MessageCreate", "s": 2, "d": created}
        data = text_frame(json.dumps(message).encode())
        step = len(data) // 100
        for start in range(0, len(data), step):
            connection.sock.sendall(data[start : start + step])
            time.sleep(0.015)
        time.sleep(30)

    settings = dataclasses.replace(STEADY, ping_interval=0.25, ping_timeout=0.5)
    with RawGateway(script) as gateway:
        client = gateway_only_client(gateway.url, settings)
        async with client, client.subscribe(5, "c") as events:
            await next_of(events, ChannelSync)
            event = await next_of(events, MessageCreate, within=10)
            assert event.message.data == blob
            assert gateway.connections == 1


async def test_a_tiny_heartbeat_interval_in_hello_does_not_make_a_flood() -> None:
    heartbeats: list[float] = []

    def script(connection: ServerConnection, n: int) -> None:
        send(connection, {"op": 0, "t": "Hello", "d": {"heartbeat_interval": 0.001}})  # ms
        receive(connection)  # Identify
        send(connection, {"op": 0, "t": "Ready", "d": {"session_id": "S", "session_token": "T"}})
        while True:
            frame = receive(connection)
            if frame["op"] == 12:
                sync = {"channel": frame["d"]["channel"], "aggregate": {"data": {}}}
                send(connection, {"op": 0, "t": "ChannelSync", "d": sync})
            elif frame["op"] == 1:
                heartbeats.append(time.monotonic())
                send(connection, {"op": 2, "d": {}})

    settings = dataclasses.replace(STEADY, ping_interval=20.0, ping_timeout=20.0)
    with ScriptedGateway(script) as gateway:
        client = gateway_only_client(gateway.url, settings)
        async with client, client.subscribe(5, "c") as events:
            await next_of(events, ChannelSync)
            await anyio.sleep(1.5)
    # The first, which asks whether they are acknowledged, then one a second at most.
    assert 1 <= len(heartbeats) <= 3
