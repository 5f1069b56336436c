"""gps_tracker clients end to end: fixtures replayed, then the emulator over real HTTP.

Async tests run on asyncio and trio; the sync ``Client`` is used from plain threads.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from fractions import Fraction

import httpx
import pytest
from invoxia_fixtures import all_names, mock_transport

from gps_tracker import AsyncClient, Client, Config, paging
from gps_tracker.client.datatypes import (
    Android,
    Iphone,
    Tracker,
    Tracker01,
    TrackerData,
    TrackerMode,
)
from gps_tracker.client.exceptions import (
    ApiConnectionError,
    FailedQuery,
    ForbiddenQuery,
    GpsTrackerException,
    HttpException,
    NoContentQuery,
    UnauthorizedQuery,
    UnknownAnswerScheme,
)
from gps_tracker.emulator import InvoxiaEmulator
from pydoover_anyio.runtime import ClientClosedError, RetryPolicy

CONFIG = Config("user@example.com", "s3cret")
FAST_RETRY = RetryPolicy(max_retries=3, backoff_base=0.001)


class Device:
    def __init__(self, device_id: int) -> None:
        self.id = device_id


@pytest.fixture
async def replay() -> AsyncIterator[tuple[AsyncClient, list[httpx.Request]]]:
    """An AsyncClient whose caller-owned session replays every captured fixture."""
    seen: list[httpx.Request] = []
    names = [
        n
        for n in all_names()
        if "except" not in n
        and n != "200_users"
        and "unknown-field" not in n
        and "missing-field" not in n
        and "tracker_data_empty" not in n
    ]
    session = httpx.AsyncClient(transport=mock_transport(names, seen=seen))
    async with AsyncClient(CONFIG, session=session) as client:
        yield client, seen
    assert not session.is_closed  # close() never closes a caller-owned session
    await session.aclose()


async def replay_one(name: str) -> AsyncClient:
    return AsyncClient(
        CONFIG, httpx.AsyncClient(transport=mock_transport([name])), retry=FAST_RETRY
    )


# -- captured fixtures, replayed -------------------------------------------------------


@pytest.mark.anyio
async def test_replayed_fixtures_decode_through_the_client(
    replay: tuple[AsyncClient, list[httpx.Request]],
) -> None:
    client, seen = replay
    user = await client.get_user(457961)
    assert user.id == 457961
    devices = await client.get_devices()
    assert [type(d) for d in devices] == [Android, Tracker01, Iphone]
    assert [type(d) for d in await client.get_devices(kind="android")] == [Android]
    assert [type(d) for d in await client.get_devices(kind="iphone")] == [Iphone]
    trackers = await client.get_trackers()
    assert [type(t) for t in trackers] == [Tracker01]
    assert isinstance(await client.get_device(222000), Android)
    config = await client.get_tracker_config(Device(878858))
    assert config.network_region == "MOON"
    assert config.mode is TrackerMode.AIRPLANE
    status = await client.get_tracker_status(Device(878858))
    assert status.sub_end_date == "2023-02-28"
    locations = await client.get_locations(Device(878858))
    assert len(locations) == 20
    assert all(loc.datetime.tzinfo is not None for loc in locations)
    assert [r.url.raw_path.decode() for r in seen] == [
        "/users/457961/",
        "/devices/",
        "/devices/?type=android",
        "/devices/?type=iphone",
        "/devices/?type=tracker",
        "/devices/222000/",
        "/devices/878858/tracker_config/",
        "/devices/878858/tracker_status/",
        "/devices/878858/tracker_data/",
    ]
    expected = "Basic " + base64.b64encode(b"user@example.com:s3cret").decode()
    assert {r.headers["authorization"] for r in seen} == {expected}


@pytest.mark.anyio
async def test_401_fixture_raises_unauthorized_with_the_server_detail() -> None:
    client = await replay_one("401_users")
    with pytest.raises(UnauthorizedQuery) as caught:
        await client.get_users()
    assert str(caught.value) == "Invalid username/password."
    assert caught.value.json_answer == {"detail": "Invalid username/password."}
    assert caught.value.status == 401


@pytest.mark.anyio
async def test_403_fixture_raises_forbidden() -> None:
    client = await replay_one("403_user_id-666666")
    with pytest.raises(ForbiddenQuery, match="not allowed to perform") as caught:
        await client.get_user(666666)
    assert caught.value.json_answer == {
        "detail": "You do not have permission to perform this action."
    }
    assert isinstance(caught.value.__cause__, httpx.HTTPStatusError)


@pytest.mark.anyio
async def test_204_fixture_raises_no_content() -> None:
    client = await replay_one("204_tracker_status-invalid")
    with pytest.raises(NoContentQuery, match="No content") as caught:
        await client.get_tracker_status(Device(222000))
    assert caught.value.json_answer is None
    assert caught.value.__cause__ is None  # not a failure of the HTTP exchange


@pytest.mark.anyio
async def test_404_fixture_raises_failed_query_with_its_status() -> None:
    client = await replay_one("404_test")
    with pytest.raises(FailedQuery, match="Query failed") as caught:
        await client._get("test/")
    assert caught.value.status == 404
    assert caught.value.json_answer is None  # an HTML page
    # 0.9.2 chained its HTTP library's status error: the status was only readable there.
    cause = caught.value.__cause__
    assert isinstance(cause, httpx.HTTPStatusError)
    assert cause.response.status_code == 404


@pytest.mark.anyio
async def test_a_subclass_declared_default_is_raised_for_other_statuses() -> None:
    # 0.9.2's hooks: ``default=True`` picks the class, ``_message(self)`` its text.
    class Unexpected(HttpException, default=True):
        def _message(self) -> str | None:
            return f"unexpected answer {self.json_answer!r}"

    try:
        assert HttpException.get_default() is Unexpected
        client = await replay_one("404_test")
        with pytest.raises(Unexpected, match="unexpected answer None") as caught:
            await client._get("test/")
        assert caught.value.status == 404
    finally:
        HttpException._default = FailedQuery
    assert HttpException.get_default() is FailedQuery


@pytest.mark.anyio
@pytest.mark.parametrize(
    "name",
    ["404_test_except-AsyncClientConnectionError", "404_test_except-SyncClientConnectionError"],
)
async def test_connection_error_fixtures_raise_api_connection_error(name: str) -> None:
    client = await replay_one(name)
    with pytest.raises(ApiConnectionError) as caught:
        await client._get("test/")
    assert str(caught.value) == ""
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


@pytest.mark.anyio
async def test_missing_field_fixture_raises_unknown_answer_scheme() -> None:
    client = await replay_one("200_users_missing-field")
    with pytest.raises(UnknownAnswerScheme):
        await client.get_users()


@pytest.mark.anyio
async def test_json_nested_too_deep_raises_unknown_answer_scheme() -> None:
    deep = b"[" * 5000 + b"]" * 5000  # valid JSON; msgspec raises RecursionError for it
    answer = httpx.MockTransport(lambda request: httpx.Response(200, content=deep))
    async with AsyncClient(CONFIG, httpx.AsyncClient(transport=answer)) as client:
        with pytest.raises(UnknownAnswerScheme):
            await client.get_users()


@pytest.mark.anyio
async def test_empty_location_window_fixture_gives_no_locations() -> None:
    client = await replay_one("200_tracker_data_empty_deviceid-878858")
    # Bounds are widened by one second each way (and filtered exactly client-side), so
    # they are right whether the server compares inclusively or not: this asks for the
    # fixture's window.
    not_before = dt.datetime.fromtimestamp(1533411926, dt.UTC)
    not_after = dt.datetime.fromtimestamp(1639307603, dt.UTC)
    assert await client.get_locations(Device(878858), not_before, not_after, 5) == []


@pytest.mark.anyio
async def test_an_unknown_kind_raises_key_error_before_any_request() -> None:
    client = await replay_one("200_devices")
    with pytest.raises(KeyError, match="undefined"):
        await client.get_devices(kind="tablet")


def test_an_aiohttp_style_session_is_refused_with_a_clear_error() -> None:
    with pytest.raises(TypeError, match=r"httpx\.AsyncClient"):
        AsyncClient(CONFIG, session=object())  # type: ignore[arg-type]


# -- the emulator over real HTTP ------------------------------------------------------


@pytest.fixture
def emulator() -> Iterator[InvoxiaEmulator]:
    with InvoxiaEmulator(locations_per_tracker=300) as server:
        yield server


def newest_first(emulator: InvoxiaEmulator, device_id: int) -> list[uuid.UUID]:
    """The emulator's locations of a device, newest first (ties by uuid, descending)."""
    records = emulator.state.locations(device_id)
    ordered = sorted(
        records,
        key=lambda r: (
            dt.datetime.fromisoformat(r["datetime"].replace("Z", "+00:00")),
            uuid.UUID(r["uuid"]),
        ),
        reverse=True,
    )
    return [uuid.UUID(r["uuid"]) for r in ordered]


