"""The gateway end to end against the emulator, on asyncio and trio."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from doover_client_support import running_emulator
from gateway_support import (
    CHANNEL,
    FAST,
    RawConnection,
    RawGateway,
    gateway_only_client,
    hello_ready_sync,
    next_of,
)

from pydoover_anyio import (
    AggregateUpdate,
    AlarmTrigger,
    AsyncDataClient,
    ChannelSubscription,
    ChannelSync,
    ChannelUnsubscription,
    EventsDropped,
    GatewayError,
    HTTPError,
    MessageCreate,
    MessageUpdate,
    OneShotMessage,
    Reconnected,
    UnauthorizedError,
)
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.emulator._alarms import build_alarm
from pydoover_anyio.runtime import ClientClosedError

pytestmark = pytest.mark.anyio


@pytest.fixture
def emu() -> Iterator[DooverEmulator]:
    yield from running_emulator(CHANNEL)


@pytest.fixture
def agent(emu: DooverEmulator) -> int:
    return emu.default_agent_id


@asynccontextmanager
async def client_for(emu: DooverEmulator, **kw: Any) -> AsyncIterator[AsyncDataClient]:
    async with AsyncDataClient(base_url=emu.url, token=emu.token, **kw) as client:
        client.gateway_settings = FAST
        yield client


async def test_gateway_url_defaults_from_base_url(emu: DooverEmulator) -> None:
    async with client_for(emu) as client:
        assert client.gateway_url == emu.root_url.replace("http://", "ws://") + "/gateway"
    explicit = AsyncDataClient(base_url=emu.url, token="t", gateway_url="wss://elsewhere/gw")
    assert explicit.gateway_url == "wss://elsewhere/gw"


async def test_each_event_type_is_delivered(emu: DooverEmulator, agent: int) -> None:
    state = emu.state
    with state.lock:
        channel = state.channel(agent, CHANNEL)
        body = {"name": "hot", "key": "t", "operator": "gt", "value": 5}
        channel.alarms[77] = build_alarm(77, CHANNEL, body, 0)
    async with client_for(emu) as client, client.subscribe(agent, CHANNEL) as events:
        sync = await next_of(events, ChannelSync)
        assert (sync.channel.agent_id, sync.channel.name) == (agent, CHANNEL)
        created = await client.create_message(agent, CHANNEL, {"rpm": 1})
        event = await next_of(events, MessageCreate)
        assert event.message.id == created.id
        assert event.message.data == {"rpm": 1}
        await client.update_message(agent, CHANNEL, created.id, {"rpm": 2})
        update = await next_of(events, MessageUpdate)
        assert update.message.data == {"rpm": 2}
        await client.update_channel_aggregate(agent, CHANNEL, {"mode": "auto"})
        aggregate = await next_of(events, AggregateUpdate)
        assert aggregate.aggregate.data == {"mode": "auto"}
        emu.gateway.set_alarm_state(agent, CHANNEL, 77, "Alarm")
        alarm = await next_of(events, AlarmTrigger)
        assert (alarm.alarm.id, alarm.old_state, alarm.new_state) == (77, "NoData", "Alarm")
        await client.send_one_shot(agent, CHANNEL, {"ping": True})
        one_shot = await next_of(events, OneShotMessage)
        assert one_shot.data == {"ping": True}
        async with client_for(emu) as other:
            async with other.subscribe(agent, CHANNEL):
                joined = await next_of(events, ChannelSubscription)
                assert joined.channel.name == CHANNEL
            await next_of(events, ChannelUnsubscription)
        emu.gateway.inject('{"op":0,"t":"WSSErrorEvent","d":{"message":"boom"}}')
        error = await next_of(events, GatewayError)
        assert (error.message, error.channel.name) == ("boom", CHANNEL)
        await client.sync_channel(agent, CHANNEL)
        resync = await next_of(events, ChannelSync)
        assert resync.aggregate.data == {"mode": "auto"}
        emu.gateway.drop_connections()
        back = await next_of(events, Reconnected)
        assert (back.resumed, back.events_missed) == (True, False)
    assert emu.gateway.violations == []


async def test_thousand_events_with_a_drop_every_hundred(emu: DooverEmulator, agent: int) -> None:
    emu.gateway.faults.drop_every = 100
    seen: list[int] = []
    reconnects: list[Reconnected] = []
    async with client_for(emu) as client, client.subscribe(agent, CHANNEL) as events:
        await next_of(events, ChannelSync)
        emu.state.add_messages(agent, CHANNEL, [{"i": i} for i in range(1000)])
        with anyio.fail_after(20):
            async for event in events:
                if isinstance(event, MessageCreate):
                    seen.append(event.message.data["i"])
                    if len(seen) == 1000:
                        break
                elif isinstance(event, Reconnected):
                    reconnects.append(event)
                else:
                    pytest.fail(f"unexpected {event!r}")
    assert seen == list(range(1000))  # none lost, none duplicated, in order
    assert len(reconnects) >= 9
    assert all(r.resumed and not r.events_missed for r in reconnects)
    assert emu.gateway.violations == []


async def test_session_cancelled_reidentifies_and_resyncs(emu: DooverEmulator, agent: int) -> None:
    async with client_for(emu) as client, client.subscribe(agent, CHANNEL) as events:
        await next_of(events, ChannelSync)
        emu.gateway.cancel_sessions()
        back = await next_of(events, Reconnected)
        assert (back.resumed, back.events_missed) == (False, True)
        await next_of(events, ChannelSync)
        assert len(emu.gateway.ops(10)) == 2
        await client.create_message(agent, CHANNEL, {"after": True})
        assert (await next_of(events, MessageCreate)).message.data == {"after": True}


async def test_resume_without_replay_reports_missed_events(emu: DooverEmulator, agent: int) -> None:
    emu.gateway.faults.replay = False
    async with client_for(emu) as client, client.subscribe(agent, CHANNEL) as events:
        await next_of(events, ChannelSync)
        emu.gateway.drop_connections()
        back = await next_of(events, Reconnected)
        assert (back.resumed, back.events_missed) == (True, True)
        await next_of(events, ChannelSync)


async def test_a_dead_connection_is_detected(emu: DooverEmulator, agent: int) -> None:
    async with client_for(emu) as client, client.subscribe(agent, CHANNEL) as events:
        await next_of(events, ChannelSync)
        emu.gateway.faults.answer_pings = False
        started = time.monotonic()
        await eventually(lambda: emu.gateway.connections_opened >= 2, 3)
        detected = time.monotonic() - started
        emu.gateway.faults.answer_pings = True
        assert detected < FAST.ping_interval + FAST.ping_timeout + 0.5
        await next_of(events, Reconnected)


async def test_frames_still_arriving_keep_a_connection_alive(
    emu: DooverEmulator, agent: int
) -> None:
    """A pong can be queued behind a burst the client has not read yet: data that keeps
    coming proves the connection alive; only silence past ping_timeout ends it."""
    async with client_for(emu) as client, client.subscribe(agent, CHANNEL) as events:
        await next_of(events, ChannelSync)
        emu.gateway.faults.answer_pings = False
        streamed = 0
        with anyio.fail_after(10):
            for i in range(30):  # 1.5 s: about four ping rounds (0.1 s + 0.25 s each)
                emu.state.add_messages(agent, CHANNEL, [{"i": i}])
                assert isinstance(await next_of(events, object), MessageCreate)
                streamed += 1
                await anyio.sleep(0.05)
        assert emu.gateway.connections_opened == 1
        await eventually(lambda: emu.gateway.connections_opened >= 2, 3)  # silence now
        emu.gateway.faults.answer_pings = True
        await next_of(events, Reconnected)
    assert streamed == 30


async def test_malformed_and_unknown_frames_are_skipped(
    emu: DooverEmulator, agent: int, caplog: pytest.LogCaptureFixture
) -> None:
    async with client_for(emu) as client, client.subscribe(agent, CHANNEL) as events:
        await next_of(events, ChannelSync)
        for bad in (
            "not json",
            "[1, 2]",
            '{"op":0,"t":"MessageCreate","d":{"bad":1}}',
            '{"op":0,"t":"SomethingNew","d":{}}',
            '{"op":42,"d":{}}',
            # Nested past msgspec's depth limit (a RecursionError, not a DecodeError):
            "[" * 5000 + "]" * 5000,
            '{"op":0,"t":"MessageCreate","d":' + "[" * 5000 + "]" * 5000 + "}",
            '{"op":3,"d":' + "[" * 5000 + "]" * 5000 + "}",
        ):
            emu.gateway.inject(bad)
        await client.create_message(agent, CHANNEL, {"ok": 1})
        assert (await next_of(events, MessageCreate)).message.data == {"ok": 1}
    assert "malformed gateway frame" in caplog.text
    assert emu.gateway.connections_opened == 1


async def test_two_subscribers_share_one_wire_subscription(emu: DooverEmulator, agent: int) -> None:
    async with client_for(emu) as client:
        async with client.subscribe(agent, CHANNEL) as a, client.subscribe(agent, CHANNEL) as b:
            await next_of(a, ChannelSync)
            await next_of(b, ChannelSync)
            await client.create_message(agent, CHANNEL, {"x": 1})
            for events in (a, b):
                while isinstance(event := await next_of(events, object), ChannelSync):
                    pass
                assert isinstance(event, MessageCreate)
        await eventually(lambda: emu.gateway.ops(13), 3)
    assert len(emu.gateway.ops(12)) == 1
    assert len(emu.gateway.ops(13)) == 1


async def test_overflow_policy_end_to_end(emu: DooverEmulator, agent: int) -> None:
    async with client_for(emu) as client, client.subscribe(agent, CHANNEL, buffer_size=5) as ev:
        await next_of(ev, ChannelSync)
        emu.state.add_messages(agent, CHANNEL, [{"i": i} for i in range(50)])
        await eventually(lambda: ev.dropped >= 45, 3)
        kinds = [type(await next_of(ev, object)) for _ in range(5)]
        assert kinds == [MessageCreate] * 5
        dropped = await next_of(ev, EventsDropped)
        assert dropped.count == 45
        await next_of(ev, ChannelSync)


async def test_sync_channel_waits_for_the_connection(emu: DooverEmulator, agent: int) -> None:
    async with client_for(emu) as client:
        with anyio.fail_after(5):
            await client.sync_channel(agent, CHANNEL)  # no connection yet: it waits for one
        await eventually(
            lambda: emu.gateway.ops(14), 3
        )  # written; the server reads it a moment later
        assert len(emu.gateway.ops(14)) == 1


async def test_a_request_waiting_when_the_client_closes_raises(
    emu: DooverEmulator, agent: int
) -> None:
    outcome: list[BaseException] = []

    async def wait_for_sync(c: AsyncDataClient) -> None:
        try:
            await c.sync_channel(agent, CHANNEL)
        except ClientClosedError as exc:
            outcome.append(exc)

    unreachable = "ws://127.0.0.1:9/gateway"  # the connection never comes up
    client = AsyncDataClient(emu.url, token=emu.token, gateway_url=unreachable)
    client.gateway_settings = FAST
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg, client:
            tg.start_soon(wait_for_sync, client)
            await anyio.sleep(0.2)
    assert len(outcome) == 1  # not a silent return: nothing was sent


async def test_refused_token_is_a_typed_error(emu: DooverEmulator, agent: int) -> None:
    async with AsyncDataClient(base_url=emu.url, token="not-a-token") as client:
        client.gateway_settings = FAST
        with anyio.fail_after(5), pytest.raises(UnauthorizedError):
            async with client.subscribe(agent, CHANNEL):
                pass


@asynccontextmanager
async def refusing_gateway(status: int) -> AsyncIterator[tuple[str, list[int]]]:
    """A server answering every WebSocket handshake with ``status``; its URL and a list
    that grows by one per handshake."""
    handshakes: list[int] = []

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            request = bytearray()
            try:
                while b"\r\n\r\n" not in request:
                    request += await stream.receive()
                handshakes.append(status)
                await stream.send(b"HTTP/1.1 %d Nope\r\nContent-Length: 4\r\n\r\nnope" % status)
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass  # the client gave up on this attempt (the test is ending)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield f"ws://127.0.0.1:{port}/gateway", handshakes
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("status", [501, 505])
async def test_a_handshake_refused_for_good_is_a_typed_error(status: int) -> None:
    async with (
        refusing_gateway(status) as (url, handshakes),
        AsyncDataClient(base_url="http://127.0.0.1:9", token="t", gateway_url=url) as client,
    ):
        client.gateway_settings = FAST
        with anyio.fail_after(5), pytest.raises(HTTPError) as refused:
            async with client.subscribe(1, CHANNEL):
                pass
    assert refused.value.status == status
    assert handshakes == [status]  # not retried


async def test_after_a_final_failure_nothing_reconnects_while_a_subscriber_remains(
    emu: DooverEmulator, agent: int
) -> None:
    # The token is refused on a reconnect, for good (it cannot be refreshed). The first
    # subscriber to leave must not start the session again while the other, which saw
    # the same failure, is still registered; once both left, a request tries afresh.
    async with AsyncDataClient(base_url=emu.url, token=emu.token) as client:
        client.gateway_settings = FAST
        async with client.subscribe(agent, CHANNEL) as b:
            await next_of(b, ChannelSync)
            async with client.subscribe(agent, CHANNEL) as a:
                await next_of(a, ChannelSync)
                emu.revoke_token(emu.token)
                emu.gateway.drop_connections()
                with anyio.fail_after(5), pytest.raises(UnauthorizedError):
                    async for _ in a:
                        pass
                refused = len(emu.gateway.upgrades)
            await anyio.sleep(0.3)  # ``a`` left: a restarted session would connect now
            assert len(emu.gateway.upgrades) == refused
        with anyio.fail_after(5), pytest.raises(UnauthorizedError):
            await client.sync_channel(agent, CHANNEL)
        assert len(emu.gateway.upgrades) == refused + 1


async def test_a_one_shot_given_up_while_an_earlier_frame_is_written_is_not_sent() -> None:
    # The writer takes a large one-shot and a small one in one batch, then waits on the
    # large one (the server is not reading); the small one's caller gives up meanwhile:
    # it is taken back, as the docs say, so a retry cannot deliver it twice.
    received: list[str] = []

    def script(connection: RawConnection, n: int) -> None:
        hello_ready_sync(connection)
        while True:
            frame = connection.receive()
            if frame["op"] == 15:
                data = frame["d"]["data"]
                received.append(data if len(data) < 10 else "large")
                if data == "pause" or received.count("large") == 1:
                    time.sleep(1.5)  # not reading: the client's next large write blocks

    large = "x" * 40_000_000
    with RawGateway(script) as gateway:
        client = gateway_only_client(
            gateway.url, dataclasses.replace(FAST, ping_interval=30, ping_timeout=30)
        )
        async with client, client.subscribe(5, "c") as events:
            await next_of(events, ChannelSync)
            await client.send_one_shot(5, "c", "pause")
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.send_one_shot, 5, "c", large)  # blocks the writer
                await anyio.sleep(0.3)
                tg.start_soon(client.send_one_shot, 5, "c", large)  # these two: one batch
                await anyio.sleep(0.05)
                with anyio.move_on_after(2.25) as gave_up:  # while the second large one
                    await client.send_one_shot(5, "c", "small")  # is being written
            await anyio.sleep(0.5)
    assert gave_up.cancelled_caught
    assert received == ["pause", "large", "large"]


@pytest.mark.parametrize("status", [500, 503, 520])
async def test_other_server_errors_at_the_handshake_are_retried(status: int) -> None:
    async with (
        refusing_gateway(status) as (url, handshakes),
        AsyncDataClient(base_url="http://127.0.0.1:9", token="t", gateway_url=url) as client,
    ):
        client.gateway_settings = FAST
        with anyio.move_on_after(5) as waited:
            async with anyio.create_task_group() as tg:

                async def hold() -> None:
                    async with client.subscribe(1, CHANNEL):
                        await anyio.sleep_forever()

                tg.start_soon(hold)
                await eventually(lambda: len(handshakes) >= 3)
                tg.cancel_scope.cancel()
        assert not waited.cancelled_caught


async def eventually(check: Any, within: float = 3.0) -> None:
    """Poll ``check()`` until it is true (state owned by the emulator's thread)."""
    with anyio.fail_after(within):
        while not check():  # noqa: ASYNC110 - another thread's state: nothing to await
            await anyio.sleep(0.01)


def _count_tasks() -> int:
    if anyio.get_current_task() and _backend() == "asyncio":
        import asyncio

        return len(asyncio.all_tasks())
    import trio

    def walk(task: Any) -> int:
        return 1 + sum(walk(t) for n in task.child_nurseries for t in n.child_tasks)

    return walk(trio.lowlevel.current_root_task())


def _backend() -> str:
    import sniffio

    return sniffio.current_async_library()


async def test_exit_and_cancellation_leave_no_task(emu: DooverEmulator, agent: int) -> None:
    before = _count_tasks()
    async with client_for(emu) as client:
        async with anyio.create_task_group() as tg:

            async def consume() -> None:
                async with client.subscribe(agent, CHANNEL) as events:
                    async for _ in events:
                        pass

            tg.start_soon(consume)
            await eventually(lambda: emu.gateway.ops(12), 3)
            assert _count_tasks() > before
            tg.cancel_scope.cancel()  # cancelling the consumer unsubscribes it
        await eventually(
            lambda: not emu.gateway.live_connections, 3
        )  # ... and the idle connection closes
        async with client.subscribe(agent, CHANNEL) as events:
            await next_of(events, ChannelSync)
    assert _count_tasks() == before  # leaving `async with client` joined everything
    await eventually(lambda: not emu.gateway.live_connections, 3)


@pytest.mark.parametrize("awaits_per_event", [False, True])
async def test_a_burst_reaches_a_consumer_that_keeps_up_without_drops(
    emu: DooverEmulator, agent: int, awaits_per_event: bool
) -> None:
    """One socket read holds hundreds of events: the reader must let the consumer run.

    With the default buffer (1,000) a consumer that does nothing slow gets all 5,000
    events of a burst, also when it awaits something per event (as one that forwards
    each event through a memory object stream does).
    """
    n = 5000
    async with client_for(emu) as client, client.subscribe(agent, CHANNEL) as events:
        assert events.buffer_size == 1000
        await next_of(events, ChannelSync)
        emu.gateway.faults.hold = True
        emu.state.add_messages(agent, CHANNEL, [{"i": i} for i in range(n)])
        emu.gateway.faults.hold = False
        seen: list[int] = []
        with anyio.fail_after(20):
            async for event in events:
                assert isinstance(event, MessageCreate), event
                seen.append(event.message.data["i"])
                if awaits_per_event:
                    await anyio.lowlevel.checkpoint()
                if len(seen) == n:
                    break
        assert seen == list(range(n))
        assert events.dropped == 0


async def test_a_stalled_consumer_does_not_stall_pings(emu: DooverEmulator, agent: int) -> None:
    async with client_for(emu) as client, client.subscribe(agent, CHANNEL, buffer_size=10) as ev:
        await next_of(ev, ChannelSync)
        emu.state.add_messages(agent, CHANNEL, [{"i": i} for i in range(300)])
        await eventually(lambda: ev.dropped >= 290, 3)
        await anyio.sleep(3 * (FAST.ping_interval + FAST.ping_timeout))  # not consuming
        emu.state.add_messages(agent, CHANNEL, [{"i": i} for i in range(300, 310)])
        await eventually(lambda: ev.dropped >= 300, 3)
        assert emu.gateway.connections_opened == 1  # every ping was answered in time
        assert [type(await next_of(ev, object)) for _ in range(10)] == [MessageCreate] * 10
        assert (await next_of(ev, EventsDropped)).count == 300
        await next_of(ev, ChannelSync)


async def test_a_second_subscribers_first_event_is_its_channel_sync(
    emu: DooverEmulator, agent: int
) -> None:
    """Even with events of the channel already in flight when it subscribes."""
    async with client_for(emu) as client, client.subscribe(agent, CHANNEL) as first:
        await next_of(first, ChannelSync)
        emu.gateway.faults.hold = True  # events queued server-side, sent on release
        emu.state.add_messages(agent, CHANNEL, [{"i": i} for i in range(3)])
        seen: list[object] = []

        async def second() -> None:
            async with client.subscribe(agent, CHANNEL) as events:
                seen.append(await events.__anext__())

        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                group.start_soon(second)
                await anyio.sleep(0.2)
                emu.gateway.faults.hold = False
        assert isinstance(seen[0], ChannelSync)
        for i in range(3):  # the first subscriber still gets them all
            assert (await next_of(first, MessageCreate)).message.data == {"i": i}


@pytest.mark.parametrize(
    ("channel", "error"), [("", ValueError), (5, TypeError), (None, TypeError)]
)
async def test_a_channel_name_that_is_not_one_is_refused_before_anything_is_sent(
    emu: DooverEmulator, agent: int, channel: Any, error: type[Exception]
) -> None:
    async with AsyncDataClient(base_url=emu.url, token=emu.token) as client:
        client.gateway_settings = FAST
        with pytest.raises(error, match="channel_name"):
            async with client.subscribe(agent, channel):
                pass
        with pytest.raises(error, match="channel_name"):
            await client.sync_channel(agent, channel)
        with pytest.raises(error, match="channel_name"):
            await client.send_one_shot(agent, channel, {"n": 1})
        with pytest.raises(ValueError, match="at least 2"):
            async with client.subscribe(agent, CHANNEL, buffer_size=0):
                pass
    assert emu.gateway.upgrades == []


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/gateway", "ws://127.0.0.1:99999/gateway", "ws:///gateway"]
)
def test_a_gateway_url_no_connection_can_use_is_refused_at_once(url: str) -> None:
    with pytest.raises(ValueError, match="gateway_url must be a ws:// or wss:// URL"):
        AsyncDataClient("http://127.0.0.1:9/api", token="t", gateway_url=url)
