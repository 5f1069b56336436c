"""The Invoxia emulator and its shared harness, exercised over real HTTP.

Sync tests use ``httpx.Client`` from the test thread; ``@pytest.mark.anyio`` tests use
``httpx.AsyncClient`` and run on asyncio and on trio. The server always runs in its own
thread, so both kinds talk to the same kind of server.
"""

from __future__ import annotations

import base64
import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import anyio
import httpx
import pytest

from gps_tracker.emulator import (
    BoundMode,
    FaultKind,
    FaultPlan,
    InvoxiaEmulator,
    InvoxiaState,
    PageOrder,
    RequestLog,
)
from pydoover_anyio._emulation import (
    LoggedRequest,
    Receive,
    Scope,
    Send,
    ServerThread,
    send_response,
)

USER, PASSWORD = "owner@example.com", "s3cret"
WIRE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
DECIMAL = re.compile(r"^-?\d+\.\d{6}$")
T = 1_700_000_000  # a whole second used as the bound in the paging tests


def server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "emulator-server"]


@pytest.fixture
def emu() -> Iterator[InvoxiaEmulator]:
    with InvoxiaEmulator(username=USER, password=PASSWORD, locations_per_tracker=60) as emulator:
        yield emulator


@pytest.fixture
def client(emu: InvoxiaEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url, auth=(USER, PASSWORD)) as http:
        yield http


def tracker_id(emu: InvoxiaEmulator, kind: str = "tracker_01") -> int:
    return emu.state.device_ids(kind)[0]


def at(offset: float) -> datetime:
    """``T + offset`` seconds as an aware datetime (offsets are exact in microseconds)."""
    return datetime.fromtimestamp(T, UTC) + timedelta(microseconds=round(offset * 1_000_000))


def wire(offset: float) -> str:
    return at(offset).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- the harness: ServerThread -----------------------------------------------------------


async def hello_app(scope: Scope, receive: Receive, send: Send) -> None:
    await send_response(send, 200, b"hello", content_type="text/plain")


def test_server_thread_serves_on_a_free_port_and_stops_cleanly() -> None:
    before = len(server_threads())
    server = ServerThread(hello_app)
    with pytest.raises(RuntimeError):
        _ = server.port
    with server:
        assert server.port > 0
        assert server.running
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(server.url + "/anything").text == "hello"
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
    assert not server.running
    assert len(server_threads()) == before
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/")
    server.stop()  # a second stop is a no-op


def test_server_thread_can_restart() -> None:
    server = ServerThread(hello_app)
    for _ in range(2):
        with server:
            assert httpx.get(server.url + "/").status_code == 200
    assert not server_threads()


def test_server_thread_bind_error_raises_in_caller() -> None:
    with ServerThread(hello_app) as first:
        taken = ServerThread(hello_app, port=first.port)
        with pytest.raises(OSError, match="in use"):
            taken.start()
        assert not taken.running


def test_stop_answers_503_to_a_request_that_never_started_its_response() -> None:
    entered = threading.Event()

    async def slow_app(scope: Scope, receive: Receive, send: Send) -> None:
        entered.set()
        await anyio.sleep(60)

    outcome: list[httpx.Response] = []
    server = ServerThread(slow_app, shutdown_timeout=0.05).start()
    caller = threading.Thread(
        target=lambda: outcome.append(httpx.get(server.url + "/", timeout=30))
    )
    caller.start()
    assert entered.wait(10)
    server.stop()
    caller.join(10)
    assert outcome[0].status_code == 503
    assert not server_threads()


def test_stop_cuts_a_response_in_progress() -> None:
    entered = threading.Event()

    async def half_app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-length", b"100")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        entered.set()
        await anyio.sleep(60)

    errors: list[BaseException] = []

    def call() -> None:
        try:
            httpx.get(server.url + "/", timeout=30)
        except httpx.TransportError as exc:
            errors.append(exc)

    server = ServerThread(half_app, shutdown_timeout=0.05).start()
    caller = threading.Thread(target=call)
    caller.start()
    assert entered.wait(10)
    server.stop()
    caller.join(10)
    assert isinstance(errors[0], httpx.RemoteProtocolError)


# -- the harness: FaultPlan and RequestLog without a server ----------------------------