@pytest.mark.anyio
async def test_get_locations_is_exact_and_newest_first(emulator: InvoxiaEmulator) -> None:
    async with AsyncClient(emulator.config()) as client:
        tracker = (await client.get_trackers())[0]
        expected = newest_first(emulator, tracker.id)
        assert [loc.uuid for loc in await client.get_locations(tracker)] == expected[:20]
        everything = await client.get_locations(tracker, max_count=math.inf)
        assert [loc.uuid for loc in everything] == expected
        assert [loc.uuid for loc in await client.get_locations(tracker, max_count=137)] == (
            expected[:137]
        )
        # Any real number, counted down from as 0.9.2 did.
        counts: tuple[tuple[float | Fraction | Decimal, int], ...] = (
            (5.0, 5),
            (2.5, 3),
            (Fraction(7, 2), 4),
            (Decimal("3"), 3),
            (Decimal("1.5"), 2),
            (-1.5, 0),
        )
        for count, taken in counts:
            located = await client.get_locations(tracker, max_count=count)
            assert [loc.uuid for loc in located] == expected[:taken]
        for odd in ("5", None, True):
            with pytest.raises(TypeError, match="max_count"):
                await client.get_locations(tracker, max_count=odd)  # type: ignore[arg-type]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "mode", ["exact_inclusive", "exact_exclusive", "second_inclusive", "second_exclusive"]
)
@pytest.mark.parametrize("order", ["newest_first", "oldest_first", "shuffled"])
async def test_get_locations_is_exact_under_every_server_behaviour(
    emulator: InvoxiaEmulator, mode: str, order: str
) -> None:
    emulator.configure_paging(timestamp=mode, timestamp_max=mode, order=order, page_size=7)
    async with AsyncClient(emulator.config()) as client:
        tracker = (await client.get_trackers())[0]
        expected = newest_first(emulator, tracker.id)
        got = await client.get_locations(tracker, max_count=math.inf)
        assert [loc.uuid for loc in got] == expected


