"""Doover models: spec examples decode to their documented values, pydoover parity of names,
constructors and ``to_dict``, exact ids, alarm condition synthesis, enums, and decode errors."""

from __future__ import annotations

import inspect
import json
import random
from datetime import UTC, datetime, time, timedelta, timezone
from enum import Enum
from typing import Any

import msgspec
import pydoover.models.data as theirs
import pydoover.models.data.connection as their_connection
import pytest

import pydoover_anyio.models as ours
from pydoover_anyio.errors import ResponseDecodeError
from pydoover_anyio.models._decode import decode
from pydoover_anyio.models._envelopes import CreatedId, CreatedSubscriptions, Token

AGENT = 204101873322459136
MESSAGE_ID = 158915873636352805
URL = "https://data.doover.com/api/agents/1/channels/c/messages"

# Spec §4 examples (values invented by the spec), and a few more in the documented shapes.
MESSAGE = {
    "id": "158915873636352805",
    "author_id": "204101873322459136",
    "channel": {"agent_id": "204101873322459136", "name": "pump_log"},
    "data": {"rpm": 1460, "pressure_kpa": 312.5},
    "attachments": [
        {
            "filename": "snap.jpg",
            "content_type": "image/jpeg",
            "size": 48211,
            "url": "https://data.doover.com/api/agents/204101873322459136/channels/pump_log/"
            "messages/158915873636352805/attachments/1589158736",
        }
    ],
}
CHANNEL = {
    "name": "pump_status",
    "owner_id": "204101873322459136",
    "is_private": False,
    "aggregate_schema": None,
    "message_schema": None,
    "aggregate": {
        "data": {"rpm": 1460, "mode": "auto"},
        "attachments": [],
        "last_updated": 1773578096789,
    },
}
TIMESERIES = {
    "count": 2,
    "results": [
        {"value": 21.7, "message_id": "158915873636352805"},
        {"value": 21.9, "message_id": "158915860000000000"},
    ],
    "next": None,
}
LOG_ENTRIES = [
    {
        "timestamp": 1773578097001,
        "type": "platform.start",
        "record": {"requestId": "0b8e7c1a-aaaa-4bbb-8ccc-123456789abc"},
    },
    {
        "timestamp": 1773578097010,
        "type": "user.log",
        "level": "INFO",
        "logger": "app",
        "message": "started",
        "requestId": "0b8e7c1a-aaaa-4bbb-8ccc-123456789abc",
    },
]
BATCH_AGGREGATES = {
    "results": [
        {
            "agent_id": "204101873322459136",
            "data": {"level_pct": 63},
            "attachments": [],
            "last_updated": 1773578000000,
        }
    ],
    "count": 1,
}
BATCH_MUTATION = {
    "items": [
        {
            "agent_id": "204101873322459136",
            "channel_name": "pump_log",
            "success": True,
            "message_id": "158915873636352805",
        },
        {
            "agent_id": "204101873322459137",
            "channel_name": "pump_log",
            "success": False,
            "error": "channel not found",
        },
    ],
    "count": 2,
    "succeeded": 1,
    "failed": 1,
}
BATCH_MESSAGES = {"results": [MESSAGE], "count": 1, "next": "158915873636352805"}
ALARM = {
    "id": "160002345678901248",
    "name": "Overheat",
    "description": "",
    "enabled": True,
    "key": "sensors.temp_c",
    "operator": "gt",
    "value": 80,
    "state": "OK",
    "entered_state_ts": 1773570000000,
    "conditions": [
        {"type": "threshold", "id": "c1", "operator": "gt", "key": "sensors.temp_c", "value": 80},
        {"type": "time_of_day", "id": "c2", "from_ms": 18000000, "to_ms": 75600000},
    ],
    "condition_state": {"c1": {"last_seen_ts": 1773578000000, "last_verdict": False}},
    "condition_summary": "sensors.temp_c > 80 between 05:00 and 21:00 UTC",
    "expiry_mins": None,
    "topic_name": "overheat",
    "notification_policy": "default",
    "channel_name": "tag_values",
    "alarm_pending_ms": 60000,
    "messages": {"ok": {"notify": False}},
}
SUBSCRIPTION = {
    "id": "170001112223334444",
    "subscriber": "204101873322459999",
    "subscribed_to": "204101873322459136",
    "severity": "Warn",
    "topic_filter": ["dev/applications/default/pump_ctl_1/.*"],
    "topic_filter_mode": "regex",
    "topic_filter_exclude": ["dev/applications/default/pump_ctl_1/heartbeat"],
    "endpoints": [{"id": "170001112223330000", "name": "Ops email", "default": True}],
}
ENDPOINT = {
    "id": "170001112223330000",
    "agent_id": "204101873322459136",
    "type": "Email",
    "name": "Ops email",
    "default": True,
    "extra_data": {"address": "ops@example.com"},
    "priority": 2,
}
ENDPOINT_SUMMARY = {
    "id": "170001112223330000",
    "type": "Sms",
    "name": "Pager",
    "default": False,
    "ready": True,
}
NOTIFICATIONS = {"subscriptions": [SUBSCRIPTION], "subscribers": [], "endpoints": [ENDPOINT]}
CONNECTION = {
    "agent_id": "204101873322459136",
    "session_id": "204119000000000004",
    "default_session": True,
    "address": "203.0.113.7:51234",
    "status": 1,
    "subscriptions": [
        {
            "channel": {"agent_id": "204101873322459136", "name": "pump_status"},
            "subscribed_at": 1773578090000,
            "connection_id": "204119000000000004",
        }
    ],
    "last_ping": 1773578096000,
    "latency": 12.5,
}
SUBSCRIPTION_LOG = {
    "channel": {"agent_id": "204101873322459136", "name": "pump_status"},
    "connection_id": "204119000000000004",
    "subscribed_at": 1773578090000,
}
PERMISSION = {
    "agent_id": "204101873322459136",
    "is_superuser": False,
    "resources": [{"permission_id": "204101873322459136", "permission": "1011"}],
    "last_updated": 1773578000000,
}
SUBSCRIPTION_INFO = {
    "agent_id": "204101873322459136",
    "organisation_id": "204100000000000001",
    "app_key": "pump_ctl_1",
    "deployment_config": {"a": 1},
    "ui_state": {},
    "ui_cmds": {},
    "tag_values": {"t": 2},
    "connection_data": {},
    "token": "tok_secret",
}
PROCESSOR_TOKEN = {
    "id": "204100000000000010",
    "token": "tok_secret",
    "token_id": "204100000000000011",
}
# Spec §4.5: what the processor runtime writes to the ``doover_connection`` channel.
CONNECTION_STATUS = {
    "status": "ContinuousOnline",
    "last_online": 1773578096789,
    "last_ping": 1773578097001,
    "user_agent": "pydoover-processor,app_key=pump_ctl_1",
    "ip": "203.0.113.7",
    "latency_ms": 42,
}
CONNECTION_CONFIG = {
    "connection_type": "PeriodicContinuous",
    "expected_interval": 900,
    "offline_after": 1800,
    "sleep_time": 600,
    "next_wake_time": 1773579000000,
    "display": "OnlineOnly",
}

