"""Processor, TURN and device-token methods of AsyncDataClient end to end against the
emulator, each request compared with the one pydoover's DataClient sends for the same
call."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import anyio
import pydoover.api
import pytest
from pydoover.models.data.exceptions import HTTPError as RefHTTPError

from pydoover_anyio.client import AsyncDataClient
from pydoover_anyio.emulator import DooverEmulator, LoggedRequest
from pydoover_anyio.errors import ForbiddenError, HTTPError, NotFoundError, UnauthorizedError
from pydoover_anyio.models import (
    ConfirmedDeviceToken,
    ProcessorTokenResponse,
    RotatedDeviceToken,
    SubscriptionInfo,
    TurnCredential,
)
from pydoover_anyio.snowflake import generate_snowflake_id

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin"]
pytestmark = pytest.mark.anyio

T = TypeVar("T")
PERMISSIONS = [{"permission_id": "agent:*", "permission": "0111"}]


@pytest.fixture
def emulator(doover_emulator: DooverEmulator) -> DooverEmulator:
    return doover_emulator


@pytest.fixture
def agent(emulator: DooverEmulator) -> int:
    return emulator.default_agent_id


@pytest.fixture
async def client(emulator: DooverEmulator) -> AsyncIterator[AsyncDataClient]:
    async with AsyncDataClient(
        token=emulator.token,
        base_url=emulator.url,
        agent_id=emulator.default_agent_id,
        retry_delay=0.001,
    ) as c:
        yield c


@pytest.fixture
def reference(emulator: DooverEmulator) -> Iterator[pydoover.api.DataClient]:
    """pydoover's own blocking client, pointed at the same emulator."""
    ref = pydoover.api.DataClient(base_url=emulator.url, token=emulator.token)
    yield ref
    ref.close()


def _wire(request: LoggedRequest) -> tuple[str, str, list[tuple[str, str]], Any]:
    body = request.json() if request.body else None
    return request.method, request.path, parse_qsl(request.query, keep_blank_values=True), body


async def logged(emulator: DooverEmulator, count: int) -> list[LoggedRequest]:
    """The request log once it holds ``count`` entries (an empty response may reach the
    client just before the emulator logs it)."""
    with anyio.fail_after(5):
        while True:
            entries = emulator.requests.entries()
            if len(entries) >= count:
                return entries
            await anyio.sleep(0.001)


async def same_request(
    emulator: DooverEmulator, ours: Callable[[], Awaitable[T]], theirs: Callable[[], object]
) -> tuple[T, LoggedRequest]:
    """Run our call, then pydoover's (in a thread; it may fail); assert both sent the
    same request."""
    emulator.requests.clear()
    result = await ours()
    (mine,) = await logged(emulator, 1)
    emulator.requests.clear()
    with contextlib.suppress(RefHTTPError):
        await anyio.to_thread.run_sync(theirs)
    (theirs_sent,) = await logged(emulator, 1)
    assert _wire(mine) == _wire(theirs_sent)
    return result, mine


# -- schedules and subscriptions --------------------------------------------------------


