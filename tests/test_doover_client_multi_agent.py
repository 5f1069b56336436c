"""Multi-agent reads of AsyncDataClient: chunked ``agent_id`` lists, merged responses and
the exact windowed iterator, end to end against the emulator."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

import anyio
import pytest
from doover_client_support import api_requests

from pydoover_anyio.client import AGENT_CHUNK, AsyncDataClient
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.models import BatchAggregateResponse, BatchMessageResponse
from pydoover_anyio.snowflake import DOOVER_EPOCH

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin", "doover_client_fixtures"]

pytestmark = pytest.mark.anyio

HOUR_MS = 3_600_000
#: 2026-01-01T00:00:00Z
START_MS = 1_767_225_600_000


def bound(ms: int) -> int:
    return (ms - DOOVER_EPOCH) << 22


@pytest.fixture
def fleet(emu: DooverEmulator, agent: int) -> list[int]:
    """Three agents with a ``level`` channel: 10 messages each, 12 h apart, from START_MS."""
    agents = [agent, emu.state.add_agent("pump 2"), emu.state.add_agent("pump 3")]
    for offset, agent_id in enumerate(agents):
        emu.state.create_channel(agent_id, "level")
        emu.state.add_messages(
            agent_id,
            "level",
            [{"pct": i, "agent": offset} for i in range(10)],
            first_ms=START_MS + offset * 60_000,
            step_ms=12 * HOUR_MS,
        )
        emu.state.update_aggregate(
            emu.state.channel(agent_id, "level"), {"pct": offset}, replace=False
        )
    return agents


def all_ids(emu: DooverEmulator, agents: list[int]) -> list[int]:
    return sorted(
        (int(m["id"]) for a in agents for m in emu.state.messages(a, "level")), reverse=True
    )


async def test_fetch_multi_agent_messages(
    emu: DooverEmulator, client: AsyncDataClient, fleet: list[int]
) -> None:
    before, after = bound(START_MS + 48 * HOUR_MS), bound(START_MS + 12 * HOUR_MS)
    response = await client.fetch_multi_agent_messages(
        "level", fleet, before=before, after=after, limit=4, field_names=["pct"]
    )
    assert isinstance(response, BatchMessageResponse)
    assert response.count == 4
    assert [m.id for m in response.results] == [
        i for i in all_ids(emu, fleet) if after < i < before
    ][:4]
    assert response.results[0].data == {"pct": 3}
    assert response.next is not None
    (request,) = api_requests(emu)
    assert request.path == "/api/agents/channels/level/messages"
    assert parse_qsl(request.query) == [
        *(("agent_id", str(a)) for a in fleet),
        ("before", str(before)),
        ("after", str(after)),
        ("limit", "4"),
        ("field_name", "pct"),
    ]


async def test_agent_message_limit_is_sent(
    emu: DooverEmulator, client: AsyncDataClient, fleet: list[int]
) -> None:
    response = await client.fetch_multi_agent_messages(
        "level", fleet, before=bound(START_MS + 100 * HOUR_MS), agent_message_limit=1
    )
    assert sorted(m.channel.agent_id for m in response.results) == sorted(fleet)
    assert ("agent_message_limit", "1") in parse_qsl(api_requests(emu)[0].query)


async def test_agent_ids_are_sent_250_per_request_and_merged(
    emu: DooverEmulator, client: AsyncDataClient, fleet: list[int]
) -> None:
    strangers = list(range(10**15, 10**15 + 2 * AGENT_CHUNK))
    agents = [*strangers[:AGENT_CHUNK], fleet[0], *strangers[AGENT_CHUNK:], fleet[1], fleet[2]]
    window = {"before": bound(START_MS + 100 * HOUR_MS), "after": bound(START_MS + 60 * HOUR_MS)}
    response = await client.fetch_multi_agent_messages("level", agents, **window)
    single = [await client.fetch_multi_agent_messages("level", [a], **window) for a in fleet]
    assert response.count == sum(r.count for r in single)
    assert sorted(m.id for m in response.results) == sorted(m.id for r in single for m in r.results)
    chunked = api_requests(emu)[:3]
    sent = [[int(v) for k, v in parse_qsl(r.query) if k == "agent_id"] for r in chunked]
    sent.sort(key=lambda ids: agents.index(ids[0]))  # chunks are fetched concurrently
    assert [len(ids) for ids in sent] == [AGENT_CHUNK, AGENT_CHUNK, 3]
    assert [a for ids in sent for a in ids] == agents
    assert all(len(r.path) + len(r.query) < 8192 for r in chunked)

    aggregates = await client.fetch_multi_agent_aggregates("level", agents)
    assert isinstance(aggregates, BatchAggregateResponse)
    assert aggregates.count == 3
    assert {r.agent_id: r.data for r in aggregates.results} == {
        a: {"pct": i} for i, a in enumerate(fleet)
    }
    assert [r.path for r in api_requests(emu)[-3:]] == ["/api/agents/channels/level/aggregates"] * 3


async def test_fetch_multi_agent_aggregates_one_request(
    emu: DooverEmulator, client: AsyncDataClient, fleet: list[int]
) -> None:
    response = await client.fetch_multi_agent_aggregates("level", fleet[:2])
    assert [r.agent_id for r in response.results] == fleet[:2]
    assert response.results[1].aggregate.data == {"pct": 1}
    (request,) = api_requests(emu)
    assert parse_qsl(request.query) == [("agent_id", str(a)) for a in fleet[:2]]


@pytest.mark.parametrize(
    ("page_size", "agent_message_limit"), [(1, None), (4, None), (5, 2), (50, 1)]
)
async def test_iterator_is_exact_across_windows(
    emu: DooverEmulator,
    client: AsyncDataClient,
    fleet: list[int],
    page_size: int,
    agent_message_limit: int | None,
) -> None:
    before, after = bound(START_MS + 100 * HOUR_MS), bound(START_MS + 6 * HOUR_MS)
    iterator = client.iter_multi_agent_messages(
        "level",
        fleet,
        before=before,
        after=after,
        agent_message_limit=agent_message_limit,
        page_size=page_size,
    )
    got = [m.id for m in await iterator.collect()]
    assert got == [i for i in all_ids(emu, fleet) if after < i < before]
    windows = {
        (q["before"], q["after"]) for q in (dict(parse_qsl(r.query)) for r in api_requests(emu))
    }
    assert all(int(b) - int(a) <= (2 * 24 * HOUR_MS) << 22 for b, a in windows)


async def test_forward_iterator_yields_every_message_when_new_ones_arrive(
    emu: DooverEmulator, client: AsyncDataClient, agent: int
) -> None:
    # "Everything since X" up to now: a message posted meanwhile lands in the window
    # being read and must not push an older one off its page.
    emu.state.create_channel(agent, "tail")
    now = int(time.time() * 1000)
    ids = emu.state.add_messages(
        agent, "tail", [{"i": i} for i in range(5)], first_ms=now - 60_000, step_ms=1000
    )
    got: list[int] = []
    iterator = client.iter_multi_agent_messages("tail", [agent], after=ids[0] - 1, page_size=3)
    with anyio.fail_after(20):
        async for message in iterator:
            got.append(message.id)
            if len(got) == 1:
                emu.state.add_message(agent, "tail", {"new": True})
    assert got[: len(ids)] == ids
    assert len(got) == len(set(got))


async def test_iterator_chunks_agents(
    emu: DooverEmulator, client: AsyncDataClient, fleet: list[int]
) -> None:
    agents = [*range(10**15, 10**15 + AGENT_CHUNK), *fleet]
    before, after = bound(START_MS + 40 * HOUR_MS), bound(START_MS)
    got = [
        m.id
        async for m in client.iter_multi_agent_messages(
            "level", agents, before=before, after=after, page_size=3
        )
    ]
    assert got == [i for i in all_ids(emu, fleet) if after < i < before]


async def test_iterator_without_after_reads_the_two_days_below_before(
    emu: DooverEmulator, client: AsyncDataClient, fleet: list[int]
) -> None:
    before = bound(START_MS + 72 * HOUR_MS)
    got = [
        m.id
        for m in await client.iter_multi_agent_messages("level", fleet, before=before).collect()
    ]
    low = before - ((48 * HOUR_MS) << 22)
    assert got == [i for i in all_ids(emu, fleet) if low < i < before]


async def test_iterator_validates_its_arguments(client: AsyncDataClient) -> None:
    with pytest.raises(ValueError, match="page_size"):
        client.iter_multi_agent_messages("level", [1], page_size=0)
    with pytest.raises(ValueError, match="agent_message_limit"):
        client.iter_multi_agent_messages("level", [1], agent_message_limit=0)
