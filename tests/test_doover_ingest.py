"""``client.ingest()`` against the emulator: batched, bounded, exactly once, nothing
dropped without a report (docs/ingest.md). Tests run on asyncio and trio; the sync twin's
are in test_doover_ingest_sync.py."""

from __future__ import annotations

import dataclasses
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import anyio
import pytest
from doover_client_support import api_requests, client_options

from pydoover_anyio import (
    AsyncDataClient,
    BatchMutationItem,
    ClientClosedError,
    DataClient,
    HTTPError,
    snowflake_fields,
    snowflake_to_ms,
)
from pydoover_anyio._emulation import Fault, FaultKind, FaultPlan
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.ingest import (
    AsyncIngestor,
    FailureKind,
    IngestError,
    IngestReport,
    IngestStats,
)

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin", "doover_client_fixtures"]

BATCH = "/api/agents/messages"
CHANNELS = ("pump_a", "pump_b", "pump_c", "pump_d")
N = 10_000
#: A stall of the response after the server stored the batch; the client gives up first.
STALL = 1.0
TIMEOUT = 0.5
#: The issue's fault mix: 5xx (some after the batch was stored), 429 with Retry-After,
#: dropped connections after storing, and timeouts after storing.
FAULT_MIX = (
    Fault(FaultKind.FAIL, status=503, after=True),
    Fault(FaultKind.FAIL, status=500),
    Fault(FaultKind.RATE_LIMIT, status=429, retry_after=0),
    Fault(FaultKind.DROP, status=200, after=True),
    Fault(FaultKind.STALL, seconds=STALL, at_byte=0),
)


@pytest.fixture
def emu(doover_emulator: DooverEmulator) -> DooverEmulator:
    """A fresh emulator per test (overrides the shared one of ``doover_client_fixtures``):
    a stalled handler that outlives its test dies with its emulator instead of turning
    up in the next test's request log."""
    return doover_emulator


def fast(**overrides: Any) -> dict[str, Any]:
    """Client options for fault runs: tiny backoff, short timeouts, enough retries."""
    return client_options(timeout=TIMEOUT, max_retries=8, **overrides)


def arm_fault_mix(emu: DooverEmulator) -> None:
    """One of each fault first (so every kind surely happens), then 5 % at random."""
    emu.faults.fail(1, 503, path=BATCH, after=True)
    emu.faults.rate_limit(1, 0, path=BATCH)
    emu.faults.drop(1, path=BATCH, after=True)
    emu.faults.stall(1, STALL, path=BATCH, at_byte=0)
    emu.faults.set_error_rate(0.05, kinds=FAULT_MIX, path=BATCH)


def create_channels(emu: DooverEmulator, agent: int, names: tuple[str, ...] = CHANNELS) -> None:
    for name in names:
        emu.state.create_channel(agent, name)


def check_exactly_once(
    emu: DooverEmulator, agent: int, returned: dict[int, tuple[str, int]], report: IngestReport
) -> None:
    """The server holds each put item once, in put order per channel, as reported."""
    stored: list[int] = []
    for name in CHANNELS:
        messages = emu.state.messages(agent, name)  # oldest (lowest id) first
        seqs = [message["data"]["seq"] for message in messages]
        assert seqs == sorted(seqs), f"{name} is out of order"
        assert len(seqs) == N // len(CHANNELS)
        for message in messages:
            assert returned[int(message["id"])] == (name, message["data"]["seq"])
        stored += [int(message["id"]) for message in messages]
    assert len(stored) == len(set(stored)) == N  # no duplicates, nothing lost
    assert set(stored) == set(returned)
    assert report.accepted == report.succeeded == N
    assert report.failures == ()
    assert report.complete
    assert emu.faults.pending == 0  # the four queued faults (one a stall) were all served
    kinds = {request.fault for request in api_requests(emu) if request.path == BATCH}
    assert {FaultKind.FAIL, FaultKind.RATE_LIMIT, FaultKind.DROP} <= kinds  # a stall is
    # logged once its handler wakes up, after the client gave up on it


