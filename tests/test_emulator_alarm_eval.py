"""The emulator's alarm evaluation: the I/O-free rules, then the state glue (no server)."""

from __future__ import annotations

from typing import Any

import pytest

from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.emulator._alarm_eval import condition_verdict, evaluate_alarm, next_state
from pydoover_anyio.emulator._alarms import alarm_wire, build_alarm

NOON = 12 * 3_600_000  # ms since UTC midnight
DAY = 86_400_000
T0 = 1_773_532_800_000 + NOON  # a UTC noon (Unix ms)


def threshold(key: str, op: str, value: Any) -> dict[str, Any]:
    return {"type": "threshold", "id": "c1", "key": key, "operator": op, "value": value}


def alarm(*conditions: dict[str, Any], pending_ms: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "a", "conditions": list(conditions)}
    if pending_ms is not None:
        body["alarm_pending_ms"] = pending_ms
    return build_alarm(1, "ch", body, T0 - 1000)


def verdict(condition: dict[str, Any], data: Any, now: int = T0) -> bool | None:
    return condition_verdict(condition, data, now)[0]


# -- one condition ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("gt", 5, True),
        ("gt", 6, False),
        ("ge", 6, True),
        ("ge", 7, False),
        ("lt", 7, True),
        ("lt", 6, False),
        ("le", 6, True),
        ("le", 5, False),
        ("eq", 6, True),
        ("eq", 6.0, True),
        ("eq", 5, False),
    ],
)
def test_threshold_operators_on_a_dotted_key(op: str, value: Any, expected: bool) -> None:
    data = {"sensors": {"temp": 6}}
    assert verdict(threshold("sensors.temp", op, value), data) is expected


@pytest.mark.parametrize(
    ("data", "condition", "expected"),
    [
        ({}, threshold("t", "gt", 1), None),  # missing key
        ({"t": {"x": 1}}, threshold("t.y", "gt", 1), None),  # missing nested key
        ({"t": 5}, threshold("t.y", "gt", 1), None),  # path through a number
        ({"t": "hot"}, threshold("t", "gt", 1), None),  # a string against a number
        ({"t": True}, threshold("t", "gt", 0), None),  # booleans are not numbers
        ({"t": True}, threshold("t", "eq", 1), False),  # ... not even for eq
        ({"t": True}, threshold("t", "eq", True), True),
        ({"t": "on"}, threshold("t", "eq", "on"), True),
        ({"t": "b"}, threshold("t", "gt", "a"), True),  # two strings compare
        ({"t": 1}, threshold("t", "gt", None), None),  # value null (no threshold)
    ],
)
def test_missing_or_incomparable_values_are_no_data(
    data: Any, condition: dict[str, Any], expected: bool | None
) -> None:
    assert verdict(condition, data) is expected


def test_compare_with_and_without_offset() -> None:
    compare = {"type": "compare", "id": "c1", "key": "a", "operator": "gt", "other_key": "b.c"}
    assert verdict(compare, {"a": 5, "b": {"c": 4}}) is True
    assert verdict({**compare, "offset": 1}, {"a": 5, "b": {"c": 4}}) is False
    assert verdict({**compare, "offset": -1.5}, {"a": 3, "b": {"c": 4}}) is True
    assert verdict(compare, {"a": 5}) is None
    assert verdict(compare, {"b": {"c": 4}}) is None
    assert verdict({**compare, "offset": 1}, {"a": "x", "b": {"c": "w"}}) is None


@pytest.mark.parametrize(
    ("from_ms", "to_ms", "at", "inside"),
    [
        (NOON - 1, NOON + 1, NOON, True),
        (NOON, NOON + 1, NOON, True),  # from is inclusive
        (NOON - 1, NOON, NOON, False),  # to is exclusive
        (NOON + 1, NOON + 2, NOON, False),
        (NOON + 1, NOON - 1, NOON, False),  # wraps midnight: noon is outside
        (NOON + 1, NOON - 1, 0, True),  # ... midnight is inside
        (NOON + 1, NOON - 1, NOON + 1, True),
        (NOON, NOON, NOON, False),  # from == to: empty
    ],
)
def test_time_of_day_window(from_ms: int, to_ms: int, at: int, inside: bool) -> None:
    window = {"type": "time_of_day", "id": "c2", "from_ms": from_ms, "to_ms": to_ms}
    now = T0 - NOON + at
    assert verdict(window, {}, now) is inside
    assert verdict({**window, "invert": True}, {}, now) is (not inside)