@pytest.mark.anyio
async def test_bounds_are_inclusive_and_exact(emulator: InvoxiaEmulator) -> None:
    async with AsyncClient(emulator.config()) as client:
        tracker = (await client.get_trackers())[0]
        everything = await client.get_locations(tracker, max_count=math.inf)
        newest, oldest = everything[40].datetime, everything[90].datetime
        window = await client.get_locations(tracker, oldest, newest, max_count=math.inf)
        assert [loc.uuid for loc in window] == [
            loc.uuid for loc in everything if oldest <= loc.datetime <= newest
        ]
        naive_local = newest.astimezone().replace(tzinfo=None)  # naive means local time
        later = await client.get_locations(tracker, not_after=naive_local, max_count=3)
        assert [loc.uuid for loc in later] == [loc.uuid for loc in everything[40:43]]


@pytest.mark.anyio
async def test_requests_carry_no_user_agent_of_their_own(emulator: InvoxiaEmulator) -> None:
    # As 0.9.2: only its HTTP library's default (here httpx's) and the Authorization.
    async with AsyncClient(emulator.config()) as client:
        await client.get_devices()
    (request,) = emulator.requests.entries()
    assert request.headers["user-agent"] == f"python-httpx/{httpx.__version__}"


@pytest.mark.anyio
async def test_latest_location_poll_costs_one_request_without_a_query(
    emulator: InvoxiaEmulator,
) -> None:
    async with AsyncClient(emulator.config()) as client:
        tracker = (await client.get_trackers())[0]
        emulator.requests.clear()
        (latest,) = await client.get_locations(tracker, max_count=1)
        assert [(r.path, r.query) for r in emulator.requests.entries()] == [
            (f"/devices/{tracker.id}/tracker_data/", "")
        ]
        assert latest.uuid == newest_first(emulator, tracker.id)[0]
        assert await client.get_locations(tracker, max_count=0) == []


