"""Retries under injected faults: every request that creates something is either made
idempotent (a client-chosen id or key) or never blindly re-sent (DESIGN rule 8).

For each operation that is not safe to repeat, a fault *after* the server applied the
request (a 503, a dropped connection, a malformed body) is raised to the caller after
exactly one attempt, and the server holds one result; a 429 (nothing applied) is waited
out and re-sent. Operations made idempotent are re-sent after the same faults and still
leave one result.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from doover_client_support import api_requests, client_options

from pydoover_anyio import (
    AsyncDataClient,
    BatchMutationItem,
    DataClient,
    DooverConnectionError,
    File,
    HTTPError,
    NotFoundError,
    ResponseDecodeError,
    SnowflakeType,
    generate_snowflake_id,
)
from pydoover_anyio.emulator import DooverEmulator

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin", "doover_client_fixtures"]
pytestmark = pytest.mark.anyio

FILE = File("a.txt", "text/plain", 1, b"a")
PERMISSIONS = [{"permission_id": "agent:*", "permission": "0111"}]

#: Prepares the server, then returns the call under test and how to count its results.
Setup = Callable[
    [AsyncDataClient, DooverEmulator, int, str],
    Awaitable[tuple[Callable[[], Awaitable[object]], Callable[[], Awaitable[int]]]],
]


def messages_of(emu: DooverEmulator, agent: int, channel: str) -> Callable[[], Awaitable[int]]:
    async def count() -> int:
        return len(emu.state.messages(agent, channel))

    return count


async def create_message(c: AsyncDataClient, e: DooverEmulator, a: int, ch: str) -> Any:
    return lambda: c.create_message(a, ch, {"n": 1}), messages_of(e, a, ch)


async def create_message_with_files(c: AsyncDataClient, e: DooverEmulator, a: int, ch: str) -> Any:
    return lambda: c.create_message(a, ch, {"n": 1}, files=[FILE]), messages_of(e, a, ch)


async def update_message_with_files(c: AsyncDataClient, e: DooverEmulator, a: int, ch: str) -> Any:
    message_id = e.state.add_message(a, ch, {"n": 0})

    async def attachments() -> int:
        return len((await c.fetch_message(a, ch, message_id)).attachments)

    return lambda: c.update_message(a, ch, message_id, {"n": 1}, files=[FILE]), attachments


async def logged_aggregate_update(c: AsyncDataClient, e: DooverEmulator, a: int, ch: str) -> Any:
    return lambda: c.update_channel_aggregate(a, ch, {"k": 1}, log_update=True), messages_of(
        e, a, ch
    )


async def aggregate_update_with_files(
    c: AsyncDataClient, e: DooverEmulator, a: int, ch: str
) -> Any:
    async def attachments() -> int:
        return len((await c.fetch_channel_aggregate(a, ch)).attachments)

    return lambda: c.update_channel_aggregate(a, ch, {"k": 1}, files=[FILE]), attachments


async def batch_create(c: AsyncDataClient, e: DooverEmulator, a: int, ch: str) -> Any:
    items = [
        BatchMutationItem(a, ch, {"n": 1}, message_id=generate_snowflake_id(SnowflakeType.Message)),
        BatchMutationItem(a, ch, {"n": 2}),  # one item without an id: the batch may duplicate
    ]
    return lambda: c.batch_create_messages(items), messages_of(e, a, ch)


async def create_alarm(c: AsyncDataClient, e: DooverEmulator, a: int, ch: str) -> Any:
    async def count() -> int:
        return len(await c.list_alarms(a, ch))

    return lambda: c.create_alarm(a, ch, "Hot", "t", "gt", 80), count


async def send_notification(c: AsyncDataClient, e: DooverEmulator, a: int, ch: str) -> Any:
    return lambda: c.send_notification(a, "Pump stopped"), messages_of(e, a, "notifications")


async def endpoints_of(c: AsyncDataClient, a: int) -> int:
    return len(await c.list_notification_endpoints(a))


async def create_endpoint(c: AsyncDataClient, e: DooverEmulator, a: int, ch: str) -> Any:
    return (
        lambda: c.create_notification_endpoint(a, "Ops", "Email", {}, False),
        lambda: endpoints_of(c, a),
    )


async def try_endpoint(c: AsyncDataClient, e: DooverEmulator, a: int, ch: str) -> Any:
    endpoint = await c.create_notification_endpoint(a, "Ops", "Email", {}, False)

    async def sent() -> int:  # each test request that reached the server sent a notification
        tests = [r for r in api_requests(e) if r.path.endswith(f"/{endpoint}/test")]
        return sum(1 for r in tests if r.status != 429)

    return lambda: c.test_notification_endpoint(a, endpoint), sent


async def create_subscription(c: AsyncDataClient, e: DooverEmulator, a: int, ch: str) -> Any:
    other = e.state.add_agent("watched")
    await c.create_notification_endpoint(a, "Ops", "Email", {}, True)

    async def count() -> int:
        return len(await c.list_notification_subscriptions(a))

    return lambda: c.create_notification_subscription(a, other, 5, ["alarms"]), count


async def web_push(c: AsyncDataClient, e: DooverEmulator, a: int, ch: str) -> Any:
    await c.create_notification_endpoint(a, "Browser", "WebPush", {"endpoint": "old"}, True)

    async def moved() -> int:
        (endpoint,) = await c.list_notification_endpoints(a)
        return int(endpoint.extra_data["endpoint"] == "new")

    return lambda: c.update_web_push_endpoint("old", "new", "p", "k", 1_900_000_000), moved


async def regenerate_token(c: AsyncDataClient, e: DooverEmulator, a: int, ch: str) -> Any:
    schedule = generate_snowflake_id()
    first = await c.put_schedule(a, schedule, "app", PERMISSIONS)

    async def tokens() -> int:
        info = await c.fetch_schedule_info(schedule)
        return int(info.token != first.token)

    return lambda: c.regenerate_schedule_token(a, schedule), tokens


async def invoke(c: AsyncDataClient, e: DooverEmulator, a: int, ch: str) -> Any:
    ingestion = generate_snowflake_id()
    await c.put_ingestion_endpoint(a, ingestion, "arn:f", [], 1, "app", PERMISSIONS)

    async def invocations() -> int:
        return len(e.state.ingestion_invocations)

    return lambda: c.invoke_ingestion_endpoint(a, ingestion, {"v": 1}), invocations


async def create_channel(c: AsyncDataClient, e: DooverEmulator, a: int, ch: str) -> Any:
    async def count() -> int:
        return sum(1 for channel in await c.list_channels(a) if channel.name == "fresh")

    return lambda: c.create_channel(a, "fresh"), count


async def rotate_token(c: AsyncDataClient, e: DooverEmulator, a: int, ch: str) -> Any:
    async def minted() -> int:  # each rotation that reached the server minted a token
        rotations = [r for r in api_requests(e) if r.path.endswith("/token/rotate")]
        return sum(1 for r in rotations if r.status != 429)

    return lambda: c.rotate_device_token(a), minted


NOT_SAFE_TO_REPEAT: dict[str, Setup] = {
    "create_channel": create_channel,
    "rotate_device_token": rotate_token,
    "create_message": create_message,
    "create_message_with_files": create_message_with_files,
    "update_message_with_files": update_message_with_files,
    "update_channel_aggregate_logged": logged_aggregate_update,
    "update_channel_aggregate_with_files": aggregate_update_with_files,
    "batch_create_messages_without_ids": batch_create,
    "create_alarm": create_alarm,
    "send_notification": send_notification,
    "create_notification_endpoint": create_endpoint,
    "test_notification_endpoint": try_endpoint,
    "create_notification_subscription": create_subscription,
    "update_web_push_endpoint": web_push,
    "regenerate_schedule_token": regenerate_token,
    "invoke_ingestion_endpoint": invoke,
}

#: Operations whose response body is ignored: a malformed one is no error for them.
BODY_IGNORED = {"update_web_push_endpoint"}

FAULTS: dict[str, tuple[Callable[[DooverEmulator], None], type[Exception]]] = {
    "503 after applying": (lambda e: e.faults.fail(1, 503, after=True), HTTPError),
    "dropped after applying": (lambda e: e.faults.drop(1, after=True), DooverConnectionError),
    "malformed after applying": (lambda e: e.faults.malformed(1, after=True), ResponseDecodeError),
}


async def mark(emu: DooverEmulator, client: AsyncDataClient) -> int:
    """Log position after every request sent so far.

    An empty response can reach the client just before the emulator logs it; a request
    with a body, sent next on the same connection, is only logged after that one.
    """
    await client.fetch_webpush_public_key()
    logged = api_requests(emu)
    assert logged[-1].path.endswith("/webpush-public-key")
    return len(logged)


async def sent_since(emu: DooverEmulator, client: AsyncDataClient, start: int) -> list[int]:
    """The statuses of the requests logged since ``start`` (see :func:`mark`)."""
    end = await mark(emu, client) - 1  # without this mark's own request
    return [r.status or 0 for r in api_requests(emu)[start:end]]


@pytest.fixture
async def client(emu: DooverEmulator) -> Any:
    async with AsyncDataClient(emu.url, token=emu.token, **client_options()) as c:
        yield c


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("name", list(NOT_SAFE_TO_REPEAT))
async def test_unsafe_requests_are_not_resent_after_an_ambiguous_failure(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str, name: str, fault: str
) -> None:
    call, results = await NOT_SAFE_TO_REPEAT[name](client, emu, agent, channel)
    inject, error = FAULTS[fault]
    start = await mark(emu, client)
    inject(emu)
    if fault.startswith("malformed") and name in BODY_IGNORED:
        await call()
    else:
        with pytest.raises(error):
            await call()
    assert len(await sent_since(emu, client, start)) == 1  # one attempt, no blind re-send
    assert await results() == (2 if name.startswith("batch") else 1)  # applied once


@pytest.mark.parametrize("name", list(NOT_SAFE_TO_REPEAT))
async def test_unsafe_requests_are_resent_after_a_429(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str, name: str
) -> None:
    call, results = await NOT_SAFE_TO_REPEAT[name](client, emu, agent, channel)
    start = await mark(emu, client)
    emu.faults.rate_limit(1, retry_after=0)
    await call()
    assert await sent_since(emu, client, start) == [429, 200]
    assert await results() == (2 if name.startswith("batch") else 1)


async def put_alarm(c: AsyncDataClient, e: DooverEmulator, a: int, ch: str) -> Any:
    alarm_id = generate_snowflake_id(SnowflakeType.Alarm)

    async def count() -> int:
        return len(await c.list_alarms(a, ch))

    return lambda: c.put_alarm(a, ch, alarm_id, "Hot", "t", "gt", 80), count


async def create_message_with_id(c: AsyncDataClient, e: DooverEmulator, a: int, ch: str) -> Any:
    message_id = generate_snowflake_id(SnowflakeType.Message)
    return lambda: c.create_message(a, ch, {"n": 1}, message_id=message_id), messages_of(e, a, ch)


async def batch_create_with_ids(c: AsyncDataClient, e: DooverEmulator, a: int, ch: str) -> Any:
    items = [
        BatchMutationItem(a, ch, {"n": i}, message_id=generate_snowflake_id(SnowflakeType.Message))
        for i in range(3)
    ]

    async def count() -> int:
        return int(len(e.state.messages(a, ch)) == len(items))

    return lambda: c.batch_create_messages(items), count


async def merge_aggregate(c: AsyncDataClient, e: DooverEmulator, a: int, ch: str) -> Any:
    async def count() -> int:
        return int((await c.fetch_channel_aggregate(a, ch)).data == {"k": {"n": 1}})

    return lambda: c.update_channel_aggregate(a, ch, {"k": {"n": 1}}), count


SAFE_TO_REPEAT: dict[str, Setup] = {
    "create_message_with_id": create_message_with_id,
    "batch_create_messages_with_ids": batch_create_with_ids,
    "put_alarm": put_alarm,
    "update_channel_aggregate_merge": merge_aggregate,
}


@pytest.mark.parametrize("fault", ["503 after applying", "dropped after applying"])
@pytest.mark.parametrize("name", list(SAFE_TO_REPEAT))
async def test_idempotent_requests_are_resent_and_applied_once(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str, name: str, fault: str
) -> None:
    call, results = await SAFE_TO_REPEAT[name](client, emu, agent, channel)
    start = await mark(emu, client)
    FAULTS[fault][0](emu)
    await call()
    assert len(await sent_since(emu, client, start)) == 2
    assert await results() == 1


def test_the_sync_client_does_not_resend_a_create_either(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    with DataClient(emu.url, token=emu.token, **client_options()) as client:
        emu.faults.fail(1, 502, after=True)
        with pytest.raises(HTTPError) as caught:
            client.create_message(agent, channel, {"n": 1})
        assert caught.value.status == 502
        emu.faults.fail(1, 502, after=True)
        client.create_message(agent, channel, {"n": 2}, message_id=generate_snowflake_id())
    assert [r.status for r in api_requests(emu)] == [502, 502, 200]
    assert len(emu.state.messages(agent, channel)) == 2


@pytest.mark.parametrize("fault", ["503 after applying", "dropped after applying"])
async def test_a_delete_resent_after_its_answer_was_lost_succeeds(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str, fault: str
) -> None:
    message = await client.create_message(agent, channel, {"n": 1})
    start = await mark(emu, client)
    FAULTS[fault][0](emu)
    await client.delete_message(agent, channel, message.id)  # the re-send finds it gone
    sent = await sent_since(emu, client, start)
    assert len(sent) == 2  # applied (its answer lost), then re-sent
    assert sent[-1] == 404
    assert emu.state.messages(agent, channel) == []


async def test_a_delete_of_a_missing_resource_still_raises_not_found(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    missing = generate_snowflake_id(SnowflakeType.Message)
    with pytest.raises(NotFoundError):
        await client.delete_message(agent, channel, missing)  # first attempt: 404 stands
    start = await mark(emu, client)
    emu.faults.rate_limit(1, retry_after=0)  # refused, so nothing can have been deleted
    with pytest.raises(NotFoundError):
        await client.delete_message(agent, channel, missing)
    assert await sent_since(emu, client, start) == [429, 404]