def test_the_random_fault_mode_takes_faults_as_given() -> None:
    plan = FaultPlan(seed=1)
    plan.set_error_rate(1.0, kinds=FAULT_MIX[-1:], path=BATCH)  # a stall after handling
    assert plan.take(BATCH) == (0.0, FAULT_MIX[-1])
    assert plan.take("/api/agents/1/channels") == (0.0, None)


def batch_sizes(emu: DooverEmulator) -> list[int]:
    return [len(r.json()["items"]) for r in api_requests(emu) if r.path == BATCH]


# -- the acceptance test -------------------------------------------------------


@pytest.mark.anyio
async def test_ten_thousand_items_under_faults_are_stored_exactly_once_in_order(
    emu: DooverEmulator, agent: int
) -> None:
    create_channels(emu, agent)
    arm_fault_mix(emu)
    returned: dict[int, tuple[str, int]] = {}

    async def produce(ingest: Any, name: str, lane: int) -> None:
        for seq in range(lane, N, len(CHANNELS)):
            returned[await ingest.put(agent, name, {"seq": seq})] = (name, seq)

    async with (
        AsyncDataClient(emu.url, token=emu.token, **fast()) as client,
        client.ingest(concurrency=16) as ingest,
        anyio.create_task_group() as tg,
    ):
        for lane, name in enumerate(CHANNELS):  # four producers at once
            tg.start_soon(produce, ingest, name, lane)
    check_exactly_once(emu, agent, returned, ingest.report)