@pytest.mark.anyio
@pytest.mark.parametrize("concurrency", [1, 4])
async def test_max_concurrency_bounds_the_pages_in_flight(
    emulator: InvoxiaEmulator, concurrency: int
) -> None:
    emulator.faults.set_latency(0.01)  # every request waits, so concurrent ones overlap
    async with AsyncClient(emulator.config(), max_concurrency=concurrency) as client:
        tracker = (await client.get_trackers())[0]
        fetch = client._fetch_locations
        in_flight, most = 0, 0

        async def counting(path: str, request: paging.PageRequest) -> list[TrackerData]:
            nonlocal in_flight, most
            in_flight += 1
            most = max(most, in_flight)
            try:
                return await fetch(path, request)
            finally:
                in_flight -= 1

        client._fetch_locations = counting  # type: ignore[method-assign]
        emulator.requests.clear()
        got = await client.get_locations(tracker, max_count=math.inf)
        assert [loc.uuid for loc in got] == newest_first(emulator, tracker.id)
        assert most == concurrency  # used, never exceeded
        if concurrency == 1:  # nothing to split for: the 0.9.2 walk, open below
            assert all("timestamp=" not in r.query for r in emulator.requests.entries())


@pytest.mark.anyio
async def test_iter_locations_streams_the_whole_history(emulator: InvoxiaEmulator) -> None:
    async with AsyncClient(emulator.config()) as client:
        tracker = (await client.get_trackers())[0]
        streamed = [loc.uuid async for loc in client.iter_locations(tracker)]
        assert streamed == newest_first(emulator, tracker.id)


@pytest.mark.anyio
async def test_transient_faults_are_retried_without_loss_or_duplicates(
    emulator: InvoxiaEmulator,
) -> None:
    # The first request alone may meet all five faults in a row: allow six retries.
    retry = RetryPolicy(max_retries=6, backoff_base=0.001)
    async with AsyncClient(emulator.config(), retry=retry) as client:
        tracker = (await client.get_trackers())[0]
        emulator.faults.fail(2, status=503)
        emulator.faults.rate_limit(1, retry_after=0)
        emulator.faults.drop(2)
        got = await client.get_locations(tracker, max_count=math.inf)
        assert [loc.uuid for loc in got] == newest_first(emulator, tracker.id)
        assert emulator.faults.pending == 0


@pytest.mark.anyio
async def test_a_persistent_server_error_raises_failed_query_with_status(
    emulator: InvoxiaEmulator,
) -> None:
    async with AsyncClient(emulator.config(), retry=FAST_RETRY) as client:
        emulator.faults.fail(10, status=502)
        with pytest.raises(FailedQuery) as caught:
            await client.get_users()
        assert caught.value.status == 502


@pytest.mark.anyio
async def test_bad_bodies_raise_unknown_answer_scheme(emulator: InvoxiaEmulator) -> None:
    async with AsyncClient(emulator.config()) as client:
        emulator.faults.malformed(1)
        with pytest.raises(UnknownAnswerScheme):
            await client.get_devices()
        emulator.faults.html(1)
        with pytest.raises(UnknownAnswerScheme):
            await client.get_devices()