async def test_schedule_put_info_and_token(
    emulator: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    config = emulator.state.create_channel(agent, "deployment_config")
    emulator.state.update_aggregate(config, {"interval": 60})
    schedule_id = generate_snowflake_id()
    created, sent = await same_request(
        emulator,
        lambda: client.put_schedule(agent, schedule_id, "pump_ctl_1", PERMISSIONS, is_org=True),
        lambda: reference.put_schedule(agent, schedule_id, "pump_ctl_1", PERMISSIONS, is_org=True),
    )
    assert (sent.method, sent.path) == (
        "PUT",
        f"/api/agents/{agent}/processors/schedules/{schedule_id}",
    )
    assert sent.json() == {"app_key": "pump_ctl_1", "permissions": PERMISSIONS, "is_org": True}
    assert isinstance(created, ProcessorTokenResponse)
    assert created.id == schedule_id
    assert isinstance(created.token_id, int)
    assert created.token not in repr(created)

    info, sent = await same_request(
        emulator,
        lambda: client.fetch_schedule_info(schedule_id),
        lambda: reference.fetch_schedule_info(schedule_id),
    )
    assert (sent.method, sent.path) == ("GET", f"/api/processors/schedules/{schedule_id}")
    assert isinstance(info, SubscriptionInfo)
    assert (info.agent_id, info.organisation_id, info.app_key) == (
        agent,
        emulator.organisation_id,
        "pump_ctl_1",
    )
    assert info.deployment_config == {"interval": 60}
    assert info.token == emulator.state.schedules[schedule_id]["token"]

    token, sent = await same_request(
        emulator,
        lambda: client.regenerate_schedule_token(agent, schedule_id),
        lambda: reference.regenerate_schedule_token(agent, schedule_id),
    )
    assert (sent.method, sent.path, sent.body) == (
        "POST",
        f"/api/agents/{agent}/processors/schedules/{schedule_id}/token",
        b"",
    )
    assert isinstance(token, str)
    assert token != info.token


async def test_schedule_without_is_org(
    emulator: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    _, sent = await same_request(
        emulator,
        lambda: client.put_schedule(agent, 7, "app", []),
        lambda: reference.put_schedule(agent, 7, "app", []),
    )
    assert sent.json() == {"app_key": "app", "permissions": []}


async def test_subscription_put_and_info(
    emulator: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    other = emulator.state.add_agent("watched")
    subscription_id = generate_snowflake_id()
    result, sent = await same_request(
        emulator,
        lambda: client.put_subscription(
            agent,
            subscription_id,
            "arn:aws:sns:x",
            "app",
            PERMISSIONS,
            is_org=False,
            subscribed_to_agent=other,
        ),
        lambda: reference.put_subscription(
            agent,
            subscription_id,
            "arn:aws:sns:x",
            "app",
            PERMISSIONS,
            is_org=False,
            subscribed_to_agent=other,
        ),
    )
    assert result is None
    assert (sent.method, sent.path) == (
        "PUT",
        f"/api/agents/{agent}/processors/subscriptions/{subscription_id}",
    )
    assert sent.json() == {
        "subscription_arn": "arn:aws:sns:x",
        "app_key": "app",
        "permissions": PERMISSIONS,
        "is_org": False,
        "subscribed_to_agent": other,
    }
    info, sent = await same_request(
        emulator,
        lambda: client.fetch_subscription_info(subscription_id),
        lambda: reference.fetch_subscription_info(subscription_id),
    )
    assert sent.path == f"/api/processors/subscriptions/{subscription_id}"
    assert (info.agent_id, info.app_key) == (agent, "app")
    assert info.tag_values == {}
    with pytest.raises(NotFoundError):
        await client.fetch_subscription_info(subscription_id + 1)


async def test_regenerate_is_not_resent_after_an_ambiguous_failure(
    emulator: DooverEmulator, client: AsyncDataClient, agent: int
) -> None:
    await client.put_schedule(agent, 7, "app", [])
    emulator.requests.clear()
    emulator.faults.fail(1, 503, after=True)
    with pytest.raises(HTTPError):
        await client.regenerate_schedule_token(agent, 7)
    assert len(await logged(emulator, 1)) == 1


# -- ingestion endpoints ----------------------------------------------------------------


async def test_ingestion_put_invoke_and_delete(
    emulator: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    ingestion_id = generate_snowflake_id()
    base = f"/api/agents/{agent}/processors/ingestions/{ingestion_id}"
    created, sent = await same_request(
        emulator,
        lambda: client.put_ingestion_endpoint(
            agent,
            ingestion_id,
            "arn:aws:lambda:f",
            ["10.0.0.0/8"],
            100,
            "app",
            PERMISSIONS,
            signing_key="k",
            signing_key_hash_header="X-Sig",
            never_replace_token=True,
            mini_token=True,
            is_org=False,
            origin="arn:aws:iot:rule",
        ),
        lambda: reference.put_ingestion_endpoint(
            agent,
            ingestion_id,
            "arn:aws:lambda:f",
            ["10.0.0.0/8"],
            100,
            "app",
            PERMISSIONS,
            signing_key="k",
            signing_key_hash_header="X-Sig",
            never_replace_token=True,
            mini_token=True,
            is_org=False,
            origin="arn:aws:iot:rule",
        ),
    )
    assert (sent.method, sent.path) == ("PUT", base)
    assert sent.json() == {
        "lambda_arn": "arn:aws:lambda:f",
        "cidr_ranges": ["10.0.0.0/8"],
        "throttle_limit": 100,
        "app_key": "app",
        "permissions": PERMISSIONS,
        "never_replace_token": True,
        "mini_token": True,
        "signing_key": "k",
        "signing_key_hash_header": "X-Sig",
        "is_org": False,
        "origin": "arn:aws:iot:rule",
    }
    assert created.id == ingestion_id
    assert emulator.state.ingestions[ingestion_id]["token"] == created.token  # kept

    replaced, sent = await same_request(
        emulator,
        lambda: client.put_ingestion_endpoint(agent, ingestion_id, "arn:f", [], 1, "app", []),
        lambda: reference.put_ingestion_endpoint(agent, ingestion_id, "arn:f", [], 1, "app", []),
    )
    assert sent.json() == {
        "lambda_arn": "arn:f",
        "cidr_ranges": [],
        "throttle_limit": 1,
        "app_key": "app",
        "permissions": [],
        "never_replace_token": False,
        "mini_token": False,
    }
    assert replaced.token != created.token
    assert emulator.state.ingestions[ingestion_id]["origin"] is None

    payload = {"reading": 42, "unit": "kPa"}
    nothing, sent = await same_request(
        emulator,
        lambda: client.invoke_ingestion_endpoint(agent, ingestion_id, payload),
        lambda: reference.invoke_ingestion_endpoint(agent, ingestion_id, payload),
    )
    assert nothing is None
    assert (sent.method, sent.path) == ("POST", f"{base}/invoke")
    assert parse_qsl(sent.query) == [("wait", "false"), ("json_response", "false")]
    assert sent.json() == payload

    waited, sent = await same_request(
        emulator,
        lambda: client.invoke_ingestion_endpoint(agent, ingestion_id, payload, wait=True),
        lambda: reference.invoke_ingestion_endpoint(agent, ingestion_id, payload, wait=True),
    )
    assert parse_qsl(sent.query) == [("wait", "true"), ("json_response", "false")]
    assert waited is not None
    assert waited["status_code"] == 200
    assert base64.b64decode(waited["payload"]) == sent.body

    parsed = await client.invoke_ingestion_endpoint(
        agent, ingestion_id, payload, wait=True, json_response=True
    )
    assert parsed == {"status_code": 200, "payload": payload}
    assert len(emulator.state.ingestion_invocations) == 5

    deleted, sent = await same_request(
        emulator,
        lambda: client.delete_ingestion_endpoint(agent, ingestion_id),
        lambda: reference.delete_ingestion_endpoint(agent, ingestion_id),
    )
    assert deleted is None
    assert (sent.method, sent.path) == ("DELETE", base)
    with pytest.raises(NotFoundError):
        await client.invoke_ingestion_endpoint(agent, ingestion_id, payload)


async def test_invoke_is_not_resent_after_an_ambiguous_failure(
    emulator: DooverEmulator, client: AsyncDataClient, agent: int
) -> None:
    await client.put_ingestion_endpoint(agent, 5, "arn:f", [], 1, "app", [])
    emulator.faults.fail(1, 500, after=True)
    with pytest.raises(HTTPError):
        await client.invoke_ingestion_endpoint(agent, 5, {"n": 1})
    assert len(emulator.state.ingestion_invocations) == 1
    emulator.faults.fail(1, 500, after=True)
    await client.put_ingestion_endpoint(agent, 5, "arn:g", [], 1, "app", [])  # PUT: retried
    assert emulator.state.ingestions[5]["lambda_arn"] == "arn:g"
    assert [r.method for r in await logged(emulator, 4)] == ["PUT", "POST", "PUT", "PUT"]


# -- TURN and device tokens -------------------------------------------------------------


async def test_turn_token(
    emulator: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    credential, sent = await same_request(
        emulator,
        lambda: client.fetch_turn_token("device", "front_gate", device_id=agent),
        lambda: reference.fetch_turn_token("device", "front_gate", device_id=agent),
    )
    assert (sent.method, sent.path) == ("POST", "/api/turn/token")
    assert sent.json() == {"role": "device", "camera_name": "front_gate", "device_id": str(agent)}
    assert isinstance(credential, TurnCredential)
    assert credential.username.endswith(":front_gate")
    assert credential.ttl > 0
    assert credential.uris
    assert credential.credential not in repr(credential)
    _, sent = await same_request(
        emulator,
        lambda: client.fetch_turn_token("client", "front_gate"),
        lambda: reference.fetch_turn_token("client", "front_gate"),
    )
    assert sent.json() == {"role": "client", "camera_name": "front_gate"}


async def test_turn_token_is_retried(emulator: DooverEmulator, client: AsyncDataClient) -> None:
    emulator.faults.fail(1, 502, after=True)
    await client.fetch_turn_token("client", "cam")
    assert [r.status for r in await logged(emulator, 2)] == [502, 200]


async def test_rotate_and_confirm_device_token(emulator: DooverEmulator, reference: Any) -> None:
    device = emulator.state.add_agent("gateway")
    old = emulator.issue_token(agent_id=device)
    reference.set_token(old)
    async with AsyncDataClient(
        token=old, base_url=emulator.url, organisation_id=77, retry_delay=0.001
    ) as client:
        rotated, sent = await same_request(
            emulator,
            lambda: client.rotate_device_token(device),
            lambda: reference.rotate_device_token(device),
        )
        assert (sent.method, sent.path, sent.body) == (
            "POST",
            f"/api/agents/{device}/token/rotate",
            b"",
        )
        assert sent.headers["authorization"] == f"Bearer {old}"
        assert sent.headers["x-doover-organisation"] == "77"
        assert isinstance(rotated, RotatedDeviceToken)
        assert rotated.token != old
        assert rotated.token not in repr(rotated)

        client.set_token(rotated.token)
        reference.set_token(rotated.token)
        confirmed, sent = await same_request(
            emulator,
            lambda: client.confirm_device_token(device),
            lambda: reference.confirm_device_token(device),
        )
        assert (sent.method, sent.path) == ("POST", f"/api/agents/{device}/token/confirm")
        assert sent.headers["authorization"] == f"Bearer {rotated.token}"
        assert isinstance(confirmed, ConfirmedDeviceToken)
        assert confirmed.tokens_valid_from == rotated.issued_at_ms
        assert (await client.confirm_device_token(device)) == confirmed  # repeatable

    async with AsyncDataClient(token=old, base_url=emulator.url) as stale:
        with pytest.raises(UnauthorizedError):
            await stale.rotate_device_token(device)


async def test_rotation_needs_opt_in(emulator: DooverEmulator) -> None:
    device = emulator.state.add_agent("locked", token_self_rotation=False)
    token = emulator.issue_token(agent_id=device)
    async with AsyncDataClient(token=token, base_url=emulator.url, agent_id=device) as client:
        with pytest.raises(ForbiddenError):
            await client.rotate_device_token(None)  # type: ignore[arg-type]


async def test_rotation_is_not_resent_but_confirmation_is(
    emulator: DooverEmulator, client: AsyncDataClient, agent: int
) -> None:
    emulator.faults.fail(1, 503, after=True)  # minted, but the answer is lost
    with pytest.raises(HTTPError):
        await client.rotate_device_token(agent)
    rotated = await client.rotate_device_token(agent)
    client.set_token(rotated.token)
    emulator.faults.fail(1, 503, after=True)
    await client.confirm_device_token(agent)  # retiring older tokens twice is harmless
    assert [r.status for r in await logged(emulator, 4)] == [503, 200, 503, 200]
