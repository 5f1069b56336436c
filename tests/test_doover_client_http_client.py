"""A caller-owned ``httpx.AsyncClient`` under the Doover clients: used as it is, left open."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from doover_client_support import api_requests, client_options

from pydoover_anyio import DataClient
from pydoover_anyio.client import AsyncDataClient
from pydoover_anyio.emulator import DooverEmulator
from pydoover_anyio.runtime.transport import Request, Transport

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin", "doover_client_fixtures"]


class HookLog:
    """An httpx request event hook that remembers what it saw."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> None:
        self.requests.append(request)


@pytest.mark.anyio
async def test_requests_go_through_the_callers_client_which_stays_open(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    log = HookLog()
    own = httpx.AsyncClient(headers={"X-Caller": "mine"}, event_hooks={"request": [log]})
    async with AsyncDataClient(emu.url, token=emu.token, http_client=own, **client_options()) as c:
        assert c._transport.client is own
        assert not c._transport.fast_path  # httpx's own layer, as configured by the caller
        await c.update_channel_aggregate(agent, channel, {"rpm": 1450})
        aggregate = await c.fetch_channel_aggregate(agent, channel)
    assert aggregate.data == {"rpm": 1450}
    assert [(r.method, r.url.path) for r in log.requests] == [
        ("PATCH", f"/api/agents/{agent}/channels/{channel}/aggregate"),
        ("GET", f"/api/agents/{agent}/channels/{channel}/aggregate"),
    ]
    served = api_requests(emu)
    assert [r.headers.get("x-caller") for r in served] == ["mine", "mine"]
    assert all(r.headers["authorization"] == f"Bearer {emu.token}" for r in served)
    assert not own.is_closed
    await own.aclose()


@pytest.mark.anyio
async def test_the_timeout_setting_goes_on_each_request_not_on_the_callers_client(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    log = HookLog()
    own = httpx.AsyncClient(timeout=99.0, event_hooks={"request": [log]})
    async with AsyncDataClient(
        emu.url, token=emu.token, http_client=own, timeout=7.0, **client_options()
    ) as c:
        await c.fetch_channel_aggregate(agent, channel)
        c.timeout = 3.0
        await c.fetch_channel_aggregate(agent, channel)
    assert [r.extensions["timeout"]["read"] for r in log.requests] == [7.0, 3.0]
    assert own.timeout.read == 99.0
    await own.aclose()


@pytest.mark.anyio
async def test_redirects_are_followed_even_when_the_callers_client_does_not() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/old":
            return httpx.Response(302, headers={"Location": "/api/new"})
        return httpx.Response(200, json={"at": request.url.path})

    own = httpx.AsyncClient(transport=httpx.MockTransport(handler), follow_redirects=False)
    following = Transport("https://api.test/api", client=own, follow_redirects=True)
    response = await following.send(Request("GET", "old"))
    assert response.json() == {"at": "/api/new"}
    assert [r.status_code for r in response.history] == [302]
    leaving = Transport("https://api.test/api", client=own, check_response=lambda r: None)
    assert (await leaving.send(Request("GET", "old"))).status_code == 302  # its own setting
    assert own.follow_redirects is False
    await own.aclose()


@pytest.mark.parametrize("settings", [{"verify": False}, {"http": "httpx"}])
def test_an_http_client_with_connection_settings_is_refused(settings: dict[str, Any]) -> None:
    own = httpx.AsyncClient()
    with pytest.raises(ValueError, match="caller-owned http_client"):
        AsyncDataClient("http://127.0.0.1:1/api", token="t", http_client=own, **settings)


def test_the_sync_client_sends_through_a_callers_client_from_a_plain_thread(
    emu: DooverEmulator, agent: int, channel: str
) -> None:
    log = HookLog()
    # No keep-alive: the one connection closes with its response on the client's loop,
    # so nothing is left for this (loop-less) test to close.
    no_pool = httpx.Limits(max_keepalive_connections=0)
    own = httpx.AsyncClient(event_hooks={"request": [log]}, limits=no_pool)
    seen: list[Any] = []

    def work() -> None:
        with DataClient(emu.url, token=emu.token, http_client=own, **client_options()) as c:
            seen.append(c.fetch_channel_aggregate(agent, channel))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    assert len(seen) == 1
    assert [r.url.path for r in log.requests] == [
        f"/api/agents/{agent}/channels/{channel}/aggregate"
    ]
    assert not own.is_closed
