"""``DataClient.ingest()``, the sync twin, from plain threads against the emulator: puts run
on the calling thread (no round trip to the loop per item), block only on a full buffer,
and every accepted item is stored or reported exactly once (docs/ingest.md). Each test runs
with the loop thread on asyncio (``DataClient``) and on trio (the same twin on a trio
facade)."""

from __future__ import annotations

import inspect
import signal
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from doover_client_support import client_options
from fork_support import exit_code_in_fork, held_by_another_thread

from pydoover_anyio import (
    AsyncDataClient,
    BatchMutationItem,
    ClientClosedError,
    DataClient,
    snowflake_fields,
)
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.ingest import AsyncIngestor, IngestError, Ingestor, IngestStats
from pydoover_anyio.ingest._ids import LANES
from pydoover_anyio.runtime import SyncFacade, sync_wrapped_context

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin", "doover_client_fixtures"]

BATCH = "/api/agents/messages"


def eventually(condition: Callable[[], bool], seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


@pytest.fixture
def emu(doover_emulator: DooverEmulator) -> DooverEmulator:
    """A fresh emulator per test: a stall outliving its test dies with it."""
    return doover_emulator


class TrioDataClient(SyncFacade[AsyncDataClient]):
    """``DataClient.ingest`` on a trio loop thread (``DataClient`` itself runs asyncio)."""

    ingest = sync_wrapped_context(AsyncDataClient.ingest, Ingestor)

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(partial(AsyncDataClient, url, **options), backend="trio")


@pytest.fixture(params=["asyncio", "trio"])
def sync_client(emu: DooverEmulator, request: pytest.FixtureRequest) -> Iterator[DataClient]:
    kind: Any = DataClient if request.param == "asyncio" else TrioDataClient
    with kind(emu.url, token=emu.token, **client_options()) as client:
        yield client


def stored_ids(emu: DooverEmulator, agent: int, channel: str) -> list[int]:
    return [int(m["id"]) for m in emu.state.messages(agent, channel)]


def test_put_and_put_many_take_the_async_parameters() -> None:
    for name in ("put", "put_many"):
        ours = inspect.signature(getattr(Ingestor, name)).parameters
        theirs = inspect.signature(getattr(AsyncIngestor, name)).parameters
        assert [(p.name, p.kind, p.default) for p in ours.values()] == [
            (p.name, p.kind, p.default) for p in theirs.values()
        ]


def test_sync_flush_stats_and_report(
    emu: DooverEmulator, sync_client: DataClient, agent: int, channel: str
) -> None:
    with sync_client.ingest(linger=30) as ingest:
        ids = [ingest.put(agent, channel, {"seq": seq}) for seq in range(3)]
        # Counted the moment put returns, whether or not the loop has taken them yet.
        assert ingest.stats.accepted == ingest.report.accepted == 3
        ingest.flush()
        assert ingest.stats.succeeded == 3
        assert ingest.stats.buffered == 0
        assert ingest.instance_id == snowflake_fields(ids[0]).instance_id
    assert stored_ids(emu, agent, channel) == ids
    assert ingest.report.complete


def test_a_forked_child_cannot_put_into_the_parents_ingestor(
    emu: DooverEmulator, sync_client: DataClient, agent: int, channel: str
) -> None:
    with sync_client.ingest() as ingest:
        first = ingest.put(agent, channel, {"n": 0})

        def child() -> int:  # accepted there, the item would never be sent
            with pytest.raises(ClientClosedError, match="parent process"):
                ingest.put(agent, channel, {"n": 1})
            for counters in ("stats", "report"):  # not a wait for the lock held at fork
                with pytest.raises(ClientClosedError, match="parent process"):
                    getattr(ingest, counters)
            return 0

        with held_by_another_thread(ingest._ingestor._lock):  # as a put in progress holds it
            assert exit_code_in_fork(child) == 0
        assert ingest.stats.accepted == 1
        last = ingest.put(agent, channel, {"n": 2})
    assert stored_ids(emu, agent, channel) == [first, last]
    assert ingest.report.accepted == 2


def test_a_forked_child_opens_its_own_ingestor_while_the_lanes_were_locked(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    # A loop thread opening or closing an ingestor holds the registry's lock.
    def child() -> int:
        with DataClient(emu.url, token=emu.token) as client, client.ingest() as ingest:
            ingest.put(agent, channel, {"n": 1})
        return 0 if ingest.report.complete else 1

    with held_by_another_thread(LANES._lock):
        assert exit_code_in_fork(child) == 0
    assert len(stored_ids(emu, agent, channel)) == 1


def test_puts_do_not_wait_for_the_loop(
    emu: DooverEmulator, sync_client: DataClient, agent: int, channel: str
) -> None:
    release = threading.Event()
    held = threading.Event()

    def hold_the_loop() -> None:
        held.set()
        release.wait(30)

    with sync_client.ingest() as ingest:
        sync_client._loop.run_soon(hold_the_loop)
        assert held.wait(10)
        ids: list[int] = []
        producer = threading.Thread(
            target=lambda: ids.extend(ingest.put(agent, channel, {"n": n}) for n in range(300))
        )
        producer.start()
        producer.join(10)  # the loop thread is stuck: a put needing it would hang here
        done_while_held = not producer.is_alive()
        release.set()
        producer.join(10)
        assert done_while_held
        assert ingest.stats.accepted == 300
    assert sorted(stored_ids(emu, agent, channel)) == sorted(ids)
    assert ids == sorted(ids)  # "now" ids follow put order


def test_threads_putting_at_once_store_each_item_once(
    emu: DooverEmulator, sync_client: DataClient, agent: int, channel: str
) -> None:
    per_thread: dict[int, list[int]] = {}

    def produce(lane: int, ingest: Ingestor) -> None:
        per_thread[lane] = [ingest.put(agent, channel, {"t": lane, "n": n}) for n in range(400)]

    with sync_client.ingest(concurrency=4, buffer_size=100) as ingest:
        threads = [threading.Thread(target=produce, args=(lane, ingest)) for lane in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in threads)
    every = [message_id for ids in per_thread.values() for message_id in ids]
    assert len(set(every)) == 1600
    assert sorted(stored_ids(emu, agent, channel)) == sorted(every)
    assert all(ids == sorted(ids) for ids in per_thread.values())
    assert ingest.report.accepted == ingest.report.succeeded == 1600


def test_a_full_buffer_blocks_put_until_there_is_room(
    emu: DooverEmulator, sync_client: DataClient, agent: int, channel: str
) -> None:
    emu.faults.stall(1, 0.3, path=BATCH)  # the first batch: the buffer fills behind it
    buffered: list[int] = []
    with sync_client.ingest(concurrency=1, batch_size=5, buffer_size=10, linger=0) as ingest:
        ids = []
        for n in range(40):
            ids.append(ingest.put(agent, channel, {"n": n}))
            buffered.append(ingest.stats.buffered)
    assert max(buffered) == 10  # full, never more
    assert stored_ids(emu, agent, channel) == ids


def test_put_many_queues_the_items_before_a_bad_one(
    emu: DooverEmulator, sync_client: DataClient, agent: int, channel: str
) -> None:
    with sync_client.ingest() as ingest:
        ids = ingest.put_many([BatchMutationItem(agent, channel, {"n": n}) for n in range(3)])
        mine = 253600457703030816
        assert ingest.put_many([BatchMutationItem(agent, channel, {"n": 3}, message_id=mine)]) == [
            mine
        ]
        bad = [
            BatchMutationItem(agent, channel, {"n": 4}),
            BatchMutationItem(agent, channel, {"n": 5}, replace=["a"]),
        ]
        with pytest.raises(ValueError, match="replace"):
            ingest.put_many(bad)
    stored = [m["data"]["n"] for m in emu.state.messages(agent, channel)]
    assert sorted(stored) == [0, 1, 2, 3, 4]
    assert set(ids) | {mine} <= set(stored_ids(emu, agent, channel))


def test_a_put_racing_the_exit_is_stored_or_refused(
    emu: DooverEmulator, sync_client: DataClient, agent: int, channel: str
) -> None:
    ids: list[int] = []
    refused: list[ClientClosedError] = []
    started = threading.Event()

    def produce(ingest: Ingestor) -> None:
        try:
            while True:
                ids.append(ingest.put(agent, channel, {"n": len(ids)}))
                started.set()
        except ClientClosedError as exc:
            refused.append(exc)

    with sync_client.ingest() as ingest:
        producer = threading.Thread(target=produce, args=(ingest,))
        producer.start()
        assert started.wait(10)
    producer.join(10)
    assert refused
    assert "closed" in str(refused[0])
    assert ingest.report.accepted == ingest.report.succeeded == len(ids) > 0
    assert sorted(stored_ids(emu, agent, channel)) == sorted(ids)


def test_ctrl_c_in_a_put_blocked_on_a_full_buffer(
    emu: DooverEmulator, sync_client: DataClient, agent: int, channel: str
) -> None:
    emu.faults.stall(1, 3.0, path=BATCH)
    main = threading.main_thread().ident
    assert main is not None
    assert threading.current_thread() is threading.main_thread()
    accepted: list[int] = []
    ingests: list[Ingestor] = []

    def run() -> None:
        with sync_client.ingest(concurrency=1, batch_size=5, buffer_size=5, linger=0) as ingest:
            ingests.append(ingest)
            # One item in the stalled request (how many a first batch takes depends on
            # when the sender wakes), then a full buffer behind it.
            accepted.append(ingest.put(agent, channel, {"n": 0}))
            assert eventually(lambda: ingest.stats.in_flight == 1)
            for n in range(1, 6):
                accepted.append(ingest.put(agent, channel, {"n": n}))
            assert ingest.stats.buffered == 5
            timer = threading.Timer(0.2, signal.pthread_kill, args=(main, signal.SIGINT))
            timer.start()
            try:
                ingest.put(agent, channel, {"n": 6})  # blocks: no room
            finally:
                timer.join()

    with pytest.raises(KeyboardInterrupt):
        run()
    report = ingests[0].report
    assert report.accepted == 6 == len(accepted)  # the interrupted put took nothing
    assert report.accepted == report.succeeded + report.failed
    assert not report.complete


def test_after_an_internal_failure_put_and_flush_refuse(
    sync_client: DataClient, agent: int, channel: str
) -> None:
    def explode(stats: IngestStats) -> None:
        raise ZeroDivisionError("callback bug")

    ingests: list[Ingestor] = []

    def run() -> None:
        with sync_client.ingest(on_progress=explode, linger=0) as ingest:
            ingests.append(ingest)
            ingest.put(agent, channel, {"n": 1})
            with pytest.raises(ClientClosedError):
                ingest.flush()
            with pytest.raises(ClientClosedError, match="error"):
                ingest.put(agent, channel, {"n": 2})

    with pytest.raises(ZeroDivisionError):
        run()
    assert ingests[0].report.accepted == 1


def test_sync_an_exception_in_the_block_propagates_with_the_report(
    emu: DooverEmulator, sync_client: DataClient, agent: int, channel: str
) -> None:
    emu.faults.stall(1, 1.0, path=BATCH)
    ingests: list[Ingestor] = []

    def run() -> None:
        with sync_client.ingest(concurrency=1, batch_size=5, buffer_size=50, linger=0) as ingest:
            ingests.append(ingest)
            for seq in range(12):
                ingest.put(agent, channel, {"seq": seq})
            raise LookupError("boom")

    with pytest.raises(LookupError) as raised:
        run()
    report = ingests[0].report
    assert report.accepted == report.succeeded + report.failed == 12
    assert not report.complete
    assert any("ingest stopped" in note for note in raised.value.__notes__)


def test_sync_ctrl_c_in_the_block_propagates_with_the_report(
    sync_client: DataClient, agent: int, channel: str
) -> None:
    def run() -> None:
        with sync_client.ingest(linger=0) as ingest:
            ingest.put(agent, channel, {"n": 1})
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as raised:
        run()
    assert any("ingest stopped" in note for note in raised.value.__notes__)


def test_sync_failures_raise_ingest_error_at_exit(
    sync_client: DataClient, agent: int, channel: str
) -> None:
    def run() -> None:
        with sync_client.ingest() as ingest:
            ingest.put(agent, "missing", {"n": 1})
            ingest.put(agent, channel, {"n": 2})

    with pytest.raises(IngestError) as raised:
        run()
    assert raised.value.report.succeeded == 1
    assert raised.value.report.of_kind("rejected")[0].data == {"n": 1}


def test_ctrl_c_during_the_exit_flush_stops_the_ingestor_there(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    """The report is final when the KeyboardInterrupt comes out of the ``with``, and
    nothing is sent after it (the exit flush used to go on in the background)."""
    emu.faults.stall(1, 1.5, path=BATCH)
    main = threading.main_thread().ident
    assert main is not None
    timer = threading.Timer(0.3, signal.pthread_kill, args=(main, signal.SIGINT))
    ingestors: list[Ingestor] = []

    def fill(ingest: Ingestor) -> None:  # then leave the block: Ctrl-C lands in its exit
        ingestors.append(ingest)
        for n in range(20):
            ingest.put(agent, channel, {"n": n})
        timer.start()

    with DataClient(emu.url, token=emu.token, **client_options()) as client:
        with (
            pytest.raises(KeyboardInterrupt),
            client.ingest(concurrency=1, batch_size=5, buffer_size=100, linger=0) as ingest,
        ):
            fill(ingest)
        timer.join()
        report = ingestors[0].report
        stored = len(emu.state.messages(agent, channel))
        assert not report.complete
        assert report.succeeded + len(report.failures) == 20
        time.sleep(2)  # past the stall: a background flush would have sent the rest
        assert ingestors[0].report is report
        assert len(emu.state.messages(agent, channel)) == stored
