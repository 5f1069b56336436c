"""Message, attachment and timeseries methods of AsyncDataClient, end to end."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl

import pytest
from doover_client_support import api_requests, multipart_parts

from pydoover_anyio.client import AsyncDataClient
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.errors import NotFoundError
from pydoover_anyio.models import File, Message, MessageLogEntry, TimeseriesResponse
from pydoover_anyio.snowflake import (
    DOOVER_EPOCH,
    SnowflakeType,
    generate_snowflake_id,
    snowflake_bound,
    snowflake_to_ms,
)

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin", "doover_client_fixtures"]

pytestmark = pytest.mark.anyio

WHEN = dt.datetime(2026, 3, 15, 12, 34, 56, 789000, tzinfo=dt.UTC)
WHEN_MS = 1_773_578_096_789


async def test_list_messages_bounds_limit_and_fields(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    ids = emu.state.add_messages(agent, channel, [{"n": i, "x": {"y": i}} for i in range(5)])
    page = await client.list_messages(
        agent, channel, before=ids[4], after=ids[0], limit=2, field_names=["x.y"]
    )
    assert [m.id for m in page] == [ids[3], ids[2]]
    assert all(isinstance(m, Message) for m in page)
    assert page[0].data == {"x": {"y": 3}}
    assert page[0].channel.agent_id == agent
    (request,) = api_requests(emu)
    assert parse_qsl(request.query) == [
        ("before", str(ids[4])),
        ("after", str(ids[0])),
        ("limit", "2"),
        ("field_name", "x.y"),
    ]


async def test_list_messages_after_only_is_oldest_first(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    ids = emu.state.add_messages(agent, channel, [{"n": i} for i in range(4)])
    assert [m.id for m in await client.list_messages(agent, channel, after=ids[0], limit=2)] == [
        ids[1],
        ids[2],
    ]


async def test_datetime_bounds_become_snowflakes_and_naive_means_utc(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    await client.list_messages(agent, channel, before=WHEN, after=WHEN.replace(tzinfo=None))
    (request,) = api_requests(emu)
    bound = str((WHEN_MS - DOOVER_EPOCH) << 22)
    assert parse_qsl(request.query) == [("before", bound), ("after", bound)]


async def test_fetch_message_and_not_found(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    message_id = emu.state.add_message(agent, channel, {"rpm": 1460})
    message = await client.fetch_message(agent, channel, message_id)
    assert (message.id, message.author_id, message.data) == (message_id, agent, {"rpm": 1460})
    assert message.attachments == []
    with pytest.raises(NotFoundError):
        await client.fetch_message(agent, channel, message_id + 1)


async def test_fetch_message_logs(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    message_id = emu.state.add_message(agent, channel, {})
    entry = {"timestamp": WHEN_MS, "type": "user.log", "level": "INFO", "message": "started"}
    emu.state.add_message_log(agent, channel, message_id, entry)
    (log,) = await client.fetch_message_logs(agent, channel, message_id)
    assert isinstance(log, MessageLogEntry)
    assert (log.timestamp, log.type, log.level, log.message) == (
        WHEN_MS,
        "user.log",
        "INFO",
        "started",
    )
    assert api_requests(emu)[0].path.endswith(f"/messages/{message_id}/logs")


@pytest.mark.parametrize("timestamp", [WHEN_MS, WHEN, WHEN.replace(tzinfo=None)])
async def test_create_message_with_timestamp(
    emu: DooverEmulator,
    client: AsyncDataClient,
    agent: int,
    channel: str,
    timestamp: int | dt.datetime,
) -> None:
    message = await client.create_message(agent, channel, {"rpm": 1}, timestamp=timestamp)
    assert snowflake_to_ms(message.id) == WHEN_MS
    (request,) = api_requests(emu)
    assert (request.method, request.path) == (
        "POST",
        f"/api/agents/{agent}/channels/{channel}/messages",
    )
    assert request.json() == {"data": {"rpm": 1}, "ts": WHEN_MS}


async def test_create_message_at_a_chosen_id_is_idempotent(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    message_id = generate_snowflake_id(SnowflakeType.Message)
    first = await client.create_message(agent, channel, {"n": 1}, message_id=message_id)
    again = await client.create_message(agent, channel, {"n": 1}, message_id=message_id)
    assert first.id == again.id == message_id
    assert len(emu.state.messages(agent, channel)) == 1
    assert api_requests(emu)[0].path.endswith(f"/messages/{message_id}")


async def test_create_message_with_files_and_download_them(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    files = [
        File("snap.jpg", "image/jpeg", 4, b"\xff\xd8\x00\x01"),
        File(" C:\\logs\\notes.txt", "text/plain", 2, b"hi"),  # kept as given
    ]
    message = await client.create_message(agent, channel, {"rpm": 2}, files=files)
    assert [a.filename for a in message.attachments] == ["snap.jpg", " C:\\logs\\notes.txt"]
    assert message.attachments[0].content_type == "image/jpeg"
    assert message.attachments[0].size == 4
    assert await client.fetch_message_attachment(message.attachments[0]) == b"\xff\xd8\x00\x01"
    assert await client.fetch_message_attachment(message.attachments[1]) == b"hi"
    upload = api_requests(emu)[0]
    assert "content-encoding" not in upload.headers  # multipart is never compressed
    payload, first, second = multipart_parts(upload)
    assert payload.get_param("name", header="content-disposition") == "json_payload"
    assert payload.get_payload(decode=True) == b'{"data":{"rpm":2}}'
    assert first.get_param("name", header="content-disposition") == "attachment-1"
    assert first.get_filename() == "snap.jpg"
    assert first.get_content_type() == "image/jpeg"
    assert first.get_payload(decode=True) == b"\xff\xd8\x00\x01"
    assert second.get_param("name", header="content-disposition") == "attachment-2"


async def test_update_message_merge_replace_and_suppress(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    message_id = emu.state.add_message(agent, channel, {"a": 1, "b": {"c": 2}})
    merged = await client.update_message(agent, channel, message_id, {"b": {"d": 3}})
    assert merged is not None
    assert merged.data == {"a": 1, "b": {"c": 2, "d": 3}}
    replaced = await client.update_message(agent, channel, message_id, {"z": 0}, replace_data=True)
    assert replaced is not None
    assert replaced.data == {"z": 0}
    suppressed = await client.update_message(
        agent, channel, message_id, {"y": 1}, suppress_response=True
    )
    assert suppressed is None
    assert (await client.fetch_message(agent, channel, message_id)).data == {"z": 0, "y": 1}
    patch, put, quiet, _ = api_requests(emu)
    assert (patch.method, patch.query, patch.json()) == ("PATCH", "", {"data": {"b": {"d": 3}}})
    assert put.method == "PUT"
    assert quiet.query == "suppress_response=true"


async def test_update_message_files_and_clear_attachments(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    message = await client.create_message(
        agent, channel, {}, files=[File("old.txt", "text/plain", 3, b"old")]
    )
    updated = await client.update_message(
        agent,
        channel,
        message.id,
        {"v": 1},
        files=[File("new.txt", "text/plain", 3, b"new")],
        clear_attachments=True,
    )
    assert updated is not None
    assert [a.filename for a in updated.attachments] == ["new.txt"]
    assert await client.fetch_message_attachment(updated.attachments[0]) == b"new"
    assert api_requests(emu)[1].query == "clear_attachments=true"


async def test_delete_message(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    message_id = emu.state.add_message(agent, channel, {})
    assert await client.delete_message(agent, channel, message_id) is None
    assert emu.state.messages(agent, channel) == []
    with pytest.raises(NotFoundError):
        await client.delete_message(agent, channel, message_id)


async def test_fetch_timeseries(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    ids = emu.state.add_messages(agent, channel, [{"t": t, "h": t * 2} for t in range(4)])
    series = await client.fetch_timeseries(
        agent, channel, ["t"], after=ids[0], before=WHEN.replace(year=2100), limit=2
    )
    assert isinstance(series, TimeseriesResponse)
    assert series.count == 2
    assert [(p.message_id, p.value) for p in series.results] == [(ids[3], 3), (ids[2], 2)]
    assert series.next is None  # not asked for (pydoover's request)
    both = await client.fetch_timeseries(agent, channel, ["t", "h"], limit=1)
    assert both.results[0].value == {"t": 3, "h": 6}
    paged = await client.fetch_timeseries(agent, channel, ["t"], limit=2, paginate=True)
    assert paged.next == ids[2]
    rest = await client.fetch_timeseries(agent, channel, ["t"], before=paged.next, paginate=True)
    assert [p.value for p in rest.results] == [1, 0]
    assert rest.next is None  # no more
    first, second, third, _ = api_requests(emu)
    assert first.path.endswith(f"/channels/{channel}/messages/timeseries")
    assert parse_qsl(first.query) == [
        ("field_name", "t"),
        ("before", str(snowflake_bound(WHEN.replace(year=2100)))),
        ("after", str(ids[0])),
        ("limit", "2"),
    ]
    assert parse_qsl(second.query) == [("field_name", "t"), ("field_name", "h"), ("limit", "1")]
    assert parse_qsl(third.query) == [("field_name", "t"), ("limit", "2"), ("paginate", "true")]