#: (our model, pydoover's model, JSON object) for every response model with a pydoover twin.
PAIRS: list[tuple[type[Any], type[Any], dict[str, Any]]] = [
    (ours.Message, theirs.Message, MESSAGE),
    (ours.Channel, theirs.Channel, CHANNEL),
    (ours.Aggregate, theirs.Aggregate, CHANNEL["aggregate"]),
    (ours.TimeseriesResponse, theirs.TimeseriesResponse, TIMESERIES),
    (ours.BatchAggregateResponse, theirs.BatchAggregateResponse, BATCH_AGGREGATES),
    (ours.BatchMutationResponse, theirs.BatchMutationResponse, BATCH_MUTATION),
    (ours.BatchMessageResponse, theirs.BatchMessageResponse, BATCH_MESSAGES),
    (ours.Alarm, theirs.Alarm, ALARM),
    (ours.NotificationSubscription, theirs.NotificationSubscription, SUBSCRIPTION),
    (ours.NotificationEndpoint, theirs.NotificationEndpoint, ENDPOINT),
    (ours.NotificationEndpointSummary, theirs.NotificationEndpointSummary, ENDPOINT_SUMMARY),
    (ours.AgentNotificationResponse, theirs.AgentNotificationResponse, NOTIFICATIONS),
    (ours.ConnectionDetail, theirs.ConnectionDetail, CONNECTION),
    (ours.ConnectionSubscriptionLog, theirs.ConnectionSubscriptionLog, SUBSCRIPTION_LOG),
    (ours.AgentPermission, theirs.AgentPermission, PERMISSION),
    (ours.SubscriptionInfo, theirs.SubscriptionInfo, SUBSCRIPTION_INFO),
    (ours.ProcessorTokenResponse, theirs.ProcessorTokenResponse, PROCESSOR_TOKEN),
    (ours.DooverConnectionStatus, theirs.DooverConnectionStatus, CONNECTION_STATUS),
    (ours.ConnectionConfig, theirs.ConnectionConfig, CONNECTION_CONFIG),
    (
        ours.ConnectionConfig,
        theirs.ConnectionConfig,
        {"connection_type": "Continuous", "offline_after": 60.5},
    ),
    # Whole numbers in number fields stay ints, as pydoover passes them through.
    (
        ours.Alarm,
        theirs.Alarm,
        {
            **ALARM,
            "expiry_mins": 5,
            "rate_threshold": 2,
            "rate_window_ms": 60000,
            "rate_baseline_value": 3,
        },
    ),
    (ours.ConnectionDetail, theirs.ConnectionDetail, {**CONNECTION, "latency": 12}),
]


def load(type_: Any, data: Any) -> Any:
    return decode(type_, json.dumps(data).encode(), method="GET", url=URL, status=200)


# -- spec examples ---------------------------------------------------------------------------


def test_message_example() -> None:
    message = load(ours.Message, MESSAGE)
    assert message.id == MESSAGE_ID
    assert message.author_id == AGENT
    assert message.channel == ours.ChannelID(AGENT, "pump_log")
    assert message.data == {"rpm": 1460, "pressure_kpa": 312.5}
    (attachment,) = message.attachments
    assert (attachment.filename, attachment.content_type, attachment.size) == (
        "snap.jpg",
        "image/jpeg",
        48211,
    )
    assert attachment.url.endswith("/attachments/1589158736")
    assert message.timestamp == datetime(2026, 3, 15, 12, 34, 56, 789000, tzinfo=UTC)


def test_models_go_in_sets_and_dicts() -> None:
    # As pydoover's could: deduplicating messages, or keying by them.
    message = load(ours.Message, MESSAGE)
    copy = load(ours.Message, MESSAGE)
    other = load(ours.Message, {**MESSAGE, "id": str(MESSAGE_ID + 1)})
    assert len({message, copy, other}) == 2
    assert {message: "seen"}[copy] == "seen"
    # Models without an id, and argument models, hash by value too (dict fields included).
    values = [
        message.channel,
        message.attachments[0],
        load(ours.Aggregate, CHANNEL["aggregate"]),
        ours.Condition.threshold("k", "gt", [1, 2]),
        ours.AgentAggregate(AGENT, ours.Aggregate({"a": 1}, [], None)),
        ours.Notification("hi"),
    ]
    for value in values:
        twin = copy_of(value)
        assert twin == value
        assert hash(twin) == hash(value)
        assert len({value, twin}) == 1
    assert len({ours.ChannelID(AGENT, "a"), ours.ChannelID(AGENT, "b")}) == 2


def copy_of(model: Any) -> Any:
    """An equal model built afresh from its JSON form."""
    if isinstance(model, ours.Condition | ours.AgentAggregate):
        return type(model).from_dict(model.to_dict())
    if isinstance(model, ours.Notification):
        return ours.Notification(model.message)
    return load(type(model), model.to_dict())


