"""The generic sync facade, exercised from plain threads on both loop backends."""

from __future__ import annotations

import gc
import inspect
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from fork_support import exit_code_in_fork, held_by_another_thread

from pydoover_anyio.runtime import (
    ClientClosedError,
    LoopHandle,
    SyncFacade,
    sync_context,
    sync_iterator,
    sync_method,
    sync_wrapped_context,
)
from pydoover_anyio.runtime import facade as facade_module


class Recorder:
    """An async client whose calls leave a trace the tests can read from any thread."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.loop_token: object = None
        self.exited = False

    async def __aenter__(self) -> Recorder:
        self.loop_token = anyio.lowlevel.current_token().native_token
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.exited = True

    async def add(self, a: int, b: int = 1) -> int:
        """Add two numbers."""
        await anyio.lowlevel.checkpoint()
        assert anyio.lowlevel.current_token().native_token is self.loop_token  # one loop
        return a + b

    async def fail(self, message: str) -> None:
        raise LookupError(message)

    async def slow(self, seconds: float) -> str:
        try:
            await anyio.sleep(seconds)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.01)
            self.events.append("cleanup done")
        return "finished"

    async def count(self, n: int, fail_at: int | None = None) -> AsyncIterator[int]:
        for i in range(n):
            if i == fail_at:
                raise LookupError(f"failed at {i}") from OSError("connection reset")
            yield i
            await anyio.lowlevel.checkpoint()

    async def exiting(self) -> AsyncIterator[int]:
        yield 1
        raise SystemExit(3)

    @asynccontextmanager
    async def session(self, name: str) -> AsyncIterator[str]:
        async with anyio.create_task_group() as group:  # a task group held across calls
            group.start_soon(anyio.sleep, 0)
            self.events.append(f"enter {name}")
            try:
                yield name.upper()
            finally:
                self.events.append(f"exit {name}")

    @asynccontextmanager
    async def unreachable(self) -> AsyncIterator[None]:
        """Never finishes entering (a server that never answers)."""
        try:
            await anyio.sleep(30)
        finally:
            self.events.append("entering cancelled")
        yield

    @asynccontextmanager
    async def slow_exit(self) -> AsyncIterator[None]:
        """Takes 30 s to exit (a flush to a slow server)."""
        yield
        try:
            await anyio.sleep(30)
        finally:
            self.events.append("exit cancelled")

    @asynccontextmanager
    async def stream(self, n: int) -> AsyncIterator[AsyncIterator[int]]:
        yield self.count(n)

    @asynccontextmanager
    async def busy_after_entering(self) -> AsyncIterator[AsyncIterator[int]]:
        """Its loop is busy for 0.6 s just after it entered (a burst of frames, say)."""
        self.events.append("entered")
        native = anyio.lowlevel.current_token().native_token  # asyncio's loop, a TrioToken
        schedule = getattr(native, "run_sync_soon", None) or native.call_soon
        schedule(time.sleep, 0.6)
        try:
            yield self.count(3)
        finally:
            self.events.append("exited")

    def tally(self, start: int) -> Tally:
        return Tally(self, start)


class Tally:
    """An async context manager with methods of its own, which hold a task group."""

    def __init__(self, recorder: Recorder, start: int) -> None:
        self.recorder = recorder
        self.total = start

    async def __aenter__(self) -> Tally:
        self.group = await anyio.create_task_group().__aenter__()
        self.recorder.events.append("tally open")
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        self.recorder.events.append(f"tally closed at {self.total}")
        return await self.group.__aexit__(*exc_info)

    async def add(self, amount: int) -> int:
        """Add to the running total."""
        await anyio.lowlevel.checkpoint()
        assert anyio.lowlevel.current_token().native_token is self.recorder.loop_token
        self.total += amount
        return self.total


class SyncTally:
    """The blocking twin of a :class:`Tally`, on its client's loop."""

    def __init__(self, loop: LoopHandle, tally: Tally) -> None:
        self.loop = loop
        self._call = loop.call
        self._tally = tally

    def _call_async(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self._call(getattr(self._tally, name), *args, **kwargs)

    add = sync_method(Tally.add)


class SyncRecorder(SyncFacade[Recorder]):
    add = sync_method(Recorder.add)
    fail = sync_method(Recorder.fail)
    slow = sync_method(Recorder.slow)
    count = sync_iterator(Recorder.count)
    session = sync_context(Recorder.session)
    unreachable = sync_context(Recorder.unreachable)
    slow_exit = sync_context(Recorder.slow_exit)
    stream = sync_context(Recorder.stream)
    busy_after_entering = sync_context(Recorder.busy_after_entering)
    exiting = sync_iterator(Recorder.exiting)
    tally = sync_wrapped_context(Recorder.tally, SyncTally)

    def __init__(self, backend: Any = "asyncio") -> None:
        super().__init__(Recorder, backend=backend)

    @property
    def recorder(self) -> Recorder:
        return self._async_client


@pytest.fixture(params=["asyncio", "trio"])
def client(request: pytest.FixtureRequest) -> Iterator[SyncRecorder]:
    with SyncRecorder(request.param) as facade:
        yield facade


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "SyncRecorder-loop"]


