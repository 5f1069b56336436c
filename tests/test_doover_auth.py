"""Auth strategies: expiry rules, token requests on the wire, one refresh at a time, failures."""

from __future__ import annotations

import base64
import logging
import math
import os
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

import anyio
import httpx
import pytest
from anyio import wait_all_tasks_blocked
from doover_auth_helpers import NOW, FakeClock, Reply, TokenServer, assert_no_secret, make_jwt
from fork_support import exit_code_in_fork

from pydoover_anyio.auth import (
    EXPIRY_BUFFER_SECONDS,
    ClientCredentialsAuth,
    RefreshTokenAuth,
    StaticTokenAuth,
)
from pydoover_anyio.auth._token import expiry_timestamp, jwt_expiry
from pydoover_anyio.errors import DooverAPIError, TokenRefreshError

CLIENT_ID = "svc-client-7"
CLIENT_SECRET = "s3cr3t-value-do-not-log"
REFRESH_TOKEN = "rt-original-0001"
AUTH_CLIENT_ID = "3f0c9a1e-0000-4000-8000-abcdefabcdef"

#: Valid JSON nested past msgspec's depth limit (decoding it raises RecursionError).
DEEP_JSON = b'{"extra":' + b"[" * 5000 + b"]" * 5000 + b',"access_token":"a"}'


def credentials_auth(
    server: TokenServer, clock: FakeClock, **kwargs: object
) -> ClientCredentialsAuth:
    return ClientCredentialsAuth(
        data_base_url="https://data.example.test/api/",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        http_client=server.client(),
        clock=clock,
        **kwargs,  # type: ignore[arg-type]
    )


def refresh_auth(server: TokenServer, clock: FakeClock, **kwargs: object) -> RefreshTokenAuth:
    options: dict[str, object] = {
        "refresh_token": REFRESH_TOKEN,
        "auth_server_url": "https://auth.example.test/",
        "auth_server_client_id": AUTH_CLIENT_ID,
    }
    options.update(kwargs)
    return RefreshTokenAuth(http_client=server.client(), clock=clock, **options)  # type: ignore[arg-type]


# --- expiry values --------------------------------------------------------------------


def test_token_expires_accepts_naive_aware_and_epoch_values() -> None:
    aware = datetime(2026, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    assert expiry_timestamp(datetime(2026, 1, 1)) == NOW  # naive means UTC
    assert expiry_timestamp(aware) == NOW
    assert expiry_timestamp(int(NOW)) == NOW
    assert expiry_timestamp(NOW + 0.5) == NOW + 0.5
    assert expiry_timestamp(None) is None


@pytest.mark.parametrize("value", ["1767225600", True, [NOW]])
def test_token_expires_of_another_type_is_a_type_error(value: object) -> None:
    with pytest.raises(TypeError, match="token_expires"):
        StaticTokenAuth(token="t", token_expires=value)  # type: ignore[arg-type]


def test_token_expires_nan_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="NaN"):
        expiry_timestamp(math.nan)


def test_jwt_exp_is_read_without_a_signature_check() -> None:
    forged = make_jwt(NOW + 60).rsplit(".", 1)[0] + ".c2lnbmF0dXJl"
    assert jwt_expiry(forged) == NOW + 60
    assert jwt_expiry(make_jwt(None, sub="user")) is None
    assert jwt_expiry(make_jwt("tomorrow")) is None
    assert jwt_expiry("opaque-token") is None


@pytest.mark.parametrize(
    ("exp", "seconds"),
    [
        (NOW + 60, NOW + 60),
        (str(NOW - 100), NOW - 100),
        ("inf", math.inf),
        (10**400, None),
        (True, None),
        ([1], None),
        ("NaN", None),
    ],
)
def test_jwt_exp_is_what_float_makes_of_it(exp: object, seconds: float | None) -> None:
    """spec §2.1: ``float(exp)``; what float refuses (or NaN) means no known expiry."""
    assert jwt_expiry(make_jwt(exp)) == seconds  # type: ignore[arg-type]


