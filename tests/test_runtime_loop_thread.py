"""The loop thread's call bridge, and on asyncio the loop lent to callers while idle.

Sync tests driven from plain threads; each runs on both backends where the behaviour is
shared, and on asyncio alone where it is about lending the loop.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from types import SimpleNamespace
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest
from fork_support import exit_code_in_fork

from pydoover_anyio.runtime import _socket
from pydoover_anyio.runtime._backend import loop_thread
from pydoover_anyio.runtime._backend.loop_thread import Backend, LoopThread, LoopThreadClosedError


@pytest.fixture
def asyncio_loop() -> Iterator[LoopThread]:
    loop = LoopThread("asyncio", name="lending-test")
    yield loop
    loop.close()


@pytest.fixture(params=["asyncio", "trio"])
def any_loop(request: pytest.FixtureRequest) -> Iterator[LoopThread]:
    backend: Backend = request.param
    loop = LoopThread(backend, name="lending-test")
    yield loop
    loop.close()


async def where() -> int:
    await anyio.lowlevel.checkpoint()
    return threading.get_ident()


def eventually(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


def test_an_idle_asyncio_loop_runs_the_call_on_the_callers_thread(any_loop: LoopThread) -> None:
    ran_on = any_loop.call(where)
    if any_loop.backend == "asyncio":
        assert ran_on == threading.get_ident()
    else:  # trio's loop cannot be lent: every call goes through the loop thread
        assert ran_on == any_loop.thread.ident


def test_background_work_started_by_a_call_keeps_running_on_the_loop_thread(
    asyncio_loop: LoopThread,
) -> None:
    finished = threading.Event()
    seen: list[int] = []

    async def background() -> None:
        await anyio.sleep(0.05)
        seen.append(threading.get_ident())
        finished.set()

    async def start() -> None:
        asyncio_loop.spawn(background)

    asyncio_loop.call(start)  # returns at once; the sleep is left to the loop thread
    assert finished.wait(5)
    assert seen == [asyncio_loop.thread.ident]


def test_a_kept_alive_socket_nobody_waits_on_leaves_the_loop_lendable(
    asyncio_loop: LoopThread,
) -> None:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    stream = _socket.SocketStream(ours)

    async def give_up_waiting() -> None:
        with anyio.move_on_after(0.01):
            await stream.receive()  # waits: registered; then cancelled: quiet

    async def watched_and_where() -> tuple[bool, int]:
        selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
        return ours.fileno() in selector.get_map(), threading.get_ident()

    try:
        asyncio_loop.call(give_up_waiting)
        # Still registered with the selector (no waiter), yet the loop is idle: lent.
        assert asyncio_loop.call(watched_and_where) == (True, threading.get_ident())
        theirs.send(b"unread")  # an event nobody waits for: handled, then unwatched
        assert eventually(lambda: asyncio_loop.call(watched_and_where)[0] is False)
    finally:
        asyncio_loop.call(stream.aclose)
        theirs.close()


def test_calls_go_through_the_loop_thread_while_background_work_runs(
    asyncio_loop: LoopThread,
) -> None:
    stop = anyio.Event()

    async def heartbeat() -> None:  # a timer always pending: background work
        with anyio.move_on_after(30):
            while not stop.is_set():  # noqa: ASYNC110 - the periodic timer is the point
                await anyio.sleep(0.01)

    async def start() -> None:
        asyncio_loop.spawn(heartbeat)

    async def finish() -> None:
        stop.set()

    asyncio_loop.call(start)
    assert asyncio_loop.call(where) == asyncio_loop.thread.ident
    asyncio_loop.call(finish)
    # Once the heartbeat is over the loop parks, and calls run on this thread again.
    assert eventually(lambda: asyncio_loop.call(where) == threading.get_ident())


def test_work_scheduled_from_another_thread_wakes_a_parked_loop(any_loop: LoopThread) -> None:
    assert any_loop.call(where)  # the loop is idle (parked on asyncio)
    ran = threading.Event()
    scheduler = threading.Thread(target=any_loop.run_soon, args=(ran.set,))
    scheduler.start()
    scheduler.join()
    assert ran.wait(5)


def test_many_threads_mixing_short_and_waiting_calls(any_loop: LoopThread) -> None:
    results: dict[int, list[int]] = {}

    async def echo(value: int) -> int:
        if value % 3 == 0:
            await anyio.sleep(0.001)
        else:
            await anyio.lowlevel.checkpoint()
        return value

    def worker(index: int) -> None:
        results[index] = [any_loop.call(echo, index * 1000 + i) for i in range(150)]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(not t.is_alive() for t in threads)
    assert results == {i: [i * 1000 + k for k in range(150)] for i in range(8)}
    assert any_loop.call(where)  # still usable afterwards


def test_worker_thread_results_reach_a_call_on_the_callers_thread(any_loop: LoopThread) -> None:
    async def via_threads() -> tuple[int, bool]:
        slept = await anyio.to_thread.run_sync(time.sleep, 0.01)  # anyio's worker threads
        infos = await anyio.getaddrinfo("localhost", 80)  # asyncio: the loop's executor
        return threading.get_ident(), slept is None and bool(infos)

    ran_on, ok = any_loop.call(via_threads)
    assert ok
    here = any_loop.backend == "asyncio"
    assert ran_on == (threading.get_ident() if here else any_loop.thread.ident)
    # Again, while the first call's worker thread winds down (the stopping worker may
    # still hand the loop a callback, so these may run on either thread).
    assert all(any_loop.call(via_threads)[1] for _ in range(3))


def test_a_caller_running_its_own_asyncio_loop_uses_the_loop_thread(
    asyncio_loop: LoopThread,
) -> None:
    async def outer() -> int:
        return asyncio_loop.call(where)  # blocking on purpose, from inside another loop

    assert asyncio.run(outer()) == asyncio_loop.thread.ident


def test_a_call_from_inside_anyio_run_is_not_taken_for_its_library(any_loop: LoopThread) -> None:
    """``anyio.run`` marks its tasks' context with the library it runs; the call's task
    must not inherit that mark, or anyio inside it would dispatch to the wrong library."""

    async def sleeps() -> str:
        await anyio.sleep(0.001)
        return anyio.get_current_task().name or "task"

    async def outer() -> str:
        return any_loop.call(sleeps)  # blocking on purpose, from inside another loop

    for backend in ("trio", "asyncio"):
        assert anyio.run(outer, backend=backend)


def test_a_thread_running_trio_is_not_lent_the_asyncio_loop(asyncio_loop: LoopThread) -> None:
    """Off the main thread no SIGINT rule applies, but trio running there still makes the
    thread unfit to run the asyncio loop (anyio would take the call's task for trio's)."""
    import trio

    async def sleeps() -> int:
        await anyio.sleep(0.001)
        return threading.get_ident()

    ran_on: list[int] = []

    async def in_trio() -> None:
        ran_on.append(asyncio_loop.call(sleeps))

    worker = threading.Thread(target=trio.run, args=(in_trio,))
    worker.start()
    worker.join(10)
    assert ran_on == [asyncio_loop.thread.ident]


def test_a_ctrl_c_just_after_a_lent_call_ended_leaves_later_calls_alone() -> None:
    """The SIGINT handler's grace timer is scheduled from the signal; landing after the
    lent run ended, it must not stop the loop under a later call (which would then park
    the loop with that call in flight: a hang)."""
    lender = LoopThread("asyncio", name="lending-test", cancel_grace=0.3)
    loop = lender._loop
    assert loop is not None
    run_forever = loop.run_forever
    interrupted = threading.Event()

    def run_then_ctrl_c() -> None:
        run_forever()
        if threading.current_thread() is threading.main_thread() and not interrupted.is_set():
            interrupted.set()
            signal.raise_signal(signal.SIGINT)  # just after the call's run stopped

    async def quick() -> int:
        return 1

    async def outlives_the_grace() -> str:
        await anyio.sleep(1.0)
        return "done"

    loop.run_forever = run_then_ctrl_c  # type: ignore[method-assign]
    try:
        with pytest.raises(KeyboardInterrupt):
            lender.call(quick)
    finally:
        loop.run_forever = run_forever  # type: ignore[method-assign]
    results: list[str] = []
    caller = threading.Thread(target=lambda: results.append(lender.call(outlives_the_grace)))
    caller.start()
    caller.join(5)
    try:
        assert results == ["done"]
    finally:
        lender.run_soon(lambda: None)  # a parked loop would leave the caller stuck
        caller.join(5)
        lender.close()


def test_a_call_on_the_callers_thread_cannot_call_back_in(asyncio_loop: LoopThread) -> None:
    async def reenter() -> str:
        try:
            asyncio_loop.call(where)
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    assert "event-loop thread" in asyncio_loop.call(reenter)


def test_close_from_another_thread_ends_a_call_running_on_the_callers_thread() -> None:
    loop = LoopThread("asyncio", name="lending-test")
    outcome: list[BaseException] = []
    started = threading.Event()

    async def long_call() -> None:
        started.set()
        await anyio.sleep(30)

    def caller() -> None:
        try:
            loop.call(long_call)
        except BaseException as exc:  # noqa: BLE001 - checked below
            outcome.append(exc)

    thread = threading.Thread(target=caller)
    thread.start()
    assert started.wait(5)
    began = time.monotonic()
    loop.close()
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - began < 5
    assert len(outcome) == 1
    assert isinstance(outcome[0], LoopThreadClosedError)
    assert not loop.thread.is_alive()
    with pytest.raises(LoopThreadClosedError):
        loop.call(where)


def _stubborn(
    cleanup: float, cleaned: threading.Event, cleaned_on: list[int]
) -> Callable[[], Awaitable[None]]:
    """A coroutine function that sleeps until cancelled, then cleans up for ``cleanup``
    seconds under a shield, noting the thread and setting ``cleaned`` at the end."""

    async def stubborn() -> None:
        try:
            await anyio.sleep(30)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(cleanup)
            cleaned_on.append(threading.get_ident())
            cleaned.set()

    return stubborn


def _interrupt_main_after(*delays: float) -> threading.Thread:
    main = threading.main_thread().ident
    assert main is not None

    def fire() -> None:
        for delay in delays:
            time.sleep(delay)
            signal.pthread_kill(main, signal.SIGINT)

    thread = threading.Thread(target=fire)
    thread.start()
    return thread


def test_ctrl_c_cancels_a_call_on_the_callers_thread_and_waits_for_cleanup(
    asyncio_loop: LoopThread,
) -> None:
    assert threading.current_thread() is threading.main_thread()
    events: list[str] = []

    async def slow() -> None:
        events.append(f"ran on {'caller' if threading.get_ident() == main else 'loop'}")
        try:
            await anyio.sleep(30)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.05)
            events.append("cleanup done")

    main = threading.get_ident()
    handler_before = signal.getsignal(signal.SIGINT)
    firing = _interrupt_main_after(0.2)
    with pytest.raises(KeyboardInterrupt):
        asyncio_loop.call(slow)
    firing.join()
    assert events == ["ran on caller", "cleanup done"]
    assert signal.getsignal(signal.SIGINT) is handler_before  # restored
    assert eventually(lambda: asyncio_loop.call(where) == main)  # usable, and idle again


def test_a_second_ctrl_c_stops_waiting_and_the_loop_thread_finishes_the_cleanup() -> None:
    loop = LoopThread("asyncio", name="lending-test", cancel_grace=10)
    cleaned = threading.Event()
    cleaned_on: list[int] = []
    stubborn = _stubborn(0.6, cleaned, cleaned_on)

    firing = _interrupt_main_after(0.2, 0.1)
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        loop.call(stubborn)
    firing.join()
    assert time.monotonic() - began < 0.6  # did not wait for the whole cleanup
    assert cleaned.wait(5)
    assert cleaned_on == [loop.thread.ident]
    assert loop.call(where)
    loop.close()


def test_ctrl_c_waits_for_the_cleanup_at_most_cancel_grace() -> None:
    loop = LoopThread("asyncio", name="lending-test", cancel_grace=0.2)
    cleaned = threading.Event()
    stubborn = _stubborn(1.0, cleaned, [])

    firing = _interrupt_main_after(0.1)
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        loop.call(stubborn)
    firing.join()
    assert time.monotonic() - began < 0.9
    assert not cleaned.is_set()
    assert cleaned.wait(5)  # finished by the loop thread
    loop.close()


class _InterruptedOnWaking:
    """A call's lock whose waiting acquire (its second) succeeds and then raises
    ``KeyboardInterrupt``: a Ctrl-C that lands just after the call finished."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._acquires = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        got = self._lock.acquire(blocking, timeout)
        self._acquires += 1
        if self._acquires == 2:
            raise KeyboardInterrupt
        return got

    def release(self) -> None:
        self._lock.release()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_ctrl_c_just_after_the_call_finished_is_raised_at_once(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not after ``cancel_grace``: the caller already holds the finished call's lock."""
    loop = LoopThread(backend, name="lending-test", cancel_grace=5)
    monkeypatch.setattr(LoopThread, "_can_run_here", lambda self, on_main: False)
    monkeypatch.setattr(loop_thread, "_thread", SimpleNamespace(allocate_lock=_InterruptedOnWaking))
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        loop.call(where)
    assert time.monotonic() - began < 2
    monkeypatch.undo()
    assert loop.call(where)  # still usable
    loop.close()


@pytest.mark.parametrize("disposition", [signal.SIG_IGN, signal.SIG_DFL])
def test_an_ignored_or_os_default_sigint_still_lends_the_loop(
    asyncio_loop: LoopThread, disposition: signal.Handlers
) -> None:
    previous = signal.signal(signal.SIGINT, disposition)  # e.g. a shell's background job
    try:
        assert asyncio_loop.call(where) == threading.get_ident()
        assert signal.getsignal(signal.SIGINT) == disposition  # left as it was
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_custom_sigint_handler_keeps_calls_on_the_loop_thread(any_loop: LoopThread) -> None:
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    events: list[str] = []

    async def slow() -> None:
        try:
            await anyio.sleep(30)
        finally:
            events.append("cancelled")

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        assert any_loop.call(where) == any_loop.thread.ident
        firing = _interrupt_main_after(0.2)
        with pytest.raises(KeyboardInterrupt):
            any_loop.call(slow)
        firing.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert events == ["cancelled"]


def test_calls_from_a_plain_thread_run_on_that_thread(asyncio_loop: LoopThread) -> None:
    seen: list[tuple[int, int]] = []

    def caller() -> None:
        seen.append((threading.get_ident(), asyncio_loop.call(where)))

    thread = threading.Thread(target=caller)
    thread.start()
    thread.join(10)
    assert len(seen) == 1
    assert seen[0][0] == seen[0][1]


def test_a_forked_childs_copy_of_the_loop_thread_is_closed(any_loop: LoopThread) -> None:
    assert any_loop.call(where)  # an asyncio loop is parked (lendable) after this
    ran: list[str] = []

    def child() -> int:  # each returns at once, touching nothing of the parent's loop
        assert any_loop.inherited
        assert any_loop.closed
        with pytest.raises(LoopThreadClosedError, match="parent process"):
            any_loop.call(where)
        any_loop.run_soon(lambda: ran.append("child"))
        any_loop.stop_nowait()
        any_loop.close()
        return 0

    assert exit_code_in_fork(child) == 0
    assert not any_loop.inherited
    assert not any_loop.closed
    assert any_loop.call(where)  # the parent's loop is untouched
    any_loop.run_soon(lambda: ran.append("parent"))
    assert eventually(lambda: ran == ["parent"])


def test_a_call_cancelled_before_its_first_step_still_answers_its_caller() -> None:
    """The call's task is created and cancelled (by close) in one loop iteration, so its
    coroutine never runs: the caller is answered all the same, not left waiting."""
    loop = LoopThread("asyncio", name="close-race-test")
    outcome: list[object] = []

    async def noop() -> int:
        return 1

    def caller() -> None:
        try:
            outcome.append(loop.call(noop))
        except LoopThreadClosedError as exc:
            outcome.append(exc)

    loop.run_soon(lambda: time.sleep(0.5))  # the call and the close queue up behind this
    thread = threading.Thread(target=caller, daemon=True)
    thread.start()
    time.sleep(0.1)
    loop.close()
    thread.join(5)
    assert not thread.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], LoopThreadClosedError)


def test_a_second_ctrl_c_does_not_break_into_the_running_step() -> None:
    """The cleanup works on the loop (CPU in every step) when the second Ctrl-C lands on
    the caller's thread: the step ends, the loop thread finishes the cleanup."""
    loop = LoopThread("asyncio", name="lending-test", cancel_grace=10)
    cleaned = threading.Event()

    async def busy_cleanup() -> None:
        try:
            await anyio.sleep(30)
        finally:
            with anyio.CancelScope(shield=True):
                for _ in range(60):
                    time.sleep(0.01)  # noqa: ASYNC251 - CPU work in the step, on purpose
                    await anyio.lowlevel.checkpoint()
            cleaned.set()

    firing = _interrupt_main_after(0.2, 0.2)
    with pytest.raises(KeyboardInterrupt):
        loop.call(busy_cleanup)
    firing.join()
    assert cleaned.wait(5)
    assert loop.call(where)
    loop.close()
