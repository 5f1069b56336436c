"""Processor, TURN and device-token methods of AsyncDataClient end to end against the
emulator, each request compared with the one pydoover's DataClient sends for the same
call."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl

import pytest
from doover_client_support import logged, same_call

from pydoover_anyio.client import AsyncDataClient
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.errors import ForbiddenError, HTTPError, NotFoundError, UnauthorizedError
from pydoover_anyio.models import (
    ConfirmedDeviceToken,
    ProcessorTokenResponse,
    RotatedDeviceToken,
    SubscriptionInfo,
    TurnCredential,
)
from pydoover_anyio.snowflake import generate_snowflake_id

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin", "doover_client_fixtures"]
pytestmark = pytest.mark.anyio

PERMISSIONS = [{"permission_id": "agent:*", "permission": "0111"}]


# -- schedules and subscriptions --------------------------------------------------------


async def test_schedule_put_info_and_token(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    config = emu.state.create_channel(agent, "deployment_config")
    emu.state.update_aggregate(config, {"interval": 60})
    schedule_id = generate_snowflake_id()
    created, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.put_schedule(agent, schedule_id, "pump_ctl_1", PERMISSIONS, is_org=True),
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

    info, sent = await same_call(
        emu, client, reference, lambda c: c.fetch_schedule_info(schedule_id)
    )
    assert (sent.method, sent.path) == ("GET", f"/api/processors/schedules/{schedule_id}")
    assert isinstance(info, SubscriptionInfo)
    assert (info.agent_id, info.organisation_id, info.app_key) == (
        agent,
        emu.organisation_id,
        "pump_ctl_1",
    )
    assert info.deployment_config == {"interval": 60}
    assert info.token == emu.state.schedules[schedule_id]["token"]

    token, sent = await same_call(
        emu, client, reference, lambda c: c.regenerate_schedule_token(agent, schedule_id)
    )
    assert (sent.method, sent.path, sent.body) == (
        "POST",
        f"/api/agents/{agent}/processors/schedules/{schedule_id}/token",
        b"",
    )
    assert isinstance(token, str)
    assert token != info.token


async def test_schedule_without_is_org(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    _, sent = await same_call(emu, client, reference, lambda c: c.put_schedule(agent, 7, "app", []))
    assert sent.json() == {"app_key": "app", "permissions": []}


async def test_subscription_put_and_info(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    other = emu.state.add_agent("watched")
    subscription_id = generate_snowflake_id()
    result, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.put_subscription(
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
    info, sent = await same_call(
        emu, client, reference, lambda c: c.fetch_subscription_info(subscription_id)
    )
    assert sent.path == f"/api/processors/subscriptions/{subscription_id}"
    assert (info.agent_id, info.app_key) == (agent, "app")
    assert info.tag_values == {}
    with pytest.raises(NotFoundError):
        await client.fetch_subscription_info(subscription_id + 1)


async def test_regenerate_is_not_resent_after_an_ambiguous_failure(
    emu: DooverEmulator, client: AsyncDataClient, agent: int
) -> None:
    await client.put_schedule(agent, 7, "app", [])
    emu.requests.clear()
    emu.faults.fail(1, 503, after=True)
    with pytest.raises(HTTPError):
        await client.regenerate_schedule_token(agent, 7)
    assert len(await logged(emu, 1)) == 1


# -- ingestion endpoints ----------------------------------------------------------------


async def test_ingestion_put_invoke_and_delete(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    ingestion_id = generate_snowflake_id()
    base = f"/api/agents/{agent}/processors/ingestions/{ingestion_id}"
    created, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.put_ingestion_endpoint(
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
    assert emu.state.ingestions[ingestion_id]["token"] == created.token  # kept

    replaced, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.put_ingestion_endpoint(agent, ingestion_id, "arn:f", [], 1, "app", []),
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
    assert emu.state.ingestions[ingestion_id]["origin"] is None

    payload = {"reading": 42, "unit": "kPa"}
    nothing, sent = await same_call(
        emu, client, reference, lambda c: c.invoke_ingestion_endpoint(agent, ingestion_id, payload)
    )
    assert nothing is None
    assert (sent.method, sent.path) == ("POST", f"{base}/invoke")
    assert parse_qsl(sent.query) == [("wait", "false"), ("json_response", "false")]
    assert sent.json() == payload

    waited, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.invoke_ingestion_endpoint(agent, ingestion_id, payload, wait=True),
    )
    assert parse_qsl(sent.query) == [("wait", "true"), ("json_response", "false")]
    assert waited is not None
    assert waited["status_code"] == 200
    assert base64.b64decode(waited["payload"]) == sent.body

    parsed = await client.invoke_ingestion_endpoint(
        agent, ingestion_id, payload, wait=True, json_response=True
    )
    assert parsed == {"status_code": 200, "payload": payload}
    assert len(emu.state.ingestion_invocations) == 5

    deleted, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.delete_ingestion_endpoint(agent, ingestion_id),
        theirs_may_fail=True,
    )
    assert deleted is None
    assert (sent.method, sent.path) == ("DELETE", base)
    with pytest.raises(NotFoundError):
        await client.invoke_ingestion_endpoint(agent, ingestion_id, payload)


async def test_invoke_is_not_resent_after_an_ambiguous_failure(
    emu: DooverEmulator, client: AsyncDataClient, agent: int
) -> None:
    await client.put_ingestion_endpoint(agent, 5, "arn:f", [], 1, "app", [])
    emu.faults.fail(1, 500, after=True)
    with pytest.raises(HTTPError):
        await client.invoke_ingestion_endpoint(agent, 5, {"n": 1})
    assert len(emu.state.ingestion_invocations) == 1
    emu.faults.fail(1, 500, after=True)
    await client.put_ingestion_endpoint(agent, 5, "arn:g", [], 1, "app", [])  # PUT: retried
    assert emu.state.ingestions[5]["lambda_arn"] == "arn:g"
    assert [r.method for r in await logged(emu, 4)] == ["PUT", "POST", "PUT", "PUT"]


# -- TURN and device tokens -------------------------------------------------------------


async def test_turn_token(
    emu: DooverEmulator, client: AsyncDataClient, reference: Any, agent: int
) -> None:
    credential, sent = await same_call(
        emu,
        client,
        reference,
        lambda c: c.fetch_turn_token("device", "front_gate", device_id=agent),
    )
    assert (sent.method, sent.path) == ("POST", "/api/turn/token")
    assert sent.json() == {"role": "device", "camera_name": "front_gate", "device_id": str(agent)}
    assert isinstance(credential, TurnCredential)
    assert credential.username.endswith(":front_gate")
    assert credential.ttl > 0
    assert credential.uris
    assert credential.credential not in repr(credential)
    _, sent = await same_call(
        emu, client, reference, lambda c: c.fetch_turn_token("client", "front_gate")
    )
    assert sent.json() == {"role": "client", "camera_name": "front_gate"}


async def test_turn_token_is_retried(emu: DooverEmulator, client: AsyncDataClient) -> None:
    emu.faults.fail(1, 502, after=True)
    await client.fetch_turn_token("client", "cam")
    assert [r.status for r in await logged(emu, 2)] == [502, 200]


async def test_rotate_and_confirm_device_token(emu: DooverEmulator, reference: Any) -> None:
    device = emu.state.add_agent("gateway")
    old = emu.issue_token(agent_id=device)
    reference.set_token(old)
    async with AsyncDataClient(
        token=old, base_url=emu.url, organisation_id=77, retry_delay=0.001
    ) as client:
        rotated, sent = await same_call(
            emu, client, reference, lambda c: c.rotate_device_token(device)
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
        confirmed, sent = await same_call(
            emu, client, reference, lambda c: c.confirm_device_token(device)
        )
        assert (sent.method, sent.path) == ("POST", f"/api/agents/{device}/token/confirm")
        assert sent.headers["authorization"] == f"Bearer {rotated.token}"
        assert isinstance(confirmed, ConfirmedDeviceToken)
        assert confirmed.tokens_valid_from == rotated.issued_at_ms
        assert (await client.confirm_device_token(device)) == confirmed  # repeatable

    async with AsyncDataClient(token=old, base_url=emu.url) as stale:
        with pytest.raises(UnauthorizedError):
            await stale.rotate_device_token(device)


async def test_rotation_needs_opt_in(emu: DooverEmulator) -> None:
    device = emu.state.add_agent("locked", token_self_rotation=False)
    token = emu.issue_token(agent_id=device)
    async with AsyncDataClient(token=token, base_url=emu.url, agent_id=device) as client:
        with pytest.raises(ForbiddenError):
            await client.rotate_device_token(None)  # type: ignore[arg-type]


async def test_rotation_is_not_resent_but_confirmation_is(
    emu: DooverEmulator, client: AsyncDataClient, agent: int
) -> None:
    emu.faults.fail(1, 503, after=True)  # minted, but the answer is lost
    with pytest.raises(HTTPError):
        await client.rotate_device_token(agent)
    rotated = await client.rotate_device_token(agent)
    client.set_token(rotated.token)
    emu.faults.fail(1, 503, after=True)
    await client.confirm_device_token(agent)  # retiring older tokens twice is harmless
    assert [r.status for r in await logged(emu, 4)] == [503, 200, 503, 200]