def test_a_jwt_with_an_expired_string_exp_is_refreshed_not_sent() -> None:
    auth = StaticTokenAuth(token=make_jwt(str(NOW - 100)))
    assert auth.token_expires == datetime.fromtimestamp(NOW - 100, UTC)


def test_tokens_that_are_not_jwts_have_no_expiry() -> None:
    for token in ("a.b", "a.!!!.c", "a.bnVsbA.c", "a." + "W10" + ".c"):  # bad base64, null, []
        assert jwt_expiry(token) is None


def test_explicit_expiry_wins_over_the_jwt_exp() -> None:
    token = make_jwt(NOW + 3600)
    assert StaticTokenAuth(token=token).token_expires == datetime.fromtimestamp(NOW + 3600, UTC)
    explicit = StaticTokenAuth(token=token, token_expires=NOW + 60)
    assert explicit.token_expires == datetime.fromtimestamp(NOW + 60, UTC)


def test_set_token_takes_the_new_tokens_jwt_expiry_and_empty_clears() -> None:
    auth = StaticTokenAuth(token="opaque", token_expires=NOW + 10)
    auth.set_token(make_jwt(NOW + 500))
    assert auth.token_expires == datetime.fromtimestamp(NOW + 500, UTC)
    auth.set_token("opaque-2")
    assert auth.token_expires is None
    assert auth.get_auth_headers() == {"Authorization": "Bearer opaque-2"}
    auth.set_token("")
    assert auth.token is None
    assert auth.get_auth_headers() == {}


# --- the 30 s buffer ------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(("seconds_left", "refreshes"), [(31.0, 0), (30.0, 1), (0.0, 1), (-5.0, 1)])
async def test_refresh_happens_within_30_seconds_of_expiry(
    seconds_left: float, refreshes: int
) -> None:
    assert EXPIRY_BUFFER_SECONDS == 30.0
    clock = FakeClock()
    server = TokenServer().reply_json(access_token="fresh", expires_in=3600)
    auth = credentials_auth(server, clock, token="old", token_expires=NOW + seconds_left)
    await auth.ensure_token()
    assert len(server.requests) == refreshes
    assert auth.token == ("fresh" if refreshes else "old")


@pytest.mark.anyio
async def test_opaque_token_without_expiry_never_expires() -> None:
    clock = FakeClock(now=NOW + 10 * 365 * 86400)
    auth = StaticTokenAuth(token="opaque", clock=clock)
    await auth.ensure_token()
    assert auth.get_auth_headers() == {"Authorization": "Bearer opaque"}


@pytest.mark.anyio
async def test_static_token_fails_once_expired_without_leaking_it() -> None:
    clock = FakeClock()
    token = make_jwt(NOW + 100)
    auth = StaticTokenAuth(token=token, clock=clock)
    await auth.ensure_token()
    clock.now = NOW + 71
    with pytest.raises(TokenRefreshError) as caught:
        await auth.ensure_token()
    assert isinstance(caught.value, DooverAPIError)
    assert_no_secret(str(caught.value), token)


@pytest.mark.anyio
async def test_static_without_token_fails_and_cannot_refresh_after_401() -> None:
    auth = StaticTokenAuth()
    with pytest.raises(TokenRefreshError, match="cannot get a new access token"):
        await auth.ensure_token()
    assert await auth.refresh_after_unauthorized(None) is False
    auth.set_token("rotated")
    assert await auth.refresh_after_unauthorized("old") is True


# --- client credentials on the wire ---------------------------------------------------


@pytest.mark.anyio
async def test_client_credentials_request_shape() -> None:
    clock = FakeClock()
    server = TokenServer().reply_json(access_token="opaque-access", expires_in=3600)
    auth = credentials_auth(server, clock)
    await auth.ensure_token()

    (request,) = server.requests
    assert request.method == "POST"
    assert str(request.url) == "https://data.example.test/api/oauth2/token"
    expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.content == b"grant_type=client_credentials&scope="
    assert auth.get_auth_headers() == {"Authorization": "Bearer opaque-access"}
    assert auth.token_expires == datetime.fromtimestamp(NOW + 3600, UTC)


