"""Connection and permission methods of AsyncDataClient end to end against the emulator,
each request compared with the one pydoover's DataClient sends for the same call."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import parse_qsl

import pytest
from doover_client_support import logged, same_call, same_request

from pydoover_anyio.client import AsyncDataClient
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.errors import NotFoundError
from pydoover_anyio.models import (
    AgentPermission,
    ChannelID,
    ConnectionDetail,
    ConnectionSubscription,
    ConnectionSubscriptionLog,
    ResourcePermission,
)
from pydoover_anyio.snowflake import snowflake_bound

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin", "doover_client_fixtures"]
pytestmark = pytest.mark.anyio

CHANNEL = "pump_status"


@pytest.fixture
def sessions(emu: DooverEmulator, agent: int) -> dict[str, int]:
    """Gateway sessions of the default agent: the seeded live default one, a closed
    default one, and a live non-default one subscribed to ``CHANNEL``."""
    state = emu.state
    with state.lock:
        state.create_channel(agent, CHANNEL)
        (seeded,) = [s for s, v in state.connections.sessions.items() if v["agent_id"] == agent]
        closed = state.connections.open(agent, default_session=True, address="10.0.0.7")
        state.connections.subscribe(closed, agent, CHANNEL)
        state.connections.close(closed)
        viewer = state.connections.open(agent, address="10.0.0.9")
        state.connections.subscribe(viewer, agent, CHANNEL)
    return {"seeded": seeded, "closed": closed, "viewer": viewer}


async def test_list_and_fetch_connections(
    emu: DooverEmulator,
    client: AsyncDataClient,
    reference: Any,
    agent: int,
    sessions: dict[str, int],
) -> None:
    live, sent = await same_call(emu, client, reference, lambda c: c.list_connections(agent))
    assert (sent.method, sent.path, sent.query) == (
        "GET",
        f"/api/agents/{agent}/wss_connections",
        "",
    )
    assert all(isinstance(c, ConnectionDetail) for c in live)
    assert {c.session_id for c in live} == {sessions["seeded"], sessions["viewer"]}

    viewer, sent = await same_call(
        emu, client, reference, lambda c: c.fetch_connection(sessions["viewer"])
    )
    assert sent.path == f"/api/connections/{sessions['viewer']}"
    assert (viewer.agent_id, viewer.default_session, viewer.address) == (agent, False, "10.0.0.9")
    (subscription,) = viewer.subscriptions
    assert subscription.channel == ChannelID(agent_id=agent, name=CHANNEL)
    assert subscription.connection_id == sessions["viewer"]
    with pytest.raises(NotFoundError):
        await client.fetch_connection(1)


async def test_connection_history(
    emu: DooverEmulator,
    client: AsyncDataClient,
    reference: Any,
    agent: int,
    sessions: dict[str, int],
) -> None:
    defaults, sent = await same_call(
        emu, client, reference, lambda c: c.fetch_connection_history(agent, True)
    )
    assert sent.path == f"/api/agents/{agent}/wss_connections/history"
    assert parse_qsl(sent.query) == [("default_connection", "true")]
    assert [c.session_id for c in defaults] == [sessions["closed"], sessions["seeded"]]

    others, sent = await same_call(
        emu, client, reference, lambda c: c.fetch_connection_history(agent, False, limit=5)
    )
    assert parse_qsl(sent.query) == [("default_connection", "false"), ("limit", "5")]
    assert [c.session_id for c in others] == [sessions["viewer"]]

    bounded, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.fetch_connection_history(
            agent, True, before=sessions["closed"], after=1, limit=1
        ),
    )
    assert parse_qsl(sent.query) == [
        ("default_connection", "true"),
        ("before", str(sessions["closed"])),
        ("after", "1"),
        ("limit", "1"),
    ]
    assert [c.session_id for c in bounded] == [sessions["seeded"]]


async def test_connection_history_datetime_bounds(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    after = dt.datetime(2025, 3, 1, 12, 30, tzinfo=dt.UTC)
    before = dt.datetime(2030, 1, 1)  # naive = UTC
    found, sent = await same_request(
        emu,
        lambda: client.fetch_connection_history(agent, True, before=before, after=after),
        lambda: reference.fetch_connection_history(
            agent, True, before=before.replace(tzinfo=dt.UTC), after=after
        ),
    )
    assert dict(parse_qsl(sent.query))["after"] == str(snowflake_bound(after))
    assert len(found) == 1


async def test_bounds_before_the_doover_epoch_are_clamped(
    emu: DooverEmulator, client: AsyncDataClient, agent: int
) -> None:
    """pydoover sends a negative id for a time before 2025 (a 400); we send 0."""
    found = await client.fetch_connection_history(agent, True, after=dt.datetime(2000, 1, 1))
    assert len(found) == 1
    (sent,) = await logged(emu, 1)
    assert dict(parse_qsl(sent.query))["after"] == "0"


async def test_default_connection_is_required(
    emu: DooverEmulator, client: AsyncDataClient, agent: int
) -> None:
    with pytest.raises(TypeError, match="default_connection"):
        await client.fetch_connection_history(agent, None)  # type: ignore[arg-type]
    assert emu.requests.entries() == []


async def test_subscription_history(
    emu: DooverEmulator,
    client: AsyncDataClient,
    reference: Any,
    agent: int,
    sessions: dict[str, int],
) -> None:
    logs, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.fetch_subscription_history(agent, agent, CHANNEL, limit=10),
    )
    assert sent.path == f"/api/agents/{agent}/wss_connections/subscriptions/history"
    query = parse_qsl(sent.query)
    assert query[0][0] == "channel"
    assert json.loads(query[0][1]) == {"agent_id": str(agent), "name": CHANNEL}
    assert query[1:] == [("limit", "10")]
    assert all(isinstance(entry, ConnectionSubscriptionLog) for entry in logs)
    assert [(e.connection_id, e.unsubscribed_at is None) for e in logs] == [
        (sessions["viewer"], True),
        (sessions["closed"], False),
    ]
    assert all(e.channel == ChannelID(agent_id=agent, name=CHANNEL) for e in logs)

    none, _ = await same_request(
        emu,
        lambda: client.fetch_subscription_history(
            agent, agent, 'a channel/with "quotes"', before=dt.datetime(2025, 6, 1)
        ),
        lambda: reference.fetch_subscription_history(
            agent, agent, 'a channel/with "quotes"', before=dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
        ),
    )
    assert none == []


async def test_channel_subscriptions(
    emu: DooverEmulator,
    client: AsyncDataClient,
    reference: Any,
    agent: int,
    sessions: dict[str, int],
) -> None:
    live, sent = await same_call(
        emu, client, reference, lambda c: c.fetch_channel_subscriptions(agent, CHANNEL)
    )
    assert sent.path == f"/api/agents/{agent}/channels/{CHANNEL}/subscriptions"
    assert all(isinstance(s, ConnectionSubscription) for s in live)
    assert [s.connection_id for s in live] == [sessions["viewer"]]
    seeded = await client.fetch_channel_subscriptions(None, "notifications")  # type: ignore[arg-type]
    assert [s.connection_id for s in seeded] == [sessions["seeded"]]


async def test_agent_permissions(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    emu.state.set_permissions(
        agent,
        is_superuser=False,
        resources=[{"permission_id": "agent:1", "permission": "0111"}],
    )
    permissions, sent = await same_call(
        emu, client, reference, lambda c: c.fetch_agent_permissions(agent)
    )
    assert (sent.method, sent.path) == ("GET", f"/api/agents/{agent}/permissions")
    assert isinstance(permissions, AgentPermission)
    assert (permissions.agent_id, permissions.is_superuser) == (agent, False)
    assert permissions.resources == [ResourcePermission(permission_id="agent:1", permission="0111")]
    assert isinstance(permissions.last_updated, int)


async def test_reads_are_retried(emu: DooverEmulator, client: AsyncDataClient, agent: int) -> None:
    emu.faults.fail(2, 503)
    assert len(await client.list_connections(agent)) == 1
    assert [r.status for r in await logged(emu, 3)] == [503, 503, 200]


async def test_missing_agent_is_a_client_error(emu: DooverEmulator) -> None:
    async with AsyncDataClient(token=emu.token, base_url=emu.url) as no_default:
        with pytest.raises(ValueError, match="agent_id"):
            await no_default.list_connections(None)  # type: ignore[arg-type]
    assert emu.requests.entries() == []