def test_fault_plan_rules_are_consumed_in_order_and_by_path() -> None:
    plan = FaultPlan()
    plan.fail(2, status=502, path="/devices/")
    plan.drop()
    assert plan.pending == 3
    dropped = plan.take("/users/")[1]
    assert dropped is not None
    assert dropped.kind is FaultKind.DROP
    first = plan.take("/devices/1/")[1]
    assert first is not None
    assert (first.kind, first.status) == (FaultKind.FAIL, 502)
    assert plan.take("/devices/")[1] is not None
    assert plan.take("/devices/")[1] is None
    assert plan.pending == 0


def test_fault_plan_random_mode_is_seeded() -> None:
    def draws(seed: int) -> list[FaultKind | None]:
        plan = FaultPlan(seed=seed)
        plan.set_error_rate(0.5)
        return [f.kind if f else None for _, f in (plan.take("/x") for _ in range(200))]

    assert draws(3) == draws(3)
    assert draws(3) != draws(4)
    kinds = set(draws(3))
    assert None in kinds
    assert FaultKind.STALL not in kinds
    assert {FaultKind.FAIL, FaultKind.RATE_LIMIT, FaultKind.DROP} <= kinds


def test_fault_plan_validates_and_clears() -> None:
    plan = FaultPlan(latency=0.5, jitter=0.1)
    with pytest.raises(ValueError, match="between 0 and 1"):
        plan.set_error_rate(1.5)
    with pytest.raises(ValueError, match="cannot stall"):
        plan.set_error_rate(0.5, kinds=["stall"])
    with pytest.raises(ValueError, match="at least one"):
        plan.set_error_rate(0.5, kinds=[])
    with pytest.raises(ValueError, match="at least 1"):
        plan.fail(0)
    with pytest.raises(ValueError, match="negative"):
        plan.set_latency(-1)
    plan.set_error_rate(1.0, kinds=["html"])
    plan.stall(3, seconds=1)
    plan.clear()
    assert (plan.pending, plan.latency, plan.jitter) == (0, 0.0, 0.0)
    assert plan.take("/") == (0.0, None)


def test_request_log_is_bounded() -> None:
    log = RequestLog(maxlen=2)
    for n in range(3):
        log.append(LoggedRequest("GET", f"/{n}/", "", 200, None, 0.0))
    assert [e.path for e in log.entries()] == ["/1/", "/2/"]
    log.clear()
    assert len(log) == 0


# -- the emulator: endpoints, auth, status codes ----------------------------------------


def test_users_and_user(emu: InvoxiaEmulator, client: httpx.Client) -> None:
    users = client.get("/users/")
    assert users.status_code == 200
    assert users.headers["content-type"] == "application/json"
    (user,) = users.json()
    assert user == emu.state.user()
    assert user["id"] == emu.state.user_id
    assert user["username"] == USER
    assert all(isinstance(p, int) for p in user["profiles"])
    assert client.get(f"/users/{emu.state.user_id}/").json() == user
    other = client.get(f"/users/{emu.state.user_id + 1}/")
    assert other.status_code == 403
    assert other.json() == {"detail": "You do not have permission to perform this action."}


def test_devices_list_and_type_filter(emu: InvoxiaEmulator, client: httpx.Client) -> None:
    devices = client.get("/devices/").json()
    assert [d["type"] for d in devices] == [
        "android",
        "tracker_01",
        "iphone",
        "tracker_03",
        "tracker_04",
    ]
    assert devices == emu.state.devices()
    by_type = {
        kind: [d["type"] for d in client.get("/devices/", params={"type": kind}).json()]
        for kind in ("tracker", "tracker_03", "android", "iphone", "nothing")
    }
    assert by_type == {
        "tracker": ["tracker_01", "tracker_03", "tracker_04"],
        "tracker_03": ["tracker_03"],
        "android": ["android"],
        "iphone": ["iphone"],
        "nothing": [],
    }
    for device in devices:
        assert client.get(f"/devices/{device['id']}/").json() == device


