"""Alarm methods of AsyncDataClient end to end against the emulator, each request
compared with the one pydoover's DataClient sends for the same call."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pydoover.models as ref_models
import pytest
from doover_client_support import logged, same_call, same_request, wire
from pydoover.api.data._base import UNSET as REF_UNSET
from pydoover.models.data.exceptions import HTTPError as RefHTTPError

import pydoover_anyio.models
from pydoover_anyio._wire import UNSET
from pydoover_anyio.client import AsyncDataClient
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.errors import BadRequestError, HTTPError, NotFoundError
from pydoover_anyio.models import (
    Alarm,
    AlarmMessages,
    AlarmOperator,
    AlarmState,
    AlarmStateMessage,
    Condition,
    ConditionType,
    NotificationPolicy,
)
from pydoover_anyio.snowflake import generate_snowflake_id

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin", "doover_client_fixtures"]
pytestmark = pytest.mark.anyio

CHANNEL = "tag_values"


@pytest.fixture(autouse=True)
def alarm_channel(emu: DooverEmulator, agent: int) -> None:
    """Every test here starts with the alarm channel created."""
    emu.state.create_channel(agent, CHANNEL)


async def test_create_single_condition_alarm(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    args = (agent, CHANNEL, "Overheat", "sensors.temp_c", "gt", 80)
    options: dict[str, Any] = {
        "description": "too hot",
        "expiry_mins": 30.5,
        "topic_name": "overheat",
        "notification_policy": "opt-in",
        "alarm_pending_ms": 60_000,
    }
    alarm, sent = await same_request(
        emu,
        lambda: client.create_alarm(
            *args,
            **options,
            messages=AlarmMessages(
                ok=AlarmStateMessage(notify=False), alarm=AlarmStateMessage(text="hot")
            ),
        ),
        lambda: reference.create_alarm(
            *args,
            **options,
            messages=ref_models.AlarmMessages(
                ok=ref_models.AlarmStateMessage(notify=False),
                alarm=ref_models.AlarmStateMessage(text="hot"),
            ),
        ),
    )
    assert sent.method == "POST"
    assert sent.path == f"/api/agents/{agent}/channels/{CHANNEL}/alarms"
    assert sent.json() == {
        "name": "Overheat",
        "description": "too hot",
        "enabled": True,
        "key": "sensors.temp_c",
        "operator": "gt",
        "value": 80,
        "topic_name": "overheat",
        "notification_policy": "opt-in",
        "expiry_mins": 30.5,
        "alarm_pending_ms": 60_000,
        "messages": {"alarm": {"notify": True, "text": "hot"}, "ok": {"notify": False}},
    }
    assert isinstance(alarm, Alarm)
    assert isinstance(alarm.id, int)
    assert (alarm.key, alarm.operator, alarm.value) == ("sensors.temp_c", AlarmOperator.gt, 80)
    assert alarm.state is AlarmState.NoData
    assert alarm.notification_policy is NotificationPolicy.opt_in
    assert alarm.expiry_mins == 30.5
    assert alarm.messages == AlarmMessages(
        alarm=AlarmStateMessage(True, "hot"), ok=AlarmStateMessage(False)
    )
    assert [c.type for c in alarm.conditions] == [ConditionType.threshold]


async def test_create_multi_condition_alarm(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    ours = [
        Condition.threshold("sensors.temp_c", "gt", 30),
        Condition.rate("tank.level", AlarmOperator.lt, -0.5, 300_000),
        Condition.compare("battery_temp", "gt", "ambient_temp", offset=15),
        Condition.time_between(dt.time(21, 0), dt.time(5, 0), invert=True),
    ]
    theirs = [
        ref_models.Condition.threshold("sensors.temp_c", "gt", 30),
        ref_models.Condition.rate("tank.level", "lt", -0.5, 300_000),
        ref_models.Condition.compare("battery_temp", "gt", "ambient_temp", offset=15),
        ref_models.Condition.time_between(dt.time(21, 0), dt.time(5, 0), invert=True),
    ]
    alarm, sent = await same_request(
        emu,
        lambda: client.create_alarm(agent, CHANNEL, "Combo", conditions=ours, enabled=False),
        lambda: reference.create_alarm(agent, CHANNEL, "Combo", conditions=theirs, enabled=False),
    )
    assert sent.json() == {
        "name": "Combo",
        "description": "",
        "enabled": False,
        "conditions": [
            {"type": "threshold", "operator": "gt", "key": "sensors.temp_c", "value": 30},
            {
                "type": "rate",
                "operator": "lt",
                "key": "tank.level",
                "rate_threshold": -0.5,
                "rate_window_ms": 300_000,
            },
            {
                "type": "compare",
                "operator": "gt",
                "key": "battery_temp",
                "other_key": "ambient_temp",
                "offset": 15,
            },
            {"type": "time_of_day", "from_ms": 75_600_000, "to_ms": 18_000_000, "invert": True},
        ],
    }
    assert [c.id for c in alarm.conditions] == ["c1", "c2", "c3", "c4"]
    assert alarm.enabled is False
    assert alarm.is_multi_condition


async def test_create_rate_alarm_leaves_value_out(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    alarm, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.create_alarm(
            agent,
            CHANNEL,
            "Draining",
            "tank.level",
            "lt",
            rate_threshold=-1.0,
            rate_window_ms=60_000,
        ),
    )
    assert "value" not in sent.json()
    assert sent.json()["rate_threshold"] == -1.0
    assert alarm.is_rate_alarm


async def test_explicit_none_value_is_sent(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    _, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.create_alarm(agent, CHANNEL, "Status", "mode", "eq", None),
    )
    assert sent.json()["value"] is None


async def test_put_fetch_list_and_delete(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    alarm_id = generate_snowflake_id()
    put, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.put_alarm(agent, CHANNEL, alarm_id, "Low", "level", "le", 10),
    )
    assert sent.method == "PUT"
    assert sent.path == f"/api/agents/{agent}/channels/{CHANNEL}/alarms/{alarm_id}"
    assert put.id == alarm_id

    fetched, sent = await same_call(
        emu, client, reference, lambda c: c.fetch_alarm(agent, CHANNEL, alarm_id)
    )
    assert (sent.method, sent.path) == (
        "GET",
        f"/api/agents/{agent}/channels/{CHANNEL}/alarms/{alarm_id}",
    )
    assert fetched == put

    listed, sent = await same_call(emu, client, reference, lambda c: c.list_alarms(agent, CHANNEL))
    assert sent.path == f"/api/agents/{agent}/channels/{CHANNEL}/alarms"
    assert [a.id for a in listed] == [alarm_id]

    everywhere, sent = await same_call(emu, client, reference, lambda c: c.list_agent_alarms(agent))
    assert sent.path == f"/api/agents/{agent}/alarms"
    assert [(a.id, a.channel_name) for a in everywhere] == [(alarm_id, CHANNEL)]

    deleted, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.delete_alarm(agent, CHANNEL, alarm_id),
        theirs_may_fail=True,
    )
    assert deleted is None
    assert (sent.method, sent.body) == ("DELETE", b"")
    with pytest.raises(NotFoundError):
        await client.fetch_alarm(agent, CHANNEL, alarm_id)


async def test_default_agent_and_escaped_channel_name(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    """``agent_id=None`` uses the client's agent; a ``/`` in a channel name is escaped
    into one path segment (pydoover inserted it raw and reached another route)."""
    emu.state.create_channel(agent, "pump/1 alarms")
    created = await client.create_alarm(None, "pump/1 alarms", "Hot", "t", "gt", 1)  # type: ignore[arg-type]
    assert created.channel_name == "pump/1 alarms"
    listed = await client.list_alarms(None, "pump/1 alarms")  # type: ignore[arg-type]
    assert [a.id for a in listed] == [created.id]
    with pytest.raises(RefHTTPError):
        await anyio.to_thread.run_sync(lambda: reference.list_alarms(agent, "pump/1 alarms"))


async def _alarm(client: AsyncDataClient, agent: int) -> Alarm:
    return await client.put_alarm(
        agent,
        CHANNEL,
        generate_snowflake_id(),
        "Hot",
        "t",
        "gt",
        50,
        expiry_mins=5,
        alarm_pending_ms=1000,
        messages=AlarmMessages(ok=AlarmStateMessage(False, "back")),
    )


@pytest.mark.parametrize(
    ("kwargs", "body"),
    [
        ({}, {}),
        (
            {"name": "Renamed", "enabled": False, "description": "d"},
            {"name": "Renamed", "enabled": False, "description": "d"},
        ),
        (
            {"expiry_mins": None, "alarm_pending_ms": None, "messages": None},
            {"expiry_mins": None, "alarm_pending_ms": None, "messages": None},
        ),
        ({"expiry_mins": UNSET, "value": UNSET, "messages": UNSET}, {}),
        (
            {"value": 70, "operator": "ge", "topic_name": "heat", "notification_policy": "default"},
            {"value": 70, "operator": "ge", "topic_name": "heat", "notification_policy": "default"},
        ),
        (
            {"messages": AlarmMessages(alarm=AlarmStateMessage(text="now"))},
            {"messages": {"alarm": {"notify": True, "text": "now"}}},
        ),
    ],
)
async def test_update_alarm_unset_versus_none(
    emu: DooverEmulator,
    client: AsyncDataClient,
    reference: Any,
    agent: int,
    kwargs: dict[str, Any],
    body: dict[str, Any],
) -> None:
    alarm = await _alarm(client, agent)

    def ref_value(value: Any) -> Any:
        if value is UNSET:
            return REF_UNSET
        if isinstance(value, AlarmMessages):
            return ref_models.AlarmMessages.from_dict(value.to_dict())
        return value

    updated, sent = await same_request(
        emu,
        lambda: client.update_alarm(agent, CHANNEL, alarm.id, **kwargs),
        lambda: reference.update_alarm(
            agent, CHANNEL, alarm.id, **{k: ref_value(v) for k, v in kwargs.items()}
        ),
    )
    assert sent.method == "PATCH"
    assert sent.json() == body
    stored = await client.fetch_alarm(agent, CHANNEL, alarm.id)
    assert updated == stored
    if "expiry_mins" in body:
        assert (stored.expiry_mins, stored.alarm_pending_ms, stored.messages) == (None, None, None)
    elif not body:
        assert stored == alarm


async def test_update_switches_threshold_to_rate_and_back(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    alarm = await _alarm(client, agent)
    rate, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.update_alarm(
            agent, CHANNEL, alarm.id, value=None, rate_threshold=0.5, rate_window_ms=60_000
        ),
    )
    assert sent.json() == {"value": None, "rate_threshold": 0.5, "rate_window_ms": 60_000}
    assert rate.is_rate_alarm
    threshold, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.update_alarm(
            agent, CHANNEL, alarm.id, value=60, rate_threshold=None, rate_window_ms=None
        ),
    )
    assert sent.json() == {"value": 60, "rate_threshold": None, "rate_window_ms": None}
    assert not threshold.is_rate_alarm
    assert threshold.value == 60


async def test_update_replaces_conditions_keeping_ids(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    alarm = await client.create_alarm(
        agent,
        CHANNEL,
        "Two",
        conditions=[Condition.threshold("a", "gt", 1), Condition.threshold("b", "lt", 2)],
    )
    kept = alarm.conditions[0]
    updated, sent = await same_request(
        emu,
        lambda: client.update_alarm(
            agent,
            CHANNEL,
            alarm.id,
            conditions=[kept, Condition.time_of_day(0, 3_600_000)],
        ),
        lambda: reference.update_alarm(
            agent,
            CHANNEL,
            alarm.id,
            conditions=[
                ref_models.Condition.threshold("a", "gt", 1, id=kept.id),
                ref_models.Condition.time_of_day(0, 3_600_000),
            ],
        ),
    )
    assert sent.json() == {
        "conditions": [
            {"type": "threshold", "id": "c1", "operator": "gt", "key": "a", "value": 1},
            {"type": "time_of_day", "from_ms": 0, "to_ms": 3_600_000},
        ]
    }
    assert [(c.id, c.type) for c in updated.conditions] == [
        ("c1", ConditionType.threshold),
        ("c3", ConditionType.time_of_day),
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda c, a: c.create_alarm(
                a, CHANNEL, "x", "k", conditions=[Condition.threshold("k", "gt", 1)]
            ),
            "not both",
        ),
        (
            lambda c, a: c.put_alarm(
                a, CHANNEL, 1, "x", value=3, conditions=[Condition.threshold("k", "gt", 1)]
            ),
            "not both",
        ),
        (
            lambda c, a: c.create_alarm(
                a, CHANNEL, "x", rate_window_ms=10, conditions=[Condition.threshold("k", "gt", 1)]
            ),
            "rate_window_ms",
        ),
        (lambda c, a: c.create_alarm(a, CHANNEL, "x"), "needs `conditions`"),
        (lambda c, a: c.create_alarm(a, CHANNEL, "x", "k"), "needs `conditions`"),
        (lambda c, a: c.put_alarm(a, CHANNEL, 1, "x", operator="gt"), "needs `conditions`"),
        (lambda c, a: c.create_alarm(a, CHANNEL, "x", "k", "gte", 1), "gte"),
        (
            lambda c, a: c.create_alarm(
                a, CHANNEL, "x", "k", "gt", 1, notification_policy="opt_out"
            ),
            "opt_out",
        ),
        (
            lambda c, a: c.update_alarm(
                a, CHANNEL, 1, operator="lt", conditions=[Condition.threshold("k", "gt", 1)]
            ),
            "operator",
        ),
    ],
)
async def test_invalid_alarm_arguments_send_nothing(
    emu: DooverEmulator,
    client: AsyncDataClient,
    agent: int,
    call: Callable[[AsyncDataClient, int], Awaitable[object]],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        await call(client, agent)
    assert emu.requests.entries() == []


@pytest.mark.parametrize("method", ["create_alarm", "update_alarm"])
@pytest.mark.parametrize("time_only", [False, True], ids=["empty", "time-only"])
async def test_conditions_that_read_no_data_are_refused_by_the_server(
    emu: DooverEmulator,
    client: AsyncDataClient,
    reference: Any,
    agent: int,
    method: str,
    time_only: bool,
) -> None:
    """Sent as pydoover sends them; the server's 400 is the error, not a client check."""
    existing = await client.create_alarm(agent, CHANNEL, "Hot", "k", "gt", 1)

    def call(api: Any, models: Any) -> Any:
        conditions = [models.Condition.time_of_day(0, 1)] if time_only else []
        if method == "create_alarm":
            return api.create_alarm(agent, CHANNEL, "x", conditions=conditions)
        return api.update_alarm(agent, CHANNEL, existing.id, conditions=conditions)

    emu.requests.clear()
    with pytest.raises(BadRequestError, match="condition"):
        await call(client, pydoover_anyio.models)
    (mine,) = await logged(emu, 1)
    emu.requests.clear()
    with pytest.raises(RefHTTPError):
        await anyio.to_thread.run_sync(call, reference, ref_models)
    (theirs,) = await logged(emu, 1)
    assert wire(mine) == wire(theirs)
    expected = [{"type": "time_of_day", "from_ms": 0, "to_ms": 1}] if time_only else []
    assert mine.json()["conditions"] == expected
    assert await client.list_alarms(agent, CHANNEL) == [existing]