@pytest.mark.anyio
async def test_expiry_is_the_earlier_of_jwt_exp_and_expires_in() -> None:
    clock = FakeClock()
    server = TokenServer().reply_json(access_token=make_jwt(NOW + 600), expires_in=3600)
    server.reply_json(access_token=make_jwt(NOW + 7200), expires_in=900)
    server.reply_json(access_token=make_jwt(NOW + 1200))
    auth = credentials_auth(server, clock)
    seen = []
    for _ in range(3):
        await auth.refresh_access_token()
        seen.append(auth.token_expires)
    assert seen == [datetime.fromtimestamp(NOW + s, UTC) for s in (600, 900, 1200)]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("client_id", "client_secret", "missing"),
    [
        (None, None, "client_id and client_secret"),
        (CLIENT_ID, None, "client_secret"),
        ("", "x", "client_id"),
    ],
)
async def test_client_credentials_missing_fail_before_any_request(
    client_id: str | None, client_secret: str | None, missing: str
) -> None:
    server = TokenServer().reply_json(access_token="never")
    auth = ClientCredentialsAuth(
        client_id=client_id, client_secret=client_secret, http_client=server.client()
    )
    with pytest.raises(TokenRefreshError, match=f"missing {missing}$"):
        await auth.ensure_token()
    assert server.requests == []
    assert await auth.refresh_after_unauthorized(None) is False


# --- refresh token on the wire --------------------------------------------------------


@pytest.mark.anyio
async def test_refresh_token_request_shape_and_rotation() -> None:
    clock = FakeClock()
    old = make_jwt(NOW - 10)
    server = TokenServer().reply_json(
        access_token="new-access", expires_in=600, refresh_token="rt-rotated-0002"
    )
    auth = refresh_auth(server, clock, token=old)
    await auth.ensure_token()

    (request,) = server.requests
    assert request.method == "POST"
    assert request.url.copy_with(query=None) == "https://auth.example.test/oauth2/token"
    assert parse_qsl(request.url.query.decode()) == [
        ("grant_type", "refresh_token"),
        ("access_token", old),
        ("refresh_token", REFRESH_TOKEN),
        ("client_id", AUTH_CLIENT_ID),
    ]
    assert request.content == b""
    assert auth.token == "new-access"
    assert auth.token_expires == datetime.fromtimestamp(NOW + 600, UTC)
    assert auth.refresh_token == "rt-rotated-0002"

    clock.now += 600
    await auth.ensure_token()
    assert dict(server.requests[1].url.params)["refresh_token"] == "rt-rotated-0002"


@pytest.mark.anyio
async def test_refresh_without_access_token_leaves_the_parameter_out() -> None:
    server = TokenServer().reply_json(access_token="a1")
    auth = refresh_auth(server, FakeClock())
    await auth.ensure_token()
    assert [key for key, _ in server.requests[0].url.params.multi_items()] == [
        "grant_type",
        "refresh_token",
        "client_id",
    ]
    assert auth.refresh_token == REFRESH_TOKEN  # no rotation offered, none applied


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("missing", "options"),
    [
        ("refresh_token", {"refresh_token": None}),
        ("auth_server_client_id", {"auth_server_client_id": None}),
    ],
)
async def test_refresh_token_incomplete_configuration(
    missing: str, options: dict[str, object]
) -> None:
    server = TokenServer().reply_json(access_token="never")
    auth = refresh_auth(server, FakeClock(), **options)
    with pytest.raises(TokenRefreshError, match=f"missing {missing}"):
        await auth.ensure_token()
    assert server.requests == []


# --- one refresh at a time ------------------------------------------------------------


