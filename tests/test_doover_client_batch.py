"""Batch mutations of AsyncDataClient, end to end against the emulator."""

from __future__ import annotations

import pytest
from doover_client_support import api_requests

from pydoover_anyio.client import AsyncDataClient
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.models import BatchMutationItem, BatchMutationResponse
from pydoover_anyio.snowflake import SnowflakeType, generate_snowflake_id

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin", "doover_client_fixtures"]

pytestmark = pytest.mark.anyio

WHEN_MS = 1_773_578_096_789


async def test_batch_create_spans_agents_and_reports_each_item(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    other = emu.state.add_agent("other")
    emu.state.create_channel(other, "log")
    chosen = generate_snowflake_id(SnowflakeType.Message)
    items = [
        BatchMutationItem(agent, channel, {"n": 1}, timestamp=WHEN_MS, ttl=60),
        BatchMutationItem(other, "log", {"n": 2}, message_id=chosen, suppress_hooks=True),
        BatchMutationItem(agent, "missing", {"n": 3}),
    ]
    response = await client.batch_create_messages(items)
    assert isinstance(response, BatchMutationResponse)
    assert (response.count, response.succeeded, response.failed) == (3, 2, 1)
    assert [r.success for r in response.items] == [True, True, False]
    assert response.items[1].message_id == chosen
    assert response.items[2].error
    assert [f.channel_name for f in response.failures] == ["missing"]
    (request,) = api_requests(emu)
    assert (request.method, request.path) == ("POST", "/api/agents/messages")
    assert request.json() == {"items": [item.to_dict() for item in items]}
    assert request.json()["items"][0] == {
        "agent_id": str(agent),
        "channel_name": channel,
        "data": {"n": 1},
        "ts": WHEN_MS,
        "ttl": 60,
    }


async def test_batch_update_and_delete(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    ids = emu.state.add_messages(agent, channel, [{"a": 1}, {"b": 1}])
    merge = await client.batch_update_messages(
        [BatchMutationItem(agent, channel, {"x": 1}, message_id=i) for i in ids]
    )
    assert merge.succeeded == 2
    assert [m["data"] for m in emu.state.messages(agent, channel)] == [
        {"a": 1, "x": 1},
        {"b": 1, "x": 1},
    ]
    replace = await client.batch_update_messages(
        [BatchMutationItem(agent, channel, {"y": 2}, message_id=ids[0])], replace_data=True
    )
    assert replace.succeeded == 1
    assert emu.state.messages(agent, channel)[0]["data"] == {"y": 2}
    deleted = await client.batch_delete_messages(
        [BatchMutationItem(agent, channel, message_id=i) for i in ids]
    )
    assert deleted.succeeded == 2
    assert emu.state.messages(agent, channel) == []
    assert [(r.method, r.path) for r in api_requests(emu)] == [
        ("PATCH", "/api/agents/messages"),
        ("PUT", "/api/agents/messages"),
        ("DELETE", "/api/agents/messages"),
    ]


async def test_batch_update_aggregates(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    await client.update_channel_aggregate(agent, channel, {"s": {"x": 1}, "k": 1})
    response = await client.batch_update_aggregates(
        [BatchMutationItem(agent, channel, {"s": {"y": 2}}, replace=["s"])]
    )
    assert response.succeeded == 1
    assert emu.state.aggregate(agent, channel)["data"] == {"s": {"y": 2}, "k": 1}
    request = api_requests(emu)[1]
    assert (request.method, request.path) == ("PATCH", "/api/agents/aggregates")
    assert request.json()["items"][0]["replace"] == ["s"]


@pytest.mark.parametrize("count", [0, 51])
async def test_batch_size_is_checked_before_sending(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str, count: int
) -> None:
    items = [BatchMutationItem(agent, channel, {"n": i}) for i in range(count)]
    for method in (
        client.batch_create_messages,
        client.batch_update_messages,
        client.batch_delete_messages,
        client.batch_update_aggregates,
    ):
        with pytest.raises(ValueError, match="batch"):
            await method(items)
    assert api_requests(emu) == []


async def test_fifty_items_are_accepted(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    items = [BatchMutationItem(agent, channel, {"n": i}) for i in range(50)]
    assert (await client.batch_create_messages(items)).succeeded == 50
