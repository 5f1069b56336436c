"""The Doover emulator, exercised over real HTTP with raw httpx.

Sync tests use ``httpx.Client`` from the test thread; ``@pytest.mark.anyio`` tests use
``httpx.AsyncClient`` and run on asyncio and on trio. The server always runs in its own
thread. Facts checked here come from the Doover data API contract (spec §1-§6).
"""

from __future__ import annotations

import base64
import gzip
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import jwt
import pytest

from pydoover_anyio.emulator import DooverEmulator, FaultKind, LoggedRequest

pytest_plugins = ["pydoover_anyio.emulator.pytest_plugin"]

EPOCH_MS = 1_735_689_600_000
T0 = 1_773_578_096_789  # 2026-03-15T12:34:56.789Z
WINDOW = 172_800_000 << 22


def bound(ms: int) -> int:
    """The snowflake query bound of a Unix millisecond."""
    return (ms - EPOCH_MS) << 22


def ms_of(snowflake: int | str) -> int:
    return (int(snowflake) >> 22) + EPOCH_MS


def server_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "doover-emulator-server"}


@pytest.fixture
def emu(doover_emulator: DooverEmulator) -> DooverEmulator:
    return doover_emulator


@pytest.fixture
def http(emu: DooverEmulator) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {emu.token}"}
    with httpx.Client(base_url=emu.url, headers=headers) as client:
        yield client


@pytest.fixture
def agent(emu: DooverEmulator, http: httpx.Client) -> int:
    """The default agent, with a ``pump`` channel."""
    assert http.post(f"/agents/{emu.default_agent_id}/channels/pump", json={}).status_code == 200
    return emu.default_agent_id


def post_message(http: httpx.Client, agent: int, data: Any, **extra: Any) -> dict[str, Any]:
    response = http.post(f"/agents/{agent}/channels/pump/messages", json={"data": data, **extra})
    assert response.status_code == 200, response.text
    return dict(response.json())


def ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [int(m["id"]) for m in response.json()]


# -- lifecycle, URLs, tokens -------------------------------------------------------------


def test_lifecycle_urls_and_repr() -> None:
    already = server_threads()  # e.g. the session fixture's
    emu = DooverEmulator()
    with pytest.raises(RuntimeError):
        _ = emu.url
    assert "stopped" in repr(emu)
    with emu:
        assert emu.running
        assert emu.url == f"http://127.0.0.1:{emu.port}/api"
        assert emu.root_url == f"http://127.0.0.1:{emu.port}"
        assert emu.root_url in repr(emu)
    assert not emu.running
    assert server_threads() <= already