def test_constructors_coerce_string_ids_like_pydoover() -> None:
    args: tuple[Any, ...] = (
        str(MESSAGE_ID),
        str(AGENT),
        ours.ChannelID(str(AGENT), "pump_log"),  # type: ignore[arg-type]
        {},
        [ours.Attachment("a.jpg", None, "48211", "https://x")],  # type: ignore[arg-type]
    )
    message = ours.Message(*args)
    reference = theirs.Message(*args[:2], theirs.ChannelID(str(AGENT), "pump_log"), {}, [])
    assert (message.id, message.author_id, message.channel.agent_id) == (MESSAGE_ID, AGENT, AGENT)
    assert message.attachments[0].size == 48211
    assert message.timestamp == reference.timestamp
    assert ours.Channel("c", str(AGENT), False).owner_id == AGENT  # type: ignore[arg-type]
    assert ours.DataPoint(1, str(MESSAGE_ID)).message_id == MESSAGE_ID  # type: ignore[arg-type]
    result = ours.BatchMutationResult(str(AGENT), "c", True, str(MESSAGE_ID))  # type: ignore[arg-type]
    assert (result.agent_id, result.message_id) == (AGENT, MESSAGE_ID)
    token = ours.ProcessorTokenResponse("1", "t", "2")  # type: ignore[arg-type]
    assert (token.id, token.token_id) == (1, 2)
    with pytest.raises(ValueError, match="invalid literal"):
        ours.ChannelID("pump", "x")  # type: ignore[arg-type]


def test_message_attachments_default_to_empty_and_unknown_fields_are_ignored() -> None:
    data = {k: v for k, v in MESSAGE.items() if k != "attachments"}
    message = load(ours.Message, {**data, "record_log": True, "brand_new": {"x": 1}})
    assert message.attachments == []


def test_channel_example() -> None:
    channel = load(ours.Channel, {**CHANNEL, "alarms_enabled": True})
    assert (channel.name, channel.owner_id, channel.is_private) == ("pump_status", AGENT, False)
    assert channel.aggregate_schema is None
    assert channel.message_schema is None
    assert channel.alarms_enabled is True
    aggregate = channel.aggregate
    assert aggregate is not None
    assert aggregate.data == {"rpm": 1460, "mode": "auto"}
    assert aggregate.attachments == []
    assert aggregate.last_updated == datetime(2026, 3, 15, 12, 34, 56, 789000, tzinfo=UTC)
    assert aggregate.last_updated_ms == 1773578096789


def test_channel_without_aggregate() -> None:
    channel = load(ours.Channel, {k: v for k, v in CHANNEL.items() if k != "aggregate"})
    assert channel.aggregate is None
    assert "aggregate" not in channel.to_dict()


@pytest.mark.parametrize("aggregate", [{}, {"attachments": []}, None])
def test_channel_with_an_empty_aggregate_has_none(aggregate: Any) -> None:
    # pydoover reads a falsy aggregate as none; an object without data is assumed so too.
    channel = load(ours.Channel, {**CHANNEL, "aggregate": aggregate})
    assert channel.aggregate is None
    if not aggregate:
        assert theirs.Channel.from_dict({**CHANNEL, "aggregate": aggregate}).aggregate is None


def test_to_dict_round_trips_sub_millisecond_last_updated() -> None:
    # to_dict() writes float milliseconds (as pydoover does); from_dict reads them back.
    rng = random.Random(5)
    for _ in range(2_000):
        when = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(10**15))
        aggregate = ours.Aggregate({"a": 1}, [], when)
        assert ours.Aggregate.from_dict(aggregate.to_dict()) == aggregate
        item = ours.AgentAggregate(AGENT, aggregate)
        assert ours.AgentAggregate.from_dict(item.to_dict()) == item
        channel = ours.Channel("c", AGENT, False, aggregate=aggregate)
        assert ours.Channel.from_dict(channel.to_dict()) == channel


def test_timeseries_example() -> None:
    series = load(ours.TimeseriesResponse, TIMESERIES)
    assert series.count == 2
    assert [(p.value, p.message_id) for p in series.results] == [
        (21.7, 158915873636352805),
        (21.9, 158915860000000000),
    ]
    assert series.next is None
    assert load(ours.TimeseriesResponse, {**TIMESERIES, "next": "158915860000000000"}).next == (
        158915860000000000
    )


def test_message_log_entries_example() -> None:
    first, second = load(list[ours.MessageLogEntry], LOG_ENTRIES)
    assert (first.timestamp, first.type) == (1773578097001, "platform.start")
    assert first.record == {"requestId": "0b8e7c1a-aaaa-4bbb-8ccc-123456789abc"}
    assert first.level is None
    assert (second.level, second.logger, second.message) == ("INFO", "app", "started")
    assert second.request_id == "0b8e7c1a-aaaa-4bbb-8ccc-123456789abc"
    assert second["type"] == "user.log"
    assert "level" in second
    assert "record" not in second
    assert second.get("missing", 7) == 7
    assert second.to_dict() == LOG_ENTRIES[1]
    for entry, raw in zip((first, second), LOG_ENTRIES, strict=True):
        assert entry.to_dict() == theirs.MessageLogEntry.from_dict(raw).to_dict()


def test_batch_aggregate_example() -> None:
    response = load(ours.BatchAggregateResponse, BATCH_AGGREGATES)
    assert response.count == 1
    (item,) = response.results
    assert item.agent_id == AGENT
    assert item.aggregate.data == {"level_pct": 63}
    assert item.aggregate.last_updated == datetime(2026, 3, 15, 12, 33, 20, tzinfo=UTC)


def test_batch_mutation_example() -> None:
    response = load(ours.BatchMutationResponse, BATCH_MUTATION)
    assert (response.count, response.succeeded, response.failed) == (2, 1, 1)
    ok, failed = response.items
    assert (ok.agent_id, ok.success, ok.message_id, ok.error) == (AGENT, True, MESSAGE_ID, None)
    assert (failed.agent_id, failed.success, failed.error) == (
        AGENT + 1,
        False,
        "channel not found",
    )
    assert response.failures == [failed]


def test_batch_message_response_cursors() -> None:
    response = load(
        ours.BatchMessageResponse,
        {
            **BATCH_MESSAGES,
            "next_cursors": {"204101873322459136": "158915873636352805"},
            "at_limit_agent_ids": ["204101873322459136"],
        },
    )
    assert response.next == MESSAGE_ID
    assert response.next_cursors == {AGENT: MESSAGE_ID}
    assert response.at_limit_agent_ids == [AGENT]
    assert response.results[0].id == MESSAGE_ID


