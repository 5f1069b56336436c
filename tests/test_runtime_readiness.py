"""Read waits on a socket: one selector registration per socket on asyncio, anyio's on trio."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from pydoover_anyio.runtime import _socket
from pydoover_anyio.runtime._backend.readiness import ReadableWaiter, quiet_watches

pytestmark = pytest.mark.anyio
#: For what only asyncio has: the selector registrations themselves.
asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    try:
        yield ours, theirs
    finally:
        ours.close()
        theirs.close()


class SelectorCalls:
    """Counts the running asyncio loop's add_reader / remove_reader calls for one fd."""

    def __init__(self, fd: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.fd = fd
        self.added = self.removed = 0
        add, remove = self.loop.add_reader, self.loop.remove_reader

        def counting_add(fd_: int, callback: Callable[..., Any], *args: Any) -> None:
            self.added += fd_ == fd
            add(fd_, callback, *args)

        def counting_remove(fd_: int) -> bool:
            self.removed += fd_ == fd
            return remove(fd_)

        self.loop.add_reader = counting_add  # type: ignore[method-assign]
        self.loop.remove_reader = counting_remove  # type: ignore[method-assign]

    def watched(self) -> bool:
        selector = self.loop._selector  # type: ignore[attr-defined]
        return self.fd in selector.get_map()


async def test_a_wait_returns_once_data_arrives(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    waiter = ReadableWaiter(ours)
    for round_ in range(3):
        async with anyio.create_task_group() as group:
            group.start_soon(waiter.wait)
            await anyio.sleep(0.01)
            theirs.send(b"x%d" % round_)
        assert ours.recv(10) == b"x%d" % round_
    waiter.close()


@asyncio_only
async def test_waits_share_one_registration_and_close_removes_it(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    calls = SelectorCalls(ours.fileno())
    waiter = ReadableWaiter(ours)
    for _ in range(5):
        theirs.send(b"ping")
        await waiter.wait()
        assert ours.recv(10) == b"ping"
    assert (calls.added, calls.removed) == (1, 0)
    assert calls.watched()
    waiter.close()
    assert (calls.added, calls.removed) == (1, 1)
    assert not calls.watched()
    with pytest.raises(anyio.ClosedResourceError):
        await waiter.wait()  # closed for good: never registered again
    assert calls.added == 1


@asyncio_only
async def test_data_nobody_waits_for_stops_the_watch_until_the_next_wait(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    calls = SelectorCalls(ours.fileno())
    waiter = ReadableWaiter(ours)
    theirs.send(b"first")
    await waiter.wait()
    assert ours.recv(10) == b"first"
    waiter._on_readable()  # a stale event: selected before the data above was read
    assert calls.removed == 0  # nothing to read: the registration stays
    assert calls.watched()
    theirs.send(b"unread")  # e.g. a server closing an idle pooled connection
    for _ in range(5):
        await anyio.lowlevel.checkpoint()  # a loop iteration each: one event, then none
    assert calls.removed == 1
    assert not calls.watched()
    await waiter.wait()  # the unread data: registered again, returns at once
    assert calls.added == 2
    assert ours.recv(10) == b"unread"
    waiter.close()


@asyncio_only
async def test_a_stale_event_does_not_wake_a_waiter(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    waiter = ReadableWaiter(ours)
    woken = anyio.Event()

    async def wait() -> None:
        await waiter.wait()
        woken.set()

    async with anyio.create_task_group() as group:
        group.start_soon(wait)
        await anyio.sleep(0.01)
        waiter._on_readable()  # an event selected before the last data was read
        await anyio.sleep(0.01)
        assert not woken.is_set()
        theirs.send(b"fresh")
        with anyio.fail_after(5):
            await woken.wait()
    assert ours.recv(10) == b"fresh"
    waiter.close()


@asyncio_only
async def test_registrations_nobody_waits_on_are_counted_quiet(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    quiet = quiet_watches(asyncio.get_running_loop())
    waiter = ReadableWaiter(ours)
    seen_during_waits: list[int] = []
    for _ in range(2):
        async with anyio.create_task_group() as group:
            group.start_soon(waiter.wait)
            await anyio.sleep(0.01)
            seen_during_waits.append(quiet.count)
            group.cancel_scope.cancel()
        assert quiet.count == 1  # registered, nobody waiting
    assert seen_during_waits == [0, 0]
    waiter.close()
    assert quiet.count == 0
    waiter = ReadableWaiter(ours)
    with anyio.move_on_after(0.01):
        await waiter.wait()
    assert quiet.count == 1
    theirs.send(b"unread")  # nobody waits: the event ends the registration
    for _ in range(5):
        await anyio.lowlevel.checkpoint()
    assert quiet.count == 0
    waiter.close()
    assert quiet.count == 0


async def test_a_cancelled_wait_leaves_the_waiter_usable(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    waiter = ReadableWaiter(ours)
    with anyio.move_on_after(0.01) as scope:
        await waiter.wait()
    assert scope.cancelled_caught
    with anyio.CancelScope() as cancelled:
        cancelled.cancel()
        await waiter.wait()  # an already-cancelled scope cancels the wait too
    theirs.send(b"late")
    with anyio.fail_after(5):
        await waiter.wait()
    assert ours.recv(10) == b"late"
    waiter.close()


async def test_a_second_concurrent_wait_is_refused(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    waiter = ReadableWaiter(ours)
    async with anyio.create_task_group() as group:
        group.start_soon(waiter.wait)
        await anyio.sleep(0.01)
        with pytest.raises(anyio.BusyResourceError):
            await waiter.wait()
        theirs.send(b"x")
    waiter.close()


async def test_closing_the_stream_fails_a_pending_receive(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, _ = pair
    stream = _socket.SocketStream(ours)
    failures: list[BaseException] = []

    async def receive() -> None:
        try:
            await stream.receive()
        except anyio.ClosedResourceError as exc:
            failures.append(exc)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(receive)
            await anyio.sleep(0.01)
            await stream.aclose()
    assert len(failures) == 1


def test_a_socket_waited_on_from_a_second_loop_registers_with_it(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    waiter = ReadableWaiter(ours)

    async def one_wait() -> bytes:
        theirs.send(b"hello")
        with anyio.fail_after(5):
            await waiter.wait()
        return ours.recv(10)

    assert anyio.run(one_wait, backend="asyncio") == b"hello"
    assert anyio.run(one_wait, backend="asyncio") == b"hello"  # the first loop is closed
    waiter.close()


async def test_write_waits_leave_the_read_registration_working(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    theirs.setblocking(False)
    stream = _socket.SocketStream(ours)
    with anyio.move_on_after(0.01):
        await stream.receive()  # registered for reading, then left quiet
    payload = b"x" * 4_000_000  # far more than the socket buffers: send waits to write
    drained = bytearray()

    async def drain() -> None:
        while len(drained) < len(payload):
            try:
                drained.extend(theirs.recv(1 << 20))
            except BlockingIOError:
                await anyio.sleep(0.001)
        theirs.send(b"reply")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(drain)
            await stream.send(payload)
            assert await stream.receive() == b"reply"  # read waits still delivered
    assert len(drained) == len(payload)
    await stream.aclose()