def test_methods_keep_signature_docs_and_results(client: SyncRecorder) -> None:
    assert client.add(2, b=3) == 5
    assert client.add(2) == 3
    assert client.add.__doc__ == "Add two numbers."
    assert list(inspect.signature(client.add).parameters) == ["a", "b"]
    assert client.recorder.loop_token is not None


def test_exceptions_pass_through_unchanged(client: SyncRecorder) -> None:
    with pytest.raises(LookupError, match="boom"):
        client.fail("boom")
    assert client.add(1) == 2


def test_eight_threads_at_once(client: SyncRecorder) -> None:
    results: dict[int, list[int]] = {}

    def worker(index: int) -> None:
        results[index] = [client.add(index, b=i) for i in range(200)]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(not t.is_alive() for t in threads)
    assert results == {i: [i + k for k in range(200)] for i in range(8)}


def ctrl_c_after(seconds: float) -> threading.Timer:
    """A timer (not started) that sends SIGINT to the main thread, as Ctrl-C does."""
    main = threading.main_thread().ident
    assert main is not None
    return threading.Timer(seconds, signal.pthread_kill, args=(main, signal.SIGINT))


def test_ctrl_c_cancels_the_call_and_leaves_the_client_usable(client: SyncRecorder) -> None:
    assert threading.current_thread() is threading.main_thread()
    timer = ctrl_c_after(0.2)
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        client.slow(30)
    timer.join()
    assert time.monotonic() - started < 10
    # The task was cancelled and its (shielded) cleanup finished before the re-raise.
    assert client.recorder.events == ["cleanup done"]
    assert client.add(41) == 42


def test_ctrl_c_while_a_with_is_still_entering_cancels_the_enter(client: SyncRecorder) -> None:
    timer = ctrl_c_after(0.2)
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), client.unreachable():
        pytest.fail("entered")
    timer.join()
    assert time.monotonic() - started < 5
    assert client.recorder.events == ["entering cancelled"]
    assert client.add(41) == 42


def test_ctrl_c_while_a_with_is_exiting_cancels_the_exit(client: SyncRecorder) -> None:
    """Not left running in the background after the KeyboardInterrupt."""
    timer = ctrl_c_after(0.2)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), client.slow_exit():
        timer.start()
    timer.join()
    assert time.monotonic() - started < 5
    assert client.recorder.events == ["exit cancelled"]  # before the re-raise
    assert client.add(41) == 42


def test_close_joins_the_loop_thread_and_closes_the_async_client() -> None:
    for backend in ("asyncio", "trio"):
        facade = SyncRecorder(backend)
        assert len(loop_threads()) == 1
        facade.close()
        facade.close()  # idempotent
        assert loop_threads() == []
        assert facade.recorder.exited


class SlowExit:
    """An async client whose exit takes a while (a flush, a WebSocket close handshake)."""

    def __init__(self) -> None:
        self.exiting = threading.Event()
        self.exited = threading.Event()

    async def __aenter__(self) -> SlowExit:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.exiting.set()
        await anyio.sleep(0.5)
        self.exited.set()


class SyncSlowExit(SyncFacade[SlowExit]):
    def __init__(self, client: SlowExit) -> None:
        super().__init__(lambda: client)


def test_a_close_racing_another_returns_when_the_client_is_closed() -> None:
    async_client = SlowExit()
    facade = SyncSlowExit(async_client)
    first = threading.Thread(target=facade.close)
    first.start()
    assert async_client.exiting.wait(5)
    facade.close()
    assert async_client.exited.is_set()
    assert "SyncSlowExit-loop" not in [thread.name for thread in threading.enumerate()]
    first.join(5)


def test_a_closed_client_raises_a_clear_error(client: SyncRecorder) -> None:
    client.close()
    with pytest.raises(ClientClosedError, match="closed"):
        client.add(1)