def test_alarm_example() -> None:
    alarm = load(ours.Alarm, ALARM)
    assert alarm.id == 160002345678901248
    assert (alarm.name, alarm.description, alarm.enabled) == ("Overheat", "", True)
    assert (alarm.key, alarm.operator, alarm.value) == ("sensors.temp_c", ours.AlarmOperator.gt, 80)
    assert alarm.state is ours.AlarmState.OK
    assert alarm.entered_state_ts == 1773570000000
    threshold, window = alarm.conditions
    assert threshold == ours.Condition.threshold("sensors.temp_c", "gt", 80, id="c1")
    assert window == ours.Condition.time_of_day(18000000, 75600000, id="c2")
    assert alarm.condition_state == {
        "c1": ours.ConditionState(last_seen_ts=1773578000000, last_verdict=False)
    }
    assert alarm.condition_summary.startswith("sensors.temp_c > 80")
    assert (alarm.topic_name, alarm.channel_name) == ("overheat", "tag_values")
    assert alarm.notification_policy is ours.NotificationPolicy.default
    assert alarm.alarm_pending_ms == 60000
    assert alarm.expiry_mins is None
    assert alarm.messages == ours.AlarmMessages(ok=ours.AlarmStateMessage(notify=False))
    assert alarm.primary_condition is threshold
    assert alarm.has_time_window
    assert alarm.is_multi_condition
    assert not alarm.is_rate_alarm


def test_notification_subscription_example() -> None:
    sub = load(ours.NotificationSubscription, SUBSCRIPTION)
    assert (sub.id, sub.subscriber, sub.subscribed_to) == (
        170001112223334444,
        204101873322459999,
        AGENT,
    )
    assert sub.severity is ours.NotificationSeverity.Warn
    assert sub.topic_filter_mode is ours.NotificationTopicFilterMode.regex
    assert sub.topic_filter_exclude == ["dev/applications/default/pump_ctl_1/heartbeat"]
    assert sub.endpoints == [
        ours.NotificationSubscriptionEndpoint(170001112223330000, "Ops email", True)
    ]


def test_notification_subscription_defaults() -> None:
    minimal = {k: SUBSCRIPTION[k] for k in ("id", "subscriber", "subscribed_to", "topic_filter")}
    sub = load(ours.NotificationSubscription, {**minimal, "severity": 5})
    assert sub.severity is ours.NotificationSeverity.Info
    assert sub.topic_filter_mode is ours.NotificationTopicFilterMode.exact
    assert sub.topic_filter_exclude == []
    assert sub.endpoints == []
    assert (
        load(
            ours.NotificationSubscription,
            {**minimal, "severity": "info", "topic_filter_exclude": None},
        ).topic_filter_exclude
        == []
    )


def test_endpoints_read_their_type_by_name_or_number() -> None:
    assert load(ours.NotificationEndpoint, ENDPOINT).type is ours.NotificationType.Email
    assert (
        load(ours.NotificationEndpoint, {**ENDPOINT, "type": 3}).type
        is ours.NotificationType.WebPush
    )
    summary = load(ours.NotificationEndpointSummary, ENDPOINT_SUMMARY)
    assert (summary.type, summary.ready, summary.priority) == (
        ours.NotificationType.Sms,
        True,
        None,
    )


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("Trace", "Trace"),
        ("critical", "Critical"),
        ("  WARN ", "Warn"),
        ("warning", "Warn"),
        ("error", "Critical"),
        ("err", "Critical"),
        ("fatal", "Critical"),
        ("crit", "Critical"),
        (4, "Debug"),
        (7, "Critical"),
    ],
)
def test_severity_accepts_names_aliases_and_ints(wire: Any, expected: str) -> None:
    assert ours.NotificationSeverity(wire) is ours.NotificationSeverity[expected]
    sub = load(ours.NotificationSubscription, {**SUBSCRIPTION, "severity": wire})
    assert sub.severity is ours.NotificationSeverity[expected]
    assert theirs.NotificationSeverity(wire).name == expected


@pytest.mark.parametrize("wire", ["Loud", "5", 9, True])
def test_unknown_severity_is_a_decode_error(wire: Any) -> None:
    with pytest.raises(ResponseDecodeError, match="HTTP 200"):
        load(ours.NotificationSubscription, {**SUBSCRIPTION, "severity": wire})


def test_named_enums_render_by_name_on_the_wire() -> None:
    assert ours.NotificationType.Http.wire == "Http"
    assert ours.NotificationSeverity.Info.wire == "Info"
    assert ours.NotificationType("firebasepush") is ours.NotificationType.FirebasePush


def test_connections_permissions_processors() -> None:
    detail = load(ours.ConnectionDetail, CONNECTION)
    assert (detail.agent_id, detail.session_id, detail.status) == (AGENT, 204119000000000004, 1)
    assert detail.subscriptions[0].channel == ours.ChannelID(AGENT, "pump_status")
    assert detail.subscriptions[0].connection_id == 204119000000000004
    log = load(ours.ConnectionSubscriptionLog, SUBSCRIPTION_LOG)
    assert (log.subscribed_at, log.unsubscribed_at) == (1773578090000, None)
    permission = load(ours.AgentPermission, PERMISSION)
    assert permission.resources == [ours.ResourcePermission(str(AGENT), "1011")]
    info = load(ours.SubscriptionInfo, SUBSCRIPTION_INFO)
    assert (info.agent_id, info.organisation_id) == (AGENT, 204100000000000001)
    turn = load(
        ours.TurnCredential,
        {
            "username": "u",
            "credential": "c",
            "ttl": 3600,
            "expires_at": 1773581696,
            "uris": ["turn:h:3478"],
        },
    )
    assert turn.uris == ["turn:h:3478"]
    rotated = load(ours.RotatedDeviceToken, {"token": "t", "issued_at_ms": 1773578096789})
    assert rotated.issued_at_ms == 1773578096789
    assert load(ours.ConfirmedDeviceToken, {"tokens_valid_from": 5}).tokens_valid_from == 5


