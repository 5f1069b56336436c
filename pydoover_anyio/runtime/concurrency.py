"""Bounded concurrent work: a task group under a capacity limit, without ExceptionGroups.

Rules this module enforces: at most ``limit`` calls run at once; the first failure
cancels the others and is raised as itself (callers catch their own exception types,
not an ``ExceptionGroup``); cancellation of the caller cancels and joins every call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["gather_bounded", "pipeline"]

T = TypeVar("T")
W = TypeVar("W")


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


async def pipeline(
    plan: Callable[[int], Sequence[W]],
    run: Callable[[W], Awaitable[T]],
    feed: Callable[[W, T], None],
    *,
    limit: int,
    done: Callable[[], bool],
    limiter: anyio.CapacityLimiter | None = None,
) -> None:
    """Keep up to ``limit`` calls in flight, planning new work as results come in.

    Unlike waves of :func:`gather_bounded`, a finished call makes room at once, so a
    chain of dependent calls never waits for the slowest call of a batch.

    Args:
        plan: given the number of free slots, returns work items to start now.
        run: performs one work item.
        feed: receives each item's result, in completion order, before ``plan`` is
            asked again.
        limit: the most calls in flight for this pipeline.
        done: true once no more results are needed; calls still running are cancelled.
        limiter: an additional limit shared with other work (e.g. client-wide).

    Raises:
        Exception: the first exception a call raised; the other calls are cancelled.
    """
    send: MemoryObjectSendStream[tuple[W, T | None, Exception | None]]
    receive: MemoryObjectReceiveStream[tuple[W, T | None, Exception | None]]
    send, receive = anyio.create_memory_object_stream(limit)  # one slot per call: never blocks
    failure: Exception | None = None
    in_flight = 0

    async def work(item: W) -> None:
        try:
            if limiter is None:
                result = await run(item)
            else:
                async with limiter:
                    result = await run(item)
        except Exception as exc:  # noqa: BLE001 - handed to the host task, raised unwrapped
            send.send_nowait((item, None, exc))
        else:
            send.send_nowait((item, result, None))

    async with send, receive, anyio.create_task_group() as group:
        while True:
            if not done():
                for item in plan(limit - in_flight):
                    group.start_soon(work, item)
                    in_flight += 1
            if in_flight == 0:
                break
            item, result, error = await receive.receive()
            in_flight -= 1
            if error is not None:
                failure = error
                break
            feed(item, result)  # type: ignore[arg-type]
            if done():
                break
        group.cancel_scope.cancel()
    if failure is not None:
        raise failure