@pytest.mark.anyio
async def test_a_slow_server_times_out_as_api_connection_error(
    emulator: InvoxiaEmulator,
) -> None:
    emulator.faults.stall(1, seconds=3)
    async with AsyncClient(
        emulator.config(), timeout=0.2, retry=RetryPolicy(max_retries=0)
    ) as client:
        with pytest.raises(ApiConnectionError):
            await client.get_users()


@pytest.mark.anyio
async def test_wrong_credentials_raise_unauthorized(emulator: InvoxiaEmulator) -> None:
    config = Config(emulator.username, "wrong", emulator.url)
    async with AsyncClient(config) as client:
        with pytest.raises(UnauthorizedQuery, match="Invalid username/password"):
            await client.get_users()


@pytest.mark.anyio
async def test_nothing_listening_raises_api_connection_error() -> None:
    config = Config("u", "p", "http://127.0.0.1:9")
    async with AsyncClient(config, retry=RetryPolicy(max_retries=0)) as client:
        with pytest.raises(ApiConnectionError):
            await client.get_users()


@pytest.mark.anyio
async def test_a_closed_client_raises_a_clear_error(emulator: InvoxiaEmulator) -> None:
    client = AsyncClient(emulator.config())
    await client.close()
    await client.close()  # harmless twice
    with pytest.raises(ClientClosedError):
        await client.get_users()
    assert issubclass(ClientClosedError, RuntimeError)  # 0.9.2 raised RuntimeError here


@pytest.mark.anyio
async def test_a_caller_session_without_auth_still_authenticates(
    emulator: InvoxiaEmulator,
) -> None:
    async with httpx.AsyncClient() as session:
        async with AsyncClient(emulator.config(), session=session) as client:
            assert len(await client.get_users()) == 1
        assert not session.is_closed


def test_the_sync_client_from_eight_threads(emulator: InvoxiaEmulator) -> None:
    with Client(emulator.config()) as client:
        tracker = client.get_trackers()[0]
        expected = newest_first(emulator, tracker.id)[:30]
        failures: list[BaseException] = []

        def worker() -> None:
            try:
                for _ in range(3):
                    assert [loc.uuid for loc in client.get_locations(tracker, max_count=30)] == (
                        expected
                    )
                    assert isinstance(client.get_tracker_status(tracker).battery, int)
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert failures == []


def test_the_sync_client_mirrors_the_async_one(emulator: InvoxiaEmulator) -> None:
    with Client(emulator.config()) as client:
        assert len(client.get_users()) == 1
        trackers = client.get_trackers()
        assert trackers
        assert all(isinstance(t, Tracker) for t in trackers)
        phone = next(d for d in client.get_devices() if isinstance(d, Android))
        with pytest.raises(NoContentQuery):
            client.get_tracker_status(phone)
        streamed = [loc.uuid for loc in client.iter_locations(trackers[0])]
        assert streamed == newest_first(emulator, trackers[0].id)
    with pytest.raises(ClientClosedError):
        client.get_users()


def test_every_error_is_a_gps_tracker_exception() -> None:
    for error in (ApiConnectionError, FailedQuery, UnknownAnswerScheme, UnauthorizedQuery):
        assert issubclass(error, GpsTrackerException)


def test_the_blocking_clients_max_concurrency_is_the_async_clients(
    emulator: InvoxiaEmulator,
) -> None:
    with Client(emulator.config()) as client:
        client.max_concurrency = 1
        assert client._async_client.max_concurrency == client.max_concurrency == 1
        tracker = client.get_trackers()[0]
        emulator.requests.clear()
        got = client.get_locations(tracker, max_count=math.inf)
        assert [loc.uuid for loc in got] == newest_first(emulator, tracker.id)
        # one page at a time: the 0.9.2 walk, no window cut off for a second slot
        assert all("timestamp=" not in r.query for r in emulator.requests.entries())
        with pytest.raises(ValueError, match="at least 1"):
            client.max_concurrency = 0