def test_rate_is_the_average_change_since_the_baseline() -> None:
    rate = {
        "type": "rate",
        "id": "c1",
        "key": "level",
        "operator": "gt",
        "rate_threshold": 2.0,  # units per second
        "rate_window_ms": 10_000,
    }
    first, state = condition_verdict(rate, {"level": 10}, T0)
    assert first is None  # one sample: no rate yet
    assert (state["baseline_value"], state["baseline_ts"]) == (10, T0)
    rising, state = condition_verdict(rate, {"level": 16}, T0 + 2000, state)
    assert rising is True  # 3 units/s
    assert state["baseline_ts"] == T0  # still inside the window
    same_instant, state = condition_verdict(rate, {"level": 99}, T0, state)
    assert same_instant is True  # repeats the last verdict
    slow, state = condition_verdict(rate, {"level": 20}, T0 + 10_000, state)
    assert slow is False  # 1 unit/s over the whole window
    assert (state["baseline_value"], state["baseline_ts"]) == (20, T0 + 10_000)
    assert condition_verdict(rate, {"level": "x"}, T0 + 11_000, state)[0] is None


# -- the whole alarm -------------------------------------------------------------------


def test_conditions_are_anded_and_no_data_wins() -> None:
    window = {"type": "time_of_day", "id": "c2", "from_ms": NOON - 1, "to_ms": NOON + 1}
    stored = alarm(threshold("t", "gt", 5), window)
    assert evaluate_alarm(stored, {"t": 6}, T0).state == "Alarm"
    assert evaluate_alarm(stored, {"t": 6}, T0 + 60_000).state == "OK"  # outside the window
    assert evaluate_alarm(stored, {"t": 4}, T0).state == "OK"
    assert evaluate_alarm(stored, {}, T0).state == "NoData"
    stored["conditions"].append({**threshold("u", "lt", 0), "id": "c3"})
    assert evaluate_alarm(stored, {"t": 4}, T0).state == "NoData"  # u is missing


def test_runtime_state_is_recorded() -> None:
    stored = alarm(threshold("t", "gt", 5))
    result = evaluate_alarm(stored, {"t": 6}, T0)
    assert result.condition_state == {"c1": {"last_seen_ts": T0, "last_verdict": True}}
    assert result.last_seen_ts == T0
    stored.update(condition_state=result.condition_state, last_seen_ts=T0)
    missing = evaluate_alarm(stored, {}, T0 + 5)
    assert missing.condition_state == {"c1": {"last_seen_ts": T0, "last_verdict": True}}
    assert missing.last_seen_ts == T0  # nothing seen: unchanged


def test_pending_enters_alarm_only_after_the_pending_time() -> None:
    stored = alarm(threshold("t", "gt", 5), pending_ms=60_000)
    stored.update(state="OK", entered_state_ts=T0)
    assert evaluate_alarm(stored, {"t": 6}, T0 + 1).state == "AlarmPending"
    stored.update(state="AlarmPending", entered_state_ts=T0 + 1)
    assert evaluate_alarm(stored, {"t": 7}, T0 + 60_000).state == "AlarmPending"
    assert evaluate_alarm(stored, {"t": 7}, T0 + 60_001).state == "Alarm"
    assert evaluate_alarm(stored, {"t": 1}, T0 + 30_000).state == "OK"  # cleared at once
    assert evaluate_alarm(stored, {}, T0 + 30_000).state == "NoData"


@pytest.mark.parametrize(
    ("current", "target", "pending", "at", "expected"),
    [
        ("NoData", "Alarm", None, 0, "Alarm"),
        ("NoData", "Alarm", 0, 0, "Alarm"),
        ("NoData", "Alarm", 10, 0, "AlarmPending"),
        ("Alarm", "Alarm", 10, 0, "Alarm"),
        ("AlarmPending", "Alarm", 10, 9, "AlarmPending"),
        ("AlarmPending", "Alarm", 10, 10, "Alarm"),
        ("AlarmPending", "OK", 10, 5, "OK"),
        ("Alarm", "NoData", 10, 5, "NoData"),
    ],
)
def test_next_state(current: str, target: str, pending: int | None, at: int, expected: str) -> None:
    assert next_state(current, 0, target, pending, at) == expected


# -- the state glue (DooverState, no server started) -------------------------------------


@pytest.fixture
def published() -> tuple[DooverEmulator, list[tuple[str, dict[str, Any]]]]:
    emulator = DooverEmulator()
    events: list[tuple[str, dict[str, Any]]] = []
    emulator.state.gateway_listener = lambda kind, _channel, info: events.append((kind, info))
    emulator.state.create_channel(emulator.default_agent_id, "ch")
    return emulator, events


def _store(emulator: DooverEmulator, alarm_id: int, body: dict[str, Any]) -> dict[str, Any]:
    state = emulator.state
    with state.lock:
        channel = state.channel(emulator.default_agent_id, "ch")
        channel.alarms[alarm_id] = build_alarm(alarm_id, "ch", body, 0)
        return channel.alarms[alarm_id]


