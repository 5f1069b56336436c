"""Notification methods of AsyncDataClient end to end against the emulator, each request
compared with the one pydoover's DataClient sends for the same call."""

from __future__ import annotations

from typing import Any

import pydoover.models as ref_models
import pytest
from doover_client_support import logged, same_call, same_request
from pydoover.api.data._base import UNSET as REF_UNSET

from pydoover_anyio._wire import UNSET
from pydoover_anyio.client import AsyncDataClient
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.errors import HTTPError, NotFoundError
from pydoover_anyio.models import (
    AgentNotificationResponse,
    Message,
    Notification,
    NotificationEndpoint,
    NotificationEndpointSummary,
    NotificationSeverity,
    NotificationSubscription,
    NotificationTopic,
    NotificationTopicFilterMode,
    NotificationType,
)

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin", "doover_client_fixtures"]
pytestmark = pytest.mark.anyio


@pytest.fixture
def other(emu: DooverEmulator) -> int:
    """A second agent, whose notifications the default agent subscribes to."""
    return emu.state.add_agent("pump station")


# -- sending --------------------------------------------------------------------------------


async def test_send_notification(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    topic = NotificationTopic.application("pump_ctl_1", "overpressure")
    message, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.send_notification(
            agent, "Pressure high", title="Pump 1", severity="warning", topic=topic
        ),
    )
    assert (sent.method, sent.path) == (
        "POST",
        f"/api/agents/{agent}/channels/notifications/messages",
    )
    payload = {
        "message": "Pressure high",
        "title": "Pump 1",
        "severity": 6,
        "topic": "dev/applications/default/pump_ctl_1/overpressure",
    }
    assert sent.json() == {"data": payload}
    assert isinstance(message, Message)
    assert message.data == payload
    assert message.channel.name == "notifications"
    stored = emu.state.messages(agent, "notifications")
    assert [m["data"] for m in stored] == [payload, payload]