async def test_pydoover_agrees_on_both_condition_styles(reference: Any, agent: int) -> None:
    """The both-styles and neither-style ValueErrors are pydoover's too."""
    with pytest.raises(ValueError, match="not both"):
        reference.create_alarm(
            agent, CHANNEL, "x", "k", conditions=[ref_models.Condition.threshold("k", "gt", 1)]
        )
    with pytest.raises(ValueError, match="needs `conditions`"):
        reference.create_alarm(agent, CHANNEL, "x")


async def test_create_is_not_resent_after_an_ambiguous_failure(
    emu: DooverEmulator, client: AsyncDataClient, agent: int
) -> None:
    emu.faults.fail(1, 503, after=True)
    with pytest.raises(HTTPError) as caught:
        await client.create_alarm(agent, CHANNEL, "Once", "k", "gt", 1)
    assert caught.value.status == 503
    assert len(emu.requests.entries()) == 1
    assert len(await client.list_alarms(agent, CHANNEL)) == 1


async def test_put_patch_and_delete_are_retried(
    emu: DooverEmulator, client: AsyncDataClient, agent: int
) -> None:
    alarm_id = generate_snowflake_id()
    emu.faults.fail(1, 503, after=True)
    await client.put_alarm(agent, CHANNEL, alarm_id, "Hot", "k", "gt", 1)
    emu.faults.fail(1, 502, after=True)
    updated = await client.update_alarm(agent, CHANNEL, alarm_id, name="Hotter")
    assert updated.name == "Hotter"
    emu.faults.fail(1, 500)
    await client.delete_alarm(agent, CHANNEL, alarm_id)
    methods = [r.method for r in await logged(emu, 6)]
    assert methods == ["PUT", "PUT", "PATCH", "PATCH", "DELETE", "DELETE"]
    assert await client.list_alarms(agent, CHANNEL) == []
