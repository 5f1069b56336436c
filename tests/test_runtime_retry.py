"""The retry policy's decisions (I/O-free) and its tenacity driver on both backends."""

from __future__ import annotations

import email.utils

import anyio
import httpx
import pytest

from pydoover_anyio.runtime import RetryPolicy, parse_retry_after
from pydoover_anyio.runtime.retry import retry_async

REQUEST = httpx.Request("GET", "https://example.test/x")


def response(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=REQUEST)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "soon"}, None),
        # Dates no clock holds: not a wait the server asked for (was an OverflowError).
        ({"retry-after": "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"}, None),
        ({"retry-after": "Mon, 01 Jan 2024 99999999999999:00:00 GMT"}, None),
        ({"retry-after": "Mon, 01 Jan 2024 00:00:00 +99999999999999"}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(httpx.Headers(headers)) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(httpx.Headers({"retry-after": header}), now=now) == 30.0


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_while_attempts_remain(status: int) -> None:
    policy = RetryPolicy(max_retries=2)
    assert policy.should_retry_response(1, response(status), idempotent=True)
    assert policy.should_retry_response(2, response(status), idempotent=True)
    assert not policy.should_retry_response(3, response(status), idempotent=True)


@pytest.mark.parametrize("status", [200, 204, 400, 401, 403, 404, 409, 422])
def test_other_statuses_are_final(status: int) -> None:
    assert not RetryPolicy().should_retry_response(1, response(status), idempotent=True)


def test_non_idempotent_requests_are_only_retried_when_nothing_was_processed() -> None:
    policy = RetryPolicy()
    assert policy.should_retry_response(1, response(429), idempotent=False)
    assert not policy.should_retry_response(1, response(503), idempotent=False)
    assert policy.should_retry_error(1, httpx.ConnectError("refused"), idempotent=False)
    assert not policy.should_retry_error(1, httpx.ReadError("reset"), idempotent=False)
    assert not policy.should_retry_error(1, httpx.ReadTimeout("slow"), idempotent=False)
    assert policy.should_retry_error(1, httpx.ReadTimeout("slow"), idempotent=True)
    assert policy.should_retry_error(1, httpx.RemoteProtocolError("eof"), idempotent=True)


def test_errors_that_are_not_transport_failures_are_never_retried() -> None:
    policy = RetryPolicy()
    assert not policy.should_retry_error(1, ValueError("bug"), idempotent=True)
    assert not policy.should_retry_error(1, KeyboardInterrupt(), idempotent=True)


def test_a_too_long_retry_after_ends_the_retries() -> None:
    policy = RetryPolicy(max_retry_after=10)
    assert policy.should_retry_response(1, response(429, **{"retry-after": "10"}), idempotent=True)
    assert not policy.should_retry_response(
        1, response(429, **{"retry-after": "11"}), idempotent=True
    )


def test_backoff_is_capped_exponential_with_full_jitter() -> None:
    top = RetryPolicy(backoff_base=0.5, backoff_max=8, random=lambda: 0.999999)
    assert [round(top.delay(n), 3) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    bottom = RetryPolicy(random=lambda: 0.0)
    assert bottom.delay(3) == 0.0
    assert top.delay(1, response(503, **{"retry-after": "2"})) == 2.0


@pytest.mark.anyio
async def test_retry_async_retries_until_success() -> None:
    answers = [response(503), response(429, **{"retry-after": "0"}), response(200)]
    attempts = 0
    retries: list[int] = []

    async def attempt() -> httpx.Response:
        nonlocal attempts
        attempts += 1
        return answers[attempts - 1]

    policy = RetryPolicy(backoff_base=0.001)
    result = await retry_async(
        policy, attempt, idempotent=True, on_retry=lambda n, wait, why: retries.append(n)
    )
    assert result.status_code == 200
    assert attempts == 3
    assert retries == [1, 2]


@pytest.mark.anyio
async def test_retry_async_returns_the_last_response_when_attempts_run_out() -> None:
    attempts = 0

    async def attempt() -> httpx.Response:
        nonlocal attempts
        attempts += 1
        return response(500)

    result = await retry_async(
        RetryPolicy(max_retries=2, backoff_base=0.001), attempt, idempotent=True
    )
    assert result.status_code == 500
    assert attempts == 3


@pytest.mark.anyio
async def test_retry_async_reraises_the_last_transport_error() -> None:
    attempts = 0

    async def attempt() -> httpx.Response:
        nonlocal attempts
        attempts += 1
        raise httpx.ConnectError("refused")

    with pytest.raises(httpx.ConnectError):
        await retry_async(RetryPolicy(max_retries=1, backoff_base=0.001), attempt, idempotent=True)
    assert attempts == 2


@pytest.mark.anyio
async def test_cancellation_is_never_retried() -> None:
    attempts = 0

    async def attempt() -> httpx.Response:
        nonlocal attempts
        attempts += 1
        await anyio.sleep(10)
        raise AssertionError("unreachable")

    with anyio.move_on_after(0.05) as scope:
        await retry_async(RetryPolicy(max_retries=5), attempt, idempotent=True)
    assert scope.cancelled_caught
    assert attempts == 1


@pytest.mark.anyio
async def test_cancellation_during_the_backoff_sleep_stops_at_once() -> None:
    attempts = 0

    async def attempt() -> httpx.Response:
        nonlocal attempts
        attempts += 1
        return response(503, **{"retry-after": "30"})

    with anyio.move_on_after(0.05) as scope:
        await retry_async(RetryPolicy(max_retries=5), attempt, idempotent=True)
    assert scope.cancelled_caught
    assert attempts == 1


@pytest.mark.anyio
async def test_a_first_attempt_that_succeeds_never_builds_tenacity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tenacity

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tenacity was set up for a call that needed no retry")

    async def attempt() -> httpx.Response:
        return response(200)

    monkeypatch.setattr(tenacity, "AsyncRetrying", refuse)
    result = await retry_async(RetryPolicy(), attempt, idempotent=True)
    assert result.status_code == 200


@pytest.mark.anyio
async def test_retry_numbering_is_the_same_across_the_bare_first_attempt() -> None:
    statuses = iter([503, 503, 429, 200])
    logged: list[tuple[int, str]] = []

    async def attempt() -> httpx.Response:
        return response(next(statuses))

    def on_retry(number: int, wait: float, reason: object) -> None:
        assert isinstance(reason, httpx.Response)
        logged.append((number, str(reason.status_code)))

    policy = RetryPolicy(max_retries=3, backoff_base=0.001)
    result = await retry_async(policy, attempt, idempotent=True, on_retry=on_retry)
    assert result.status_code == 200
    assert logged == [(1, "503"), (2, "503"), (3, "429")]
