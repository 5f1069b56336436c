"""Channel and data-series methods of AsyncDataClient, end to end against the emulator."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from doover_client_support import api_requests

from pydoover_anyio.client import AsyncDataClient
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.errors import BadRequestError, HTTPError
from pydoover_anyio.models import Channel

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin", "doover_client_fixtures"]

pytestmark = pytest.mark.anyio


async def test_create_fetch_and_list(
    emu: DooverEmulator, client: AsyncDataClient, agent: int
) -> None:
    schema = {"type": "object", "properties": {"rpm": {"type": "number"}}}
    channel_id = await client.create_channel(
        agent, "pump_log", is_private=True, message_schema=schema, history_since=0, default_ttl=60
    )
    assert isinstance(channel_id, int)
    fetched = await client.fetch_channel(agent, "pump_log")
    assert isinstance(fetched, Channel)
    assert fetched.id == channel_id
    assert fetched.owner_id == agent
    assert fetched.is_private is True
    assert fetched.message_schema == schema
    assert fetched.aggregate is not None
    listed = await client.list_channels(
        agent, include_aggregate=False, include_daily_summaries=False
    )
    assert {c.name for c in listed} == {"notifications", "pump_log"}
    assert all(c.aggregate is None for c in listed)
    create, fetch, listing = api_requests(emu)
    assert create.method == "POST"
    assert create.path == f"/api/agents/{agent}/channels/pump_log"
    assert create.json() == {
        "is_private": True,
        "message_schema": schema,
        "history_since": 0,
        "default_ttl": 60,
    }
    assert fetch.query == "include_aggregate=true"
    assert listing.query == "include_aggregate=false&include_daily_summaries=false"


async def test_create_sends_only_what_was_given(
    emu: DooverEmulator, client: AsyncDataClient, agent: int
) -> None:
    await client.create_channel(agent, "plain")
    (request,) = api_requests(emu)
    assert request.json() == {"is_private": False}


async def test_creating_an_existing_channel_is_a_conflict(
    client: AsyncDataClient, agent: int, channel: str
) -> None:
    with pytest.raises(HTTPError) as caught:
        await client.create_channel(agent, channel)
    assert caught.value.status == 409


async def test_put_channel_creates_then_replaces(
    emu: DooverEmulator, client: AsyncDataClient, agent: int
) -> None:
    created = await client.put_channel(
        agent, "settings", False, aggregate_schema={"type": "object"}
    )
    assert created.name == "settings"
    assert created.aggregate_schema == {"type": "object"}
    replaced = await client.put_channel(agent, "settings", True)
    assert replaced.is_private is True
    assert [r.method for r in api_requests(emu)] == ["PUT", "PUT"]


async def test_archive_hides_and_unarchive_restores(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    assert await client.archive_channel(agent, channel) is None
    assert channel not in {c.name for c in await client.list_channels(agent)}
    assert await client.unarchive_channel(agent, channel) is None
    assert channel in {c.name for c in await client.list_channels(agent)}
    requests = api_requests(emu)
    assert (requests[0].method, requests[0].path) == (
        "POST",
        f"/api/agents/{agent}/channels/{channel}/archive",
    )
    assert requests[2].path.endswith("/unarchive")


async def test_channel_names_are_escaped_in_paths(
    emu: DooverEmulator, client: AsyncDataClient, agent: int
) -> None:
    name = "site 1/pump?#%+é"
    await client.create_channel(agent, name)
    assert (await client.fetch_channel(agent, name)).name == name
    message = await client.create_message(agent, name, {"rpm": 1})
    assert message.channel.name == name
    assert name in {c.name for c in await client.list_channels(agent)}
    with pytest.raises(ValueError, match="channel name"):
        await client.fetch_channel(agent, "..")


async def test_list_data_series(emu: DooverEmulator, client: AsyncDataClient, agent: int) -> None:
    emu.state.create_channel(agent, "telemetry")
    ids = emu.state.add_messages(agent, "telemetry", [{"temp": t} for t in (20, 21, 22, 23)])
    series = await client.list_data_series(agent, "telemetry.temp", before=ids[3], limit=2)
    assert series["count"] == 2
    assert [point["value"] for point in series["results"]] == [22, 21]
    assert series["next"] == str(ids[1])
    (request,) = api_requests(emu)
    assert request.path == f"/api/agents/{agent}/data_series"
    assert parse_qsl(request.query) == [
        ("field_name", "telemetry.temp"),
        ("before", str(ids[3])),
        ("limit", "2"),
    ]


async def test_list_data_series_rejects_a_bad_field(client: AsyncDataClient, agent: int) -> None:
    with pytest.raises(BadRequestError):
        await client.list_data_series(agent, "no_dot")
