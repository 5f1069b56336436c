"""The gateway's token handling across reconnects, and the gateway over TLS (wss://).

Each test runs on asyncio and trio. The emulator records every upgrade request with
the bearer token it carried (``emulator.gateway.upgrades``).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator

import anyio
import pytest
import trustme
from doover_client_support import running_emulator
from gateway_support import CHANNEL, STEADY, next_of

from pydoover_anyio import (
    AsyncDataClient,
    ChannelSync,
    GatewaySettings,
    MessageCreate,
    Reconnected,
)
from pydoover_anyio.auth import ClientCredentialsAuth
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.errors import DooverConnectionError

pytestmark = pytest.mark.anyio


@pytest.fixture
def emu() -> Iterator[DooverEmulator]:
    yield from running_emulator(CHANNEL)


def upgrades(emu: DooverEmulator) -> list[tuple[str | None, int]]:
    return [(u.token, u.status) for u in emu.gateway.upgrades]


# -- tokens across reconnects ------------------------------------------------------------


async def test_reconnect_refreshes_an_expiring_token_before_connecting(
    emu: DooverEmulator,
) -> None:
    agent = emu.default_agent_id
    old = emu.issue_token(expires_in=45)  # valid, and not yet within the 30 s margin
    offset = [0.0]
    auth = ClientCredentialsAuth(
        token=old,
        data_base_url=emu.url,
        client_id=emu.client_id,
        client_secret=emu.client_secret,
        clock=lambda: time.time() + offset[0],
    )
    async with auth, AsyncDataClient(base_url=emu.url, auth=auth) as client:
        client.gateway_settings = STEADY
        async with client.subscribe(agent, CHANNEL) as events:
            await next_of(events, ChannelSync)
            assert upgrades(emu) == [(old, 101)]
            assert emu.token_requests == 0

            offset[0] = 20.0  # the old token now expires within the refresh margin
            emu.revoke_token(old)  # and the server would refuse it
            emu.gateway.drop_connections()
            back = await next_of(events, Reconnected)
            assert back.resumed

            new = auth.token
            assert new is not None
            assert new != old
            # refreshed before the upgrade: the old token was never offered again
            assert upgrades(emu) == [(old, 101), (new, 101)]
            assert emu.token_requests == 1
            emu.state.add_message(agent, CHANNEL, {"after": "reconnect"})
            event = await next_of(events, MessageCreate)
            assert event.message.data == {"after": "reconnect"}


async def test_a_refused_token_is_refreshed_once_and_the_reconnect_uses_the_new_one(
    emu: DooverEmulator,
) -> None:
    agent = emu.default_agent_id
    old = emu.issue_token(expires_in=3600)
    auth = ClientCredentialsAuth(
        token=old, data_base_url=emu.url, client_id=emu.client_id, client_secret=emu.client_secret
    )
    async with auth, AsyncDataClient(base_url=emu.url, auth=auth) as client:
        client.gateway_settings = STEADY
        async with client.subscribe(agent, CHANNEL) as events:
            await next_of(events, ChannelSync)
            emu.revoke_token(old)  # revoked early: the client cannot know before it asks
            emu.gateway.drop_connections()
            await next_of(events, Reconnected)
            new = auth.token
            assert new is not None
            assert new != old
            assert upgrades(emu) == [(old, 101), (old, 401), (new, 101)]
            assert emu.token_requests == 1


# -- wss:// ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_emu(ca: trustme.CA) -> Iterator[DooverEmulator]:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    with DooverEmulator(ssl_context=server_context) as emulator:
        emulator.state.create_channel(emulator.default_agent_id, CHANNEL)
        yield emulator


async def test_subscribe_over_wss_with_a_trusted_ca(
    tls_emu: DooverEmulator, ca: trustme.CA
) -> None:
    emu, agent = tls_emu, tls_emu.default_agent_id
    assert emu.url.startswith("https://127.0.0.1:")
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    async with AsyncDataClient(base_url=emu.url, token=emu.token) as client:
        assert client.gateway_url == f"wss://127.0.0.1:{emu.port}/gateway"
        client.gateway_settings = GatewaySettings(
            ping_interval=1.0, ping_timeout=1.0, open_timeout=3.0, ssl_context=client_context
        )
        async with client.subscribe(agent, CHANNEL) as events:
            await next_of(events, ChannelSync)
            emu.state.add_message(agent, CHANNEL, {"secure": True})
            event = await next_of(events, MessageCreate)
            assert event.message.data == {"secure": True}
            await client.send_one_shot(agent, CHANNEL, {"over": "tls"})
    assert upgrades(emu) == [(emu.token, 101)]
    assert emu.gateway.violations == []


async def test_wss_verifies_the_server_certificate(tls_emu: DooverEmulator) -> None:
    emu = tls_emu
    async with AsyncDataClient(base_url=emu.url, token=emu.token) as client:
        client.gateway_settings = STEADY  # default context: the test CA is not trusted
        with anyio.fail_after(5), pytest.raises(DooverConnectionError, match="certificate"):
            async with client.subscribe(emu.default_agent_id, CHANNEL):
                pytest.fail("subscribed to a server with an untrusted certificate")
    assert emu.gateway.upgrades == []  # no upgrade request ever reached the server