def test_device_shapes_match_the_captured_wire_format(client: httpx.Client) -> None:
    phones = {d["type"]: d for d in client.get("/devices/").json() if "tracker" not in d["type"]}
    assert phones["iphone"]["serial"] == phones["iphone"]["serial"].upper()
    assert phones["android"]["serial"] == phones["android"]["serial"].lower()
    for tracker in client.get("/devices/?type=tracker").json():
        assert re.fullmatch(r"[0-9a-f]{16}", tracker["serial"])
        assert WIRE_TIME.match(tracker["created"])
        embedded = tracker["tracker_config"]
        assert isinstance(embedded["mode"], str)
        assert embedded["mode"].isdigit()
        assert isinstance(embedded["icon"], int)
        assert "weight" not in embedded
        config = client.get(f"/devices/{tracker['id']}/tracker_config/").json()
        assert config == {**embedded, "weight": config["weight"]}
        assert re.fullmatch(r"\d+\.\d", config["weight"])  # a string, like "0.0"
        status = client.get(f"/devices/{tracker['id']}/tracker_status/").json()
        assert status == tracker["tracker_status"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", status["sub_end_date"])
        assert 0 <= status["battery"] <= 100


def test_phone_has_no_status_or_config_and_no_locations(
    emu: InvoxiaEmulator, client: httpx.Client
) -> None:
    phone = emu.state.device_ids("android")[0]
    for view in ("tracker_status", "tracker_config"):
        response = client.get(f"/devices/{phone}/{view}/")
        assert response.status_code == 204
        assert response.content == b""
        assert "content-length" not in response.headers
    assert client.get(f"/devices/{phone}/tracker_data/").json() == []


@pytest.mark.parametrize(
    "path",
    ["/devices/999/", "/devices/999/tracker_data/", "/devices/999/tracker_status/"],
)
def test_unknown_device_is_a_json_404(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize(
    "path", ["/test/", "/", "/devices/abc/", "/devices/1/other/", "/users/1/x/"]
)
def test_unknown_path_is_an_html_404_even_without_auth(emu: InvoxiaEmulator, path: str) -> None:
    response = httpx.get(emu.url + path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Not Found</h1>" in response.text


def test_missing_trailing_slash_redirects(emu: InvoxiaEmulator, client: httpx.Client) -> None:
    device = tracker_id(emu)
    response = client.get(f"/devices/{device}/tracker_data?timestamp_max={T}")
    assert response.status_code == 301
    assert response.headers["location"] == f"/devices/{device}/tracker_data/?timestamp_max={T}"
    followed = client.get("/devices", follow_redirects=True)
    assert followed.status_code == 200
    assert len(followed.json()) == 5


def test_methods_other_than_get_and_head_are_405(client: httpx.Client) -> None:
    response = client.post("/users/")
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "POST" not allowed.'}
    head = client.head("/users/")
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) == len(client.get("/users/").content)


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "Authentication credentials were not provided."),
        ("Bearer abc", "Authentication credentials were not provided."),
        ("Basic", "Invalid basic header. No credentials provided."),
        ("Basic a b", "Invalid basic header. Credentials string should not contain spaces."),
        (
            "Basic " + base64.b64encode(b"no-colon").decode(),
            "Invalid basic header. Credentials not correctly base64 encoded.",
        ),
        (
            "Basic " + base64.b64encode(f"{USER}:wrong".encode()).decode(),
            "Invalid username/password.",
        ),
        (
            "Basic " + base64.b64encode(f"other:{PASSWORD}".encode()).decode(),
            "Invalid username/password.",
        ),
    ],
)
def test_bad_credentials_are_401(
    emu: InvoxiaEmulator, authorization: str | None, detail: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for path in ("/users/", "/devices/999/"):
        response = httpx.get(emu.url + path, headers=headers)
        assert response.status_code == 401
        assert response.json() == {"detail": detail}
        assert response.headers["www-authenticate"] == 'Basic realm="api"'


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_non_ascii_credentials_accept_utf8_and_latin1(encoding: str) -> None:
    with InvoxiaEmulator(username="zoë", password="pässwörd", locations_per_tracker=0) as emu:
        token = base64.b64encode("zoë:pässwörd".encode(encoding)).decode()
        response = httpx.get(emu.url + "/users/", headers={"Authorization": f"Basic {token}"})
        assert response.status_code == 200


def test_credentials_can_change_while_serving(emu: InvoxiaEmulator, client: httpx.Client) -> None:
    emu.state.password = "rotated"
    assert client.get("/users/").status_code == 401
    assert httpx.get(emu.url + "/users/", auth=(USER, "rotated")).status_code == 200


def test_config_points_at_the_emulator(emu: InvoxiaEmulator) -> None:
    config = emu.config()
    assert (config.username, config.password, config.api_url) == (USER, PASSWORD, emu.url)
    assert PASSWORD not in repr(emu)


# -- the emulator: seeded data ----------------------------------------------------------


def test_seeded_data_is_deterministic() -> None:
    def snapshot(seed: int) -> tuple[object, ...]:
        state = InvoxiaState(username="u", password="p", seed=seed, locations_per_tracker=30)
        return state.user(), state.devices(), [state.locations(i) for i in state.device_ids()]

    assert snapshot(5) == snapshot(5)
    assert snapshot(5) != snapshot(6)


def test_generated_tracks_have_the_awkward_timestamps() -> None:
    state = InvoxiaState(username="u", password="p", locations_per_tracker=2000)
    for device in state.device_ids("tracker"):
        locations = state.locations(device)
        assert len(locations) == 2000
        stamps = [loc["datetime"] for loc in locations]
        assert all(WIRE_TIME.match(s) for s in stamps)
        assert stamps == sorted(stamps, reverse=True)
        assert len(set(stamps)) == len(stamps)
        seconds = [s[:19] for s in stamps]
        assert len(set(seconds)) < len(seconds)  # some share one wall-clock second
        assert any(s.endswith(".000000Z") for s in stamps)  # some fall on a whole second
        assert len({loc["uuid"] for loc in locations}) == 2000
        first = locations[0]
        assert DECIMAL.match(first["lat"])
        assert DECIMAL.match(first["lng"])
        assert list(first) == ["uuid", "datetime", "lat", "lng", "precision", "method", "pkt_drop"]
        assert first["datetime"] == state.device(device)["tracker_status"]["last_event"]


def test_add_tracker_and_add_device(emu: InvoxiaEmulator, client: httpx.Client) -> None:
    big = emu.add_tracker(locations=5000, kind="tracker_04", name="Benchmark")
    assert emu.state.device(big)["name"] == "Benchmark"
    assert len(emu.state.locations(big)) == 5000
    assert big in [d["id"] for d in client.get("/devices/?type=tracker_04").json()]
    empty = emu.add_tracker(locations=0)
    assert client.get(f"/devices/{empty}/tracker_data/").json() == []
    drifted = emu.state.add_device({"id": 42, "type": "tracker_99", "name": "New", "extra": None})
    assert client.get(f"/devices/{drifted}/").json()["extra"] is None
    assert drifted in [d["id"] for d in client.get("/devices/?type=tracker").json()]
    assert client.get(f"/devices/{drifted}/tracker_status/").status_code == 204
    with pytest.raises(ValueError, match="already used"):
        emu.state.add_device({"id": 42, "type": "android"})
    with pytest.raises(TypeError):
        emu.state.add_device({"type": "android"})
    with pytest.raises(ValueError, match="tracker_"):
        emu.add_tracker(kind="android")
    with pytest.raises(ValueError, match="phone"):
        emu.state.add_phone("nokia")


def test_set_locations_serves_exact_data(emu: InvoxiaEmulator, client: httpx.Client) -> None:
    device = tracker_id(emu)
    emu.set_locations(
        device,
        [
            {
                "datetime": at(-1.5),
                "lat": 1.5,
                "lng": -2.25,
                "uuid": "dd4175dd-7a13-4b84-b191-bb990f63ae62",
            },
            {"datetime": "2023-11-14T22:13:10.798307", "precision": None},
        ],
    )
    page = client.get(f"/devices/{device}/tracker_data/").json()
    assert page[0] == {
        "uuid": "dd4175dd-7a13-4b84-b191-bb990f63ae62",
        "datetime": wire(-1.5),
        "lat": "1.500000",
        "lng": "-2.250000",
        "precision": 25,
        "method": 2,
        "pkt_drop": 0,
    }
    assert page[1]["datetime"] == "2023-11-14T22:13:10.798307"  # sent exactly as given
    assert page[1]["precision"] is None
    with pytest.raises(ValueError, match="same time"):
        emu.set_locations(device, [{"datetime": at(0)}, {"datetime": at(0)}])
    with pytest.raises(ValueError, match="needs a 'datetime'"):
        emu.set_locations(device, [{"lat": 1.0}])
    with pytest.raises(KeyError):
        emu.set_locations(999, [])


# -- the emulator: paging -----------------------------------------------------------------

OFFSETS = [-1.5, -1.0, -0.75, 0.0, 0.5, 1.75]  # seconds from T, two on whole seconds


@pytest.fixture
def bounded(emu: InvoxiaEmulator) -> int:
    device = tracker_id(emu)
    emu.set_locations(device, [{"datetime": at(offset)} for offset in OFFSETS])
    return device


def page_offsets(client: httpx.Client, device: int, **params: int) -> list[float]:
    page = client.get(f"/devices/{device}/tracker_data/", params=params).json()
    by_wire = {wire(offset): offset for offset in OFFSETS}
    return [by_wire[location["datetime"]] for location in page]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (BoundMode.EXACT_INCLUSIVE, [0.0, -0.75, -1.0, -1.5]),
        (BoundMode.EXACT_EXCLUSIVE, [-0.75, -1.0, -1.5]),
        (BoundMode.SECOND_INCLUSIVE, [0.5, 0.0, -0.75, -1.0, -1.5]),
        (BoundMode.SECOND_EXCLUSIVE, [-0.75, -1.0, -1.5]),
        (BoundMode.IGNORE, [1.75, 0.5, 0.0, -0.75, -1.0, -1.5]),
    ],
)
def test_timestamp_max_semantics(
    emu: InvoxiaEmulator, client: httpx.Client, bounded: int, mode: BoundMode, expected: list[float]
) -> None:
    emu.configure_paging(timestamp_max=mode)
    assert page_offsets(client, bounded, timestamp_max=T) == expected


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (BoundMode.EXACT_INCLUSIVE, [1.75, 0.5, 0.0, -0.75, -1.0]),
        (BoundMode.EXACT_EXCLUSIVE, [1.75, 0.5, 0.0, -0.75]),
        (BoundMode.SECOND_INCLUSIVE, [1.75, 0.5, 0.0, -0.75, -1.0]),
        (BoundMode.SECOND_EXCLUSIVE, [1.75, 0.5, 0.0]),
        (BoundMode.IGNORE, [1.75, 0.5, 0.0, -0.75, -1.0, -1.5]),
    ],
)
def test_timestamp_semantics(
    emu: InvoxiaEmulator, client: httpx.Client, bounded: int, mode: BoundMode, expected: list[float]
) -> None:
    emu.configure_paging(timestamp=mode.value)  # the plain string works too
    assert page_offsets(client, bounded, timestamp=T - 1) == expected