def test_connection_status_and_config() -> None:
    status = load(ours.DooverConnectionStatus, CONNECTION_STATUS)
    assert status.status is ours.ConnectionStatus.continuous_online
    assert status.last_online == datetime(2026, 3, 15, 12, 34, 56, 789000, tzinfo=UTC)
    assert status.last_ping == theirs.DooverConnectionStatus.from_dict(CONNECTION_STATUS).last_ping
    assert (status.ip, status.latency_ms) == ("203.0.113.7", 42)
    # pydoover writes its own to_dict() back: float milliseconds, no optional keys.
    written = theirs.DooverConnectionStatus.from_dict(CONNECTION_STATUS).to_dict()
    assert ours.DooverConnectionStatus.from_dict(written) == status
    assert ours.DooverConnectionStatus.from_dict({}) == ours.DooverConnectionStatus()

    config = load(ours.ConnectionConfig, CONNECTION_CONFIG)
    assert config.connection_type is ours.ConnectionType.periodic_continuous
    assert config.display is ours.ConnectionDisplay.online_only
    assert (config.offline_after, config.next_wake_time) == (1800, 1773579000000)
    built = ours.ConnectionConfig(ours.ConnectionType.periodic, 60, offline_after=600)
    built.offline_after = 900  # mutable, as pydoover's is
    assert built.to_dict() == {
        "connection_type": "Periodic",
        "expected_interval": 60,
        "offline_after": 900,
        "sleep_time": None,
        "next_wake_time": None,
    }
    assert ours.ConnectionConfig.from_dict({"connection_type": None}).connection_type is None
    v1 = {"connectionType": "periodic_continuous", "connectionPeriod": 300, "offlineAfter": 900}
    assert (
        ours.ConnectionConfig.from_v1(v1).to_dict() == theirs.ConnectionConfig.from_v1(v1).to_dict()
    )
    for value in ("constant", "continuous", "periodic", "periodic_continuous"):
        assert (
            ours.ConnectionType.from_v1(value).value == theirs.ConnectionType.from_v1(value).value
        )
    with pytest.raises(ValueError, match="Unknown connection type"):
        ours.ConnectionType.from_v1("sometimes")
    with pytest.raises(ResponseDecodeError, match="display"):
        load(ours.ConnectionConfig, {"display": "Sometimes"})


def test_subscription_info_decodes_its_connection_data() -> None:
    info = load(
        ours.SubscriptionInfo,
        {
            **SUBSCRIPTION_INFO,
            "connection_data": {
                "status": CONNECTION_STATUS,
                "determination": "Online",
                "config": CONNECTION_CONFIG,
            },
        },
    )
    assert info.connection_status == load(ours.DooverConnectionStatus, CONNECTION_STATUS)
    assert info.connection_config == load(ours.ConnectionConfig, CONNECTION_CONFIG)
    assert info.connection_data["determination"] == "Online"  # still the raw object
    empty = load(ours.SubscriptionInfo, SUBSCRIPTION_INFO)
    assert (empty.connection_status, empty.connection_config) == (None, None)
    broken = load(ours.SubscriptionInfo, {**SUBSCRIPTION_INFO, "connection_data": {"config": 7}})
    with pytest.raises(ValueError, match="Expected `object`"):
        _ = broken.connection_config


def test_secrets_are_not_in_reprs() -> None:
    for value in (
        load(ours.SubscriptionInfo, SUBSCRIPTION_INFO),
        load(ours.ProcessorTokenResponse, PROCESSOR_TOKEN),
        load(ours.RotatedDeviceToken, {"token": "tok_secret", "issued_at_ms": 1}),
        load(
            ours.TurnCredential,
            {"username": "u", "credential": "tok_secret", "ttl": 1, "expires_at": 1, "uris": []},
        ),
        load(Token, {"token": "tok_secret"}),
    ):
        assert "tok_secret" not in repr(value)


def test_envelopes() -> None:
    assert load(CreatedId, {"id": "204101873322459136"}).id == AGENT
    created = load(CreatedSubscriptions, {"subscriptions": [{"id": "5", "endpoint_id": "6"}]})
    assert [row.to_dict() for row in created.subscriptions] == [{"id": 5, "endpoint_id": 6}]


# -- exact ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize("big", [2**53 + 1, 2**63 - 1, 18446744073709551615, MESSAGE_ID])
def test_ids_above_2_pow_53_survive_as_strings_and_as_numbers(big: int) -> None:
    for wire in (str(big), big):
        message = load(ours.Message, {**MESSAGE, "id": wire})
        assert message.id == big
        assert type(message.id) is int
    raw = f'{{"value": 1, "message_id": {big}}}'.encode()
    assert decode(ours.DataPoint, raw, method="GET", url=URL, status=200).message_id == big


@pytest.mark.parametrize(
    "wire", [1.5891587363635281e17, "1.58e17x", "abc", "", -1, "-5", True, None]
)
def test_bad_ids_are_refused(wire: Any) -> None:
    with pytest.raises(ResponseDecodeError, match=r"\$\.id"):
        load(ours.Message, {**MESSAGE, "id": wire})


# -- pydoover parity -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mine", "pydoover", "data"), PAIRS, ids=lambda v: getattr(v, "__name__", "")
)
def test_to_dict_matches_pydoover(
    mine: type[Any], pydoover: type[Any], data: dict[str, Any]
) -> None:
    decoded = load(mine, data)
    assert decoded.to_dict() == pydoover.from_dict(data).to_dict()
    assert mine.from_dict(data) == decoded
    assert mine.from_dict(decoded.to_dict()) == decoded


@pytest.mark.parametrize(
    ("mine", "pydoover", "data"), PAIRS, ids=lambda v: getattr(v, "__name__", "")
)
def test_pydoover_attributes_are_all_there(
    mine: type[Any], pydoover: type[Any], data: dict[str, Any]
) -> None:
    decoded = load(mine, data)
    reference = pydoover.from_dict(data)
    for name, value in vars(reference).items():
        assert hasattr(decoded, name), name
        if isinstance(value, int | str | bool | float) or value is None:
            assert getattr(decoded, name) == value, name
            if type(value) in (int, float):  # 5 is not 5.0
                assert type(getattr(decoded, name)) is type(value), name


def test_message_timestamp_matches_pydoover() -> None:
    assert load(ours.Message, MESSAGE).timestamp == theirs.Message.from_dict(MESSAGE).timestamp


