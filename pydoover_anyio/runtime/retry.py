"""The retry policy: I/O-free decisions, and a tenacity driver that sleeps with anyio.

Rules this module enforces (DESIGN.md rule 8):

* Retried: connection failures, timeouts, 408, 429 and 5xx, with capped exponential
  backoff and full jitter; ``Retry-After`` / ``Retry-After-Ms`` (seconds or an HTTP date)
  is honoured, and a server asking for more than ``max_retry_after`` is not retried.
* A request that is not safe to repeat (a create without a client-chosen id) is only
  re-sent when it provably never reached the server: a failed connect, or a 429.
* Cancellation is never retried: only ``Exception`` subclasses are looked at.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
import httpx
import tenacity

from ._attempt_progress import NOT_SENT_ERRORS

__all__ = ["RetryPolicy", "parse_retry_after", "retry_async"]

T = TypeVar("T")

#: Statuses worth another attempt: the server was busy, overloaded or briefly broken.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The delay a server asked for, in seconds, or ``None`` if it asked for none.

    Reads ``Retry-After-Ms`` first, then ``Retry-After`` as seconds or as an HTTP date.
    """
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, OverflowError, OSError):  # not a date, or none a clock has
        return None
    current = time.time() if now is None else now
    return max(0.0, when - current)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try a request again, and how long to wait first.

    Args:
        max_retries: attempts after the first one (0 disables retries).
        backoff_base: the first backoff ceiling in seconds; it doubles per attempt.
        backoff_max: the largest backoff ceiling in seconds.
        max_retry_after: the longest server-requested wait honoured; a longer
            ``Retry-After`` ends the retries instead of stalling the caller.
        statuses: the response statuses that are retried.
    """

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    max_retry_after: float = 60.0
    statuses: frozenset[int] = field(default=RETRYABLE_STATUSES)
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def should_retry_response(
        self, attempt: int, response: httpx.Response, *, idempotent: bool
    ) -> bool:
        """Whether the ``attempt``-th (1-based) response should be retried."""
        if attempt > self.max_retries or response.status_code not in self.statuses:
            return False
        if not idempotent and response.status_code != 429:
            return False
        delay = parse_retry_after(response.headers)
        return delay is None or delay <= self.max_retry_after

    def should_retry_error(self, attempt: int, error: BaseException, *, idempotent: bool) -> bool:
        """Whether the ``attempt``-th (1-based) transport failure should be retried."""
        if attempt > self.max_retries or not isinstance(error, httpx.TransportError):
            return False
        if isinstance(error, NOT_SENT_ERRORS):
            return True
        return idempotent and isinstance(
            error, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError
        )

    def delay(self, attempt: int, response: httpx.Response | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: ``Retry-After`` or backoff."""
        if response is not None:
            requested = parse_retry_after(response.headers)
            if requested is not None:
                return requested
        ceiling: float = min(self.backoff_max, self.backoff_base * 2.0 ** (attempt - 1))
        return ceiling * self.random()


async def retry_async(
    policy: RetryPolicy,
    attempt: Callable[[], Awaitable[httpx.Response]],
    *,
    idempotent: bool,
    on_retry: Callable[[int, float, httpx.Response | BaseException], None] | None = None,
) -> httpx.Response:
    """Run ``attempt`` until it gives a final response, retrying as ``policy`` says.

    The first attempt runs bare: tenacity's machinery is only set up once an outcome is
    worth retrying (most calls succeed at once, and its setup costs as much as a small
    request's parsing). The decisions are the same either way.

    Returns:
        The last response (which may still be an error status once retries run out).

    Raises:
        Exception: the last transport error once retries run out or it is not retryable.
    """
    reason: httpx.Response | BaseException
    try:
        first = await attempt()
    except Exception as exc:  # cancellation (a BaseException) is never looked at
        if not policy.should_retry_error(1, exc, idempotent=idempotent):
            raise
        reason, wait_s = exc, policy.delay(1)
    else:
        if not policy.should_retry_response(1, first, idempotent=idempotent):
            return first
        reason, wait_s = first, policy.delay(1, first)
    if on_retry is not None:
        on_retry(1, wait_s, reason)
    await anyio.sleep(wait_s)
    return await _retry_with_tenacity(policy, attempt, idempotent=idempotent, on_retry=on_retry)


async def _retry_with_tenacity(
    policy: RetryPolicy,
    attempt: Callable[[], Awaitable[httpx.Response]],
    *,
    idempotent: bool,
    on_retry: Callable[[int, float, httpx.Response | BaseException], None] | None,
) -> httpx.Response:
    """Attempts 2, 3, ... (tenacity counts from 1: its attempt ``n`` is our ``n + 1``)."""

    def retry_outcome(state: tenacity.RetryCallState) -> bool:
        outcome = state.outcome
        assert outcome is not None
        number = state.attempt_number + 1
        if outcome.failed:
            error = outcome.exception()
            return isinstance(error, Exception) and policy.should_retry_error(
                number, error, idempotent=idempotent
            )
        response: httpx.Response = outcome.result()
        return policy.should_retry_response(number, response, idempotent=idempotent)

    def wait(state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        assert outcome is not None
        response = None if outcome.failed else outcome.result()
        return policy.delay(state.attempt_number + 1, response)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        outcome = state.outcome
        assert outcome is not None
        assert state.next_action is not None
        if on_retry is not None:
            reason = outcome.exception() if outcome.failed else outcome.result()
            assert reason is not None
            on_retry(state.attempt_number + 1, state.next_action.sleep, reason)

    retrying = tenacity.AsyncRetrying(
        sleep=anyio.sleep,
        retry=retry_outcome,
        wait=wait,
        stop=tenacity.stop_never,  # the predicates count attempts themselves
        before_sleep=before_sleep,
    )

    async def run_attempt() -> httpx.Response:  # tenacity needs a coroutine function
        return await attempt()

    response: httpx.Response = await retrying(run_attempt)
    return response
