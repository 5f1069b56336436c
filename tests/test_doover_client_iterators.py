"""``iter_messages`` end to end: exact in both directions, lazy, and safe to abandon."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

import pytest
from doover_client_support import CHANNEL, api_requests, client_options

from pydoover_anyio.client import AsyncDataClient, AsyncMessageIterator
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.snowflake import snowflake_to_ms

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin", "doover_client_fixtures"]

pytestmark = pytest.mark.anyio


@pytest.fixture
def ids(emu: DooverEmulator, agent: int, channel: str) -> list[int]:
    """Eleven messages from the last minute, oldest first."""
    first_ms = time.time_ns() // 1_000_000 - 60_000
    data = [{"n": i} for i in range(11)]
    return emu.state.add_messages(agent, channel, data, first_ms=first_ms, step_ms=5)


def queries(emu: DooverEmulator) -> list[dict[str, str]]:
    return [dict(parse_qsl(r.query)) for r in api_requests(emu)]


async def test_backward_from_now_always_sends_before(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str, ids: list[int]
) -> None:
    iterator = client.iter_messages(agent, channel, page_size=4)
    assert isinstance(iterator, AsyncMessageIterator)
    assert [m.id async for m in iterator] == ids[::-1]
    sent = queries(emu)
    assert all("before" in q for q in sent)
    assert snowflake_to_ms(int(sent[0]["before"])) > snowflake_to_ms(ids[-1])
    assert [q["before"] for q in sent[1:]] == [str(ids[7]), str(ids[3]), str(ids[0])]
    assert {q["limit"] for q in sent} == {"4"}
    assert len(sent) == 4  # three pages, then an empty one ends it


async def test_backward_between_bounds(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str, ids: list[int]
) -> None:
    got = await client.iter_messages(
        agent, channel, before=ids[9], after=ids[2], page_size=3
    ).collect()
    assert [m.id for m in got] == ids[3:9][::-1]
    assert all(q["after"] == str(ids[2]) for q in queries(emu))


async def test_forward_when_only_after_is_given(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str, ids: list[int]
) -> None:
    got = await client.iter_messages(agent, channel, after=ids[1], page_size=4).collect()
    assert [m.id for m in got] == ids[2:]
    sent = queries(emu)
    assert all("before" not in q for q in sent)
    assert [q["after"] for q in sent] == [str(ids[1]), str(ids[5]), str(ids[9]), str(ids[10])]


async def test_field_names_and_organisation_are_sent(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str, ids: list[int]
) -> None:
    got = await client.iter_messages(
        agent, channel, field_names=["n"], organisation_id=5, page_size=20
    ).collect()
    assert len(got) == 11
    request = api_requests(emu)[0]
    assert request.headers["x-doover-organisation"] == "5"
    assert ("field_name", "n") in parse_qsl(request.query)


async def test_pages_are_fetched_lazily_and_the_iterator_can_be_abandoned(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str, ids: list[int]
) -> None:
    iterator = client.iter_messages(agent, channel, page_size=3)
    assert api_requests(emu) == []
    first = await iterator.__anext__()
    assert first.id == ids[-1]
    assert len(api_requests(emu)) == 1
    await iterator.aclose()
    assert [m async for m in iterator] == []
    assert len(api_requests(emu)) == 1
    async for _ in client.iter_messages(agent, channel, page_size=2):
        break
    assert (await client.fetch_channel(agent, channel)).name == channel


async def test_messages_added_meanwhile_are_not_duplicated(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str, ids: list[int]
) -> None:
    seen = []
    async for message in client.iter_messages(agent, channel, page_size=2):
        seen.append(message.id)
        emu.state.add_message(agent, channel, {"late": True})
    assert seen == ids[::-1]


async def test_a_server_cap_below_page_size_does_not_end_early(agent: int) -> None:
    from pydoover_anyio.emulator import DooverEmulator as Emulator

    with Emulator(max_limit=3) as emu:
        emu.state.create_channel(emu.default_agent_id, CHANNEL)
        made = emu.state.add_messages(emu.default_agent_id, CHANNEL, [{"n": i} for i in range(10)])
        async with AsyncDataClient(emu.url, token=emu.token, **client_options()) as client:
            backward = client.iter_messages(emu.default_agent_id, CHANNEL, page_size=50)
            assert [m.id for m in await backward.collect()] == made[::-1]
            forward = client.iter_messages(emu.default_agent_id, CHANNEL, after=0, page_size=50)
            assert [m.id for m in await forward.collect()] == made


async def test_page_size_must_be_positive(client: AsyncDataClient, agent: int) -> None:
    with pytest.raises(ValueError, match="page_size"):
        client.iter_messages(agent, CHANNEL, page_size=0)