def test_aggregate_writes_store_and_publish_transitions(
    published: tuple[DooverEmulator, list[tuple[str, dict[str, Any]]]],
) -> None:
    emulator, events = published
    state, agent = emulator.state, emulator.default_agent_id
    stored = _store(emulator, 5, {"name": "hot", "key": "t", "operator": "gt", "value": 5})
    _store(emulator, 6, {"name": "off", "key": "t", "operator": "gt", "value": 0, "enabled": False})
    channel = state.channel(agent, "ch")
    state.update_aggregate(channel, {"t": 9, "other": 1})
    kinds = [kind for kind, _ in events]
    assert kinds == ["AggregateUpdate", "AlarmTrigger"]  # the disabled alarm is silent
    trigger = events[1][1]
    assert (trigger["old_state"], trigger["new_state"]) == ("NoData", "Alarm")
    assert trigger["alarm"] == alarm_wire(stored)
    assert trigger["alarm"]["state"] == "Alarm"
    assert trigger["aggregate"]["data"] == {"t": 9, "other": 1}
    assert trigger["request_data"] == {"data": {"t": 9, "other": 1}}
    assert trigger["organisation_id"] == str(emulator.organisation_id)
    assert state.alarms(agent, "ch")[6]["state"] == "NoData"
    events.clear()
    state.update_aggregate(channel, {"other": 2})  # still alarming: no trigger
    assert [kind for kind, _ in events] == ["AggregateUpdate"]
    events.clear()
    state.update_aggregate(channel, {"t": None})  # the key is deleted
    assert [(k, i.get("new_state")) for k, i in events][-1] == ("AlarmTrigger", "NoData")


def test_messages_update_the_aggregate_only_when_enabled(
    published: tuple[DooverEmulator, list[tuple[str, dict[str, Any]]]],
) -> None:
    emulator, events = published
    state, agent = emulator.state, emulator.default_agent_id
    _store(emulator, 5, {"name": "hot", "key": "t", "operator": "gt", "value": 5})
    state.add_message(agent, "ch", {"t": 9})
    assert [kind for kind, _ in events] == ["MessageCreate"]
    assert state.aggregate(agent, "ch")["data"] == {}
    state.messages_update_aggregate = True
    events.clear()
    state.add_message(agent, "ch", {"t": 9})
    assert [kind for kind, _ in events] == ["MessageCreate", "AggregateUpdate", "AlarmTrigger"]
    assert state.aggregate(agent, "ch")["data"] == {"t": 9}
    events.clear()
    state.add_message(agent, "ch", [1, 2])  # not an object: no aggregate change
    assert [kind for kind, _ in events] == ["MessageCreate"]


def test_evaluate_alarms_lets_the_pending_time_pass(
    published: tuple[DooverEmulator, list[tuple[str, dict[str, Any]]]],
) -> None:
    emulator, events = published
    state, agent = emulator.state, emulator.default_agent_id
    body = {"name": "hot", "key": "t", "operator": "gt", "value": 5, "alarm_pending_ms": 60_000}
    stored = _store(emulator, 5, body)
    state.update_aggregate(state.channel(agent, "ch"), {"t": 9})
    assert stored["state"] == "AlarmPending"
    entered = stored["entered_state_ts"]
    state.evaluate_alarms(agent, "ch", at_ms=entered + 59_999)
    assert stored["state"] == "AlarmPending"
    state.evaluate_alarms(agent, "ch", at_ms=entered + 60_000)
    assert (stored["state"], stored["entered_state_ts"]) == ("Alarm", entered + 60_000)
    triggers = [info for kind, info in events if kind == "AlarmTrigger"]
    assert [(t["old_state"], t["new_state"]) for t in triggers] == [
        ("NoData", "AlarmPending"),
        ("AlarmPending", "Alarm"),
    ]
    assert triggers[1]["request_data"] is None


def test_set_alarm_state_forces_a_state(
    published: tuple[DooverEmulator, list[tuple[str, dict[str, Any]]]],
) -> None:
    emulator, events = published
    stored = _store(emulator, 5, {"name": "hot", "key": "t", "operator": "gt", "value": 5})
    emulator.gateway.set_alarm_state(emulator.default_agent_id, "ch", 5, "Alarm")
    assert stored["state"] == "Alarm"
    assert events[-1][1]["old_state"] == "NoData"
    with pytest.raises(LookupError):
        emulator.state.set_alarm_state(emulator.default_agent_id, "ch", 404, "OK")


def test_a_rate_alarm_reports_its_baseline() -> None:
    body = {"name": "r", "key": "l", "operator": "gt", "rate_threshold": 1, "rate_window_ms": 5}
    stored = build_alarm(1, "ch", body, 0)
    stored["condition_state"] = evaluate_alarm(stored, {"l": 3}, T0).condition_state
    wire = alarm_wire(stored)
    assert (wire["rate_baseline_value"], wire["rate_baseline_ts"]) == (3, T0)