def test_bounds_are_independent_and_page_size_applies_last(
    emu: InvoxiaEmulator, client: httpx.Client, bounded: int
) -> None:
    emu.configure_paging(timestamp=BoundMode.SECOND_EXCLUSIVE, timestamp_max="second_inclusive")
    assert page_offsets(client, bounded, timestamp=T - 1, timestamp_max=T) == [0.5, 0.0]
    assert page_offsets(client, bounded, timestamp=T + 1, timestamp_max=T) == []
    emu.configure_paging(page_size=2, timestamp_max=BoundMode.EXACT_INCLUSIVE)
    assert page_offsets(client, bounded, timestamp_max=T) == [0.0, -0.75]  # the newest two
    bad = client.get(f"/devices/{bounded}/tracker_data/?timestamp_max=soon")
    assert bad.status_code == 400
    assert bad.json() == {"timestamp_max": ["Enter a whole number."]}


def test_page_size_and_order(emu: InvoxiaEmulator, client: httpx.Client) -> None:
    device = tracker_id(emu)
    newest = [loc["uuid"] for loc in emu.state.locations(device)[:20]]

    def uuids() -> list[str]:
        return [loc["uuid"] for loc in client.get(f"/devices/{device}/tracker_data/").json()]

    assert emu.paging.page_size == 20
    assert uuids() == newest
    emu.configure_paging(order=PageOrder.OLDEST_FIRST)
    assert uuids() == newest[::-1]
    emu.configure_paging(order="shuffled")
    shuffled = uuids()
    assert sorted(shuffled) == sorted(newest)
    assert shuffled not in (newest, newest[::-1])
    assert uuids() == shuffled  # the same request gives the same page
    emu.configure_paging(order=PageOrder.NEWEST_FIRST, page_size=5)
    assert uuids() == newest[:5]
    with pytest.raises(ValueError, match="at least 1"):
        emu.configure_paging(page_size=0)
    with pytest.raises(TypeError):
        emu.configure_paging(colour="blue")