async def test_send_a_notification_object(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any
) -> None:
    note = Notification("Tank empty", severity=NotificationSeverity.Critical)
    message, sent = await same_request(
        emu,
        lambda: client.send_notification(None, note, title="ignored"),  # type: ignore[arg-type]
        lambda: reference.send_notification(
            emu.default_agent_id,
            ref_models.Notification("Tank empty", severity=7),
            title="ignored",
        ),
    )
    assert sent.json() == {"data": {"message": "Tank empty", "severity": 7}}
    assert message.data == {"message": "Tank empty", "severity": 7}


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"message": "   "}, ValueError),
        ({"message": "hi", "severity": "loud"}, ValueError),
        ({"message": "hi", "severity": 9}, ValueError),
        ({"message": "hi", "title": 5}, TypeError),
        ({"message": 5}, TypeError),
    ],
)
async def test_invalid_notification_sends_nothing(
    emu: DooverEmulator,
    client: AsyncDataClient,
    agent: int,
    kwargs: dict[str, Any],
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        await client.send_notification(agent, **kwargs)
    assert emu.requests.entries() == []


async def test_send_is_not_resent_after_an_ambiguous_failure(
    emu: DooverEmulator, client: AsyncDataClient, agent: int
) -> None:
    emu.faults.fail(1, 502, after=True)
    with pytest.raises(HTTPError):
        await client.send_notification(agent, "once")
    assert len(await logged(emu, 1)) == 1
    assert len(emu.state.messages(agent, "notifications")) == 1


# -- endpoints ------------------------------------------------------------------------------


async def test_endpoint_lifecycle(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    base = f"/api/agents/{agent}/notifications/endpoints"
    email, sent = await same_request(
        emu,
        lambda: client.create_notification_endpoint(
            agent,
            "Ops email",
            NotificationType.Email.value,
            {"address": "ops@example.com"},
            True,
            priority=2,
        ),
        lambda: reference.create_notification_endpoint(
            agent, "Ops email", 1, {"address": "ops@example.com"}, True, priority=2
        ),
    )
    assert (sent.method, sent.path) == ("POST", base)
    assert sent.json() == {
        "name": "Ops email",
        "type": "Email",
        "extra_data": {"address": "ops@example.com"},
        "default": True,
        "priority": 2,
    }
    assert isinstance(email, int)
    for duplicate in await client.list_notification_endpoints(agent):  # pydoover's create
        if duplicate.id != email:
            await client.delete_notification_endpoint(agent, duplicate.id)
    sms = await client.create_notification_endpoint(agent, "Pager", "sms", {"to": "+61"}, False)
    placeholder = await client.create_notification_endpoint(
        agent, "Later", NotificationType.Placeholder, {}, False
    )
    assert emu.requests.entries()[-1].json()["type"] == "Placeholder"

    listed, sent = await same_call(
        emu, client, reference, lambda c: c.list_notification_endpoints(agent, name="Pager")
    )
    assert (sent.path, sent.query) == (base, "name=Pager")
    assert [(e.id, e.type, e.extra_data) for e in listed] == [
        (sms, NotificationType.Sms, {"to": "+61"})
    ]
    everything = await client.list_notification_endpoints(agent)
    assert all(isinstance(e, NotificationEndpoint) for e in everything)
    assert {e.id for e in everything} == {email, sms, placeholder}

    summaries, sent = await same_call(
        emu, client, reference, lambda c: c.list_notification_endpoint_summaries(agent)
    )
    assert sent.path == f"{base}/summary"
    assert all(isinstance(s, NotificationEndpointSummary) for s in summaries)
    assert {s.id: s.ready for s in summaries} == {email: True, sms: True, placeholder: False}

    ok, sent = await same_call(
        emu, client, reference, lambda c: c.test_notification_endpoint(agent, email)
    )
    assert (sent.method, sent.path, sent.body) == ("POST", f"{base}/{email}/test", b"")
    assert ok is True
    assert await client.test_notification_endpoint(agent, placeholder) is False

    deleted, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.delete_notification_endpoint(agent, sms),
        theirs_may_fail=True,
    )
    assert deleted is None
    assert (sent.method, sent.path) == ("DELETE", f"{base}/{sms}")
    assert {e.id for e in await client.list_notification_endpoints(agent)} == {email, placeholder}


@pytest.mark.parametrize(
    ("kwargs", "body", "priority"),
    [
        ({"name": "Renamed"}, {"name": "Renamed"}, 2),
        ({"priority": None}, {"priority": None}, None),
        (
            {"priority": UNSET, "extra_data": {"address": "b@x"}},
            {"extra_data": {"address": "b@x"}},
            2,
        ),
        ({"priority": 9}, {"priority": 9}, 9),
        ({}, {}, 2),
    ],
)
async def test_update_endpoint_unset_versus_none(
    emu: DooverEmulator,
    client: AsyncDataClient,
    reference: Any,
    agent: int,
    kwargs: dict[str, Any],
    body: dict[str, Any],
    priority: int | None,
) -> None:
    endpoint = await client.create_notification_endpoint(
        agent, "Ops", "Email", {"address": "a@x"}, True, priority=2
    )
    ref_kwargs = {k: REF_UNSET if v is UNSET else v for k, v in kwargs.items()}
    result, sent = await same_request(
        emu,
        lambda: client.update_notification_endpoint(agent, endpoint, **kwargs),
        lambda: reference.update_notification_endpoint(agent, endpoint, **ref_kwargs),
    )
    assert result is None
    assert sent.method == "PATCH"
    assert sent.json() == body
    (stored,) = await client.list_notification_endpoints(agent)
    assert stored.priority == priority


async def test_endpoint_create_is_not_resent_but_update_is(
    emu: DooverEmulator, client: AsyncDataClient, agent: int
) -> None:
    emu.faults.fail(1, 500, after=True)
    with pytest.raises(HTTPError):
        await client.create_notification_endpoint(agent, "Once", "Email", {}, True)
    (endpoint,) = await client.list_notification_endpoints(agent)
    emu.faults.fail(1, 503, after=True)
    await client.update_notification_endpoint(agent, endpoint.id, name="Twice")
    methods = [r.method for r in await logged(emu, 4)]
    assert methods == ["POST", "GET", "PATCH", "PATCH"]
    assert (await client.list_notification_endpoints(agent))[0].name == "Twice"


@pytest.mark.parametrize("bad_type", ["Pigeon", 99])
async def test_unknown_endpoint_type_sends_nothing(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, bad_type: Any
) -> None:
    with pytest.raises(ValueError, match="NotificationType"):
        await client.create_notification_endpoint(agent, "x", bad_type, {}, True)
    assert emu.requests.entries() == []


# -- subscriptions --------------------------------------------------------------------------


async def test_subscription_lifecycle(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int, other: int
) -> None:
    base = f"/api/agents/{agent}/notifications/subscriptions"
    endpoint = await client.create_notification_endpoint(agent, "Ops", "Email", {}, False)
    rows, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.create_notification_subscription(
            agent,
            other,
            "warn",
            ["dev/applications/default/pump_ctl_1/.*"],
            endpoint_id=endpoint,
            topic_filter_mode="regex",
            topic_filter_exclude=["heartbeat"],
        ),
    )
    assert (sent.method, sent.path) == ("POST", base)
    assert sent.json() == {
        "subscribe_to": str(other),
        "severity": 6,
        "topic_filter": ["dev/applications/default/pump_ctl_1/.*"],
        "topic_filter_mode": "regex",
        "topic_filter_exclude": ["heartbeat"],
        "endpoint_id": str(endpoint),
    }
    (row,) = rows
    assert row["endpoint_id"] == endpoint
    assert isinstance(row["id"], int)

    listed, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.list_notification_subscriptions(agent, subscribed_to=other),
    )
    assert (sent.path, sent.query) == (base, f"subscribed_to={other}")
    (subscription,) = listed
    assert isinstance(subscription, NotificationSubscription)
    assert (subscription.id, subscription.subscriber, subscription.subscribed_to) == (
        row["id"],
        agent,
        other,
    )
    assert subscription.severity is NotificationSeverity.Warn
    assert subscription.topic_filter_mode is NotificationTopicFilterMode.regex
    assert subscription.topic_filter_exclude == ["heartbeat"]
    assert [e.id for e in subscription.endpoints] == [endpoint]
    assert await client.list_notification_subscriptions(agent, subscribed_to=agent) == []

    _, sent = await same_request(
        emu,
        lambda: client.update_notification_subscription(
            agent, row["id"], severity=NotificationSeverity.Critical, topic_filter_exclude=[]
        ),
        lambda: reference.update_notification_subscription(
            agent, row["id"], severity=7, topic_filter_exclude=[]
        ),
    )
    assert (sent.method, sent.path) == ("PATCH", f"{base}/{row['id']}")
    assert sent.json() == {"severity": 7, "topic_filter_exclude": []}
    (updated,) = await client.list_notification_subscriptions(agent)
    assert updated.severity is NotificationSeverity.Critical
    assert updated.topic_filter_exclude == []
    assert updated.topic_filter == subscription.topic_filter

    _, sent = await same_request(
        emu,
        lambda: client.update_notification_subscription(
            agent,
            row["id"],
            topic_filter=["a"],
            topic_filter_mode=NotificationTopicFilterMode.exact,
        ),
        lambda: reference.update_notification_subscription(
            agent, row["id"], topic_filter=["a"], topic_filter_mode="exact"
        ),
    )
    assert sent.json() == {"topic_filter": ["a"], "topic_filter_mode": "exact"}

    subscribers, sent = await same_call(
        emu, client, reference, lambda c: c.list_notification_subscribers(other)
    )
    assert sent.path == f"/api/agents/{other}/notifications/subscribers"
    assert [s.id for s in subscribers] == [row["id"]]

    summary, sent = await same_call(emu, client, reference, lambda c: c.fetch_notifications(agent))
    assert sent.path == f"/api/agents/{agent}/notifications"
    assert isinstance(summary, AgentNotificationResponse)
    assert [s.id for s in summary.subscriptions] == [row["id"]]
    assert summary.subscribers == []
    assert [e.id for e in summary.endpoints] == [endpoint]

    _, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.delete_notification_subscription(agent, row["id"]),
        theirs_may_fail=True,
    )
    assert (sent.method, sent.path) == ("DELETE", f"{base}/{row['id']}")
    assert await client.list_notification_subscriptions(agent) == []


