"""Each auth mode end to end through the clients, against the emulator's token endpoints.

Covered: an explicit token (its ``token_expires`` or JWT ``exp``), client credentials,
a refresh token, a ``~/.doover/config`` profile (with doover-js's ISO ``TOKEN_EXPIRES``,
written back atomically with mode 0600), and one pre-built auth object shared by several
clients, on one event loop and across ``DataClient`` loop threads. Fifty concurrent
calls with an expired token cause one refresh; fifty concurrent 401s cause one refresh
and one retry each.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import pytest
from doover_client_support import CHANNEL, api_requests, client_options

from pydoover_anyio import (
    AsyncDataClient,
    AuthProfile,
    ClientCredentialsAuth,
    ConfigManager,
    DataClient,
    TokenRefreshError,
)
from pydoover_anyio.emulator import DooverEmulator

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin", "doover_client_fixtures"]

PAST = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class Clock:
    """Real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def expired_options(emu: DooverEmulator, mode: str) -> dict[str, Any]:
    """Constructor options holding an expired token, refreshable in ``mode``."""
    expired: dict[str, Any] = {"token": emu.issue_token(expires_in=-60)}
    if mode == "client credentials":
        return {**expired, "client_id": emu.client_id, "client_secret": emu.client_secret}
    return {
        **expired,
        "refresh_token": emu.refresh_token,
        "auth_server_url": emu.root_url,
        "auth_server_client_id": emu.auth_server_client_id,
    }


MODES = ["client credentials", "refresh token"]
#: Where each mode asks for tokens (client credentials under the API, the refresh grant
#: at the auth server's root).
TOKEN_PATHS = {"client credentials": "/api/oauth2/token", "refresh token": "/oauth2/token"}


# -- explicit tokens ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_an_explicit_token_is_used_until_its_token_expires(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    async with AsyncDataClient(emu.url, token=emu.token, token_expires=PAST) as client:
        with pytest.raises(TokenRefreshError):
            await client.fetch_channel(agent, channel)
    future = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1)  # naive = UTC
    async with AsyncDataClient(emu.url, token=emu.token, token_expires=future) as client:
        await client.fetch_channel(agent, channel)
    (sent,) = api_requests(emu)  # nothing was sent with the expired one
    assert sent.headers["authorization"] == f"Bearer {emu.token}"


@pytest.mark.anyio
async def test_an_explicit_jwt_expires_at_its_exp_claim(emu: DooverEmulator, agent: int) -> None:
    async with AsyncDataClient(emu.url, token=emu.issue_token(expires_in=20)) as client:
        with pytest.raises(TokenRefreshError, match="only a token was given"):
            await client.list_channels(agent)  # within 30 s of its exp: refused unsent
    async with AsyncDataClient(emu.url, token=emu.issue_token(expires_in=600)) as client:
        await client.list_channels(agent)
    assert len(api_requests(emu)) == 1
    assert emu.token_requests == 0


# -- one refresh for many callers --------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_fifty_concurrent_calls_with_an_expired_token_refresh_once(
    emu: DooverEmulator, agent: int, channel: str, mode: str
) -> None:
    emu.faults.set_latency(0.02)  # keep the refresh in flight while the others arrive
    async with AsyncDataClient(emu.url, **expired_options(emu, mode), **client_options()) as c:
        async with anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(c.fetch_channel, agent, channel)
        fresh = c.token
    assert emu.token_requests == 1
    sent = api_requests(emu)
    assert len(sent) == 50
    assert {r.headers["authorization"] for r in sent} == {f"Bearer {fresh}"}
    assert {r.status for r in sent} == {200}