#: pydoover.models.data names this package has elsewhere (gateway events: the gateway
#: package; exceptions: pydoover_anyio.errors) or not at all (the device agent's gRPC
#: channel listing is not a Data API model).
NOT_MODELS_HERE = {
    "AggregateUpdateEvent",
    "AlarmTriggerEvent",
    "ChannelSyncEvent",
    "DeploymentEvent",
    "EventSubscription",
    "IngestionEndpointEvent",
    "ManualInvokeEvent",
    "MessageCreateEvent",
    "MessageUpdateEvent",
    "OneShotMessage",
    "ScheduleEvent",
    "WireFormat",
    "ChannelList",
    "ChannelListing",
    "BadRequestError",
    "DooverAPIError",
    "ForbiddenError",
    "HTTPError",
    "NotFoundError",
    "TokenRefreshError",
    "UnauthorizedError",
}


#: Ours beyond pydoover.models.data's ``__all__`` (pydoover defines it but does not export it).
EXTRA_MODELS = {"ConnectionDisplay"}


def test_every_data_client_model_name_exists() -> None:
    assert set(theirs.__all__) - NOT_MODELS_HERE == set(ours.__all__) - EXTRA_MODELS
    assert ours.MAX_BATCH_MUTATIONS == theirs.MAX_BATCH_MUTATIONS == 50


@pytest.mark.parametrize(
    "name",
    [
        "AlarmOperator",
        "AlarmState",
        "NotificationPolicy",
        "ConditionType",
        "NotificationType",
        "NotificationSeverity",
        "NotificationTopicFilterMode",
        "ConnectionDetermination",
        "ConnectionStatus",
        "ConnectionType",
        "ConnectionDisplay",
    ],
)
def test_enums_match_pydoover(name: str) -> None:
    mine: type[Enum] = getattr(ours, name)
    reference: type[Enum] = getattr(theirs, name, None) or getattr(their_connection, name)
    assert [(m.name, m.value) for m in mine] == [(m.name, m.value) for m in reference]
    for mixin in (str, int):
        assert issubclass(mine, mixin) == issubclass(reference, mixin)
    member = next(iter(mine))
    assert str(member) == str(next(iter(reference))).replace(reference.__name__, name)


ARGUMENT_MODELS = [
    "File",
    "BatchMutationItem",
    "Condition",
    "AlarmStateMessage",
    "AlarmMessages",
    "Notification",
    "MessageLogEntry",
]


def _parameters(func: Any) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(func).parameters.values()]


@pytest.mark.parametrize("name", ARGUMENT_MODELS)
def test_argument_model_constructors_match_pydoover(name: str) -> None:
    assert _parameters(getattr(ours, name)) == _parameters(getattr(theirs, name))


def test_from_dict_and_to_dict_take_pydoovers_parameters() -> None:
    """A keyword call (``Aggregate.from_dict(payload=...)``) works as with pydoover."""
    differing = {}
    for name in sorted(set(dir(theirs)) & set(dir(ours))):
        reference = getattr(theirs, name)
        if not inspect.isclass(reference):
            continue
        for method in ("from_dict", "to_dict"):
            if hasattr(reference, method):
                expected = _parameters(getattr(reference, method))
                actual = _parameters(getattr(getattr(ours, name), method))
                if actual != expected:
                    differing[f"{name}.{method}"] = (expected, actual)
    assert not differing


@pytest.mark.parametrize("name", ["threshold", "rate", "compare", "time_of_day", "time_between"])
def test_condition_constructors_match_pydoover(name: str) -> None:
    assert _parameters(getattr(ours.Condition, name)) == _parameters(
        getattr(theirs.Condition, name)
    )


# -- argument models -----------------------------------------------------------------------------


AWARE = datetime(2026, 3, 15, 12, 34, 56, 789000, tzinfo=UTC)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"data": {"rpm": 1}},
        {"message_id": MESSAGE_ID},
        {"message_id": str(MESSAGE_ID), "data": {"a": None}},
        {"timestamp": 1773578096789},
        {"timestamp": AWARE},
        {"timestamp": AWARE.astimezone(timezone(timedelta(hours=10)))},
        {"ttl": 3600, "replace": ["state.children.app"], "suppress_hooks": False},
        {"suppress_hooks": True, "data": {}},
    ],
)
def test_batch_item_to_dict_matches_pydoover(kwargs: dict[str, Any]) -> None:
    mine = ours.BatchMutationItem(AGENT, "pump_log", **kwargs).to_dict()
    assert mine == theirs.BatchMutationItem(AGENT, "pump_log", **kwargs).to_dict()
    assert mine["agent_id"] == "204101873322459136"
    assert "message_id" not in mine or mine["message_id"] == str(MESSAGE_ID)


def test_batch_item_naive_timestamp_is_utc() -> None:
    item = ours.BatchMutationItem(str(AGENT), "c", timestamp=AWARE.replace(tzinfo=None))
    assert item.agent_id == AGENT
    assert item.to_dict()["ts"] == 1773578096789


@pytest.mark.parametrize(
    "build",
    [
        lambda m: m.Condition.threshold("sensors.temp_c", "gt", 80),
        lambda m: m.Condition.threshold("status", m.AlarmOperator.eq, None, id="c3"),
        lambda m: m.Condition.rate("tank.level", "lt", -0.5, 300_000, id="c2"),
        lambda m: m.Condition.compare("battery_temp", "gt", "ambient_temp", offset=15),
        lambda m: m.Condition.compare("a", "le", "b"),
        lambda m: m.Condition.time_of_day(75_600_000, 18_000_000, invert=True),
        lambda m: m.Condition.time_between(time(5, 0), time(21, 30, 15, 250_000)),
        lambda m: m.Condition("threshold", key="k", operator="ge", value=[1, 2]),
    ],
)
def test_condition_to_dict_matches_pydoover(build: Any) -> None:
    mine, reference = build(ours), build(theirs)
    assert mine.to_dict() == reference.to_dict()
    assert mine.keys == reference.keys
    assert ours.Condition.from_dict(mine.to_dict()) == mine


def test_condition_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="UTC"):
        ours.Condition.time_between(time(5, tzinfo=UTC), time(6))
    with pytest.raises(ValueError, match="geofence"):
        ours.Condition("geofence")
    with pytest.raises(ValueError, match="ne"):
        ours.Condition("threshold", operator="ne")
    assert ours.Condition.time_between(18_000_000, time(0, 0, 1)).to_dict()["to_ms"] == 1000


