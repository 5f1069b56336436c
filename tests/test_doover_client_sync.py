"""``DataClient``: the blocking client, used from plain threads (no event loop anywhere)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import pytest
from doover_client_support import api_requests, client_options

from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.errors import HTTPError, NotFoundError
from pydoover_anyio.models import BatchMutationItem, File, Message
from pydoover_anyio.runtime import ClientClosedError
from pydoover_anyio.sync import DataClient

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin", "doover_client_fixtures"]


@pytest.fixture
def sync_client(emu: DooverEmulator) -> DataClient:
    with DataClient(emu.url, token=emu.token, **client_options()) as client:
        yield client


def test_calls_models_and_errors(
    emu: DooverEmulator, sync_client: DataClient, agent: int, channel: str
) -> None:
    created = sync_client.create_message(agent, channel, {"rpm": 1})
    assert isinstance(created, Message)
    assert sync_client.fetch_message(agent, channel, created.id).data == {"rpm": 1}
    with pytest.raises(NotFoundError):
        sync_client.fetch_channel(agent, "missing")
    emu.faults.fail(10, 500)
    with pytest.raises(HTTPError):
        sync_client.list_channels(agent)


def test_every_family_works_through_the_facade(
    sync_client: DataClient, agent: int, channel: str
) -> None:
    message = sync_client.create_message(
        agent, channel, {"v": 1}, files=[File("a.txt", "text/plain", 1, b"a")]
    )
    assert sync_client.fetch_message_attachment(message.attachments[0]) == b"a"
    aggregate = sync_client.update_channel_aggregate(agent, channel, {"k": 1})
    assert aggregate is not None
    assert sync_client.fetch_multi_agent_aggregates(channel, [agent]).results[0].data == {"k": 1}
    response = sync_client.batch_create_messages([BatchMutationItem(agent, channel, {"v": 2})])
    assert response.succeeded == 1
    assert len(sync_client.fetch_timeseries(agent, channel, ["v"]).results) == 2


def test_iterators_with_collect_and_early_close(
    emu: DooverEmulator, sync_client: DataClient, agent: int, channel: str
) -> None:
    ids = emu.state.add_messages(
        agent, channel, [{"n": i} for i in range(7)], first_ms=emu_now_ms() - 60_000
    )
    assert [m.id for m in sync_client.iter_messages(agent, channel, page_size=3).collect()] == ids[
        ::-1
    ]
    forward = sync_client.iter_messages(agent, channel, None, ids[0], None, 2, None)
    assert [m.id for m in forward.collect()] == ids[1:]
    multi = sync_client.iter_multi_agent_messages(channel, [agent], page_size=2)
    assert [m.id for m in multi.collect()] == ids[::-1]
    with sync_client.iter_messages(agent, channel, page_size=2) as iterator:
        assert next(iterator).id == ids[-1]
    assert list(iterator) == []
    assert sync_client.fetch_channel(agent, channel).name == channel


def test_iterators_fetch_pages_as_they_are_consumed(
    emu: DooverEmulator, sync_client: DataClient, agent: int, channel: str
) -> None:
    # As a plain loop over pydoover's iterator: no page before the first next(), one page
    # for the newest message, and read-ahead of at most about what was taken.
    emu.state.add_messages(agent, channel, [{"n": i} for i in range(100)])

    def pages() -> int:
        return sum(r.path.endswith("/messages") for r in api_requests(emu))

    before = pages()
    unused = sync_client.iter_messages(agent, channel, page_size=10)
    time.sleep(0.3)  # time enough for a reader running ahead to fetch
    assert pages() == before
    for message in unused:
        assert message.data == {"n": 99}
        break
    time.sleep(0.3)
    assert pages() == before + 1
    unused.close()
    with sync_client.iter_messages(agent, channel, page_size=10) as taken:
        first_fifteen = [next(taken) for _ in range(15)]
        time.sleep(0.3)
    assert [m.data["n"] for m in first_fifteen] == list(range(99, 84, -1))
    assert pages() - before - 1 <= 4  # 2 pages taken; at most about twice that fetched
    assert len(sync_client.iter_messages(agent, channel, page_size=10).collect()) == 100


def emu_now_ms() -> int:
    import time

    return time.time_ns() // 1_000_000


def test_eight_threads_at_once(
    emu: DooverEmulator, sync_client: DataClient, agent: int, channel: str
) -> None:
    start = threading.Barrier(8)

    def work(worker: int) -> list[int]:
        start.wait()
        made = [
            sync_client.create_message(agent, channel, {"w": worker, "i": i}).id for i in range(5)
        ]
        assert sync_client.fetch_channel(agent, channel).name == channel
        return made

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(8)))
    created = [i for ids in results for i in ids]
    assert len(set(created)) == 40
    stored = {int(m["id"]) for m in emu.state.messages(agent, channel)}
    assert stored == set(created)
    assert len(api_requests(emu)) == 48


def test_settings_are_shared_with_the_async_client(emu: DooverEmulator, agent: int) -> None:
    with DataClient(emu.url, token=emu.token, agent_id=agent, organisation_id=4) as client:
        assert client.base_url == emu.url
        assert client.agent_id == agent
        assert client.organisation_id == 4
        assert client.token == emu.token
        assert client.auth.token == emu.token
        client.organisation_id = 5
        client.list_channels(None)  # type: ignore[arg-type]
        client.set_token(emu.issue_token())
        assert client.token != emu.token
        client.agent_id = None
        with pytest.raises(ValueError, match="agent_id"):
            client.list_channels(None)  # type: ignore[arg-type]
    (request,) = api_requests(emu)
    assert request.headers["x-doover-organisation"] == "5"


def test_constructor_errors_surface_and_close_is_final(emu: DooverEmulator, agent: int) -> None:
    with pytest.raises(ValueError, match="compress"):
        DataClient(emu.url, token=emu.token, compress="br")
    client = DataClient(emu.url, token=emu.token)
    client.close()
    client.close()
    with pytest.raises(ClientClosedError):
        client.list_channels(agent)


def test_blocking_calls_from_inside_anyio_run_on_either_library(
    emu: DooverEmulator, sync_client: DataClient, agent: int
) -> None:
    """Blocking inside async code is the caller's choice; it must still work (a retry's
    backoff included), whichever library ``anyio.run`` runs."""
    expected = sync_client.list_channels(agent)

    async def main() -> list[Any]:
        emu.faults.fail(1, 503)  # the retry sleeps with anyio, on the client's own loop
        return sync_client.list_channels(agent)

    for backend in ("trio", "asyncio"):
        assert anyio.run(main, backend=backend) == expected