def test_a_forgotten_client_stops_its_thread_when_collected() -> None:
    facade = SyncRecorder()
    thread = loop_threads()[0]
    del facade
    thread.join(10)
    assert not thread.is_alive()


def test_sync_iterator_streams_every_item(client: SyncRecorder) -> None:
    assert list(client.count(1000)) == list(range(1000))


def test_sync_iterator_raises_the_producer_error_after_the_items(client: SyncRecorder) -> None:
    items = client.count(10, fail_at=5)
    assert [next(items) for _ in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(LookupError, match="failed at 5"):
        next(items)


def test_abandoned_sync_iterator_stops_its_producer(client: SyncRecorder) -> None:
    iterator = client.count(10**9)
    assert next(iterator) == 0
    iterator.close()  # type: ignore[attr-defined]
    assert client.add(1) == 2


def test_sync_context_enters_and_exits_on_one_task(client: SyncRecorder) -> None:
    with client.session("a") as value:
        assert value == "A"
        assert client.recorder.events == ["enter a"]
    assert client.recorder.events == ["enter a", "exit a"]


def test_sync_context_sees_the_body_exception(client: SyncRecorder) -> None:
    # The body's exception travels into __aexit__; the task group there wraps it, as it
    # would for async code.
    with pytest.raises(ExceptionGroup) as caught, client.session("b"):
        raise ValueError("inside")
    assert caught.group_contains(ValueError, match="inside")
    assert client.recorder.events == ["enter b", "exit b"]


def test_sync_context_turns_an_async_iterable_into_a_sync_one(client: SyncRecorder) -> None:
    with client.stream(5) as items:
        assert list(items) == [0, 1, 2, 3, 4]


def test_sync_wrapped_context_hands_over_a_twin_on_the_same_loop(client: SyncRecorder) -> None:
    with client.tally(10) as tally:
        assert isinstance(tally, SyncTally)
        assert tally.add(5) == 15
        assert inspect.signature(tally.add).parameters.keys() == {"amount"}
        results: list[int] = []
        threads = [threading.Thread(target=lambda: results.append(tally.add(1))) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [16, 17, 18, 19]
    assert client.recorder.events == ["tally open", "tally closed at 19"]


def test_a_wrap_schedules_plain_calls_on_the_loop_without_waiting(client: SyncRecorder) -> None:
    ran = threading.Event()
    release = threading.Event()
    threads: list[int] = []

    def hold_the_loop() -> None:
        threads.append(threading.get_ident())
        ran.set()
        release.wait(10)

    with client.tally(0) as tally:
        tally.loop.run_soon(hold_the_loop)
        assert ran.wait(10)
        tally.loop.run_soon(ran.clear)  # returns at once, though the loop is busy
        release.set()
        assert tally.add(1) == 1  # after both scheduled calls: they run in order
        assert not ran.is_set()
    assert threads == [client._loop.thread.ident]


def test_sync_wrapped_context_sees_the_body_exception(client: SyncRecorder) -> None:
    def body() -> None:
        with client.tally(0) as tally:
            tally.add(2)
            raise ValueError("inside")

    with pytest.raises(ExceptionGroup) as caught:  # the tally's task group wraps it
        body()
    assert caught.group_contains(ValueError, match="inside")
    assert client.recorder.events == ["tally open", "tally closed at 2"]


def refuse(loop: LoopHandle, tally: Tally) -> SyncTally:
    raise RuntimeError("no twin")


class RefusingRecorder(SyncRecorder):
    tally = sync_wrapped_context(Recorder.tally, refuse)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sync_wrapped_context_exits_what_it_entered_when_the_wrap_fails(backend: str) -> None:
    with RefusingRecorder(backend) as client:
        with pytest.raises(ExceptionGroup) as caught:  # through the tally's task group, as
            client.tally(1).__enter__()  # from a with body
        assert caught.group_contains(RuntimeError, match="no twin")
        assert client.recorder.events == ["tally open", "tally closed at 1"]


def test_calling_from_the_loop_thread_raises_instead_of_deadlocking(client: SyncRecorder) -> None:
    outcome: list[BaseException] = []

    async def reenter() -> None:
        try:
            client.add(1)
        except RuntimeError as exc:
            outcome.append(exc)

    client._loop.call(reenter)
    assert outcome
    assert "event-loop thread" in str(outcome[0])


def test_a_forked_child_does_not_hang() -> None:
    facade = SyncRecorder()
    assert facade.add(1) == 2

    def child() -> int:  # must get an answer, not hang on the parent's dead thread
        code = 0 if facade.add(2) == 3 else 1
        facade.close()
        return code

    assert exit_code_in_fork(child) == 0
    assert facade.add(5) == 6  # the parent is unaffected
    facade.close()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_forked_child_cannot_pull_the_parents_iterator(backend: Any) -> None:
    facade = SyncRecorder(backend)
    items = facade.count(1000)
    assert next(items) == 0

    def child() -> int:  # the parent's loop, sockets and producer are not the child's
        with pytest.raises(ClientClosedError, match="parent process"):
            next(items)  # not a copy of what the first batch brought: the parent has those
        items.close()  # type: ignore[attr-defined]
        return 0 if facade.add(2) == 3 else 1

    assert exit_code_in_fork(child) == 0
    assert list(items) == list(range(1, 1000))  # nothing lost to the child
    facade.close()


def test_a_forked_child_may_drop_the_parents_client_and_iterator() -> None:
    facade = SyncRecorder()
    items = facade.count(1000)
    assert next(items) == 0

    def child() -> int:  # finalizers must not wait for a lock no thread will release
        nonlocal facade, items
        del facade, items
        gc.collect()
        return 0

    with held_by_another_thread(facade._loop._lend_lock):  # as a call does while lending
        assert exit_code_in_fork(child) == 0
    assert next(items) == 1
    facade.close()


def test_a_child_forked_while_a_facade_rebuilds_can_rebuild_its_own() -> None:
    facade = SyncRecorder()
    assert facade.add(1) == 2

    def child() -> int:
        return 0 if facade.add(2) == 3 else 1

    # A thread of the parent in the middle of a rebuild: the child's copy of the lock
    # would be held for ever (no thread of the child releases it).
    with held_by_another_thread(facade_module._rebuild_lock):
        assert exit_code_in_fork(child) == 0
    facade.close()


def test_an_iterators_error_keeps_its_cause(client: SyncRecorder) -> None:
    iterator = client.count(5, fail_at=1)
    assert next(iterator) == 0
    with pytest.raises(LookupError, match="failed at 1") as caught:
        next(iterator)
    assert isinstance(caught.value.__cause__, OSError)


def test_a_source_raising_system_exit_does_not_end_as_complete(client: SyncRecorder) -> None:
    iterator = client.exiting()
    assert next(iterator) == 1
    with pytest.raises(SystemExit):
        next(iterator)
    assert client.add(1) == 2


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_an_iterator_or_stream_keeps_its_client_alive(backend: Any) -> None:
    """A client only the iterator refers to is not collected (and its loop not stopped)
    under it: ``list(Client(...).iter_locations(t))``."""
    iterator = SyncRecorder(backend).count(300)
    gc.collect()
    assert list(iterator) == list(range(300))
    with SyncRecorder(backend).stream(3) as items:
        gc.collect()
        assert list(items) == [0, 1, 2]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_ctrl_c_while_a_stream_is_handed_over_exits_what_was_entered(backend: Any) -> None:
    """The enter is done, the iterator over its value is still being set up (its loop is
    busy) when Ctrl-C lands: the ``with`` never starts, so nothing else would exit it."""

    def on_sigint(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # an application handler: calls go to the loop thread

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        with SyncRecorder(backend) as facade:
            timer = ctrl_c_after(0.3)
            timer.start()
            with pytest.raises(KeyboardInterrupt), facade.busy_after_entering() as items:
                pytest.fail(f"handed over: {list(items)}")
            timer.join()
            assert facade.recorder.events == ["entered", "exited"]
    finally:
        signal.signal(signal.SIGINT, previous)


def test_threads_of_a_forked_child_rebuild_the_client_once() -> None:
    """Eight threads of the child make their first calls at once (a preforked threaded
    server): one loop thread and one async client, each call on its own client's loop."""
    facade = SyncRecorder()
    assert facade.add(1) == 2

    def child() -> int:
        barrier = threading.Barrier(8)
        results: list[object] = []

        def first_call() -> None:
            barrier.wait()
            try:
                results.append(facade.add(1))
            except BaseException as exc:  # noqa: BLE001 - reported through the exit code
                results.append(exc)

        threads = [threading.Thread(target=first_call) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        started = len(loop_threads())
        facade.close()
        return 0 if results == [2] * 8 and started == 1 and not loop_threads() else 1

    try:
        assert exit_code_in_fork(child, seconds=15) == 0
    finally:
        facade.close()