@pytest.mark.parametrize("mode", MODES)
def test_fifty_threads_with_an_expired_token_refresh_once(
    emu: DooverEmulator, agent: int, channel: str, mode: str
) -> None:
    emu.faults.set_latency(0.02)
    start = threading.Barrier(50)

    with DataClient(emu.url, **expired_options(emu, mode), **client_options()) as client:

        def call(_: int) -> str:
            start.wait()
            return client.fetch_channel(agent, channel).name

        with ThreadPoolExecutor(50) as pool:
            assert list(pool.map(call, range(50))) == [channel] * 50
    assert emu.token_requests == 1
    assert len(api_requests(emu)) == 50


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_fifty_concurrent_401s_refresh_once_and_retry_each_once(
    emu: DooverEmulator, agent: int, channel: str, mode: str
) -> None:
    options = {**expired_options(emu, mode), "token": None}
    async with AsyncDataClient(emu.url, **options, **client_options()) as client:
        await client.fetch_channel(agent, channel)
        first = client.token
        assert first is not None
        emu.revoke_token(first)
        emu.requests.clear()
        emu.faults.set_latency(0.02)
        async with anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(client.fetch_channel, agent, channel)
    assert emu.token_requests == 2  # the first token, then one refresh for all fifty
    statuses = [r.status for r in api_requests(emu)]
    assert statuses.count(200) == 50
    assert 0 < statuses.count(401) <= 50
    assert len(statuses) == 50 + statuses.count(401)  # each rejected call re-sent once


# -- a token endpoint that fails transiently ---------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_a_busy_token_endpoint_is_retried_with_backoff(
    emu: DooverEmulator, agent: int, channel: str, mode: str
) -> None:
    emu.faults.fail(1, 503, path=TOKEN_PATHS[mode])
    emu.faults.rate_limit(1, 0, path=TOKEN_PATHS[mode])
    async with AsyncDataClient(emu.url, **expired_options(emu, mode), **client_options()) as c:
        assert (await c.fetch_channel(agent, channel)).name == channel
    assert emu.token_requests == 3
    assert [r.status for r in api_requests(emu)] == [200]