def test_constructor_paging_options() -> None:
    with InvoxiaEmulator(
        page_size=7,
        page_order="oldest_first",
        timestamp_bound="ignore",
        timestamp_max_bound=BoundMode.SECOND_EXCLUSIVE,
        locations_per_tracker=10,
    ) as emu:
        rules = emu.paging
        assert (rules.page_size, rules.order) == (7, PageOrder.OLDEST_FIRST)
        assert (rules.timestamp, rules.timestamp_max) == (
            BoundMode.IGNORE,
            BoundMode.SECOND_EXCLUSIVE,
        )


@pytest.mark.parametrize(
    ("mode", "step"), [(BoundMode.SECOND_INCLUSIVE, 0), (BoundMode.EXACT_INCLUSIVE, 1)]
)
def test_a_deduplicating_cursor_walk_that_revisits_the_boundary_second_gets_everything(
    emu: InvoxiaEmulator, client: httpx.Client, mode: BoundMode, step: int
) -> None:
    emu.configure_paging(timestamp_max=mode)
    device = emu.add_tracker(locations=1000)
    seen: set[str] = set()
    cursor: int | None = None
    for _ in range(200):
        params = {} if cursor is None else {"timestamp_max": cursor}
        page = client.get(f"/devices/{device}/tracker_data/", params=params).json()
        fresh = {loc["uuid"] for loc in page} - seen
        if not fresh:
            break
        seen |= fresh
        oldest = datetime.fromisoformat(page[-1]["datetime"])
        cursor = int(oldest.timestamp()) + step  # asks again for the boundary second
    assert len(seen) == 1000