async def test_default_subscriptions(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int, other: int
) -> None:
    base = f"/api/agents/{agent}/notifications/subscriptions/default"
    first = await client.create_notification_endpoint(agent, "Email", "Email", {}, True)
    second = await client.create_notification_endpoint(agent, "Push", "WebPush", {}, True)
    rows, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.create_notification_subscription(agent, other, 5, ["alarms"]),
    )
    assert sent.json() == {"subscribe_to": str(other), "severity": 5, "topic_filter": ["alarms"]}
    assert sorted(r["endpoint_id"] for r in rows) == sorted([first, second])

    listed, sent = await same_call(
        emu, client, reference, lambda c: c.list_default_notification_subscriptions(agent)
    )
    assert (sent.path, sent.query) == (base, "")
    assert {s.id for s in listed} == {r["id"] for r in rows}

    _, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.update_default_notification_subscription(
            agent, other, severity="debug", topic_filter=["x.*"], topic_filter_mode="regex"
        ),
    )
    assert (sent.method, sent.path) == ("PATCH", f"{base}/{other}")
    assert sent.json() == {"severity": 4, "topic_filter": ["x.*"], "topic_filter_mode": "regex"}
    updated = await client.list_default_notification_subscriptions(agent, subscribed_to=other)
    assert {(s.severity, tuple(s.topic_filter)) for s in updated} == {
        (NotificationSeverity.Debug, ("x.*",))
    }

    _, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.delete_default_notification_subscription(agent, other),
        theirs_may_fail=True,
    )
    assert (sent.method, sent.path) == ("DELETE", f"{base}/{other}")
    assert await client.list_default_notification_subscriptions(agent) == []
    with pytest.raises(NotFoundError):
        await client.delete_default_notification_subscription(agent, other)


