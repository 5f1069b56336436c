"""Aggregate methods of AsyncDataClient, end to end against the emulator."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qsl

import pytest
from doover_client_support import api_requests, multipart_parts

from pydoover_anyio.client import AsyncDataClient
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.errors import HTTPError, NotFoundError
from pydoover_anyio.models import Aggregate, File

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin", "doover_client_fixtures"]

pytestmark = pytest.mark.anyio


async def test_fetch_and_merge(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    first = await client.update_channel_aggregate(agent, channel, {"a": 1, "s": {"x": 1}})
    assert isinstance(first, Aggregate)
    merged = await client.update_channel_aggregate(agent, channel, {"s": {"y": 2}})
    assert merged is not None
    assert merged.data == {"a": 1, "s": {"x": 1, "y": 2}}
    assert merged.last_updated is not None
    fetched = await client.fetch_channel_aggregate(agent, channel)
    assert fetched.data == merged.data
    patch = api_requests(emu)[0]
    assert (patch.method, patch.path, patch.query) == (
        "PATCH",
        f"/api/agents/{agent}/channels/{channel}/aggregate",
        "",
    )
    assert patch.json() == {"a": 1, "s": {"x": 1}}  # the data itself, not {"data": ...}


async def test_replace_keys_log_update_and_replace_data(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    await client.update_channel_aggregate(agent, channel, {"s": {"x": 1, "y": 2}, "k": 0})
    replaced = await client.update_channel_aggregate(
        agent, channel, {"s": {"z": 3}}, log_update=True, replace_keys=["s"]
    )
    assert replaced is not None
    assert replaced.data == {"s": {"z": 3}, "k": 0}
    assert [m["data"] for m in emu.state.messages(agent, channel)] == [{"s": {"z": 3}}]
    whole = await client.update_channel_aggregate(agent, channel, {"only": 1}, replace_data=True)
    assert whole is not None
    assert whole.data == {"only": 1}
    _, logged, put = api_requests(emu)
    assert parse_qsl(logged.query) == [("log_update", "true"), ("replace", "s")]
    assert put.method == "PUT"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), Decimal("NaN")])
async def test_a_value_json_cannot_hold_is_refused_not_sent_as_null(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str, value: object
) -> None:
    """msgspec would write a NaN as null, and a null in an update deletes the key."""
    await client.update_channel_aggregate(agent, channel, {"temp": 21.5, "rpm": 1})
    with pytest.raises(ValueError, match="JSON"):
        await client.update_channel_aggregate(agent, channel, {"temp": value})
    with pytest.raises(ValueError, match="JSON"):
        await client.create_message(agent, channel, {"temp": [value]})
    assert (await client.fetch_channel_aggregate(agent, channel)).data == {"temp": 21.5, "rpm": 1}
    assert [r.method for r in api_requests(emu)] == ["PATCH", "GET"]


async def test_a_decimal_is_sent_as_the_number_it_is(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    await client.update_channel_aggregate(agent, channel, {"reading": Decimal("1.10")})
    assert api_requests(emu)[0].body == b'{"reading":1.10}'
    assert (await client.fetch_channel_aggregate(agent, channel)).data == {"reading": 1.1}


@pytest.mark.parametrize("options", [{"suppress_response": True}, {"return_aggregate": False}])
async def test_suppressed_response_is_none(
    emu: DooverEmulator,
    client: AsyncDataClient,
    agent: int,
    channel: str,
    options: dict[str, bool],
) -> None:
    assert await client.update_channel_aggregate(agent, channel, {"a": 1}, **options) is None
    assert (await client.fetch_channel_aggregate(agent, channel)).data == {"a": 1}
    assert api_requests(emu)[0].query == "suppress_response=true"


async def test_attachments_upload_download_and_clear(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    aggregate = await client.update_channel_aggregate(
        agent, channel, {"cam": "on"}, files=[File("frame.png", "image/png", 3, b"PNG")]
    )
    assert aggregate is not None
    (attachment,) = aggregate.attachments
    attachment_id = int(attachment.url.rsplit("/", 1)[1])
    data = await client.fetch_channel_aggregate_attachment(agent, channel, attachment_id)
    assert data == b"PNG"
    upload, download = api_requests(emu)
    payload, file_part = multipart_parts(upload)
    assert payload.get_payload(decode=True) == b'{"cam":"on"}'
    assert file_part.get_filename() == "frame.png"
    assert download.path == (
        f"/api/agents/{agent}/channels/{channel}/aggregate/attachments/{attachment_id}"
    )
    cleared = await client.update_channel_aggregate(agent, channel, {}, clear_attachments=True)
    assert cleared is not None
    assert cleared.attachments == []
    with pytest.raises(NotFoundError):
        await client.fetch_channel_aggregate_attachment(agent, channel, attachment_id)


async def test_logged_updates_are_not_resent_after_an_ambiguous_failure(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    emu.faults.fail(1, 503, after=True)
    with pytest.raises(HTTPError):
        await client.update_channel_aggregate(agent, channel, {"a": 1}, log_update=True)
    assert len(emu.state.messages(agent, channel)) == 1
    emu.faults.fail(1, 503, after=True)
    merged = await client.update_channel_aggregate(agent, channel, {"b": 2})
    assert merged is not None
    assert merged.data == {"a": 1, "b": 2}
    assert [r.status for r in api_requests(emu)] == [503, 503, 200]