# -- the emulator: faults, latency, request log -----------------------------------------


def test_fail_and_rate_limit(emu: InvoxiaEmulator, client: httpx.Client) -> None:
    emu.faults.fail()
    emu.faults.fail(status=503, path="/devices/")
    emu.faults.rate_limit(retry_after=7)
    first = client.get("/users/")
    assert (first.status_code, first.text) == (500, "Internal Server Error")
    assert client.get("/users/").status_code == 429  # the 503 rule only matches /devices/
    assert client.get("/devices/").status_code == 503
    emu.faults.rate_limit(retry_after=1)
    limited = client.get("/users/")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert limited.json() == {"detail": "Request was throttled. Expected available in 1 second."}
    assert client.get("/users/").status_code == 200
    assert emu.faults.pending == 0


def test_drop_breaks_the_clients_read(emu: InvoxiaEmulator, client: httpx.Client) -> None:
    emu.faults.drop(path="/devices/")
    assert client.get("/users/").status_code == 200
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/devices/")
    assert client.get("/devices/").status_code == 200  # the client reconnects
    statuses = [(e.path, e.status, e.fault) for e in emu.requests.entries()]
    assert statuses == [
        ("/users/", 200, None),
        ("/devices/", 200, FaultKind.DROP),
        ("/devices/", 200, None),
    ]


def test_malformed_and_html(emu: InvoxiaEmulator, client: httpx.Client) -> None:
    emu.faults.malformed()
    emu.faults.html()
    emu.faults.html(status=503)
    malformed = client.get("/users/")
    assert malformed.status_code == 200
    assert malformed.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        malformed.json()
    for status in (200, 503):
        page = client.get("/users/")
        assert page.status_code == status
        assert page.headers["content-type"].startswith("text/html")
        assert "maintenance" in page.text


def test_error_rate_faults_every_request_when_one(
    emu: InvoxiaEmulator, client: httpx.Client
) -> None:
    emu.faults.set_error_rate(1.0, kinds=[FaultKind.FAIL, "rate_limit"])
    statuses = {client.get("/users/").status_code for _ in range(20)}
    assert statuses == {500, 429}
    emu.faults.set_error_rate(0.0)
    assert client.get("/users/").status_code == 200


def test_latency_and_stall_are_applied_and_logged(
    emu: InvoxiaEmulator, client: httpx.Client
) -> None:
    emu.faults.set_latency(0.02)
    emu.faults.stall(seconds=0.03)
    assert client.get("/users/").status_code == 200
    assert client.get("/users/").status_code == 200
    emu.faults.set_latency(0.01, jitter=0.005)
    for _ in range(5):
        client.get("/users/")
    delays = [entry.delay for entry in emu.requests.entries()]
    assert delays[:2] == [pytest.approx(0.05), 0.02]
    assert emu.requests.entries()[0].fault is FaultKind.STALL
    assert all(0.005 <= d <= 0.015 for d in delays[2:])
    assert len(set(delays[2:])) > 1