def test_alarm_messages_to_dict_matches_pydoover() -> None:
    def build(m: Any) -> Any:
        return m.AlarmMessages(
            alarm=m.AlarmStateMessage(text="Tank {value} high"),
            pending=m.AlarmStateMessage(notify=False, text="kept"),
            no_data=m.AlarmStateMessage(),
        )

    mine = build(ours)
    assert mine.to_dict() == build(theirs).to_dict()
    assert ours.AlarmMessages.from_dict(mine.to_dict()) == mine
    assert ours.AlarmMessages().to_dict() == {}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"message": "Pump stopped"},
        {"message": "x", "title": "Pump 3", "severity": "warning", "topic": "dev/a"},
        {"message": "x", "severity": 7},
        {"message": "x", "severity": "INFO", "topic": "t"},
    ],
)
def test_notification_to_dict_matches_pydoover(kwargs: dict[str, Any]) -> None:
    mine = ours.Notification(**kwargs)
    assert mine.to_dict() == theirs.Notification(**kwargs).to_dict()
    assert ours.Notification.from_dict(mine.to_dict()) == mine


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"message": ""}, ValueError),
        ({"message": "   "}, ValueError),
        ({"message": 5}, TypeError),
        ({"message": "x", "title": 5}, TypeError),
        ({"message": "x", "topic": b"t"}, TypeError),
        ({"message": "x", "severity": "loud"}, ValueError),
        ({"message": "x", "severity": 2}, ValueError),
    ],
)
def test_notification_validation(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        ours.Notification(**kwargs)
    with pytest.raises(error):
        theirs.Notification(**kwargs)


def test_notification_topic() -> None:
    topic = ours.NotificationTopic.application("pump_ctl_1", "over-pressure", "opt-in")
    assert topic == "dev/applications/opt-in/pump_ctl_1/over-pressure"
    assert topic == theirs.NotificationTopic.application("pump_ctl_1", "over-pressure", "opt-in")
    assert isinstance(topic, str)
    with pytest.raises(ValueError, match="app_key"):
        ours.NotificationTopic.application("Pump", "e")
    with pytest.raises(TypeError):
        ours.NotificationTopic.application("pump", 5)  # type: ignore[arg-type]
    assert ours.Notification.NOTIFICATIONS_CHANNEL == "notifications"


def test_file_keeps_its_fields_and_hides_its_bytes_in_repr() -> None:
    file = ours.File("snap.jpg", "image/jpeg", 3, b"\xff\xd8\xff")
    assert (file.filename, file.content_type, file.size, file.data) == (
        "snap.jpg",
        "image/jpeg",
        3,
        b"\xff\xd8\xff",
    )
    assert "<3 bytes>" in repr(file)
    assert file == ours.File("snap.jpg", "image/jpeg", 3, b"\xff\xd8\xff")


# -- alarm condition synthesis ----------------------------------------------------------------


BASE_ALARM = {
    "id": "160002345678901248",
    "name": "Level",
    "description": "d",
    "enabled": False,
    "state": "AlarmPending",
    "entered_state_ts": 1,
}

ALARM_VARIANTS = [
    {"key": "tank.level", "operator": "lt", "value": 10},
    {"key": "tank.level", "operator": "lt", "value": None},
    {"key": "tank.level", "operator": "lt"},
    {"key": "tank.level", "operator": "lt", "conditions": []},
    {"key": "tank.level", "operator": "lt", "conditions": None, "condition_state": None},
    {"key": "tank.level", "operator": "le", "rate_threshold": -0.5, "rate_window_ms": 60000},
    {"key": "tank.level", "operator": "le", "rate_window_ms": 60000},
    {
        "conditions": [
            {
                "type": "rate",
                "id": "c4",
                "key": "k",
                "operator": "gt",
                "rate_threshold": 2.5,
                "rate_window_ms": 1000,
            }
        ]
    },
    {
        "conditions": [
            {"type": "compare", "id": "c1", "key": "a", "operator": "gt", "other_key": "b"},
            {
                "type": "rate",
                "key": "r",
                "operator": "lt",
                "rate_threshold": 1,
                "rate_window_ms": 5,
            },
        ]
    },
    {"conditions": [{"type": "time_of_day", "from_ms": 0, "to_ms": 1000}]},
    {
        "key": None,
        "operator": None,
        "conditions": [{"type": "threshold", "key": "x", "operator": "eq", "value": "on"}],
    },
    {
        "value": 3,
        "rate_threshold": None,
        "conditions": [
            {"type": "rate", "key": "k", "operator": "gt", "rate_threshold": 2, "rate_window_ms": 9}
        ],
    },
    {},
    {"topic_name": "t", "notification_policy": "opt-in", "expiry_mins": 1.5, "messages": None},
]


@pytest.mark.parametrize("variant", ALARM_VARIANTS)
def test_alarm_derivation_matches_pydoover(variant: dict[str, Any]) -> None:
    data = {**BASE_ALARM, **variant}
    alarm = load(ours.Alarm, data)
    reference = theirs.Alarm.from_dict(data)
    assert alarm.to_dict() == reference.to_dict()
    assert (alarm.key, alarm.value, alarm.rate_threshold, alarm.rate_window_ms) == (
        reference.key,
        reference.value,
        reference.rate_threshold,
        reference.rate_window_ms,
    )
    assert alarm.operator == reference.operator
    assert alarm.is_rate_alarm == reference.is_rate_alarm
    assert alarm.is_multi_condition == reference.is_multi_condition


def test_legacy_alarm_gets_a_c1_condition() -> None:
    threshold = load(ours.Alarm, {**BASE_ALARM, "key": "t", "operator": "gt", "value": 30})
    assert threshold.conditions == [ours.Condition.threshold("t", "gt", 30, id="c1")]
    rate = load(
        ours.Alarm,
        {**BASE_ALARM, "key": "t", "operator": "gt", "rate_threshold": 1.0, "rate_window_ms": 500},
    )
    assert rate.conditions == [ours.Condition.rate("t", "gt", 1.0, 500, id="c1")]
    assert rate.is_rate_alarm


def test_alarm_built_by_hand_coerces_like_pydoover() -> None:
    alarm = ours.Alarm(
        id="7",  # type: ignore[arg-type]
        name="n",
        description="",
        enabled=True,
        state="OK",  # type: ignore[arg-type]
        entered_state_ts=0,
        key="k",
        operator="gt",  # type: ignore[arg-type]
        value=1,
    )
    assert (alarm.id, alarm.state, alarm.operator) == (7, ours.AlarmState.OK, ours.AlarmOperator.gt)
    assert alarm.conditions == [ours.Condition.threshold("k", "gt", 1, id="c1")]


# -- decode() and its errors ---------------------------------------------------------------------


def test_decoders_are_cached_per_type() -> None:
    from pydoover_anyio.models import _decode

    load(list[ours.Message], [MESSAGE])
    first = _decode._DECODERS[list[ours.Message]]
    load(list[ours.Message], [])
    assert _decode._DECODERS[list[ours.Message]] is first


@pytest.mark.parametrize("body", [b"", b"  \n", b"null", b" null "])
def test_empty_body_is_none_when_allowed(body: bytes) -> None:
    result = decode(ours.Message, body, method="PATCH", url=URL, status=200, allow_empty=True)
    assert result is None


def test_allow_empty_still_decodes_a_body() -> None:
    body = json.dumps(MESSAGE).encode()
    message = decode(ours.Message, body, method="PATCH", url=URL, status=200, allow_empty=True)
    assert message is not None
    assert message.id == MESSAGE_ID


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"   ", "empty body"),
        (b"null", "got `null`"),
        (b"{", "truncated"),
        (b"<html>502</html>", "malformed"),
        (b'{"id": "1"}', "missing required field"),
        (b"[]", "Expected `object`, got `array`"),
        (json.dumps({**MESSAGE, "channel": {"agent_id": "1"}}).encode(), r"\$\.channel"),
        (
            json.dumps({**MESSAGE, "attachments": [{"filename": 1}]}).encode(),
            r"\$\.attachments\[0\]",
        ),
    ],
)
def test_malformed_bodies_raise_response_decode_error(body: bytes, reason: str) -> None:
    url = "https://user:pw@data.doover.com/api/agents/1?access_token=tok_secret"
    with pytest.raises(ResponseDecodeError, match=reason) as caught:
        decode(ours.Message, body, method="post", url=url, status=201)
    error = caught.value
    assert (error.method, error.status) == ("POST", 201)
    assert "tok_secret" not in str(error)
    assert "pw" not in error.url
    assert str(error).startswith(
        "unexpected response to POST https://data.doover.com/api/agents/1?"
    )
    assert "(HTTP 201)" in str(error)