@pytest.mark.anyio
async def test_fifty_concurrent_ensure_token_calls_refresh_once() -> None:
    clock = FakeClock()
    server = TokenServer(gate=anyio.Event()).reply_json(access_token="shared", expires_in=3600)
    auth = refresh_auth(server, clock, token=make_jwt(NOW - 1))
    headers: list[dict[str, str]] = []

    async def request() -> None:
        await auth.ensure_token()
        headers.append(auth.get_auth_headers())

    async with anyio.create_task_group() as group:
        for _ in range(50):
            group.start_soon(request)
        await wait_all_tasks_blocked()
        assert server.gate is not None
        server.gate.set()

    assert len(server.requests) == 1
    assert headers == [{"Authorization": "Bearer shared"}] * 50


@pytest.mark.anyio
async def test_burst_of_401s_for_the_same_token_refreshes_once() -> None:
    clock = FakeClock()
    server = TokenServer(gate=anyio.Event()).reply_json(access_token="second")
    server.reply_json(access_token="third")
    auth = refresh_auth(server, clock, token="first")
    answers: list[bool] = []

    async def on_401() -> None:
        answers.append(await auth.refresh_after_unauthorized("first"))

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(on_401)
        await wait_all_tasks_blocked()
        assert server.gate is not None
        server.gate.set()

    assert answers == [True] * 20
    assert len(server.requests) == 1
    assert auth.token == "second"
    assert await auth.refresh_after_unauthorized("first") is True  # already replaced
    assert len(server.requests) == 1
    assert await auth.refresh_after_unauthorized("second") is True  # the new one was refused
    assert (len(server.requests), auth.token) == (2, "third")


@pytest.mark.anyio
async def test_tasks_queued_behind_a_failed_refresh_share_its_failure() -> None:
    server = TokenServer(gate=anyio.Event()).reply_json(503, error="unavailable")
    auth = refresh_auth(server, FakeClock())
    failures: list[str] = []

    async def request() -> None:
        try:
            await auth.ensure_token()
        except TokenRefreshError as exc:
            failures.append(str(exc))

    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(request)
        await wait_all_tasks_blocked()
        assert server.gate is not None
        server.gate.set()

    assert len(server.requests) == 1
    assert len(failures) == 10
    assert all("HTTP 503" in message for message in failures)
    server.replies = [httpx.Response(200, json={"access_token": "later"})]
    await auth.ensure_token()  # a later call tries again
    assert (len(server.requests), auth.token) == (2, "later")


@pytest.mark.anyio
async def test_a_task_queued_behind_a_cancelled_token_request_tries_itself() -> None:
    # Client credentials: a cancelled request is abandoned (nothing on the server rotates).
    server = TokenServer().reply_json(503, error="down").reply_json(access_token="after")
    auth = credentials_auth(server, FakeClock())
    with pytest.raises(TokenRefreshError):
        await auth.ensure_token()  # leaves an earlier failure behind
    server.gate = anyio.Event()
    first = anyio.CancelScope()
    results: list[str | None] = []

    async def cancelled_caller() -> None:
        with first:
            await auth.ensure_token()

    async def queued_caller() -> None:
        await auth.ensure_token()
        results.append(auth.token)

    async with anyio.create_task_group() as group:
        group.start_soon(cancelled_caller)
        await wait_all_tasks_blocked()
        group.start_soon(queued_caller)
        await wait_all_tasks_blocked()
        first.cancel()
        await wait_all_tasks_blocked()
        server.gate.set()

    assert results == ["after"]
    assert len(server.requests) == 3


@pytest.mark.anyio
async def test_a_sent_refresh_outlives_its_cancelled_caller_and_keeps_the_rotated_token() -> None:
    # The server rotates the refresh token when it takes the request: dropping the
    # answer would leave only the retired one, and end the session.
    server = TokenServer().reply_json(access_token="fresh", refresh_token="rt-rotated")
    server.gate = anyio.Event()
    auth = refresh_auth(server, FakeClock())
    caller = anyio.CancelScope()
    waited: list[str | None] = []

    async def cancelled_caller() -> None:
        with caller:
            await auth.ensure_token()
        waited.append(auth.token)  # reached only after the shielded refresh ended

    async with anyio.create_task_group() as group:
        group.start_soon(cancelled_caller)
        await wait_all_tasks_blocked()
        caller.cancel()
        await wait_all_tasks_blocked()
        assert waited == []  # still waiting for the answer
        server.gate.set()

    assert waited == ["fresh"]
    assert (auth.token, auth.refresh_token) == ("fresh", "rt-rotated")
    await auth.ensure_token()  # a queued or later caller uses it: no second request
    assert len(server.requests) == 1