def test_token_is_a_jwt_with_exp_for_the_default_agent(emu: DooverEmulator) -> None:
    claims = jwt.decode(emu.token, options={"verify_signature": False})
    assert claims["sub"] == str(emu.default_agent_id)
    assert 3500 < claims["exp"] - time.time() <= 3600
    assert emu.token == emu.token  # cached while valid
    short = emu.issue_token(expires_in=120, agent_id=42)
    assert jwt.decode(short, options={"verify_signature": False})["sub"] == "42"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer"],
)
def test_requests_without_a_valid_bearer_are_401(
    emu: DooverEmulator, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = httpx.get(f"{emu.url}/agents/{emu.default_agent_id}/channels", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert isinstance(response.json()["message"], str)


def test_expired_foreign_and_revoked_tokens_are_401(emu: DooverEmulator) -> None:
    path = f"{emu.url}/agents/{emu.default_agent_id}/channels"
    expired = emu.issue_token(expires_in=-1)
    assert httpx.get(path, headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    claims = {"sub": str(emu.default_agent_id), "exp": time.time() + 60, "iat_ms": 1}
    foreign = jwt.encode(claims, b"another-secret-another-secret-32", algorithm="HS256")
    assert httpx.get(path, headers={"Authorization": f"Bearer {foreign}"}).status_code == 401
    token = emu.token
    assert httpx.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    emu.revoke_token(token)
    assert httpx.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert emu.token != token  # .token replaces a token the server no longer accepts
    assert httpx.get(path, headers={"Authorization": f"Bearer {emu.token}"}).status_code == 200


def test_client_credentials_grant(emu: DooverEmulator) -> None:
    # Spec §2.5: POST {data_base_url}/oauth2/token, Basic credentials, a form body.
    url = f"{emu.url}/oauth2/token"
    form = {"grant_type": "client_credentials", "scope": ""}
    response = httpx.post(url, data=form, auth=(emu.client_id, emu.client_secret))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    channels = f"{emu.url}/agents/{emu.default_agent_id}/channels"
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert httpx.get(channels, headers=bearer).status_code == 200
    wrong = httpx.post(url, data=form, auth=(emu.client_id, "wrong"))
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    assert httpx.post(url, data=form).status_code == 401
    assert emu.token_requests == 3
    assert httpx.get(url).status_code == 405


def test_token_requests_the_spec_does_not_describe_are_refused(emu: DooverEmulator) -> None:
    # So a client that sends a grant to the wrong server, or in the wrong form, fails here
    # as it would against the real ones.
    credentials = (emu.client_id, emu.client_secret)
    form = {"grant_type": "client_credentials", "scope": ""}
    at_auth_server = httpx.post(f"{emu.root_url}/oauth2/token", data=form, auth=credentials)
    assert (at_auth_server.status_code, at_auth_server.json()["error"]) == (400, "invalid_request")
    grant_in_query = httpx.post(f"{emu.root_url}/oauth2/token", params=form)
    assert grant_in_query.json()["error"] == "unsupported_grant_type"
    in_query = httpx.post(f"{emu.url}/oauth2/token", params=form, auth=credentials)
    assert in_query.json()["error"] == "invalid_request"
    in_form = {**form, "client_id": emu.client_id, "client_secret": emu.client_secret}
    assert httpx.post(f"{emu.url}/oauth2/token", data=in_form).status_code == 401
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": emu.refresh_token,
        "client_id": emu.auth_server_client_id,
    }
    at_data_api = httpx.post(f"{emu.url}/oauth2/token", params=refresh)
    assert at_data_api.json()["error"] == "invalid_request"  # (no form body there)
    assert httpx.post(f"{emu.root_url}/oauth2/token", data=refresh).status_code == 400


def test_refresh_grant(emu: DooverEmulator) -> None:
    # Spec §2.6: POST {auth_server_url}/oauth2/token, query-string parameters, no body.
    url = f"{emu.root_url}/oauth2/token"
    params = {
        "grant_type": "refresh_token",
        "access_token": emu.token,
        "refresh_token": emu.refresh_token,
        "client_id": emu.auth_server_client_id,
    }
    by_query = httpx.post(url, params=params)
    assert by_query.status_code == 200
    assert "refresh_token" not in by_query.json()  # not rotating by default
    bad = httpx.post(url, params={**params, "refresh_token": "nope"})
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_grant")
    assert httpx.post(url, params={**params, "client_id": "other"}).status_code == 401
    assert httpx.post(url, params={"grant_type": "password"}).status_code == 400
    assert httpx.post(url).json()["error"] == "invalid_request"
    assert emu.token_requests == 5


def test_refresh_tokens_can_rotate() -> None:
    with DooverEmulator(rotate_refresh_tokens=True, token_lifetime=600) as emu:
        first = emu.refresh_token
        params = {
            "grant_type": "refresh_token",
            "refresh_token": first,
            "client_id": emu.auth_server_client_id,
        }
        body = httpx.post(f"{emu.root_url}/oauth2/token", params=params).json()
        assert body["expires_in"] == 600
        assert body["refresh_token"] == emu.refresh_token != first
        again = httpx.post(f"{emu.root_url}/oauth2/token", params=params)
        assert again.status_code == 400


def test_token_endpoint_faults_are_counted(emu: DooverEmulator) -> None:
    form = {"grant_type": "client_credentials", "scope": ""}
    emu.faults.fail(path="/api/oauth2/token")
    emu.faults.stall(seconds=0.05, path="/api/oauth2/token")
    auth = (emu.client_id, emu.client_secret)
    channels = f"{emu.url}/agents/{emu.default_agent_id}/channels"
    assert httpx.get(channels, headers={"Authorization": f"Bearer {emu.token}"}).status_code == 200
    assert httpx.post(f"{emu.url}/oauth2/token", data=form, auth=auth).status_code == 500
    assert httpx.post(f"{emu.url}/oauth2/token", data=form, auth=auth).status_code == 200
    assert emu.token_requests == 2
    stalled = emu.requests.entries()[-1]
    assert (stalled.fault, stalled.delay) == (FaultKind.STALL, 0.05)


# -- routing and errors -------------------------------------------------------------------


def test_unknown_paths_methods_and_ids(emu: DooverEmulator, http: httpx.Client, agent: int) -> None:
    missing = http.get("/no/such/thing")
    assert missing.status_code == 404
    assert "message" in missing.json()
    assert httpx.get(f"{emu.root_url}/agents").status_code == 404  # data API lives under /api
    wrong = http.delete(f"/agents/{agent}/channels")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET"
    assert http.get("/agents/abc/channels").status_code == 400
    assert http.get(f"/agents/{agent + 1}/channels").status_code == 404
    assert http.get(f"/agents/{agent}/channels/nope").status_code == 404
    assert http.get(f"/agents/{agent}/channels/pump/messages/123").status_code == 404
    bad_json = http.post(f"/agents/{agent}/channels/pump/messages", content=b"{nope")
    assert bad_json.status_code == 400
    assert "JSON" in bad_json.json()["message"]
    deep = b'{"data":' + b"[" * 5000 + b"]" * 5000 + b"}"  # valid JSON, nested too deep
    assert http.post(f"/agents/{agent}/channels/pump/messages", content=deep).status_code == 400
    assert http.post(f"/agents/{agent}/channels/pump/messages", json={"x": 1}).status_code == 400
    assert http.get(f"/agents/{agent}/channels/pump/messages?limit=x").status_code == 400
    assert http.get(f"/agents/{agent}/channels/pump/messages?before=-1").status_code == 400
    assert http.get(f"/agents/{agent}/channels?include_aggregate=maybe").status_code == 400


ALL_OPERATIONS = [
    ("GET", "/agents/{a}/channels"),
    ("GET", "/agents/{a}/channels/{c}"),
    ("POST", "/agents/{a}/channels/{c}"),
    ("PUT", "/agents/{a}/channels/{c}"),
    ("POST", "/agents/{a}/channels/{c}/archive"),
    ("POST", "/agents/{a}/channels/{c}/unarchive"),
    ("GET", "/agents/{a}/data_series"),
    ("GET", "/agents/{a}/channels/{c}/messages"),
    ("GET", "/agents/{a}/channels/{c}/messages/{m}"),
    ("GET", "/agents/{a}/channels/{c}/messages/{m}/logs"),
    ("POST", "/agents/{a}/channels/{c}/messages"),
    ("POST", "/agents/{a}/channels/{c}/messages/{m}"),
    ("PATCH", "/agents/{a}/channels/{c}/messages/{m}"),
    ("PUT", "/agents/{a}/channels/{c}/messages/{m}"),
    ("DELETE", "/agents/{a}/channels/{c}/messages/{m}"),
    ("GET", "/agents/{a}/channels/{c}/messages/{m}/attachments/{i}"),
    ("GET", "/agents/{a}/channels/{c}/messages/timeseries"),
    ("GET", "/agents/{a}/channels/{c}/aggregate"),
    ("PATCH", "/agents/{a}/channels/{c}/aggregate"),
    ("PUT", "/agents/{a}/channels/{c}/aggregate"),
    ("GET", "/agents/{a}/channels/{c}/aggregate/attachments/{i}"),
    ("GET", "/agents/channels/{c}/messages"),
    ("GET", "/agents/channels/{c}/aggregates"),
    ("POST", "/agents/messages"),
    ("PATCH", "/agents/messages"),
    ("PUT", "/agents/messages"),
    ("DELETE", "/agents/messages"),
    ("PATCH", "/agents/aggregates"),
    ("GET", "/agents/{a}/channels/{c}/alarms"),
    ("GET", "/agents/{a}/alarms"),
    ("GET", "/agents/{a}/channels/{c}/alarms/{i}"),
    ("POST", "/agents/{a}/channels/{c}/alarms"),
    ("PUT", "/agents/{a}/channels/{c}/alarms/{i}"),
    ("PATCH", "/agents/{a}/channels/{c}/alarms/{i}"),
    ("DELETE", "/agents/{a}/channels/{c}/alarms/{i}"),
    ("GET", "/agents/{a}/wss_connections"),
    ("GET", "/connections/{i}"),
    ("GET", "/agents/{a}/wss_connections/history"),
    ("GET", "/agents/{a}/wss_connections/subscriptions/history"),
    ("GET", "/agents/{a}/channels/{c}/subscriptions"),
    ("GET", "/agents/{a}/permissions"),
    ("GET", "/agents/{a}/notifications"),
    ("GET", "/agents/{a}/notifications/endpoints"),
    ("GET", "/agents/{a}/notifications/endpoints/summary"),
    ("POST", "/agents/{a}/notifications/endpoints"),
    ("PATCH", "/agents/{a}/notifications/endpoints/{i}"),
    ("DELETE", "/agents/{a}/notifications/endpoints/{i}"),
    ("POST", "/agents/{a}/notifications/endpoints/{i}/test"),
    ("GET", "/agents/{a}/notifications/subscriptions"),
    ("POST", "/agents/{a}/notifications/subscriptions"),
    ("PATCH", "/agents/{a}/notifications/subscriptions/{i}"),
    ("DELETE", "/agents/{a}/notifications/subscriptions/{i}"),
    ("GET", "/agents/{a}/notifications/subscriptions/default"),
    ("PATCH", "/agents/{a}/notifications/subscriptions/default/{i}"),
    ("DELETE", "/agents/{a}/notifications/subscriptions/default/{i}"),
    ("GET", "/agents/{a}/notifications/subscribers"),
    ("POST", "/agents/me/notifications/update_web_push"),
    ("GET", "/notifications/webpush-public-key"),
    ("GET", "/processors/subscriptions/{i}"),
    ("GET", "/processors/schedules/{i}"),
    ("PUT", "/agents/{a}/processors/schedules/{i}"),
    ("POST", "/agents/{a}/processors/schedules/{i}/token"),
    ("PUT", "/agents/{a}/processors/subscriptions/{i}"),
    ("PUT", "/agents/{a}/processors/ingestions/{i}"),
    ("DELETE", "/agents/{a}/processors/ingestions/{i}"),
    ("POST", "/agents/{a}/processors/ingestions/{i}/invoke"),
    ("POST", "/turn/token"),
    ("POST", "/agents/{a}/token/rotate"),
    ("POST", "/agents/{a}/token/confirm"),
    ("POST", "/oauth2/token"),
]


def test_every_operation_of_the_contract_is_routed(emu: DooverEmulator, http: httpx.Client) -> None:
    assert len(ALL_OPERATIONS) == 69 + 1  # the data operations and the token endpoint
    for method, template in ALL_OPERATIONS:
        path = template.format(a=emu.default_agent_id, c="pump", m=1, i=1)
        response = http.request(method, path)
        assert response.status_code != 405, (method, path)
        if response.status_code == 404:
            assert "no such endpoint" not in response.json()["message"], (method, path)


# -- channels -----------------------------------------------------------------------------


def test_channel_create_fetch_put_and_conflicts(emu: DooverEmulator, http: httpx.Client) -> None:
    agent = emu.default_agent_id
    created = http.post(f"/agents/{agent}/channels/tank", json={"is_private": True})
    channel_id = created.json()["id"]
    assert isinstance(channel_id, str)
    assert (int(channel_id) >> 4) & 0xF == 3  # type nibble: Channel
    assert http.post(f"/agents/{agent}/channels/tank", json={}).status_code == 409
    assert http.post(f"/agents/{agent + 1}/channels/tank", json={}).status_code == 404
    fetched = http.get(f"/agents/{agent}/channels/tank").json()
    assert fetched["owner_id"] == str(agent)
    assert fetched["is_private"] is True
    assert "aggregate" not in fetched
    with_aggregate = http.get(f"/agents/{agent}/channels/tank?include_aggregate=true").json()
    assert with_aggregate["aggregate"] == {"data": {}, "attachments": [], "last_updated": None}
    assert http.put(f"/agents/{agent}/channels/tank", json={}).status_code == 400
    schema = {"type": "object"}
    body = {"is_private": False, "message_schema": schema, "default_ttl": 60}
    put = http.put(f"/agents/{agent}/channels/tank", json=body).json()
    assert (put["id"], put["is_private"], put["message_schema"]) == (channel_id, False, schema)
    assert put["default_ttl"] == 60
    assert http.put(f"/agents/{agent}/channels/new", json={"is_private": False}).status_code == 200
    assert http.post(f"/agents/{agent}/channels/x", json={"default_ttl": "1"}).status_code == 400


def test_channel_names_are_percent_decoded_per_segment(
    emu: DooverEmulator, http: httpx.Client
) -> None:
    agent = emu.default_agent_id
    assert http.post(f"/agents/{agent}/channels/a%2Fb%20c", json={}).status_code == 200
    assert http.get(f"/agents/{agent}/channels/a%2Fb%20c").json()["name"] == "a/b c"
    files = multipart({"data": 1}, ("f.txt", "text/plain", b"f"))
    message = http.post(f"/agents/{agent}/channels/a%2Fb%20c/messages", **files).json()
    assert message["channel"]["name"] == "a/b c"
    assert "/channels/a%2Fb%20c/messages/" in message["attachments"][0]["url"]
    assert http.get(message["attachments"][0]["url"]).content == b"f"
    assert http.get(f"/agents/{agent}/channels/a/b%20c").status_code == 404


def test_archive_hides_a_channel_from_listings(
    emu: DooverEmulator, http: httpx.Client, agent: int
) -> None:
    def names(query: str = "") -> list[str]:
        return [c["name"] for c in http.get(f"/agents/{agent}/channels{query}").json()]

    assert names() == ["notifications", "pump"]
    assert http.post(f"/agents/{agent}/channels/pump/archive").content == b""
    assert names() == ["notifications"]
    assert names("?include_archived=true") == ["notifications", "pump"]
    assert http.get(f"/agents/{agent}/channels/pump").json()["archived"] is True
    http.post(f"/agents/{agent}/channels/pump/unarchive")
    assert names() == ["notifications", "pump"]


def test_listing_flags_and_daily_summaries(
    emu: DooverEmulator, http: httpx.Client, agent: int
) -> None:
    emu.state.add_messages(agent, "pump", [{"n": i} for i in range(3)], first_ms=T0)
    emu.state.add_message(agent, "pump", {"n": 9}, ts=T0 + 86_400_000)
    plain = http.get(f"/agents/{agent}/channels").json()[1]
    assert "aggregate" not in plain
    assert "daily_message_summaries" not in plain
    query = "?include_aggregate=true&include_daily_summaries=true"
    full = http.get(f"/agents/{agent}/channels{query}").json()[1]
    assert full["aggregate"]["data"] == {}
    assert full["daily_message_summaries"] == [
        {"date": "2026-03-15", "count": 3},
        {"date": "2026-03-16", "count": 1},
    ]
    # Spec §1.3: the wire says true and false; a client sending Python's True fails here.
    for spelling in ("True", "1", "yes"):
        sent = http.get(f"/agents/{agent}/channels?include_aggregate={spelling}")
        assert sent.status_code == 400


# -- messages -----------------------------------------------------------------------------


def test_a_message_time_before_the_ids_epoch_is_refused(http: httpx.Client, agent: int) -> None:
    # Unix seconds sent for milliseconds: refused, not stored at 2025-01-01.
    url = f"/agents/{agent}/channels/pump/messages"
    refused = http.post(url, json={"data": {"n": 1}, "ts": T0 // 1000})
    assert refused.status_code == 400
    assert "milliseconds" in refused.json()["message"]
    assert ms_of(post_message(http, agent, {"n": 2}, ts=T0)["id"]) == T0


def test_created_messages_carry_server_snowflakes(
    emu: DooverEmulator, http: httpx.Client, agent: int
) -> None:
    before = int(time.time() * 1000)
    message = post_message(http, agent, {"rpm": 1450})
    assert set(message) == {"id", "author_id", "channel", "data", "attachments"}
    assert isinstance(message["id"], str)
    assert before <= ms_of(message["id"]) <= int(time.time() * 1000)
    assert (int(message["id"]) >> 4) & 0xF == 2  # type nibble: Message
    assert message["author_id"] == str(agent)
    assert message["channel"] == {"agent_id": str(agent), "name": "pump"}
    assert message["attachments"] == []
    assert http.get(f"/agents/{agent}/channels/pump/messages/{message['id']}").json() == message
    at_ts = post_message(http, agent, {"old": True}, ts=T0)
    assert ms_of(at_ts["id"]) == T0
    author = emu.issue_token(agent_id=777)
    other = http.post(
        f"/agents/{agent}/channels/pump/messages",
        json={"data": 1},
        headers={"Authorization": f"Bearer {author}"},
    )
    assert other.json()["author_id"] == "777"


def test_many_messages_in_one_millisecond_get_distinct_ids(emu: DooverEmulator, agent: int) -> None:
    created = emu.state.add_messages(agent, "pump", range(2000), first_ms=T0, step_ms=0)
    assert len(set(created)) == 2000
    assert created == sorted(created)
    assert {ms_of(i) for i in created[:1000]} == {T0}


def test_listing_bounds_order_and_limit(
    emu: DooverEmulator, http: httpx.Client, agent: int
) -> None:
    created = emu.state.add_messages(agent, "pump", [{"n": i} for i in range(10)], first_ms=T0)
    url = f"/agents/{agent}/channels/pump/messages"
    newest_first = created[::-1]
    assert ids(http.get(url)) == newest_first
    assert ids(http.get(url, params={"limit": 3})) == newest_first[:3]
    assert ids(http.get(url, params={"before": created[5], "limit": 2})) == [created[4], created[3]]
    both = {"before": created[7], "after": created[2]}
    assert ids(http.get(url, params=both)) == [created[6], created[5], created[4], created[3]]
    assert ids(http.get(url, params={**both, "limit": 2})) == [created[6], created[5]]
    oldest_first = ids(http.get(url, params={"after": created[2], "limit": 3}))
    assert oldest_first == [created[3], created[4], created[5]]
    assert ids(http.get(url, params={"after": created[-1]})) == []
    in_ms = {"after": bound(T0 + 3), "before": bound(T0 + 5)}  # time bounds: exclusive
    assert ids(http.get(url, params=in_ms)) == [created[4], created[3]]
    assert http.get(url, params={"limit": 0}).status_code == 400


def test_default_and_maximum_limits() -> None:
    with DooverEmulator(default_limit=3, max_limit=5) as emu:
        agent = emu.default_agent_id
        emu.state.create_channel(agent, "pump")
        emu.state.add_messages(agent, "pump", range(8), first_ms=T0)
        headers = {"Authorization": f"Bearer {emu.token}"}
        url = f"{emu.url}/agents/{agent}/channels/pump/messages"
        assert len(httpx.get(url, headers=headers).json()) == 3
        assert len(httpx.get(url, params={"limit": 100}, headers=headers).json()) == 5


def test_field_name_projects_data(emu: DooverEmulator, http: httpx.Client, agent: int) -> None:
    post_message(http, agent, {"a": 1, "b": {"c": 2, "d": 3}, "e": 4})
    url = f"/agents/{agent}/channels/pump/messages"
    listed = http.get(url, params={"field_name": ["a", "b.c", "zz"]}).json()
    assert listed[0]["data"] == {"a": 1, "b": {"c": 2}}
    assert http.get(url).json()[0]["data"]["b"] == {"c": 2, "d": 3}  # stored data untouched


def test_history_since_hides_older_messages(emu: DooverEmulator, http: httpx.Client) -> None:
    agent = emu.default_agent_id
    http.post(f"/agents/{agent}/channels/h", json={"history_since": T0 + 5})
    created = emu.state.add_messages(agent, "h", range(10), first_ms=T0)
    assert ids(http.get(f"/agents/{agent}/channels/h/messages")) == created[:4:-1]


def test_create_at_a_client_chosen_id_is_idempotent(
    emu: DooverEmulator, http: httpx.Client, agent: int
) -> None:
    chosen = bound(T0) | 0x2A5
    url = f"/agents/{agent}/channels/pump/messages/{chosen}"
    first = http.post(url, json={"data": {"v": 1}})
    second = http.post(url, json={"data": {"v": 2}})
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["id"] == str(chosen)
    assert first.json()["data"] == {"v": 1}
    assert len(emu.state.messages(agent, "pump")) == 1


def test_patch_merges_put_replaces_and_delete(
    emu: DooverEmulator, http: httpx.Client, agent: int
) -> None:
    message = post_message(http, agent, {"a": 1, "b": {"c": 2, "d": 3}})
    url = f"/agents/{agent}/channels/pump/messages/{message['id']}"
    patched = http.patch(url, json={"data": {"b": {"c": 20, "d": None}, "e": 5}})
    assert patched.json()["data"] == {"a": 1, "b": {"c": 20}, "e": 5}
    assert http.put(url, json={"data": {"z": 0}}).json()["data"] == {"z": 0}
    suppressed = http.patch(url, params={"suppress_response": "true"}, json={"data": {"y": 1}})
    assert (suppressed.status_code, suppressed.content) == (200, b"")
    assert suppressed.headers["content-length"] == "0"
    assert http.get(url).json()["data"] == {"z": 0, "y": 1}
    assert http.delete(url).content == b""
    assert http.get(url).status_code == 404
    assert http.delete(url).status_code == 404
    assert http.patch(url, json={"data": {}}).status_code == 404


def multipart(
    payload: Any, *files: tuple[str, str, bytes], payload_as_file: bool = False
) -> dict[str, Any]:
    """httpx arguments for a pydoover-style multipart body."""
    text = json.dumps(payload)
    parts: dict[str, Any] = {}
    if payload_as_file:  # what the sync pydoover client sends
        parts["json_payload"] = ("json_payload", text.encode(), "application/json")
    else:
        parts["json_payload"] = (None, text.encode(), "application/json")
    for index, (name, content_type, data) in enumerate(files, start=1):
        parts[f"attachment-{index}"] = (name, data, content_type)
    return {"files": parts}


@pytest.mark.parametrize("payload_as_file", [False, True])
def test_attachments_upload_download_and_clear(
    emu: DooverEmulator, http: httpx.Client, agent: int, payload_as_file: bool
) -> None:
    url = f"/agents/{agent}/channels/pump/messages"
    files = [("snap; 1.jpg", "image/jpeg", b"\xff\xd8jpeg"), ("log.txt", "text/plain", b"hi")]
    created = http.post(
        url, **multipart({"data": {"k": 1}, "ts": T0}, *files, payload_as_file=payload_as_file)
    )
    assert created.status_code == 200, created.text
    message = created.json()
    assert ms_of(message["id"]) == T0
    assert message["data"] == {"k": 1}
    assert [(a["filename"], a["content_type"], a["size"]) for a in message["attachments"]] == [
        ("snap; 1.jpg", "image/jpeg", 6),
        ("log.txt", "text/plain", 2),
    ]
    first = message["attachments"][0]["url"]
    assert first.startswith(f"{emu.url}/agents/{agent}/channels/pump/messages/{message['id']}/")
    download = http.get(first)
    assert (download.content, download.headers["content-type"]) == (b"\xff\xd8jpeg", "image/jpeg")
    assert httpx.get(first).status_code == 401  # downloads are authenticated
    item = f"{url}/{message['id']}"
    added = http.patch(item, **multipart({"data": {}}, ("c.bin", "application/octet-stream", b"c")))
    assert len(added.json()["attachments"]) == 3
    cleared = http.patch(
        item,
        params={"clear_attachments": "true"},
        **multipart({"data": {}}, ("d.bin", "application/octet-stream", b"d")),
    )
    assert [a["filename"] for a in cleared.json()["attachments"]] == ["d.bin"]
    assert http.get(first).status_code == 404


def test_attachment_numbered_from_zero_and_bad_multipart(http: httpx.Client, agent: int) -> None:
    url = f"/agents/{agent}/channels/pump/messages"
    files = {
        "json_payload": (None, b'{"data": 1}', "application/json"),
        "attachment-0": ("z.txt", b"zero", "text/plain"),
    }
    assert [a["filename"] for a in http.post(url, files=files).json()["attachments"]] == ["z.txt"]
    no_payload = {"attachment-0": ("z.txt", b"zero", "text/plain")}
    assert http.post(url, files=no_payload).status_code == 400
    garbage = http.post(
        url, content=b"junk", headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert garbage.status_code == 400


def test_message_logs(emu: DooverEmulator, http: httpx.Client, agent: int) -> None:
    message = post_message(http, agent, {})
    url = f"/agents/{agent}/channels/pump/messages/{message['id']}/logs"
    assert http.get(url).json() == []
    entry = {"timestamp": T0, "type": "user.log", "level": "INFO", "message": "started"}
    emu.state.add_message_log(agent, "pump", int(message["id"]), entry)
    assert http.get(url).json() == [entry]
    assert http.get(f"/agents/{agent}/channels/pump/messages/1/logs").status_code == 404


def test_timeseries_and_data_series(emu: DooverEmulator, http: httpx.Client, agent: int) -> None:
    data = [{"t": 20 + i, "s": {"p": i}} if i % 2 else {"other": i} for i in range(10)]
    created = emu.state.add_messages(agent, "pump", data, first_ms=T0)
    url = f"/agents/{agent}/channels/pump/messages/timeseries"
    assert http.get(url, params={"field_name": "t", "limit": 3}).json()["next"] is None
    page = http.get(url, params={"field_name": "t", "limit": 3, "paginate": "true"}).json()
    assert page["count"] == 3
    assert page["results"] == [
        {"value": 29, "message_id": str(created[9])},
        {"value": 27, "message_id": str(created[7])},
        {"value": 25, "message_id": str(created[5])},
    ]
    assert page["next"] == str(created[5])
    rest = http.get(url, params={"field_name": "t", "before": page["next"]}).json()
    assert [r["value"] for r in rest["results"]] == [23, 21]
    assert rest["next"] is None
    both = http.get(url, params={"field_name": ["t", "s.p"], "limit": 1}).json()
    assert both["results"][0]["value"] == {"t": 29, "s.p": 9}
    assert http.get(url).status_code == 400
    series = http.get(f"/agents/{agent}/data_series", params={"field_name": "pump.s.p", "limit": 2})
    assert series.json()["results"] == [
        {"value": 9, "message_id": str(created[9])},
        {"value": 7, "message_id": str(created[7])},
    ]
    assert http.get(f"/agents/{agent}/data_series", params={"field_name": "x"}).status_code == 400


def test_notifications_channel_wraps_invalid_payloads(
    emu: DooverEmulator, http: httpx.Client
) -> None:
    url = f"/agents/{emu.default_agent_id}/channels/notifications/messages"
    valid = {"message": "Pump stopped", "title": "Pump", "severity": 6, "topic": "dev/x"}
    assert http.post(url, json={"data": valid}).json()["data"] == valid
    invalid = {"msg": "wrong key", "severity": "warning"}
    stored = http.post(url, json={"data": invalid}).json()["data"]
    assert json.loads(stored["message"]) == invalid


# -- aggregates ---------------------------------------------------------------------------


def test_aggregate_patch_merges_and_put_replaces(
    emu: DooverEmulator, http: httpx.Client, agent: int
) -> None:
    url = f"/agents/{agent}/channels/pump/aggregate"
    assert http.get(url).json() == {"data": {}, "attachments": [], "last_updated": None}
    http.patch(url, json={"a": 1, "s": {"x": 1, "y": 2}})
    http.patch(url, json={"b": 2, "s": {"y": None, "z": 3}})
    merged = http.patch(url, json={"a": 3}).json()
    assert merged["data"] == {"a": 3, "b": 2, "s": {"x": 1, "z": 3}}
    assert abs(merged["last_updated"] - time.time() * 1000) < 60_000
    replaced = http.patch(
        url, params={"replace": ["s", "t.u"]}, json={"s": {"new": 1}, "t": {"u": {"v": 1}}}
    )
    assert replaced.json()["data"] == {"a": 3, "b": 2, "s": {"new": 1}, "t": {"u": {"v": 1}}}
    assert http.put(url, json={"only": True}).json()["data"] == {"only": True}
    assert http.put(url, json=[1]).status_code == 400
    quiet = http.patch(url, params={"suppress_response": "true"}, json={"q": 1})
    assert (quiet.status_code, quiet.content) == (200, b"")
    assert emu.state.aggregate(agent, "pump")["data"] == {"only": True, "q": 1}
    assert http.get(f"/agents/{agent}/channels/nope/aggregate").status_code == 404


def test_aggregate_log_update_and_attachments(
    emu: DooverEmulator, http: httpx.Client, agent: int
) -> None:
    url = f"/agents/{agent}/channels/pump/aggregate"
    http.patch(url, params={"log_update": "true"}, json={"level": 5})
    assert [m["data"] for m in emu.state.messages(agent, "pump")] == [{"level": 5}]
    with_file = http.patch(url, **multipart({"pic": 1}, ("p.png", "image/png", b"png")))
    attachment = with_file.json()["attachments"][0]
    assert with_file.json()["data"] == {"level": 5, "pic": 1}
    attachment_id = attachment["url"].rsplit("/", 1)[1]
    assert attachment["url"] == f"{emu.url}{url}/attachments/{attachment_id}"
    assert http.get(f"{url}/attachments/{attachment_id}").content == b"png"
    cleared = http.patch(url, params={"clear_attachments": "true"}, json={})
    assert cleared.json()["attachments"] == []
    assert http.get(f"{url}/attachments/{attachment_id}").status_code == 404


# -- gzip and the request log -----------------------------------------------------------


def test_gzip_bodies_are_accepted_and_logged_decompressed(
    emu: DooverEmulator, http: httpx.Client, agent: int
) -> None:
    body = json.dumps({"data": {"text": "x" * 200}}).encode()
    emu.requests.clear()
    response = http.post(
        f"/agents/{agent}/channels/pump/messages?x=1&x=2",
        content=gzip.compress(body),
        headers={
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "X-Doover-Organisation": "9",
        },
    )
    assert response.json()["data"] == {"text": "x" * 200}
    [entry] = emu.requests.entries()
    assert (entry.method, entry.path, entry.query, entry.status) == (
        "POST",
        f"/api/agents/{agent}/channels/pump/messages",
        "x=1&x=2",
        200,
    )
    assert entry.headers["content-encoding"] == "gzip"
    assert entry.headers["x-doover-organisation"] == "9"
    assert entry.headers["authorization"] == f"Bearer {emu.token}"
    assert gzip.decompress(entry.raw_body) == body
    assert entry.body == body
    assert entry.json() == {"data": {"text": "x" * 200}}
    bad = http.post(
        f"/agents/{agent}/channels/pump/messages",
        content=b"not gzip",
        headers={"Content-Encoding": "gzip"},
    )
    assert bad.status_code == 400
    assert emu.requests.entries()[-1].body == b"not gzip"
    other = http.post(
        f"/agents/{agent}/channels/pump/messages", content=body, headers={"Content-Encoding": "br"}
    )
    assert other.status_code == 400


def test_logged_requests_compare_without_headers_and_body() -> None:
    plain = LoggedRequest("GET", "/", "", 200, None, 0.0)
    rich = LoggedRequest("GET", "/", "", 200, None, 0.0, [(b"A", b"1"), (b"a", b"2")], b"x")
    assert plain == rich
    assert rich.headers == {"a": "1, 2"}
    assert rich.body == b"x"
    deflated = LoggedRequest(
        "GET", "/", "", 200, None, 0.0, [(b"content-encoding", b"deflate")], b""
    )
    assert deflated.body == b""  # not valid deflate: returned as received


# -- multi-agent reads and batches --------------------------------------------------------


def three_agents(emu: DooverEmulator) -> list[int]:
    agents = [emu.default_agent_id, emu.state.add_agent("a"), emu.state.add_agent("b")]
    for agent in agents:
        emu.state.create_channel(agent, "pump")
    return agents


def test_multi_agent_messages_merge_and_cursors(emu: DooverEmulator, http: httpx.Client) -> None:
    a, b, c = three_agents(emu)
    now = int(time.time() * 1000)
    ids_a = emu.state.add_messages(a, "pump", range(5), first_ms=now - 5000, step_ms=10)
    ids_b = emu.state.add_messages(b, "pump", range(5), first_ms=now - 4995, step_ms=10)
    url = "/agents/channels/pump/messages"
    everything = http.get(url, params={"agent_id": [a, b, c]}).json()
    assert [int(m["id"]) for m in everything["results"]] == sorted(ids_a + ids_b, reverse=True)
    assert (everything["count"], everything["next"], everything["next_cursors"]) == (10, None, {})
    capped = http.get(url, params={"agent_id": [a, b], "agent_message_limit": 2}).json()
    assert {int(m["id"]) for m in capped["results"]} == {*ids_a[-2:], *ids_b[-2:]}
    assert capped["next_cursors"] == {str(a): str(ids_a[-2]), str(b): str(ids_b[-2])}
    assert capped["next"] == str(max(ids_a[-2], ids_b[-2]))
    assert sorted(capped["at_limit_agent_ids"]) == sorted([str(a), str(b)])
    resumed = http.get(url, params={"agent_id": [a, b], "agent_before": [ids_a[-2], ids_b[-2]]})
    assert {int(m["id"]) for m in resumed.json()["results"]} == {*ids_a[:3], *ids_b[:3]}
    limited = http.get(url, params={"agent_id": [a, b], "limit": 3}).json()
    assert [int(m["id"]) for m in limited["results"]] == [ids_b[4], ids_a[4], ids_b[3]]
    assert limited["next_cursors"] == {str(a): str(ids_a[4]), str(b): str(ids_b[3])}
    projected = http.get(url, params={"agent_id": a, "limit": 1, "field_name": "nope"}).json()
    assert projected["results"][0]["data"] == 4  # not an object: left as is
    assert http.get(url).status_code == 400
    wide = {"agent_id": a, "after": 0, "before": WINDOW + 1}
    assert http.get(url, params=wide).status_code == 400
    assert http.get(url, params={"agent_id": a, "after": 0, "before": WINDOW}).status_code == 200


def test_multi_agent_aggregates(emu: DooverEmulator, http: httpx.Client) -> None:
    a, b, _ = three_agents(emu)
    emu.state.update_aggregate(emu.state.channel(a, "pump"), {"x": 1, "y": 2})
    response = http.get("/agents/channels/pump/aggregates", params={"agent_id": [a, b, 5]}).json()
    assert response["count"] == 2
    assert response["results"][0]["agent_id"] == str(a)
    assert response["results"][0]["data"] == {"x": 1, "y": 2}
    assert response["results"][1]["data"] == {}
    projected = http.get(
        "/agents/channels/pump/aggregates", params={"agent_id": a, "field_name": "y"}
    ).json()
    assert projected["results"][0]["data"] == {"y": 2}


def test_batch_create_partially_fails_and_is_idempotent_with_ids(
    emu: DooverEmulator, http: httpx.Client, agent: int
) -> None:
    chosen = str(bound(T0) | 0x25)
    items = [
        {"agent_id": str(agent), "channel_name": "pump", "data": {"n": 1}, "ts": T0 + 1},
        {"agent_id": str(agent), "channel_name": "missing", "data": {"n": 2}},
        {"agent_id": str(agent + 1), "channel_name": "pump", "data": {"n": 3}},
        {"agent_id": str(agent), "channel_name": "pump", "data": {"n": 4}, "message_id": chosen},
        {"agent_id": str(agent), "channel_name": "pump"},
    ]
    as_number = [{**items[0], "agent_id": agent}]  # spec §3.7: ids travel as strings
    assert http.post("/agents/messages", json={"items": as_number}).status_code == 400
    result = http.post("/agents/messages", json={"items": items}).json()
    assert (result["count"], result["succeeded"], result["failed"]) == (5, 2, 3)
    outcomes = [(i["success"], i.get("error", "")) for i in result["items"]]
    assert [ok for ok, _ in outcomes] == [True, False, False, True, False]
    assert "channel" in outcomes[1][1]
    assert "agent" in outcomes[2][1]
    assert "data" in outcomes[4][1]
    assert ms_of(result["items"][0]["message_id"]) == T0 + 1
    assert result["items"][3]["message_id"] == chosen
    again = http.post("/agents/messages", json={"items": [items[3]]}).json()
    assert again["items"][0]["message_id"] == chosen
    assert len(emu.state.messages(agent, "pump")) == 2


def test_batch_update_delete_and_aggregates(
    emu: DooverEmulator, http: httpx.Client, agent: int
) -> None:
    first = post_message(http, agent, {"a": 1, "b": 2})["id"]
    second = post_message(http, agent, {"c": 3})["id"]
    item = {"agent_id": str(agent), "channel_name": "pump"}
    merged = http.patch(
        "/agents/messages",
        json={"items": [{**item, "message_id": first, "data": {"b": None}}, {**item, "data": {}}]},
    ).json()
    assert [i["success"] for i in merged["items"]] == [True, False]
    assert "message_id" in merged["items"][1]["error"]
    http.put("/agents/messages", json={"items": [{**item, "message_id": second, "data": {"z": 1}}]})
    assert [m["data"] for m in emu.state.messages(agent, "pump")] == [{"a": 1}, {"z": 1}]
    deleted = http.request(
        "DELETE",
        "/agents/messages",
        json={"items": [{**item, "message_id": first}, {**item, "message_id": "1"}]},
    ).json()
    assert [i["success"] for i in deleted["items"]] == [True, False]
    aggregates = http.patch(
        "/agents/aggregates",
        json={
            "items": [
                {**item, "data": {"s": {"x": 1}}},
                {**item, "data": {"s": {"y": 2}}, "replace": ["s"]},
            ]
        },
    ).json()
    assert aggregates["succeeded"] == 2
    assert "message_id" not in aggregates["items"][0]
    assert emu.state.aggregate(agent, "pump")["data"] == {"s": {"y": 2}}


@pytest.mark.parametrize(
    "body",
    [
        {"items": []},
        {"items": [{"agent_id": "1", "channel_name": "pump", "data": 1}] * 51},
        {"items": [{"channel_name": "pump"}]},
        {"items": [{"agent_id": "1", "channel_name": ""}]},
        {"items": ["x"]},
        {},
    ],
)
def test_invalid_batches_are_rejected_whole(
    emu: DooverEmulator, http: httpx.Client, agent: int, body: dict[str, Any]
) -> None:
    assert http.post("/agents/messages", json=body).status_code == 400
    assert emu.state.messages(agent, "pump") == []


# -- alarms -------------------------------------------------------------------------------


def test_alarm_create_legacy_and_conditions(
    emu: DooverEmulator, http: httpx.Client, agent: int
) -> None:
    url = f"/agents/{agent}/channels/pump/alarms"
    legacy = http.post(
        url,
        json={
            "name": "Hot",
            "description": "",
            "enabled": True,
            "key": "t",
            "operator": "gt",
            "value": 80,
        },
    )
    alarm = legacy.json()
    assert isinstance(alarm["id"], str)
    assert (alarm["key"], alarm["operator"], alarm["value"], alarm["state"]) == (
        "t",
        "gt",
        80,
        "NoData",
    )
    assert alarm["conditions"] == [
        {"type": "threshold", "id": "c1", "operator": "gt", "key": "t", "value": 80}
    ]
    assert alarm["channel_name"] == "pump"
    conditions = [
        {"type": "time_of_day", "from_ms": 18_000_000, "to_ms": 75_600_000},
        {"type": "compare", "operator": "gt", "key": "a", "other_key": "b", "offset": 5},
        {
            "type": "rate",
            "id": "c1",
            "operator": "lt",
            "key": "lvl",
            "rate_threshold": -0.5,
            "rate_window_ms": 300_000,
        },
    ]
    multi = http.post(
        url, json={"name": "Multi", "conditions": conditions, "messages": {"ok": {"notify": False}}}
    ).json()
    assert [c["id"] for c in multi["conditions"]] == ["c2", "c3", "c1"]
    assert (multi["key"], multi["rate_threshold"], multi["rate_window_ms"]) == (
        "lvl",
        -0.5,
        300_000,
    )
    assert "between 05:00 and 21:00 UTC" in multi["condition_summary"]
    assert multi["messages"] == {"ok": {"notify": False}}
    listed = http.get(url).json()
    assert [a["name"] for a in listed] == ["Hot", "Multi"]
    assert http.get(f"{url}/{multi['id']}").json() == multi
    assert len(http.get(f"/agents/{agent}/alarms").json()) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x"},
        {
            "name": "x",
            "key": "t",
            "operator": "gt",
            "conditions": [{"type": "threshold", "key": "t", "operator": "gt"}],
        },
        {"name": "x", "conditions": [{"type": "time_of_day", "from_ms": 0, "to_ms": 5}]},
        {
            "name": "x",
            "conditions": [
                {
                    "type": "rate",
                    "key": "t",
                    "operator": "eq",
                    "rate_threshold": 1,
                    "rate_window_ms": 5,
                }
            ],
        },
        {"name": "x", "conditions": [{"type": "threshold", "key": "t", "operator": "approx"}]},
        {"name": "x", "conditions": [{"type": "nope"}]},
        {"name": "x", "key": "t", "operator": "gt", "notification_policy": "sometimes"},
        {"name": "x", "key": "t", "operator": "gt", "messages": {"later": {}}},
        {"key": "t", "operator": "gt"},
    ],
)
def test_invalid_alarm_bodies_are_400(http: httpx.Client, agent: int, body: dict[str, Any]) -> None:
    assert http.post(f"/agents/{agent}/channels/pump/alarms", json=body).status_code == 400


def test_alarm_patch_semantics(emu: DooverEmulator, http: httpx.Client, agent: int) -> None:
    url = f"/agents/{agent}/channels/pump/alarms"
    body = {
        "name": "Hot",
        "key": "t",
        "operator": "gt",
        "value": 80,
        "expiry_mins": 5.0,
        "messages": {"alarm": {"text": "hot!"}, "ok": {"notify": False}},
    }
    alarm_id = int(http.post(url, json=body).json()["id"])
    emu.state.alarms(agent, "pump")[alarm_id]["condition_state"] = {"c1": {"last_verdict": False}}
    item = f"{url}/{alarm_id}"
    renamed = http.patch(item, json={"name": "Warm", "expiry_mins": None}).json()
    assert (renamed["name"], renamed["expiry_mins"], renamed["value"]) == ("Warm", None, 80)
    to_rate = http.patch(
        item, json={"value": None, "rate_threshold": 2.0, "rate_window_ms": 60_000}
    ).json()
    assert to_rate["conditions"] == [
        {
            "type": "rate",
            "id": "c1",
            "operator": "gt",
            "key": "t",
            "rate_threshold": 2.0,
            "rate_window_ms": 60_000,
        }
    ]
    assert (to_rate["value"], to_rate["rate_window_ms"]) == (None, 60_000)
    assert http.patch(item, json={"rate_threshold": None}).status_code == 400
    back = http.patch(
        item, json={"rate_threshold": None, "rate_window_ms": None, "value": 70}
    ).json()
    assert (back["conditions"][0]["type"], back["value"], back["rate_window_ms"]) == (
        "threshold",
        70,
        None,
    )
    messages = http.patch(item, json={"messages": {"alarm": {"notify": False}, "ok": None}}).json()
    assert messages["messages"] == {"alarm": {"notify": False, "text": "hot!"}}
    assert http.patch(item, json={"messages": None}).json()["messages"] is None
    kept = {"type": "threshold", "id": "c1", "operator": "ge", "key": "t", "value": 1}
    new = {"type": "threshold", "operator": "lt", "key": "u", "value": 2}
    replaced = http.patch(item, json={"conditions": [kept, new]}).json()
    assert [c["id"] for c in replaced["conditions"]] == ["c1", "c2"]
    assert replaced["condition_state"] == {"c1": {"last_verdict": False}}
    swapped = http.patch(item, json={"conditions": [new]}).json()
    assert swapped["condition_state"] == {}
    assert http.patch(item, json={"conditions": [new], "key": "v"}).status_code == 400
    assert http.patch(f"{url}/1", json={}).status_code == 404
    assert http.delete(item).content == b""
    assert http.get(item).status_code == 404


def test_alarm_put_creates_or_replaces_keeping_state(
    emu: DooverEmulator, http: httpx.Client, agent: int
) -> None:
    item = f"/agents/{agent}/channels/pump/alarms/12345"
    created = http.put(item, json={"name": "A", "key": "t", "operator": "lt", "value": 1}).json()
    assert created["id"] == "12345"
    emu.state.alarms(agent, "pump")[12345]["state"] = "Alarm"
    replaced = http.put(item, json={"name": "B", "key": "t", "operator": "lt", "value": 2}).json()
    assert (replaced["name"], replaced["state"], replaced["value"]) == ("B", "Alarm", 2)
    assert replaced["entered_state_ts"] == created["entered_state_ts"]


# -- notifications --------------------------------------------------------------------------


def test_notification_endpoints(emu: DooverEmulator, http: httpx.Client) -> None:
    base = f"/agents/{emu.default_agent_id}/notifications/endpoints"
    body = {
        "name": "Ops",
        "type": "Email",
        "extra_data": {"address": "ops@example.com"},
        "default": True,
    }
    endpoint_id = http.post(base, json=body).json()["id"]
    assert isinstance(endpoint_id, str)
    assert http.post(base, json={**body, "type": 1}).status_code == 400  # names only
    [endpoint] = http.get(base).json()["endpoints"]
    assert endpoint == {
        **body,
        "id": endpoint_id,
        "agent_id": str(emu.default_agent_id),
        "priority": None,
    }
    assert http.get(base, params={"name": "Other"}).json() == {"endpoints": []}
    assert http.patch(f"{base}/{endpoint_id}", json={"priority": 3, "name": "Ops 2"}).content == b""
    summary = http.get(f"{base}/summary").json()["endpoints"][0]
    assert (summary["name"], summary["priority"], summary["ready"]) == ("Ops 2", 3, True)
    assert "extra_data" not in summary
    http.patch(f"{base}/{endpoint_id}", json={"priority": None})
    assert http.get(base).json()["endpoints"][0]["priority"] is None
    assert http.post(f"{base}/{endpoint_id}/test").json() == {"success": True}
    assert http.delete(f"{base}/{endpoint_id}").content == b""
    assert http.post(f"{base}/{endpoint_id}/test").status_code == 404


def test_notification_subscriptions(emu: DooverEmulator, http: httpx.Client) -> None:
    me = emu.default_agent_id
    other = emu.state.add_agent("device")
    base = f"/agents/{me}/notifications"
    endpoint = {"type": "Sms", "extra_data": {}, "default": True}
    default_id = http.post(f"{base}/endpoints", json={**endpoint, "name": "phone"}).json()["id"]
    direct_id = http.post(
        f"{base}/endpoints", json={**endpoint, "name": "x", "default": False}
    ).json()["id"]
    sub = {
        "subscribe_to": str(other),
        "severity": 6,
        "topic_filter": ["dev/.*"],
        "topic_filter_mode": "regex",
        "topic_filter_exclude": ["dev/x"],
    }
    created = http.post(f"{base}/subscriptions", json={**sub, "endpoint_id": direct_id}).json()
    [row] = created["subscriptions"]
    assert row["endpoint_id"] == direct_id
    [defaulted] = http.post(f"{base}/subscriptions", json={**sub, "severity": "Info"}).json()[
        "subscriptions"
    ]
    assert defaulted["endpoint_id"] == default_id
    listed = http.get(f"{base}/subscriptions", params={"subscribed_to": other}).json()[
        "subscriptions"
    ]
    assert len(listed) == 2
    direct = next(s for s in listed if s["id"] == row["id"])
    assert direct == {
        "id": row["id"],
        "subscriber": str(me),
        "subscribed_to": str(other),
        "severity": "Warn",
        "topic_filter": ["dev/.*"],
        "topic_filter_mode": "regex",
        "topic_filter_exclude": ["dev/x"],
        "endpoints": [{"id": direct_id, "name": "x", "default": False}],
    }
    defaults = http.get(f"{base}/subscriptions/default").json()["subscriptions"]
    assert [s["id"] for s in defaults] == [defaulted["id"]]
    http.patch(
        f"{base}/subscriptions/{row['id']}", json={"topic_filter_exclude": [], "severity": 7}
    )
    http.patch(
        f"{base}/subscriptions/default/{other}",
        json={"topic_filter": ["a"], "topic_filter_mode": "exact"},
    )
    rows = {s["id"]: s for s in http.get(f"{base}/subscriptions").json()["subscriptions"]}
    assert (rows[row["id"]]["severity"], rows[row["id"]]["topic_filter_exclude"]) == (
        "Critical",
        [],
    )
    assert rows[defaulted["id"]]["topic_filter"] == ["a"]
    subscribers = http.get(f"/agents/{other}/notifications/subscribers").json()["subscribers"]
    assert len(subscribers) == 2
    everything = http.get(base).json()
    assert (len(everything["subscriptions"]), len(everything["endpoints"])) == (2, 2)
    assert http.post(f"{base}/subscriptions", json={**sub, "severity": 2}).status_code == 400
    assert (
        http.post(f"{base}/subscriptions", json={**sub, "topic_filter_exclude": ["("]}).status_code
        == 400
    )
    assert http.post(f"{base}/subscriptions", json={**sub, "subscribe_to": "1"}).status_code == 404
    assert http.delete(f"{base}/subscriptions/default/{other}").content == b""
    assert http.delete(f"{base}/subscriptions/default/{other}").status_code == 404
    assert http.delete(f"{base}/subscriptions/{row['id']}").content == b""
    assert http.get(f"{base}/subscriptions").json() == {"subscriptions": []}


def test_web_push_and_public_key(emu: DooverEmulator, http: httpx.Client) -> None:
    key = httpx.get(f"{emu.url}/notifications/webpush-public-key")  # no token needed
    assert key.status_code == 200
    assert isinstance(key.json()["key"], str)
    base = f"/agents/{emu.default_agent_id}/notifications/endpoints"
    push = {
        "name": "browser",
        "type": "WebPush",
        "default": False,
        "extra_data": {"endpoint": "https://old"},
    }
    http.post(base, json=push)
    update = {
        "old_endpoint": "https://old",
        "endpoint": "https://new",
        "key_p256dh": "p",
        "key_auth": "a",
        "expires_at": 5,
    }
    assert http.post("/agents/me/notifications/update_web_push", json=update).status_code == 200
    assert http.get(base).json()["endpoints"][0]["extra_data"]["endpoint"] == "https://new"
    assert emu.state.web_push_updates == [{"agent_id": emu.default_agent_id, **update}]
    assert http.post("/agents/me/notifications/update_web_push", json={}).status_code == 400


# -- connections, permissions, processors, TURN -----------------------------------------------


def test_connections_and_permissions(emu: DooverEmulator, http: httpx.Client, agent: int) -> None:
    [seeded] = http.get(f"/agents/{agent}/wss_connections").json()
    assert seeded["default_session"] is True
    assert seeded["subscriptions"][0]["channel"] == {
        "agent_id": str(agent),
        "name": "notifications",
    }
    book = emu.state.connections
    session = book.open(agent, address="10.0.0.2")
    book.subscribe(session, agent, "pump")
    assert http.get(f"/connections/{session}").json()["address"] == "10.0.0.2"
    subs = http.get(f"/agents/{agent}/channels/pump/subscriptions").json()
    assert [s["connection_id"] for s in subs] == [str(session)]
    book.close(session)
    assert len(http.get(f"/agents/{agent}/wss_connections").json()) == 1
    history = http.get(
        f"/agents/{agent}/wss_connections/history", params={"default_connection": "false"}
    )
    assert [c["session_id"] for c in history.json()] == [str(session)]
    assert http.get(f"/agents/{agent}/wss_connections/history").status_code == 400
    channel = json.dumps({"agent_id": str(agent), "name": "pump"})
    log = http.get(
        f"/agents/{agent}/wss_connections/subscriptions/history", params={"channel": channel}
    ).json()
    assert log[0]["connection_id"] == str(session)
    assert log[0]["unsubscribed_at"] >= log[0]["subscribed_at"]
    assert http.get(f"/agents/{agent}/wss_connections/subscriptions/history").status_code == 400
    assert http.get("/connections/1").status_code == 404
    emu.state.set_permissions(
        agent, is_superuser=False, resources=[{"permission_id": "p", "permission": "11"}]
    )
    permissions = http.get(f"/agents/{agent}/permissions").json()
    assert permissions["agent_id"] == str(agent)
    assert (permissions["is_superuser"], permissions["resources"]) == (
        False,
        [{"permission_id": "p", "permission": "11"}],
    )


def test_processors(emu: DooverEmulator, http: httpx.Client, agent: int) -> None:
    permissions = [{"permission_id": "x", "permission": "1"}]
    base = f"/agents/{agent}/processors"
    http.patch(f"/agents/{agent}/channels/pump/aggregate", json={})
    emu.state.create_channel(agent, "ui_state")
    emu.state.update_aggregate(emu.state.channel(agent, "ui_state"), {"state": {"on": True}})
    schedule = http.put(
        f"{base}/schedules/55", json={"app_key": "app_1", "permissions": permissions}
    ).json()
    assert schedule["id"] == "55"
    bearer = {"Authorization": f"Bearer {schedule['token']}"}
    assert httpx.get(f"{emu.url}/agents/{agent}/channels", headers=bearer).status_code == 200
    info = http.get("/processors/schedules/55").json()
    assert info["ui_state"] == {"state": {"on": True}}
    assert (info["agent_id"], info["app_key"], info["tag_values"]) == (str(agent), "app_1", {})
    assert info["organisation_id"] == str(emu.organisation_id)
    token = http.post(f"{base}/schedules/55/token").json()["token"]
    assert token != schedule["token"]
    assert http.post(f"{base}/schedules/56/token").status_code == 404
    assert http.put(f"{base}/schedules/55", json={"app_key": "a"}).status_code == 400
    subscription = {
        "subscription_arn": "arn:x",
        "app_key": "app_1",
        "permissions": permissions,
        "subscribed_to_agent": agent,
    }
    assert http.put(f"{base}/subscriptions/7", json=subscription).content == b""
    assert http.get("/processors/subscriptions/7").json()["app_key"] == "app_1"
    assert http.get("/processors/subscriptions/8").status_code == 404
    ingestion = {
        "lambda_arn": "arn:l",
        "cidr_ranges": ["0.0.0.0/0"],
        "throttle_limit": 10,
        "app_key": "a",
        "permissions": permissions,
        "never_replace_token": False,
        "mini_token": False,
    }
    first = http.put(f"{base}/ingestions/9", json=ingestion).json()
    kept = http.put(f"{base}/ingestions/9", json={**ingestion, "never_replace_token": True}).json()
    assert kept["token"] == first["token"]
    assert http.put(f"{base}/ingestions/9", json=ingestion).json()["token"] != first["token"]
    invoke = f"{base}/ingestions/9/invoke"
    assert (
        http.post(invoke, params={"wait": "false", "json_response": "false"}, json={"x": 1}).content
        == b""
    )
    echoed = http.post(
        invoke, params={"wait": "true", "json_response": "true"}, json={"x": 1}
    ).json()
    assert echoed == {"status_code": 200, "payload": {"x": 1}}
    raw = http.post(
        invoke, params={"wait": "true", "json_response": "false"}, content=b"abc"
    ).json()
    assert base64.b64decode(raw["payload"]) == b"abc"
    assert [i["payload"] for i in emu.state.ingestion_invocations] == [
        b'{"x":1}',
        b'{"x":1}',
        b"abc",
    ]
    assert http.delete(f"{base}/ingestions/9").content == b""
    assert http.post(invoke, params={"wait": "false"}).status_code == 404


def test_turn_credentials(http: httpx.Client) -> None:
    turn = http.post(
        "/turn/token", json={"role": "client", "camera_name": "cam1", "device_id": "12"}
    ).json()
    assert turn["username"].endswith(":cam1")
    assert turn["expires_at"] - time.time() == pytest.approx(turn["ttl"], abs=60)
    assert all(uri.startswith("turn:") for uri in turn["uris"])
    assert http.post("/turn/token", json={"role": "admin", "camera_name": "c"}).status_code == 400


def test_device_token_rotation_and_confirmation(emu: DooverEmulator) -> None:
    device = emu.state.add_agent("device")
    old = emu.issue_token(agent_id=device)

    def post(path: str, token: str) -> httpx.Response:
        return httpx.post(
            f"{emu.url}/agents/{device}/token/{path}", headers={"Authorization": f"Bearer {token}"}
        )

    rotated = post("rotate", old).json()
    new = rotated["token"]
    assert jwt.decode(new, options={"verify_signature": False})["sub"] == str(device)
    assert post("rotate", old).status_code == 200  # the old token still works
    confirmed = post("confirm", new).json()
    assert confirmed["tokens_valid_from"] >= rotated["issued_at_ms"]
    assert post("confirm", new).json() == confirmed  # idempotent
    assert post("rotate", old).status_code == 401  # retired
    assert post("rotate", emu.token).status_code == 403  # not the device's own token
    opted_out = emu.state.add_agent("locked", token_self_rotation=False)
    locked = emu.issue_token(agent_id=opted_out)
    response = httpx.post(
        f"{emu.url}/agents/{opted_out}/token/rotate", headers={"Authorization": f"Bearer {locked}"}
    )
    assert response.status_code == 403


# -- faults -------------------------------------------------------------------------------------


def test_faults_after_the_request_was_applied(
    emu: DooverEmulator, http: httpx.Client, agent: int
) -> None:
    url = f"/agents/{agent}/channels/pump/messages"
    emu.faults.fail(status=503, after=True, path=f"/api{url}")
    emu.faults.drop(after=True)
    assert http.post(url, json={"data": {"n": 1}}).status_code == 503
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(url, json={"data": {"n": 2}})
    assert [m["data"] for m in emu.state.messages(agent, "pump")] == [{"n": 1}, {"n": 2}]
    emu.faults.fail(status=500)  # before: nothing is stored
    assert http.post(url, json={"data": {"n": 3}}).status_code == 500
    assert len(emu.state.messages(agent, "pump")) == 2
    entries = emu.requests.entries()[-3:]
    assert [(e.status, e.fault) for e in entries] == [
        (503, FaultKind.FAIL),
        (200, FaultKind.DROP),
        (500, FaultKind.FAIL),
    ]
    assert [e.json() for e in entries] == [
        {"data": {"n": 1}},
        {"data": {"n": 2}},
        {"data": {"n": 3}},
    ]


def test_rate_limit_malformed_and_html_faults(
    emu: DooverEmulator, http: httpx.Client, agent: int
) -> None:
    url = f"/agents/{agent}/channels"
    emu.faults.rate_limit(retry_after=3)
    emu.faults.malformed(after=True)
    emu.faults.html(status=502)
    limited = http.get(url)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
    with pytest.raises(json.JSONDecodeError):
        http.get(url).json()
    assert http.get(url).status_code == 502
    assert http.get(url).status_code == 200


# -- async clients on asyncio and trio -----------------------------------------------------------


@pytest.mark.anyio
async def test_concurrent_async_creates_all_land_once(emu: DooverEmulator) -> None:
    agent = emu.default_agent_id
    emu.state.create_channel(agent, "pump")
    headers = {"Authorization": f"Bearer {emu.token}"}
    created: list[str] = []
    async with httpx.AsyncClient(base_url=emu.url, headers=headers) as http:

        async def create(n: int) -> None:
            response = await http.post(
                f"/agents/{agent}/channels/pump/messages", json={"data": {"n": n}}
            )
            created.append(response.json()["id"])

        async with anyio.create_task_group() as group:
            for n in range(40):
                group.start_soon(create, n)
        page = await http.get(f"/agents/{agent}/channels/pump/messages", params={"limit": 1000})
    assert len(set(created)) == 40
    assert sorted(int(m["id"]) for m in page.json()) == sorted(int(i) for i in created)
    assert sorted(m["data"]["n"] for m in page.json()) == list(range(40))


@pytest.mark.anyio
async def test_async_client_sees_faults(emu: DooverEmulator) -> None:
    emu.faults.drop()
    emu.faults.rate_limit(retry_after=2)
    headers = {"Authorization": f"Bearer {emu.token}"}
    url = f"/agents/{emu.default_agent_id}/channels"
    async with httpx.AsyncClient(base_url=emu.url, headers=headers) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(url)
        limited = await http.get(url)
        assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")
        assert (await http.get(url)).status_code == 200


@pytest.mark.anyio
async def test_large_pages_over_async(emu: DooverEmulator) -> None:
    agent = emu.default_agent_id
    emu.state.create_channel(agent, "bulk")
    created = emu.state.add_messages(agent, "bulk", ({"i": i} for i in range(2500)), first_ms=T0)
    headers = {"Authorization": f"Bearer {emu.token}"}
    seen: list[int] = []
    async with httpx.AsyncClient(base_url=emu.url, headers=headers) as http:
        params: dict[str, Any] = {"limit": 1000}
        while True:
            page = (await http.get(f"/agents/{agent}/channels/bulk/messages", params=params)).json()
            if not page:
                break
            seen += [int(m["id"]) for m in page]
            params["before"] = page[-1]["id"]
    assert seen == created[::-1]


# -- the pytest plugin and the command line -----------------------------------------------------


def test_plugin_function_fixture(doover_emulator: DooverEmulator) -> None:
    assert doover_emulator.running
    assert doover_emulator.state.messages(doover_emulator.default_agent_id, "notifications") == []


def test_plugin_session_fixture_is_reset(doover_emulator_session: DooverEmulator) -> None:
    emu = doover_emulator_session
    agent = emu.default_agent_id
    assert [c for c in emu.state.agent(agent).channels] == ["notifications"]
    assert (emu.faults.pending, len(emu.requests), emu.token_requests) == (0, 0, 0)
    emu.state.create_channel(agent, "scratch")  # gone again before the next test
    emu.faults.fail()
    assert httpx.get(f"{emu.url}/agents/{agent}/channels").status_code == 500


def test_plugin_session_fixture_is_reset_again(doover_emulator_session: DooverEmulator) -> None:
    test_plugin_session_fixture_is_reset(doover_emulator_session)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_command_line_serves_until_interrupted(stop_signal: signal.Signals) -> None:
    command = [sys.executable, "-m", "pydoover_anyio.emulator", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:"), url
        assert url.endswith("/api"), url
        fields = dict(process.stdout.readline().strip().split(": ", 1) for _ in range(7))
        assert set(fields) >= {
            "default agent",
            "token",
            "client id",
            "client secret",
            "refresh token",
        }
        headers = {"Authorization": f"Bearer {fields['token']}"}
        response = httpx.get(f"{url}/agents/{fields['default agent']}/channels", headers=headers)
        assert response.status_code == 200
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Stopped." in out