def test_nested_plain_models_report_their_problem() -> None:
    bad_condition = {**ALARM, "conditions": [{"type": "geofence"}]}
    with pytest.raises(ResponseDecodeError, match="geofence"):
        load(ours.Alarm, bad_condition)
    with pytest.raises(ResponseDecodeError, match="timestamp"):
        load(list[ours.MessageLogEntry], [{"timestamp": "soon", "type": "x"}])
    with pytest.raises(ResponseDecodeError, match="object"):
        load(list[ours.MessageLogEntry], [5])
    with pytest.raises(ResponseDecodeError, match="notify"):
        load(ours.Alarm, {**ALARM, "messages": {"ok": {"notify": "maybe"}}})


def test_raw_json_targets() -> None:
    assert load(dict[str, Any], {"count": 1, "next": "5"}) == {"count": 1, "next": "5"}
    assert decode(Any, b"[1]", method="GET", url=URL, status=200) == [1]  # type: ignore[arg-type]


def test_response_model_constructors_take_pydoovers_arguments() -> None:
    """Every pydoover parameter, in pydoover's order and kind (ours may add more)."""
    differing = {}
    for name in sorted(set(dir(theirs)) & set(dir(ours))):
        reference = getattr(theirs, name)
        if not inspect.isclass(reference) or issubclass(reference, BaseException | Enum | str):
            continue
        expected = [(p.name, p.kind) for p in inspect.signature(reference).parameters.values()]
        actual = [
            (p.name, p.kind) for p in inspect.signature(getattr(ours, name)).parameters.values()
        ]
        if actual[: len(expected)] != expected:
            differing[name] = (expected, actual)
    assert not differing


def test_alarm_and_agent_aggregate_build_positionally_like_pydoover() -> None:
    args = (1, "Hot", "", True, "rpm", "gt", 80, "OK", 0)
    alarm = ours.Alarm(*args)  # type: ignore[arg-type]
    reference = theirs.Alarm(*args)  # type: ignore[arg-type]
    assert (alarm.id, alarm.key, alarm.value, alarm.entered_state_ts) == (1, "rpm", 80, 0)
    assert (alarm.operator, alarm.state) == (reference.operator, reference.state)
    assert alarm.conditions == [ours.Condition.threshold("rpm", "gt", 80, id="c1")]
    with pytest.raises(ValueError, match="entered_state_ts"):
        ours.Alarm(1, "n", "", True)
    with pytest.raises(ResponseDecodeError, match="entered_state_ts"):
        load(ours.Alarm, {k: v for k, v in ALARM.items() if k != "entered_state_ts"})

    aggregate = ours.Aggregate({"level_pct": 63}, [], None)
    item = ours.AgentAggregate(str(AGENT), aggregate)  # type: ignore[arg-type]
    their_item = theirs.AgentAggregate(str(AGENT), theirs.Aggregate({"level_pct": 63}, [], None))
    assert (item.agent_id, item.aggregate, item.data) == (AGENT, aggregate, {"level_pct": 63})
    assert item.to_dict() == their_item.to_dict()
    assert issubclass(ours.Message, msgspec.Struct)


def test_attachment_content_type_is_optional_but_size_and_url_are_not() -> None:
    attachment = MESSAGE["attachments"][0]  # type: ignore[index]
    bare = {k: v for k, v in attachment.items() if k != "content_type"}
    assert load(ours.Attachment, bare).content_type is None
    assert load(ours.Attachment, {**attachment, "content_type": None}).content_type is None
    for missing in ("size", "url", "filename"):
        with pytest.raises(ResponseDecodeError, match=missing):
            load(ours.Attachment, {k: v for k, v in attachment.items() if k != missing})
    positional = ours.Attachment("a.txt", "text/plain", 3, "https://h/a")
    assert positional == theirs_attachment_as_ours("a.txt", "text/plain", 3, "https://h/a")


def theirs_attachment_as_ours(*args: Any) -> Any:
    return ours.Attachment.from_dict(theirs.Attachment(*args).to_dict())
