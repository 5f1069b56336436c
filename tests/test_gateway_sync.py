"""The gateway through the blocking ``DataClient``, from plain threads."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from doover_client_support import running_emulator
from gateway_support import CHANNEL, FAST

from pydoover_anyio import (
    ChannelSync,
    DataClient,
    MessageCreate,
    OneShotMessage,
)
from pydoover_anyio.emulator import DooverEmulator


@pytest.fixture
def emu() -> Iterator[DooverEmulator]:
    yield from running_emulator(CHANNEL)


@pytest.fixture
def agent(emu: DooverEmulator) -> int:
    return emu.default_agent_id


def ctrl_c() -> None:
    """What pressing Ctrl-C does: SIGINT to the main thread (wakes a blocked lock wait)."""
    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)


def sync_client(emu: DooverEmulator) -> DataClient:
    client = DataClient(base_url=emu.url, token=emu.token)
    client.gateway_settings = FAST
    return client


def test_sync_subscribe_delivers_events(emu: DooverEmulator, agent: int) -> None:
    with sync_client(emu) as client, client.subscribe(agent, CHANNEL) as events:
        iterator = iter(events)
        assert isinstance(next(iterator), ChannelSync)
        client.create_message(agent, CHANNEL, {"n": 1})
        event = next(iterator)
        assert isinstance(event, MessageCreate)
        assert event.message.data == {"n": 1}
        client.send_one_shot(agent, CHANNEL, {"n": 2})
        assert isinstance(next(iterator), OneShotMessage)
    assert emu.gateway.violations == []


def test_sync_from_another_thread(emu: DooverEmulator, agent: int) -> None:
    received: list[Any] = []

    def worker() -> None:
        with sync_client(emu) as client, client.subscribe(agent, CHANNEL) as events:
            for event in events:
                received.append(event)
                if isinstance(event, ChannelSync):
                    client.create_message(agent, CHANNEL, {"t": 1})
                else:
                    break

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    assert [type(e) for e in received] == [ChannelSync, MessageCreate]


def test_ctrl_c_in_a_sync_for_loop_ends_cleanly(emu: DooverEmulator, agent: int) -> None:
    threads_before = threading.active_count()
    client = sync_client(emu)
    timer = threading.Timer(0.2, ctrl_c)
    # Should the Ctrl-C not come through, an event ends the loop: a failure, not a hang.
    watchdog = threading.Timer(30, emu.state.add_message, (agent, CHANNEL, {"watchdog": 1}))

    def consume() -> None:
        with client.subscribe(agent, CHANNEL) as events:
            for event in events:
                if not isinstance(event, ChannelSync):
                    break
                timer.start()  # Ctrl-C while the loop blocks waiting for the next event
                watchdog.start()

    try:
        with pytest.raises(KeyboardInterrupt):
            consume()
    finally:
        watchdog.cancel()
        if watchdog.is_alive():
            watchdog.join()
    timer.join()
    client.create_message(agent, CHANNEL, {"still": "usable"})
    client.close()
    deadline = time.monotonic() + 5
    while emu.gateway.live_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    assert emu.gateway.live_connections == 0
    assert threading.active_count() == threads_before


def test_a_burst_crosses_to_a_sync_consumer_without_drops(emu: DooverEmulator, agent: int) -> None:
    """The loop-side pump awaits once per event; the reader must not outrun it.

    1,200 events fit in the subscription's buffer (1,000) plus the pump's (256, filled
    eagerly: a subscription pushes), so none may be dropped however slowly this thread
    reads (a reader that routed a whole socket read per turn filled the first buffer
    while the pump moved one event; a pump that ran ahead only as far as this thread had
    taken left the burst 1,000 and a few to land in).
    """
    n = 1200
    with sync_client(emu) as client, client.subscribe(agent, CHANNEL) as events:
        iterator = iter(events)
        assert isinstance(next(iterator), ChannelSync)
        emu.gateway.faults.hold = True
        emu.state.add_messages(agent, CHANNEL, [{"i": i} for i in range(n)])
        emu.gateway.faults.hold = False
        seen = []
        for event in iterator:
            assert isinstance(event, MessageCreate), event
            seen.append(event.message.data["i"])
            if len(seen) == n:
                break
    assert seen == list(range(n))