@pytest.mark.anyio
async def test_concurrent_calls_share_each_failed_and_the_good_refresh(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    emu.faults.set_latency(0.02)  # keep each refresh in flight while the others queue
    emu.faults.fail(1, 502, path=TOKEN_PATHS["client credentials"])
    options = expired_options(emu, "client credentials")
    client = AsyncDataClient(emu.url, **options, **client_options())
    async with client, anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(client.fetch_channel, agent, channel)
    assert emu.token_requests == 2
    assert [r.status for r in api_requests(emu)] == [200] * 20


@pytest.mark.anyio
async def test_token_retries_stop_at_max_retries(emu: DooverEmulator, agent: int) -> None:
    emu.faults.fail(5, 503, path=TOKEN_PATHS["client credentials"])
    options = client_options(**expired_options(emu, "client credentials"), max_retries=2)
    async with AsyncDataClient(emu.url, **options) as client:
        with pytest.raises(TokenRefreshError, match="HTTP 503") as caught:
            await client.list_channels(agent)
    assert caught.value.transient
    assert emu.token_requests == 3  # the first attempt and two retries
    assert api_requests(emu) == []


@pytest.mark.anyio
async def test_a_refused_token_request_is_not_retried(emu: DooverEmulator, agent: int) -> None:
    emu.faults.fail(1, 400, path=TOKEN_PATHS["client credentials"])
    options = expired_options(emu, "client credentials")
    async with AsyncDataClient(emu.url, **options, **client_options()) as client:
        with pytest.raises(TokenRefreshError, match="HTTP 400") as caught:
            await client.list_channels(agent)
    assert not caught.value.transient
    assert emu.token_requests == 1


@pytest.mark.anyio
async def test_the_refresh_after_a_401_is_retried_when_the_endpoint_is_busy(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    options = {**expired_options(emu, "refresh token"), "token": None}
    async with AsyncDataClient(emu.url, **options, **client_options()) as client:
        await client.fetch_channel(agent, channel)
        first = client.token
        assert first is not None
        emu.revoke_token(first)
        emu.faults.fail(2, 500, path=TOKEN_PATHS["refresh token"])
        assert (await client.fetch_channel(agent, channel)).name == channel
        assert client.token != first
    assert emu.token_requests == 4  # the first token, two failures, the refresh
    assert [r.status for r in api_requests(emu)] == [200, 401, 200]


def test_a_sync_client_retries_a_busy_token_endpoint(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    emu.faults.fail(2, 503, path=TOKEN_PATHS["client credentials"])
    options = expired_options(emu, "client credentials")
    with DataClient(emu.url, **options, **client_options()) as client:
        results = []
        worker = threading.Thread(
            target=lambda: results.append(client.fetch_channel(agent, channel))
        )
        worker.start()
        worker.join(30)
        assert [r.name for r in results] == [channel]
    assert emu.token_requests == 3


# -- a shared auth object ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_one_auth_object_shared_by_clients_on_one_loop(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    clock = Clock()
    auth = ClientCredentialsAuth(
        data_base_url=emu.url, client_id=emu.client_id, client_secret=emu.client_secret, clock=clock
    )
    clients = [AsyncDataClient(auth=auth, **client_options()) for _ in range(3)]
    for expected in (1, 2):
        async with anyio.create_task_group() as group:
            for client in clients * 10:
                group.start_soon(client.fetch_channel, agent, channel)
        assert emu.token_requests == expected
        clock.offset += 7200  # every client now sees an expired token
    for client in clients:
        await client.close()
    assert auth.token is not None  # the clients did not own it
    await auth.aclose()


def test_one_auth_object_shared_by_data_clients_in_threads(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    """Two DataClients run two event loops; the shared auth still refreshes once."""
    clock = Clock()
    auth = ClientCredentialsAuth(
        data_base_url=emu.url, client_id=emu.client_id, client_secret=emu.client_secret, clock=clock
    )
    emu.faults.set_latency(0.01)
    with (
        DataClient(auth=auth, **client_options()) as first,
        DataClient(auth=auth, **client_options()) as second,
    ):
        for expected in (1, 2, 3):
            start = threading.Barrier(20)

            def call(index: int, start: threading.Barrier = start) -> None:
                start.wait()
                (first if index % 2 else second).fetch_channel(agent, channel)

            with ThreadPoolExecutor(20) as pool:
                list(pool.map(call, range(20)))
            assert emu.token_requests == expected
            clock.offset += 7200


# -- the profile file ----------------------------------------------------------------------------

OTHER_BLOCKS = (
    "# my notes\n# keep me\n\n[profile=staging]\nTOKEN=zz\nBASE_DATA_URL=https://x.test/api\n"
)


@pytest.fixture
def rotating() -> Iterator[DooverEmulator]:
    """An emulator whose refresh grant rotates the refresh token."""
    with DooverEmulator(rotate_refresh_tokens=True) as emulator:
        yield emulator


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home directory of its own, so ``~/.doover/config`` is the test's."""
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def write_profile(home: Path, emu: DooverEmulator) -> Path:
    """A config file as doover-js leaves it: ISO ``TOKEN_EXPIRES``, an expired token."""
    path = home / ".doover" / "config"
    path.parent.mkdir()
    block = (
        "[profile=default]\n"
        f"TOKEN={emu.issue_token(expires_in=-60)}\n"
        "TOKEN_EXPIRES=2026-01-01T00:00:00.000Z\n"
        f"AGENT_ID={emu.default_agent_id}\n"
        "BASE_URL=https://api.doover.com\n"
        f"REFRESH_TOKEN={emu.refresh_token}\n"
        "REFRESH_TOKEN_ID=5b8d2e40\n"
        f"BASE_DATA_URL={emu.url}\n"
        f"AUTH_SERVER_URL={emu.root_url}\n"
        f"AUTH_SERVER_CLIENT_ID={emu.auth_server_client_id}\n"
    )
    path.write_text(OTHER_BLOCKS + "\n" + block)
    path.chmod(0o644)
    return path


def check_written_back(path: Path, token: str | None, refresh_token: str) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The temporary file was renamed away; the lock file stays, private.
    assert sorted(os.listdir(path.parent)) == [".config.lock", "config"]
    assert stat.S_IMODE((path.parent / ".config.lock").stat().st_mode) == 0o600
    text = path.read_text()
    assert text.startswith(OTHER_BLOCKS)
    saved = ConfigManager(path=path).get("default")
    assert isinstance(saved, AuthProfile)
    assert (saved.token, saved.refresh_token, saved.refresh_token_id) == (
        token,
        refresh_token,
        "5b8d2e40",
    )
    assert saved.token_expires is not None
    expires_line = next(line for line in text.splitlines() if line.startswith("TOKEN_EXPIRES="))
    assert float(expires_line.removeprefix("TOKEN_EXPIRES=")) == saved.token_expires.timestamp()


@pytest.mark.anyio
async def test_profile_round_trip_through_the_async_client(
    home: Path, rotating: DooverEmulator
) -> None:
    emu = rotating
    path = write_profile(home, emu)
    original = emu.refresh_token
    emu.state.create_channel(emu.default_agent_id, CHANNEL)
    async with AsyncDataClient(profile="default") as client:
        assert client.base_url == emu.url
        await client.fetch_channel(emu.default_agent_id, CHANNEL)
        fresh = client.token
    assert emu.token_requests == 1
    assert emu.refresh_token != original  # rotated by the server ...
    check_written_back(path, fresh, emu.refresh_token)  # ... and saved with the new token
    async with AsyncDataClient(profile="default") as again:  # the saved token is used as is
        await again.fetch_channel(emu.default_agent_id, CHANNEL)
        assert again.token == fresh
    assert emu.token_requests == 1


def test_profile_round_trip_through_the_sync_client(home: Path, rotating: DooverEmulator) -> None:
    emu = rotating
    path = write_profile(home, emu)
    emu.state.create_channel(emu.default_agent_id, CHANNEL)
    with DataClient(profile="default") as client:
        client.fetch_channel(emu.default_agent_id, CHANNEL)
        fresh = client.token
    check_written_back(path, fresh, emu.refresh_token)
    with DataClient(profile="default") as again:
        again.fetch_channel(emu.default_agent_id, CHANNEL)
    assert emu.token_requests == 1


def test_an_unknown_profile_is_a_runtime_error(home: Path) -> None:
    with pytest.raises(RuntimeError, match="No configuration found for profile nope"):
        DataClient(profile="nope")


# -- the token-request timeout follows the client's -----------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_token_requests_follow_a_changed_client_timeout(mode: str) -> None:
    # Stalled requests finish after the test: an emulator of its own, which does not wait.
    with DooverEmulator(shutdown_timeout=0.05) as emu:
        options = client_options(**expired_options(emu, mode), timeout=30.0)
        async with AsyncDataClient(emu.url, **options) as client:
            client.timeout = 0.3
            emu.faults.stall(1, 3.0, path=TOKEN_PATHS[mode])
            started = time.monotonic()
            with pytest.raises(TokenRefreshError, match=r"timed out after 0\.3 s"):
                await client.list_channels(emu.default_agent_id)
            assert time.monotonic() - started < 2.0
            client.timeout = 5.0
            await client.list_channels(emu.default_agent_id)  # the stall was used up
        assert emu.token_requests == 2


def test_sync_token_requests_follow_a_changed_client_timeout() -> None:
    with DooverEmulator(shutdown_timeout=0.05) as emu:
        options = client_options(**expired_options(emu, "client credentials"))
        with DataClient(emu.url, **options) as client:
            client.timeout = 0.3
            emu.faults.stall(1, 3.0, path=TOKEN_PATHS["client credentials"])
            started = time.monotonic()
            with pytest.raises(TokenRefreshError, match=r"timed out after 0\.3 s"):
                client.list_channels(emu.default_agent_id)
            assert time.monotonic() - started < 2.0


@pytest.mark.anyio
async def test_a_shared_auth_object_keeps_its_own_timeout(emu: DooverEmulator) -> None:
    auth = ClientCredentialsAuth(
        data_base_url=emu.url,
        client_id=emu.client_id,
        client_secret=emu.client_secret,
        timeout=12.0,
    )
    async with AsyncDataClient(auth=auth) as client:
        client.timeout = 0.5
    assert auth.timeout == 12.0  # other clients may share it: not this client's to change
