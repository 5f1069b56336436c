"""The request core of AsyncDataClient: settings, headers, bodies, errors, retries, auth."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest
from doover_client_support import api_requests, client_options

from pydoover_anyio.auth import ClientCredentialsAuth, StaticTokenAuth
from pydoover_anyio.client import DEFAULT_BASE_URL, AsyncDataClient
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.errors import (
    BadRequestError,
    DooverConnectionError,
    DooverTimeoutError,
    ForbiddenError,
    HTTPError,
    NotFoundError,
    ResponseDecodeError,
    TokenRefreshError,
    UnauthorizedError,
)
from pydoover_anyio.models import Attachment, File
from pydoover_anyio.runtime import ClientClosedError
from pydoover_anyio.snowflake import SnowflakeType, generate_snowflake_id

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin", "doover_client_fixtures"]

pytestmark = pytest.mark.anyio


# -- construction -----------------------------------------------------------------------


async def test_defaults_match_pydoover_and_max_retries_counts_retries() -> None:
    async with AsyncDataClient(token="t") as client:
        assert client.base_url == DEFAULT_BASE_URL
        assert client.max_retries == 3
        assert client.retry_delay == 1.0
        assert client.timeout == 60.0
        assert client.compress == "gzip"
        assert client.compress_level is None
        assert client.agent_id is None
        assert client.organisation_id is None
        assert client.token == "t"


async def test_base_url_trailing_slash_is_stripped_and_ids_are_ints() -> None:
    async with AsyncDataClient(
        "http://example.test/api/", token="t", agent_id="12", organisation_id="34"
    ) as client:
        assert client.base_url == "http://example.test/api"
        assert client.agent_id == 12
        assert client.organisation_id == 34


@pytest.mark.parametrize(
    "options",
    [
        {"compress": "zstd"},
        {"compress_level": 10},
        {"max_retries": -1},
        {"timeout": 0},
        {"auth": StaticTokenAuth(token="t"), "token": "u"},
        {"base_url": "http://a.test/api", "data_base_url": "http://b.test/api"},
    ],
)
async def test_invalid_settings_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        AsyncDataClient(**options)  # type: ignore[arg-type]


async def test_unknown_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        AsyncDataClient(token="t", retries=2)  # type: ignore[call-arg]


async def test_settings_can_be_changed_later() -> None:
    async with AsyncDataClient(token="t") as client:
        client.max_retries = 0
        client.retry_delay = 0.5
        assert client.max_retries == 0
        assert client.retry_delay == 0.5
        with pytest.raises(ValueError, match="max_retries"):
            client.max_retries = -2
        client.timeout = 5
        assert client.timeout == 5.0
        with pytest.raises(ValueError, match="timeout"):
            client.timeout = 0
        client.set_token("new")
        assert client.token == "new"


async def test_default_agent_is_used_when_none_is_given(emu: DooverEmulator, agent: int) -> None:
    async with AsyncDataClient(emu.url, token=emu.token, agent_id=agent) as client:
        names = [c.name for c in await client.list_channels(None)]  # type: ignore[arg-type]
        assert "notifications" in names
    async with AsyncDataClient(emu.url, token=emu.token) as client:
        with pytest.raises(ValueError, match="agent_id"):
            await client.list_channels(None)  # type: ignore[arg-type]
    assert len(api_requests(emu)) == 1


# -- headers and bodies ---------------------------------------------------------------------


async def test_headers_authorization_user_agent_and_organisation(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    async with AsyncDataClient(emu.url, token=emu.token, organisation_id=7) as client:
        await client.fetch_channel(agent, channel)
        await client.fetch_channel(agent, channel, organisation_id=9)
    async with AsyncDataClient(emu.url, token=emu.token) as client:
        await client.fetch_channel(agent, channel)
    first, per_call, without = (r.headers for r in api_requests(emu))
    assert first["authorization"] == f"Bearer {emu.token}"
    assert first["user-agent"].startswith("pydoover-anyio/")
    assert " Python/" in first["user-agent"]
    assert first["x-doover-organisation"] == "7"
    assert per_call["x-doover-organisation"] == "9"
    assert "x-doover-organisation" not in without


@pytest.mark.parametrize(
    ("compress", "data", "gzipped"),
    [
        ("gzip", {"text": "x" * 60}, True),
        ("gzip", {"x": 1}, False),
        (None, {"text": "x" * 60}, False),
    ],
)
async def test_json_bodies_are_gzipped_from_50_bytes(
    emu: DooverEmulator,
    agent: int,
    channel: str,
    compress: str | None,
    data: dict[str, object],
    gzipped: bool,
) -> None:
    async with AsyncDataClient(emu.url, token=emu.token, compress=compress) as client:
        await client.create_message(agent, channel, data)
    (request,) = api_requests(emu)
    assert request.headers["content-type"] == "application/json"
    assert (request.headers.get("content-encoding") == "gzip") is gzipped
    if gzipped:
        assert json.loads(gzip.decompress(request.raw_body)) == {"data": data}
    assert request.json() == {"data": data}


# -- errors -------------------------------------------------------------------------------


async def test_400_is_bad_request_with_method_url_and_body(
    client: AsyncDataClient, agent: int, channel: str
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await client.list_messages(agent, channel, limit=0)
    error = caught.value
    assert error.status == 400
    assert error.method == "GET"
    assert error.url.endswith(f"/agents/{agent}/channels/{channel}/messages?limit=0")
    assert "limit" in error.body
    assert str(error).startswith(f"HTTP 400 on GET {error.url}")


async def test_404_is_not_found(client: AsyncDataClient, agent: int) -> None:
    with pytest.raises(NotFoundError) as caught:
        await client.fetch_channel(agent, "no_such_channel")
    assert caught.value.status == 404


async def test_403_is_forbidden_and_not_retried(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    emu.faults.fail(1, 403)
    with pytest.raises(ForbiddenError):
        await client.fetch_channel(agent, channel)
    assert len(api_requests(emu)) == 1


async def test_other_4xx_is_http_error_and_not_retried(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    emu.faults.fail(1, 409, body=b"conflict here")
    with pytest.raises(HTTPError) as caught:
        await client.fetch_channel(agent, channel)
    assert type(caught.value) is HTTPError
    assert caught.value.status == 409
    assert caught.value.body == "conflict here"
    assert len(api_requests(emu)) == 1


async def test_5xx_is_retried_then_raised(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    emu.faults.fail(10, 503)
    with pytest.raises(HTTPError) as caught:
        await client.fetch_channel(agent, channel)
    assert caught.value.status == 503
    assert len(api_requests(emu)) == 1 + client.max_retries


async def test_5xx_then_success(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    emu.faults.fail(2, 502)
    assert (await client.fetch_channel(agent, channel)).name == channel
    assert [r.status for r in api_requests(emu)] == [502, 502, 200]


async def test_max_retries_zero_means_one_attempt(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    emu.faults.fail(1, 500)
    async with AsyncDataClient(emu.url, token=emu.token, max_retries=0) as client:
        with pytest.raises(HTTPError):
            await client.fetch_channel(agent, channel)
        assert (await client.fetch_channel(agent, channel)).name == channel
    assert [r.status for r in api_requests(emu)] == [500, 200]


async def test_malformed_body_is_a_decode_error(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    emu.faults.malformed(1)
    with pytest.raises(ResponseDecodeError) as caught:
        await client.fetch_channel(agent, channel)
    assert caught.value.status == 200
    assert caught.value.method == "GET"
    assert len(api_requests(emu)) == 1  # a complete 2xx answer is not re-sent


async def test_json_nested_too_deep_is_a_decode_error() -> None:
    deep = b'{"data":' + b"[" * 5000 + b"]" * 5000 + b"}"  # msgspec: a RecursionError
    answer = httpx.MockTransport(lambda request: httpx.Response(200, content=deep))
    async with (
        httpx.AsyncClient(transport=answer) as http,
        AsyncDataClient("http://doover.test/api", token="t", http_client=http) as client,
    ):
        with pytest.raises(ResponseDecodeError):
            await client.fetch_channel_aggregate(1, "c")


@pytest.mark.parametrize("body", [b"", b"null", b"{}", b" { } \n"])
async def test_an_update_answered_with_nothing_gives_none(body: bytes) -> None:
    # pydoover returned None for any empty answer of these two updates.
    answer = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    async with (
        httpx.AsyncClient(transport=answer) as http,
        AsyncDataClient("http://doover.test/api", token="t", http_client=http) as client,
    ):
        assert await client.update_message(1, "c", 2, {"a": 1}) is None
        assert await client.update_channel_aggregate(1, "c", {"a": 1}) is None
        if body.strip() == b"{}":  # a dict result stays a dict
            assert await client.invoke_ingestion_endpoint(1, 2, {}, wait=True) == {}


async def test_html_page_is_a_decode_error(
    emu: DooverEmulator, client: AsyncDataClient, agent: int
) -> None:
    emu.faults.html(1)
    with pytest.raises(ResponseDecodeError):
        await client.list_channels(agent)


async def test_dropped_connection_is_retried_for_reads(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    emu.faults.drop(1)
    assert (await client.fetch_channel(agent, channel)).name == channel
    assert len(api_requests(emu)) == 2


async def test_dropped_connection_after_retries_is_a_connection_error(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    emu.faults.drop(10)
    with pytest.raises(DooverConnectionError) as caught:
        await client.fetch_channel(agent, channel)
    assert caught.value.method == "GET"
    assert isinstance(caught.value.__cause__, httpx.TransportError)
    assert emu.token not in str(caught.value)


async def test_unreachable_server_is_a_connection_error() -> None:
    async with AsyncDataClient(
        "http://127.0.0.1:9/api", token="t", max_retries=1, retry_delay=0.001
    ) as client:
        with pytest.raises(DooverConnectionError):
            await client.list_channels(1)


# Stalled requests finish after the test: they get an emulator of their own, which does
# not wait for them when it stops.


async def test_timeout_is_applied() -> None:
    with DooverEmulator(shutdown_timeout=0.05) as emu:
        emu.faults.stall(1, seconds=2)
        async with AsyncDataClient(emu.url, token=emu.token, timeout=0.2, max_retries=0) as client:
            with pytest.raises(DooverTimeoutError):
                await client.list_channels(emu.default_agent_id)


async def test_a_timeout_set_later_applies_to_the_next_request() -> None:
    with DooverEmulator(shutdown_timeout=0.05) as emu:
        emu.faults.stall(1, seconds=2)
        async with AsyncDataClient(emu.url, token=emu.token, max_retries=0) as client:
            client.timeout = 0.2
            with pytest.raises(DooverTimeoutError):
                await client.list_channels(emu.default_agent_id)


async def test_timeout_then_retry_succeeds() -> None:
    with DooverEmulator(shutdown_timeout=0.05) as emu:
        emu.faults.stall(1, seconds=2)
        options = client_options(timeout=0.2)
        async with AsyncDataClient(emu.url, token=emu.token, **options) as client:
            assert await client.list_channels(emu.default_agent_id)


# -- retries never duplicate a create ----------------------------------------------------


@pytest.mark.parametrize("fault", ["fail", "drop"])
async def test_create_without_id_is_not_resent_after_an_ambiguous_failure(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str, fault: str
) -> None:
    if fault == "fail":
        emu.faults.fail(1, 503, after=True)
        expected: type[Exception] = HTTPError
    else:
        emu.faults.drop(1, after=True)
        expected = DooverConnectionError
    with pytest.raises(expected):
        await client.create_message(agent, channel, {"n": 1})
    assert len(api_requests(emu)) == 1
    assert len(emu.state.messages(agent, channel)) == 1  # the server did store it, once


@pytest.mark.parametrize("fault", ["fail", "drop"])
async def test_create_with_id_is_resent_and_stored_once(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str, fault: str
) -> None:
    if fault == "fail":
        emu.faults.fail(1, 503, after=True)
    else:
        emu.faults.drop(1, after=True)
    message_id = generate_snowflake_id(SnowflakeType.Message)
    message = await client.create_message(agent, channel, {"n": 1}, message_id=message_id)
    assert message.id == message_id
    assert len(api_requests(emu)) == 2
    assert [m["id"] for m in emu.state.messages(agent, channel)] == [str(message_id)]


async def test_create_without_id_is_resent_after_429(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    emu.faults.rate_limit(1, retry_after=0)
    await client.create_message(agent, channel, {"n": 1})
    assert [r.status for r in api_requests(emu)] == [429, 200]
    assert len(emu.state.messages(agent, channel)) == 1


async def test_a_retry_after_beyond_the_cap_is_not_waited_for(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    emu.faults.rate_limit(1, retry_after=3600)
    with pytest.raises(HTTPError) as caught:
        await client.fetch_channel(agent, channel)
    assert caught.value.status == 429
    assert len(api_requests(emu)) == 1


async def test_batch_create_is_resent_only_when_every_item_has_an_id(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    from pydoover_anyio.models import BatchMutationItem

    emu.faults.fail(1, 503, after=True)
    with pytest.raises(HTTPError):
        await client.batch_create_messages([BatchMutationItem(agent, channel, {"n": 1})])
    emu.faults.fail(1, 503, after=True)
    ids = [generate_snowflake_id(SnowflakeType.Message) for _ in range(2)]
    items = [BatchMutationItem(agent, channel, {"n": i}, message_id=m) for i, m in enumerate(ids)]
    response = await client.batch_create_messages(items)
    assert response.succeeded == 2
    assert len(api_requests(emu)) == 3
    assert len(emu.state.messages(agent, channel)) == 3


# -- auth -------------------------------------------------------------------------------------


async def test_token_is_obtained_once_per_logical_request(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    async with AsyncDataClient(
        emu.url, client_id=emu.client_id, client_secret=emu.client_secret, **client_options()
    ) as client:
        emu.faults.fail(2, 503, path="/api/agents")
        await client.fetch_channel(agent, channel)
        await client.fetch_channel(agent, channel)
    assert emu.token_requests == 1


async def test_401_refreshes_once_and_resends_once(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    async with AsyncDataClient(
        emu.url, client_id=emu.client_id, client_secret=emu.client_secret, **client_options()
    ) as client:
        await client.fetch_channel(agent, channel)
        first = client.token
        assert first is not None
        emu.revoke_token(first)
        assert (await client.fetch_channel(agent, channel)).name == channel
        assert client.token != first
    assert emu.token_requests == 2
    assert [r.status for r in api_requests(emu)] == [200, 401, 200]


async def test_a_second_401_is_raised_without_another_refresh(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    async with AsyncDataClient(
        emu.url, client_id=emu.client_id, client_secret=emu.client_secret, **client_options()
    ) as client:
        emu.faults.fail(5, 401, path="/api/agents")
        with pytest.raises(UnauthorizedError):
            await client.fetch_channel(agent, channel)
    assert emu.token_requests == 2  # the first token, then one refresh
    assert [r.status for r in api_requests(emu)] == [401, 401]


async def test_401_without_refresh_credentials_is_raised(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    emu.revoke_token(emu.token)
    with pytest.raises(UnauthorizedError) as caught:
        await client.fetch_channel(agent, channel)
    assert "Bearer" not in str(caught.value)
    assert len(api_requests(emu)) == 1


async def test_no_credentials_fail_before_any_request(emu: DooverEmulator, agent: int) -> None:
    async with AsyncDataClient(emu.url) as client:
        with pytest.raises(TokenRefreshError):
            await client.list_channels(agent)
    assert api_requests(emu) == []


async def test_token_is_only_sent_to_the_api_origin(
    emu: DooverEmulator, client: AsyncDataClient, agent: int, channel: str
) -> None:
    message = await client.create_message(
        agent, channel, {}, files=[File("f.txt", "text/plain", 1, b"x")]
    )
    url = message.attachments[0].url
    assert await client.fetch_message_attachment(message.attachments[0]) == b"x"
    elsewhere = url.replace("127.0.0.1", "localhost")  # same server, another origin
    with pytest.raises(UnauthorizedError):
        await client.fetch_message_attachment(Attachment("f.txt", "text/plain", 1, elsewhere))
    _, same_origin, other_origin = api_requests(emu)
    assert same_origin.headers["authorization"] == f"Bearer {emu.token}"
    assert "authorization" not in other_origin.headers


# -- lifecycle -------------------------------------------------------------------------------


async def test_close_is_idempotent_and_a_closed_client_refuses_calls(
    emu: DooverEmulator, agent: int
) -> None:
    client = AsyncDataClient(emu.url, token=emu.token)
    await client.setup()  # pydoover's explicit start still works
    await client.list_channels(agent)
    await client.aclose()
    await client.close()
    with pytest.raises(ClientClosedError):
        await client.list_channels(agent)
    with pytest.raises(ClientClosedError):
        await client.setup()
    with pytest.raises(ClientClosedError):
        async with client:
            pass


async def test_a_shared_auth_object_outlives_its_clients(emu: DooverEmulator, agent: int) -> None:
    auth = ClientCredentialsAuth(
        data_base_url=emu.url, client_id=emu.client_id, client_secret=emu.client_secret
    )
    async with AsyncDataClient(auth=auth) as first:
        await first.list_channels(agent)
    async with AsyncDataClient(auth=auth) as second:
        await second.list_channels(agent)
    assert second.base_url == emu.url
    assert emu.token_requests == 1  # the token survived the first client's close
    await auth.aclose()
