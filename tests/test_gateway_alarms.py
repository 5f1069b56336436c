"""Alarms evaluated by the emulator, seen over REST and the gateway, on asyncio and trio."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from doover_client_support import running_emulator
from gateway_support import STEADY, next_of

from pydoover_anyio import (
    AggregateUpdate,
    AlarmTrigger,
    AsyncDataClient,
    ChannelSync,
    MessageCreate,
)
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.models import AlarmState, Condition

pytestmark = pytest.mark.anyio

CHANNEL = "tank"


@pytest.fixture
def emu() -> Iterator[DooverEmulator]:
    yield from running_emulator(CHANNEL, messages_update_aggregate=True)


async def test_messages_crossing_a_threshold_trigger_alarm_then_ok(emu: DooverEmulator) -> None:
    agent = emu.default_agent_id
    async with AsyncDataClient(base_url=emu.url, token=emu.token) as client:
        client.gateway_settings = STEADY
        created = await client.create_alarm(agent, CHANNEL, "hot", "sensors.temp", "gt", 80)
        assert created.state is AlarmState.NoData
        async with client.subscribe(agent, CHANNEL) as events:
            await next_of(events, ChannelSync)

            await client.create_message(agent, CHANNEL, {"sensors": {"temp": 95}})
            await next_of(events, MessageCreate)
            update = await next_of(events, AggregateUpdate)
            assert update.aggregate.data == {"sensors": {"temp": 95}}
            hot = await next_of(events, AlarmTrigger)
            assert (hot.old_state, hot.new_state) == ("NoData", "Alarm")
            assert hot.alarm.id == created.id
            assert hot.alarm.state is AlarmState.Alarm
            assert hot.aggregate is not None
            assert hot.aggregate.data == {"sensors": {"temp": 95}}
            assert hot.request_data == {"data": {"sensors": {"temp": 95}}}
            assert hot.organisation_id == emu.organisation_id
            fetched = await client.fetch_alarm(agent, CHANNEL, created.id)
            assert fetched.state is AlarmState.Alarm
            assert fetched.entered_state_ts == hot.alarm.entered_state_ts

            await client.create_message(agent, CHANNEL, {"sensors": {"temp": 97}})
            await next_of(events, MessageCreate)
            await next_of(events, AggregateUpdate)  # still above: no AlarmTrigger

            await client.create_message(agent, CHANNEL, {"sensors": {"temp": 60}})
            await next_of(events, MessageCreate)
            await next_of(events, AggregateUpdate)
            cool = await next_of(events, AlarmTrigger)
            assert (cool.old_state, cool.new_state) == ("Alarm", "OK")
            assert cool.alarm.state is AlarmState.OK
            assert cool.request_data == {"data": {"sensors": {"temp": 60}}}
            fetched = await client.fetch_alarm(agent, CHANNEL, created.id)
            assert fetched.state is AlarmState.OK
            assert fetched.condition_state["c1"].last_verdict is False
            listed = await client.list_agent_alarms(agent)
            assert [(a.id, a.state) for a in listed] == [(created.id, AlarmState.OK)]


async def test_aggregate_patches_drive_a_pending_multi_condition_alarm(emu: DooverEmulator) -> None:
    agent = emu.default_agent_id
    async with AsyncDataClient(base_url=emu.url, token=emu.token) as client:
        client.gateway_settings = STEADY
        conditions = [
            Condition.compare("level", "gt", "limit", offset=5),
            Condition.time_of_day(0, 86_400_000),  # the whole day
        ]
        created = await client.create_alarm(
            agent, CHANNEL, "overflow", conditions=conditions, alarm_pending_ms=60_000
        )
        async with client.subscribe(agent, CHANNEL) as events:
            await next_of(events, ChannelSync)

            await client.update_channel_aggregate(agent, CHANNEL, {"level": 50, "limit": 40})
            await next_of(events, AggregateUpdate)
            pending = await next_of(events, AlarmTrigger)
            assert (pending.old_state, pending.new_state) == ("NoData", "AlarmPending")
            fetched = await client.fetch_alarm(agent, CHANNEL, created.id)
            assert fetched.state is AlarmState.AlarmPending

            # the pending time passes (no sleeping: evaluate at a later instant)
            later = fetched.entered_state_ts + 60_000
            emu.state.evaluate_alarms(agent, CHANNEL, at_ms=later)
            alarm = await next_of(events, AlarmTrigger)
            assert (alarm.old_state, alarm.new_state) == ("AlarmPending", "Alarm")
            assert alarm.request_data is None
            fetched = await client.fetch_alarm(agent, CHANNEL, created.id)
            assert (fetched.state, fetched.entered_state_ts) == (AlarmState.Alarm, later)

            await client.update_channel_aggregate(agent, CHANNEL, {"limit": None})
            await next_of(events, AggregateUpdate)
            gone = await next_of(events, AlarmTrigger)
            assert (gone.old_state, gone.new_state) == ("Alarm", "NoData")

            await client.update_channel_aggregate(
                agent, CHANNEL, {"level": 1, "limit": 0}, replace_data=True
            )
            await next_of(events, AggregateUpdate)
            ok = await next_of(events, AlarmTrigger)
            assert (ok.old_state, ok.new_state) == ("NoData", "OK")
            assert (await client.fetch_alarm(agent, CHANNEL, created.id)).state is AlarmState.OK


async def test_disabled_alarms_and_logged_aggregate_writes(emu: DooverEmulator) -> None:
    agent = emu.default_agent_id
    async with AsyncDataClient(base_url=emu.url, token=emu.token) as client:
        client.gateway_settings = STEADY
        off = await client.create_alarm(agent, CHANNEL, "off", "v", "ge", 1, enabled=False)
        on = await client.create_alarm(agent, CHANNEL, "on", "v", "ge", 1)
        async with client.subscribe(agent, CHANNEL) as events:
            await next_of(events, ChannelSync)
            # log_update stores a message too, without merging it a second time
            await client.update_channel_aggregate(agent, CHANNEL, {"v": 3}, log_update=True)
            await next_of(events, AggregateUpdate)
            trigger = await next_of(events, AlarmTrigger)
            assert trigger.alarm.id == on.id
            await next_of(events, MessageCreate)
            await client.sync_channel(agent, CHANNEL)
            await next_of(events, ChannelSync)  # nothing else was queued before it
        assert (await client.fetch_alarm(agent, CHANNEL, off.id)).state is AlarmState.NoData
