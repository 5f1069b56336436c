"""Bounded concurrent work: a task group under a capacity limit, without ExceptionGroups.

Rules this module enforces: at most ``limit`` calls run at once; the first failure
cancels the others and is raised as itself (callers catch their own exception types,
not an ``ExceptionGroup``); cancellation of the caller cancels and joins every call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import anyio

__all__ = ["gather_bounded"]

T = TypeVar("T")


async def gather_bounded(
    calls: Sequence[Callable[[], Awaitable[T]]], limit: int | anyio.CapacityLimiter
) -> list[T]:
    """Run ``calls`` concurrently, at most ``limit`` at a time.

    Args:
        calls: zero-argument async callables.
        limit: the most calls in flight, or a limiter shared with other work.

    Returns:
        Each call's result, in the order of ``calls``.

    Raises:
        Exception: the first exception a call raised; the other calls are cancelled.
    """
    limiter = limit if isinstance(limit, anyio.CapacityLimiter) else anyio.CapacityLimiter(limit)
    results: list[T | None] = [None] * len(calls)
    failures: list[Exception] = []

    async with anyio.create_task_group() as group:

        async def run(index: int, call: Callable[[], Awaitable[T]]) -> None:
            async with limiter:
                try:
                    results[index] = await call()
                except Exception as exc:  # noqa: BLE001 - re-raised below, unwrapped
                    failures.append(exc)
                    group.cancel_scope.cancel()

        for index, call in enumerate(calls):
            group.start_soon(run, index, call)

    if failures:
        raise failures[0]
    return results  # type: ignore[return-value]