@pytest.mark.anyio
async def test_a_shielded_refresh_is_still_bounded_by_the_timeout() -> None:
    server = TokenServer().reply_json(access_token="never")
    server.gate = anyio.Event()  # never set: the server does not answer
    auth = refresh_auth(server, FakeClock(), timeout=0.2)
    with anyio.CancelScope() as caller:
        caller.cancel()
        started = anyio.current_time()
        with pytest.raises(TokenRefreshError, match=r"timed out after 0\.2 s"):
            await auth.ensure_token()
    assert anyio.current_time() - started < 5
    assert (auth.token, auth.refresh_token) == (None, REFRESH_TOKEN)


# --- failures -------------------------------------------------------------------------


def _echo(request: httpx.Request) -> httpx.Response:
    """A 400 whose body repeats everything the request carried, secrets included."""
    text = f"bad grant: {request.url} {request.headers.get('Authorization')} {request.content!r}"
    return httpx.Response(400, text=text)


def _failure_cases() -> list[object]:
    return [
        pytest.param(_echo, "HTTP 400", id="http-400-echoing-secrets"),
        pytest.param(httpx.Response(500, text="oops"), "HTTP 500", id="http-500"),
        pytest.param(httpx.ConnectError("connection refused"), "ConnectError", id="transport"),
        pytest.param(httpx.Response(200, text="<html>"), "malformed", id="not-json"),
        pytest.param(httpx.Response(200, json={"token": "x"}), "malformed", id="no-access-token"),
        pytest.param(httpx.Response(200, json={"access_token": 5}), "malformed", id="wrong-type"),
        pytest.param(httpx.Response(200, json={"access_token": ""}), "empty", id="empty-token"),
        pytest.param(httpx.Response(200, json=[1]), "malformed", id="json-array"),
        pytest.param(httpx.Response(200, content=DEEP_JSON), "malformed", id="nested-too-deep"),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(("reply", "expected"), _failure_cases())
@pytest.mark.parametrize("mode", ["client credentials", "refresh token"])
async def test_failures_raise_token_refresh_error_without_secrets(
    reply: Reply, expected: str, mode: str
) -> None:
    clock = FakeClock()
    server = TokenServer(replies=[reply])
    old = make_jwt(NOW - 1)
    if mode == "client credentials":
        auth: ClientCredentialsAuth | RefreshTokenAuth = credentials_auth(server, clock, token=old)
    else:
        auth = refresh_auth(server, clock, token=old)
    with pytest.raises(TokenRefreshError) as caught:
        await auth.ensure_token()
    message = str(caught.value)
    assert expected in message
    assert "oauth2/token" in message
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert_no_secret(message, old, REFRESH_TOKEN, CLIENT_SECRET, basic)
    assert auth.token == old  # a failed refresh keeps what it had
    if isinstance(auth, RefreshTokenAuth):
        assert auth.refresh_token == REFRESH_TOKEN  # ... and never wipes the session


@pytest.mark.anyio
async def test_a_token_request_that_hangs_times_out() -> None:
    async def never(request: httpx.Request) -> httpx.Response:
        await anyio.sleep_forever()
        raise AssertionError

    http = httpx.AsyncClient(transport=httpx.MockTransport(never))
    auth = RefreshTokenAuth(
        refresh_token=REFRESH_TOKEN, auth_server_client_id="c", timeout=0.05, http_client=http
    )
    with pytest.raises(TokenRefreshError, match=r"timed out after 0\.05 s"):
        await auth.ensure_token()


@pytest.mark.anyio
async def test_unreachable_token_endpoint_with_the_owned_client() -> None:
    auth = ClientCredentialsAuth(
        data_base_url="http://127.0.0.1:1/api", client_id="i", client_secret=CLIENT_SECRET
    )
    async with auth:
        with pytest.raises(TokenRefreshError, match="token request failed") as caught:
            await auth.ensure_token()
    assert isinstance(caught.value.__cause__, httpx.TransportError)
    assert_no_secret(str(caught.value), CLIENT_SECRET)


# --- the HTTP client ------------------------------------------------------------------


@pytest.mark.anyio
async def test_each_token_request_opens_and_closes_its_own_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = TokenServer().reply_json(access_token="a")
    real_client = httpx.AsyncClient
    created: list[tuple[httpx.AsyncClient, object]] = []

    def factory(**kwargs: object) -> httpx.AsyncClient:
        client = real_client(transport=httpx.MockTransport(server.handle), **kwargs)  # type: ignore[arg-type]
        created.append((client, kwargs.get("timeout")))
        return client

    monkeypatch.setattr(httpx, "AsyncClient", factory)
    auth = ClientCredentialsAuth(client_id="i", client_secret="s", timeout=7.5)
    assert created == []
    await auth.refresh_access_token()
    await auth.refresh_access_token()
    assert [timeout for _, timeout in created] == [7.5, 7.5]
    assert all(client.is_closed for client, _ in created)
    assert server.requests[0].extensions["timeout"]["read"] == 7.5
    await auth.aclose()  # nothing held, and still usable afterwards
    await auth.refresh_access_token()
    assert len(created) == 3


@pytest.mark.anyio
async def test_caller_owned_client_stays_open() -> None:
    server = TokenServer().reply_json(access_token="a")
    http = server.client()
    auth = ClientCredentialsAuth(client_id="i", client_secret="s", http_client=http, timeout=3.0)
    await auth.ensure_token()
    assert server.requests[0].extensions["timeout"]["connect"] == 3.0
    await auth.aclose()
    assert not http.is_closed
    await http.aclose()


# --- secrets stay out of logs and reprs -----------------------------------------------


@pytest.mark.anyio
async def test_token_requests_log_no_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    old = make_jwt(NOW - 1)
    server = TokenServer().reply_json(access_token="new-access-secret", refresh_token="rt-new")
    auth = refresh_auth(server, FakeClock(), token=old)
    await auth.ensure_token()
    httpx_records = [r for r in caplog.records if r.name == "httpx"]
    assert httpx_records, "httpx logs each request"
    assert "REDACTED" in httpx_records[0].getMessage()
    assert "oauth2/token" in caplog.text
    assert_no_secret(caplog.text, old, REFRESH_TOKEN, "new-access-secret", "rt-new")


def test_repr_hides_every_secret() -> None:
    token = make_jwt(NOW + 60)
    objects = [
        StaticTokenAuth(token=token),
        ClientCredentialsAuth(token=token, client_id=CLIENT_ID, client_secret=CLIENT_SECRET),
        RefreshTokenAuth(token=token, refresh_token=REFRESH_TOKEN, auth_server_client_id="c"),
    ]
    for auth in objects:
        text = repr(auth)
        assert text.startswith(type(auth).__name__ + "(")
        assert "token=<set>" in text
        assert_no_secret(text, token, CLIENT_SECRET, REFRESH_TOKEN)
    assert f"client_id={CLIENT_ID!r}" in repr(objects[1])


# --- the refresh lock -----------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_child_forked_during_a_refresh_gets_a_free_lock() -> None:
    from pydoover_anyio.auth._lock import RefreshLock

    lock = RefreshLock()
    assert lock._shared.acquire()  # as if a refresh were running at fork time
    try:  # the child: only a non-blocking check, nothing that may need a lock
        assert exit_code_in_fork(lambda: 0 if lock._shared.acquire(blocking=False) else 1) == 0
    finally:
        lock._shared.release()


@pytest.mark.anyio
async def test_the_refresh_lock_excludes_across_event_loops() -> None:
    from pydoover_anyio.auth._lock import RefreshLock

    lock = RefreshLock()
    inside: list[str] = []

    async def hold(name: str) -> None:
        async with lock.hold():
            inside.append(f"{name} in")
            await anyio.sleep(0.05)
            inside.append(f"{name} out")

    def other_loop() -> None:
        anyio.run(hold, "thread")

    async with anyio.create_task_group() as group:
        group.start_soon(anyio.to_thread.run_sync, other_loop)
        group.start_soon(hold, "here")
    assert inside in (
        ["here in", "here out", "thread in", "thread out"],
        ["thread in", "thread out", "here in", "here out"],
    )


@pytest.mark.anyio
async def test_a_wrapped_auth_shared_across_event_loops_refreshes_once() -> None:
    from pydoover_anyio.auth._foreign import ForeignAuth

    class PydooverStyleAuth:  # only pydoover's members, plus its refresh coroutine
        def __init__(self) -> None:
            self.token = "old"
            self.refreshes = 0

        def set_token(self, token: str | None) -> None:
            self.token = token or ""

        def get_auth_headers(self) -> dict[str, str]:
            return {"Authorization": f"Bearer {self.token}"}

        async def ensure_token(self) -> None:
            pass

        async def refresh_access_token(self) -> None:
            await anyio.sleep(0.05)  # long enough for the other loop to queue up
            self.refreshes += 1
            self.token = f"new-{self.refreshes}"

    inner = PydooverStyleAuth()
    auth = ForeignAuth(inner)
    answers: list[bool] = []

    async def rejected() -> None:
        answers.append(await auth.refresh_after_unauthorized("old"))

    def other_loop() -> None:
        anyio.run(rejected, backend="asyncio")

    with anyio.fail_after(10):  # a plain anyio.Lock here hung: its waiter was on the other loop
        async with anyio.create_task_group() as group:
            group.start_soon(anyio.to_thread.run_sync, other_loop)
            group.start_soon(rejected)
    assert answers == [True, True]
    assert inner.refreshes == 1  # the second caller saw the new token


@pytest.mark.anyio
async def test_a_wrapped_auths_ensure_token_refreshes_once_per_burst() -> None:
    """pydoover's ``ensure_token`` takes no lock: the adapter must, or each of N
    concurrent calls without a token makes its own token request."""
    from pydoover_anyio.auth._foreign import ForeignAuth

    class NoTokenYet:  # pydoover's ensure_token: refresh when there is no token
        def __init__(self) -> None:
            self.token: str | None = None
            self.refreshes = 0

        def set_token(self, token: str | None) -> None:
            self.token = token

        def get_auth_headers(self) -> dict[str, str]:
            return {"Authorization": f"Bearer {self.token}"}

        async def ensure_token(self) -> None:
            if not self.token:
                self.refreshes += 1
                await anyio.sleep(0.05)  # the token request
                self.token = f"token-{self.refreshes}"

    inner = NoTokenYet()
    auth = ForeignAuth(inner)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(auth.ensure_token)
    assert inner.refreshes == 1
    assert auth.token == "token-1"


@pytest.mark.anyio
async def test_expires_in_sent_as_text_is_read() -> None:
    # pydoover read it with float(); some OAuth servers send it as a string.
    clock = FakeClock()
    server = TokenServer().reply_json(access_token="opaque-access", expires_in="3600")
    auth = credentials_auth(server, clock)
    await auth.ensure_token()
    assert auth.token == "opaque-access"
    assert auth.token_expires == datetime.fromtimestamp(NOW + 3600, UTC)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reply", "transient"),
    [
        (httpx.ConnectError("refused"), True),  # never reached the server
        (httpx.Response(503, json={"error": "busy"}), True),
        (httpx.Response(429, json={"error": "slow down"}), True),
        (httpx.ReadTimeout("no answer"), False),  # the refresh may have been carried out
        (httpx.Response(401, json={"error": "invalid_client"}), False),
    ],
)
async def test_a_failed_token_request_says_whether_trying_again_is_safe(
    reply: Any, transient: bool
) -> None:
    server = TokenServer(replies=[reply])
    auth = credentials_auth(server, FakeClock())
    with pytest.raises(TokenRefreshError) as caught:
        await auth.ensure_token()
    assert caught.value.transient is transient