def test_stall_outlasts_a_client_timeout() -> None:
    with InvoxiaEmulator(locations_per_tracker=0, shutdown_timeout=0.05) as emu:
        emu.faults.stall(seconds=30)
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(emu.url + "/users/", auth=(emu.username, emu.password), timeout=0.2)
    assert not server_threads()


def test_request_log_records_method_path_query_status(
    emu: InvoxiaEmulator, client: httpx.Client
) -> None:
    device = tracker_id(emu)
    client.get(f"/devices/{device}/tracker_data/?timestamp=1&timestamp_max={T}")
    httpx.get(emu.url + "/users/")
    client.delete("/users/")
    assert emu.requests.entries() == [
        LoggedRequest(
            "GET",
            f"/devices/{device}/tracker_data/",
            f"timestamp=1&timestamp_max={T}",
            200,
            None,
            0.0,
        ),
        LoggedRequest("GET", "/users/", "", 401, None, 0.0),
        LoggedRequest("DELETE", "/users/", "", 405, None, 0.0),
    ]
    emu.requests.clear()
    assert emu.requests.entries() == []


# -- async clients on asyncio and trio ----------------------------------------------------


@pytest.mark.anyio
async def test_async_client_reads_pages_concurrently(emu: InvoxiaEmulator) -> None:
    device = tracker_id(emu)
    statuses: list[int] = []
    async with httpx.AsyncClient(base_url=emu.url, auth=(USER, PASSWORD)) as http:

        async def fetch() -> None:
            response = await http.get(f"/devices/{device}/tracker_data/")
            statuses.append(response.status_code)
            assert len(response.json()) == 20

        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(fetch)
    assert statuses == [200] * 10
    assert len(emu.requests) == 10


@pytest.mark.anyio
async def test_async_client_sees_drop_and_rate_limit(emu: InvoxiaEmulator) -> None:
    emu.faults.drop()
    emu.faults.rate_limit(retry_after=2)
    async with httpx.AsyncClient(base_url=emu.url, auth=(USER, PASSWORD)) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/devices/")
        limited = await http.get("/devices/")
        assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")
        assert (await http.get("/devices/")).status_code == 200


# -- lifecycle, the pytest plugin and the command line ----------------------------------


def test_emulator_lifecycle_leaves_no_thread() -> None:
    emu = InvoxiaEmulator(locations_per_tracker=0)
    with pytest.raises(RuntimeError):
        _ = emu.url
    with emu:
        assert emu.running
        assert emu.port > 0
        assert emu.url in repr(emu)
    assert not emu.running
    assert "stopped" in repr(emu)
    assert not server_threads()


def test_plugin_function_fixture(invoxia_emulator: InvoxiaEmulator) -> None:
    assert invoxia_emulator.running
    auth = (invoxia_emulator.username, invoxia_emulator.password)
    devices = httpx.get(invoxia_emulator.url + "/devices/", auth=auth).json()
    tracker = next(d for d in devices if d["type"] == "tracker_01")
    assert len(invoxia_emulator.state.locations(tracker["id"])) == 200


def test_plugin_session_fixture_starts_clean(invoxia_emulator_session: InvoxiaEmulator) -> None:
    emu = invoxia_emulator_session
    assert emu.running
    assert emu.faults.pending == 0
    assert len(emu.requests) == 0
    emu.faults.fail()  # cleared again before the next test that uses it
    assert httpx.get(emu.url + "/users/").status_code == 500


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_command_line_serves_until_interrupted(stop_signal: signal.Signals) -> None:
    command = [sys.executable, "-m", "gps_tracker.emulator", "--port", "0", "--password", "pw"]
    command += ["--locations-per-tracker", "20", "--page-size", "5"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        url = banner.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:"), banner
        lines = [process.stdout.readline() for _ in range(8)]
        assert lines[0].split() == ["username:", "user@example.com"]
        assert lines[1].split() == ["password:", "pw"]
        tracker = next(line.split()[1].rstrip(":") for line in lines if "tracker_01" in line)
        page = httpx.get(f"{url}/devices/{tracker}/tracker_data/", auth=("user@example.com", "pw"))
        assert page.status_code == 200
        assert len(page.json()) == 5
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Stopped." in out