def test_ten_thousand_items_under_faults_through_the_sync_facade(
    emu: DooverEmulator, agent: int
) -> None:
    create_channels(emu, agent)
    arm_fault_mix(emu)
    returned: dict[int, tuple[str, int]] = {}
    with (
        DataClient(emu.url, token=emu.token, **fast()) as client,
        client.ingest(concurrency=16) as ingest,
    ):
        for seq in range(N // 2):  # one item per call ...
            name = CHANNELS[seq % len(CHANNELS)]
            returned[ingest.put(agent, name, {"seq": seq})] = (name, seq)
        items = [  # ... and the rest 500 per call
            BatchMutationItem(agent, CHANNELS[seq % len(CHANNELS)], {"seq": seq})
            for seq in range(N // 2, N)
        ]
        for start in range(0, len(items), 500):
            chunk = items[start : start + 500]
            for item, message_id in zip(chunk, ingest.put_many(chunk), strict=True):
                returned[message_id] = (item.channel_name, item.data["seq"])  # type: ignore[index]
    check_exactly_once(emu, agent, returned, ingest.report)


# -- batching, flushing, backpressure ------------------------------------------------------


@pytest.mark.anyio
async def test_items_are_coalesced_into_batches_of_50_and_flushed_at_exit(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    with anyio.fail_after(5):  # the exit does not wait out the linger
        async with client.ingest(concurrency=1, linger=30) as ingest:
            for seq in range(120):
                await ingest.put(agent, channel, {"seq": seq})
    assert batch_sizes(emu) == [50, 50, 20]
    assert [m["data"]["seq"] for m in emu.state.messages(agent, channel)] == list(range(120))
    assert ingest.report.requests == 3


@pytest.mark.anyio
async def test_flush_sends_at_once_and_waits_for_what_was_put(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    async with client.ingest(linger=30) as ingest:
        for seq in range(7):
            await ingest.put(agent, channel, {"seq": seq})
        with anyio.fail_after(5):
            await ingest.flush()
        assert ingest.stats.succeeded == 7
        assert len(emu.state.messages(agent, channel)) == 7
        await ingest.put(agent, channel, {"seq": 7})
    assert ingest.report.succeeded == 8


@pytest.mark.anyio
async def test_put_waits_while_the_buffer_is_full(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    emu.faults.stall(1, 0.6, path=BATCH)  # the first request takes a while
    seen: list[IngestStats] = []

    async def produce(ingest: AsyncIngestor) -> None:
        for seq in range(20):
            await ingest.put(agent, channel, {"seq": seq})

    async with (
        client.ingest(concurrency=1, batch_size=2, buffer_size=3, linger=0) as ingest,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(produce, ingest)
        await anyio.sleep(0.3)
        seen.append(ingest.stats)
    stalled = seen[0]
    assert stalled.accepted == 5  # 2 in the stalled request + 3 buffered, the producer waits
    assert stalled.in_flight == 2
    assert stalled.buffered == 3
    assert ingest.report.succeeded == 20


@pytest.mark.anyio
async def test_progress_is_reported_after_each_request(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    updates: list[IngestStats] = []
    async with client.ingest(concurrency=2, on_progress=updates.append) as ingest:
        for seq in range(230):
            await ingest.put(agent, channel, {"seq": seq})
    assert len(updates) == ingest.report.requests == len(batch_sizes(emu)) == 5
    assert updates[-1].succeeded == 230
    assert [u.settled for u in updates] == sorted(u.settled for u in updates)
    assert ingest.report.elapsed > 0
    assert ingest.stats.rate > 0


@pytest.mark.anyio
async def test_a_batch_answer_that_could_not_be_read_is_a_request_reported_too(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    emu.faults.malformed(1, path=BATCH, after=True)  # stored, answer garbled: sent again
    updates: list[IngestStats] = []
    async with client.ingest(linger=0, on_progress=updates.append) as ingest:
        await ingest.put(agent, channel, {"n": 1})
    assert len(updates) == ingest.report.requests == len(batch_sizes(emu)) == 2
    assert len(emu.state.messages(agent, channel)) == 1


@pytest.mark.anyio
async def test_a_full_buffer_sends_without_waiting_out_linger(
    client: AsyncDataClient, agent: int, channel: str
) -> None:
    # buffer_size below batch_size: once full, nothing more can come; a batch must go.
    with anyio.fail_after(10):  # each buffer-full would wait out a minute of linger
        async with client.ingest(buffer_size=10, linger=60) as ingest:
            for n in range(30):
                await ingest.put(agent, channel, {"n": n})
    assert ingest.report.succeeded == 30


@pytest.mark.anyio
async def test_put_many_retried_after_a_cancellation_stores_each_item_once(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    emu.faults.stall(1, 0.6, path=BATCH)  # the first batch is slow: the buffer fills
    items = [BatchMutationItem(agent, channel, {"n": n}) for n in range(30)]
    async with client.ingest(concurrency=1, batch_size=5, buffer_size=10, linger=0) as ingest:
        with anyio.move_on_after(0.2) as waiting:
            await ingest.put_many(items)  # cancelled while it waits for room
        assert waiting.cancelled_caught
        accepted = [item.message_id for item in items if item.message_id is not None]
        assert 0 < len(accepted) < 30  # the accepted ones carry their ids now
        assert await ingest.put_many(items) == [item.message_id for item in items]
    stored = sorted(m["data"]["n"] for m in emu.state.messages(agent, channel))
    assert stored == list(range(30))


@pytest.mark.anyio
async def test_data_put_accepted_cannot_fail_its_batch(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    """Deeply nested data is encoded at put, once: the batch body, encoded deeper in the
    call stack, only copies its bytes (and a change to the object after put is not sent)."""

    def nested(depth: int) -> Any:
        value: Any = 1
        for _ in range(depth):
            value = [value]
        return value

    changed = {"n": "as put"}
    async with client.ingest(linger=0.5) as ingest:
        depth = sys.getrecursionlimit()
        while True:  # the deepest value put accepts
            try:
                await ingest.put(agent, channel, nested(depth))
                break
            except ValueError:
                depth -= 1
        await ingest.put(agent, channel, changed)
        changed["n"] = "changed after put"
    assert ingest.report.succeeded == 2
    assert emu.state.messages(agent, channel)[-1]["data"] == {"n": "as put"}


# -- ids, timestamps, order ----------------------------------------------------------------


@pytest.mark.anyio
async def test_timestamps_become_the_ids_time_and_the_channels_order(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    base = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
    stamps = [base + timedelta(seconds=s) for s in (30, 10, 20, 10)]
    async with client.ingest() as ingest:
        ids = [
            await ingest.put(agent, channel, {"n": n}, timestamp=stamp)
            for n, stamp in enumerate(stamps)
        ]
        ids.append(await ingest.put(agent, channel, {"n": 4}, timestamp=1_773_576_000_000))
    for message_id, stamp in zip(ids, stamps, strict=False):
        assert snowflake_to_ms(message_id) == int(stamp.timestamp() * 1000)
    assert snowflake_to_ms(ids[4]) == 1_773_576_000_000
    stored = [m["data"]["n"] for m in emu.state.messages(agent, channel)]
    assert stored == [4, 1, 3, 2, 0]  # by time; the two at +10 s in put order
    sent = next(r.json()["items"] for r in api_requests(emu) if r.path == BATCH)
    assert [item["ts"] for item in sent][:2] == [1_773_576_030_000, 1_773_576_010_000]


@pytest.mark.anyio
async def test_two_ingestors_at_once_use_different_id_lanes(
    client: AsyncDataClient, agent: int, channel: str
) -> None:
    async with client.ingest() as first, client.ingest() as second:
        one = await first.put(agent, channel, {"n": 1})
        two = await second.put(agent, channel, {"n": 2})
        assert first.instance_id != second.instance_id
        assert 0 not in (first.instance_id, second.instance_id)
        with pytest.raises(ValueError, match="in use"):
            async with client.ingest(instance_id=first.instance_id):
                pass
    assert snowflake_fields(one).instance_id == first.instance_id
    assert snowflake_fields(two).instance_id == second.instance_id


# -- failures are reported, never swallowed ---------------------------------------------


@pytest.mark.anyio
async def test_per_item_rejections_are_reported_not_retried_and_raised_at_exit(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    ingest = client.ingest()

    async def run() -> None:
        async with ingest:
            for seq in range(10):
                await ingest.put(agent, channel if seq % 2 else "missing", {"seq": seq})

    with pytest.raises(IngestError) as raised:
        await run()
    report = raised.value.report
    assert report is ingest.report
    assert report.accepted == 10
    assert report.succeeded == 5
    rejected = report.of_kind(FailureKind.REJECTED)
    assert sorted(f.data["seq"] for f in rejected) == [0, 2, 4, 6, 8]
    assert all(f.stored is False and "not found" in f.error for f in rejected)
    assert batch_sizes(emu) == [10]  # rejections are final: nothing was re-sent
    assert "5 rejected" in str(raised.value)


@pytest.mark.anyio
async def test_retry_item_sends_chosen_rejections_again_with_their_ids(
    emu: DooverEmulator, client: AsyncDataClient, agent: int
) -> None:
    def create_late_channel(stats: IngestStats) -> None:
        if stats.requests == 1:
            emu.state.create_channel(agent, "late")

    async with client.ingest(
        retry_item=lambda result: "not found" in (result.error or ""),
        on_progress=create_late_channel,
    ) as ingest:
        message_id = await ingest.put(agent, "late", {"n": 1})
    assert [int(m["id"]) for m in emu.state.messages(agent, "late")] == [message_id]
    assert batch_sizes(emu) == [1, 1]
    assert ingest.report.succeeded == 1


@pytest.mark.anyio
async def test_a_raising_retry_item_stops_the_ingestor_with_the_answer_settled(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    def broken(result: object) -> bool:
        raise LookupError("predicate bug")

    ingest = client.ingest(linger=0, batch_size=4, retry_item=broken)

    async def run() -> None:
        async with ingest:
            await ingest.put_many(
                [
                    BatchMutationItem(agent, channel, {"n": 1}),
                    BatchMutationItem(agent, "missing", {"n": 2}),
                    BatchMutationItem(agent, channel, {"n": 3}),
                    BatchMutationItem(agent, "missing", {"n": 4}),
                ]
            )
            await ingest.flush()

    with pytest.raises(LookupError, match="predicate bug"):
        await run()
    report = ingest.report
    # The server answered: two stored, two refused; none is "in doubt".
    assert (report.accepted, report.succeeded) == (4, 2)
    assert [f.kind for f in report.failures] == [FailureKind.REJECTED] * 2
    assert all(f.stored is False for f in report.failures)
    assert len(emu.state.messages(agent, channel)) == 2


@pytest.mark.anyio
async def test_an_id_or_a_number_that_would_fail_its_batch_is_refused_at_put(
    client: AsyncDataClient, agent: int, channel: str
) -> None:
    async with client.ingest() as ingest:
        with pytest.raises(ValueError, match="agent_id"):
            await ingest.put(-1, channel, {"n": 1})
        with pytest.raises(ValueError, match="double"):
            await ingest.put(agent, channel, {"n": Decimal("1E+400")})
        await ingest.put(agent, channel, {"n": 1})
    assert ingest.report.accepted == ingest.report.succeeded == 1


@pytest.mark.anyio
async def test_a_request_that_fails_for_good_reports_each_item_with_its_error(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    emu.faults.fail(100, 503, path=BATCH)
    emu.state.create_channel(agent, "other")
    async with (
        AsyncDataClient(emu.url, token=emu.token, **client_options(max_retries=1)) as c,
        c.ingest(raise_on_failure=False) as ingest,
    ):
        for seq in range(60):
            await ingest.put(agent, channel, {"seq": seq})
    report = ingest.report
    assert report.succeeded == 0
    assert len(report.of_kind(FailureKind.REQUEST_FAILED)) == report.failed == 60
    failure = report.failures[0]
    assert isinstance(failure.exception, HTTPError)
    assert failure.exception.status == 503
    assert failure.stored is None  # a 5xx: the server may have stored it
    assert "HTTP 503" in failure.error
    assert len(batch_sizes(emu)) == 4  # two batches, each tried twice


@pytest.mark.anyio
async def test_a_rejected_request_reports_its_items_as_not_stored(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    emu.faults.fail(1, 400, path=BATCH)
    ingest = client.ingest()

    async def run() -> None:
        async with ingest:
            await ingest.put(agent, channel, {"n": 1})

    with pytest.raises(IngestError):
        await run()
    (failure,) = ingest.report.failures
    assert failure.kind is FailureKind.REQUEST_FAILED
    assert failure.stored is False
    assert len(batch_sizes(emu)) == 1  # a 4xx is not retried


@pytest.mark.anyio
async def test_an_unreadable_answer_is_sent_again_by_id(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    emu.faults.malformed(1, path=BATCH, after=True)  # stored, then a garbled 200
    emu.faults.html(1, path=BATCH, after=True)
    async with client.ingest() as ingest:
        message_id = await ingest.put(agent, channel, {"n": 1})
    assert [int(m["id"]) for m in emu.state.messages(agent, channel)] == [message_id]
    assert len(batch_sizes(emu)) == 3
    assert ingest.report.succeeded == 1


@pytest.mark.anyio
async def test_a_timeout_after_the_server_stored_the_batch_is_retried_without_duplicates(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    emu.faults.stall(1, STALL, path=BATCH, at_byte=0)  # stored; the answer never comes in time
    async with (
        AsyncDataClient(emu.url, token=emu.token, **fast()) as client,
        client.ingest() as ingest,
    ):
        ids = [await ingest.put(agent, channel, {"seq": seq}) for seq in range(30)]
    assert [int(m["id"]) for m in emu.state.messages(agent, channel)] == ids
    assert ingest.report.succeeded == 30
    assert ingest.report.requests == 1  # one batch; the transport sent it twice
    assert emu.faults.pending == 0  # the first attempt was the stalled one ...
    assert [r.fault for r in api_requests(emu) if r.path == BATCH] == [None]  # ... this, its retry


@pytest.mark.anyio
async def test_failures_sent_again_with_their_ids_are_stored_once(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    emu.faults.fail(2, 503, path=BATCH, after=True)  # stored, but the client never heard
    async with AsyncDataClient(emu.url, token=emu.token, **client_options(max_retries=0)) as c:
        async with c.ingest(raise_on_failure=False) as ingest:
            for seq in range(80):
                await ingest.put(agent, channel, {"seq": seq})
        assert ingest.report.failed == 80
        assert len(emu.state.messages(agent, channel)) == 80  # all there after all
        async with c.ingest() as again:
            await again.put_many(f.to_item() for f in ingest.report.failures)
    assert again.report.succeeded == 80
    stored = emu.state.messages(agent, channel)
    assert len(stored) == 80  # no duplicates
    assert sorted(m["data"]["seq"] for m in stored) == list(range(80))


# -- leaving early: exceptions and cancellation ---------------------------------------------


@pytest.mark.anyio
async def test_an_exception_in_the_block_sends_nothing_more_and_reports_everything(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    emu.faults.stall(1, 1.0, path=BATCH)  # the first request is under way for a second
    ingest = client.ingest(concurrency=1, batch_size=5, buffer_size=50, linger=0)

    async def run() -> None:
        async with ingest:
            for seq in range(20):
                await ingest.put(agent, channel, {"seq": seq})
            await anyio.sleep(0.2)
            raise KeyError("boom")

    with pytest.raises(KeyError) as raised:  # the block's own exception, not a group
        await run()
    report = ingest.report
    assert not report.complete
    assert report.accepted == report.succeeded + report.failed == 20
    assert len(report.of_kind(FailureKind.IN_DOUBT)) == 5
    assert all(f.stored is None for f in report.of_kind(FailureKind.IN_DOUBT))
    assert len(report.of_kind(FailureKind.NOT_SENT)) == 15
    assert any("ingest stopped" in note for note in raised.value.__notes__)
    assert batch_sizes(emu) == []  # nothing answered: only the stalled request was made
    with pytest.raises(ClientClosedError):
        await ingest.put(agent, channel, {"late": True})


@pytest.mark.anyio
async def test_cancellation_reports_every_item_it_did_not_confirm(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    emu.faults.stall(1, 1.0, path=BATCH)
    with anyio.move_on_after(0.3) as scope:
        async with client.ingest(concurrency=2, batch_size=10, linger=0) as ingest:
            for seq in range(100):
                await ingest.put(agent, channel, {"seq": seq})
            await anyio.sleep(10)
    assert scope.cancelled_caught
    report = ingest.report
    assert not report.complete
    assert report.accepted == 100
    assert report.accepted == report.succeeded + report.failed
    assert report.succeeded >= 10  # the second slot kept going while the first stalled
    assert len(report.of_kind(FailureKind.IN_DOUBT)) == 10
    stored = {int(m["id"]) for m in emu.state.messages(agent, channel)}
    assert all(f.message_id not in stored for f in report.of_kind(FailureKind.NOT_SENT))


@pytest.mark.anyio
async def test_a_failing_progress_callback_stops_the_ingestor_and_is_raised(
    client: AsyncDataClient, agent: int, channel: str
) -> None:
    def explode(stats: IngestStats) -> None:
        raise ZeroDivisionError("callback bug")

    ingest = client.ingest(on_progress=explode, batch_size=1, linger=0)
    refused: list[Exception] = []

    async def run() -> None:
        async with ingest:
            try:
                for seq in range(1000):
                    await ingest.put(agent, channel, {"seq": seq})
                    await anyio.sleep(0.001)
            except ClientClosedError as exc:  # put refuses once the ingestor stopped
                refused.append(exc)

    with pytest.raises(ZeroDivisionError):
        await run()
    assert refused
    report = ingest.report
    assert report.accepted == report.succeeded + report.failed


@pytest.mark.anyio
@pytest.mark.parametrize("raised", [KeyboardInterrupt, SystemExit])
async def test_a_ctrl_c_or_exit_in_a_worker_stops_the_block_and_comes_out_as_itself(
    client: AsyncDataClient, agent: int, channel: str, raised: type[BaseException]
) -> None:
    # As a Ctrl-C trio delivers to a sender task, or an on_progress calling sys.exit().
    def stop(stats: IngestStats) -> None:
        raise raised

    ingest = client.ingest(on_progress=stop, batch_size=1, linger=0)
    puts = 0

    async def run() -> None:
        nonlocal puts
        async with ingest:
            for seq in range(1000):
                await ingest.put(agent, channel, {"seq": seq})
                puts += 1
                await anyio.sleep(0.001)

    with anyio.fail_after(20), pytest.raises(raised) as caught:
        await run()
    assert puts < 1000  # the block was cancelled, not left to run on
    assert any("ingest stopped" in note for note in caught.value.__notes__)
    report = ingest.report
    assert report.accepted == puts
    assert report.accepted == report.succeeded + report.failed


# -- misuse -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_misuse_is_refused_clearly(client: AsyncDataClient, agent: int, channel: str) -> None:
    ingest = client.ingest()
    with pytest.raises(ClientClosedError, match="not running"):
        await ingest.put(agent, channel, {"n": 1})
    with pytest.raises(RuntimeError, match="not run yet"):
        _ = ingest.report
    async with ingest:
        with pytest.raises(ValueError, match="channel_name"):
            await ingest.put(agent, "", {"n": 1})
        with pytest.raises(ValueError, match="data"):
            await ingest.put(agent, channel, None)
        with pytest.raises(ValueError, match="2025"):
            await ingest.put(agent, channel, {"n": 1}, timestamp=datetime(2020, 1, 1))
        with pytest.raises(TypeError):
            await ingest.put(agent, channel, {"n": 1}, timestamp="now")  # type: ignore[arg-type]
        # Refused at put, not in a batch whose other items it would fail too:
        with pytest.raises(ValueError, match="JSON"):
            await ingest.put(agent, channel, {"n": float("nan")})
        with pytest.raises(TypeError, match="JSON"):
            await ingest.put(agent, channel, {"n": object()})
        with pytest.raises(ValueError, match="replace"):
            await ingest.put_many([BatchMutationItem(agent, channel, {"n": 1}, replace=["a"])])
    with pytest.raises(RuntimeError, match="runs once"):
        async with ingest:
            pass
    for name, bad in (("concurrency", 0), ("batch_size", 51), ("linger", -1), ("buffer_size", 0)):
        with pytest.raises(ValueError, match=name):
            client.ingest(**{name: bad})


@pytest.mark.anyio
async def test_a_put_that_accepted_its_item_returns_its_id_even_when_cancelled(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    """The put that fills a batch yields; a cancellation there must not make it raise
    after the item was accepted (a caller retrying it would store it twice)."""
    returned = []
    async with client.ingest(batch_size=5, linger=0, raise_on_failure=False) as ingest:
        with anyio.CancelScope() as scope:
            for seq in range(4):
                returned.append(await ingest.put(agent, channel, {"seq": seq}))
            scope.cancel()
            returned.append(await ingest.put(agent, channel, {"seq": 4}))  # fills the batch
            await anyio.lowlevel.checkpoint()  # the cancellation lands here
        assert scope.cancelled_caught
    assert len(returned) == 5
    assert ingest.report.accepted == 5
    assert len(emu.state.messages(agent, channel)) == 5


@pytest.mark.anyio
async def test_a_cancelled_exit_flush_is_not_reported_complete(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    emu.faults.stall(1, 1.0, path=BATCH)
    ingest = client.ingest(concurrency=1, batch_size=5, linger=0, buffer_size=100)
    with anyio.move_on_after(0.3) as timed_out:
        async with ingest:
            for seq in range(20):
                await ingest.put(agent, channel, {"seq": seq})
    assert timed_out.cancelled_caught
    report = ingest.report
    assert report.failures
    assert not report.complete


@pytest.mark.anyio
async def test_a_failure_sent_again_keeps_its_suppressed_hooks(
    client: AsyncDataClient, agent: int
) -> None:
    async with client.ingest(linger=0, raise_on_failure=False) as ingest:
        await ingest.put(agent, "no_such_channel", {"x": 1}, suppress_hooks=True, ttl=60)
    (failure,) = ingest.report.failures
    assert failure.suppress_hooks is True
    again = failure.to_item()
    assert (again.suppress_hooks, again.ttl, again.message_id) == (True, 60, failure.message_id)


def steady_backoff(client: AsyncDataClient) -> None:
    """Every backoff at its ceiling (no jitter), so a test can act during one."""
    client._transport.retry = dataclasses.replace(client._transport.retry, random=lambda: 1.0)


@pytest.mark.anyio
async def test_an_item_whose_stored_answer_was_unreadable_stays_maybe_stored(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    """Stored, but the 200 was garbled; the client closes during the resend's backoff:
    the failure must not say "certainly not stored"."""
    emu.faults.malformed(1, path=BATCH, after=True)
    client = AsyncDataClient(emu.url, token=emu.token, agent_id=agent, retry_delay=0.5)
    steady_backoff(client)
    async with client, anyio.create_task_group() as group:

        async def close_during_the_backoff() -> None:
            await anyio.sleep(0.25)
            await client.aclose()

        group.start_soon(close_during_the_backoff)
        async with client.ingest(batch_size=5, linger=0, raise_on_failure=False) as ingest:
            for seq in range(5):
                await ingest.put(agent, channel, {"seq": seq})
    held = {int(m["id"]) for m in emu.state.messages(agent, channel)}
    assert len(held) == 5
    assert ingest.report.failures
    assert all(f.stored is None for f in ingest.report.failures if f.message_id in held)


@pytest.mark.anyio
async def test_a_rejected_item_waiting_to_go_again_is_not_in_doubt(
    emu: DooverEmulator, agent: int
) -> None:
    """The server refused it (success: false); the block raises before it goes again."""
    client = AsyncDataClient(emu.url, token=emu.token, agent_id=agent, retry_delay=2.0)
    steady_backoff(client)
    ingest = client.ingest(linger=0, retry_item=lambda result: True)

    async def put_then_fail() -> None:
        await ingest.put(agent, "no_such_channel", {"x": 1})
        await anyio.sleep(0.5)  # answered; the resend waits out its backoff
        raise KeyError("boom")

    async with client:
        with pytest.raises(KeyError):
            async with ingest:
                await put_then_fail()
    (failure,) = ingest.report.failures
    assert (failure.kind, failure.stored) == (FailureKind.NOT_SENT, False)


@pytest.mark.anyio
async def test_items_an_earlier_attempt_may_have_stored_are_not_said_unstored(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    """Stored but answered 503; the transport's retry is refused (403): maybe stored."""
    emu.faults.fail(1, 503, path=BATCH, after=True)
    emu.faults.fail(1, 403, path=BATCH)
    async with client.ingest(batch_size=5, linger=0, raise_on_failure=False) as ingest:
        for seq in range(5):
            await ingest.put(agent, channel, {"seq": seq})
    assert len(emu.state.messages(agent, channel)) == 5
    failures = ingest.report.failures
    assert [(f.kind, f.stored) for f in failures] == [(FailureKind.REQUEST_FAILED, None)] * 5