@pytest.mark.parametrize("kwargs", [{"severity": "loud"}, {"topic_filter_mode": "glob"}])
async def test_invalid_subscription_arguments_send_nothing(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs.values()))):
        await client.create_notification_subscription(
            agent, 1, **{"severity": 5, "topic_filter": [], **kwargs}
        )
    with pytest.raises(ValueError, match=next(iter(kwargs.values()))):
        await client.update_notification_subscription(agent, 1, **kwargs)
    with pytest.raises(ValueError, match=next(iter(kwargs.values()))):
        await client.update_default_notification_subscription(agent, 1, **kwargs)
    assert emu.requests.entries() == []


# -- web push -------------------------------------------------------------------------------


async def test_update_web_push_endpoint(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    endpoint = await client.create_notification_endpoint(
        agent, "Browser", "WebPush", {"endpoint": "https://push/old"}, True
    )
    args = ("https://push/old", "https://push/new", "p256", "auth", 1_900_000_000)
    result, sent = await same_call(
        emu, client, reference, lambda c: c.update_web_push_endpoint(*args)
    )
    assert result is None
    assert (sent.method, sent.path) == ("POST", "/api/agents/me/notifications/update_web_push")
    assert sent.json() == {
        "old_endpoint": "https://push/old",
        "endpoint": "https://push/new",
        "key_p256dh": "p256",
        "key_auth": "auth",
        "expires_at": 1_900_000_000,
    }
    (stored,) = await client.list_notification_endpoints(agent)
    assert stored.id == endpoint
    assert stored.extra_data["endpoint"] == "https://push/new"


async def test_webpush_public_key_needs_no_credentials(emu: DooverEmulator) -> None:
    async with AsyncDataClient(base_url=emu.url) as anonymous:
        key = await anonymous.fetch_webpush_public_key()
    async with AsyncDataClient(base_url=emu.url, token=emu.token) as signed_in:
        assert await signed_in.fetch_webpush_public_key() == key
    assert key
    requests = await logged(emu, 2)
    assert [(r.method, r.path) for r in requests] == [
        ("GET", "/api/notifications/webpush-public-key")
    ] * 2
    assert all("authorization" not in r.headers for r in requests)
