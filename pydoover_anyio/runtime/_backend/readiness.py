"""Waiting for a socket to become readable, with one selector registration per socket.

Why: on asyncio, :func:`anyio.wait_readable` registers the descriptor with the loop's
selector and removes it again around every wait (two ``epoll_ctl`` calls, a selector
key, a handle, a closure and a run-variable lookup each time). A keep-alive HTTP
connection waits once per response, so that was about 20 µs of a 16-in-flight request
on the project VM. A :class:`ReadableWaiter` registers its socket on the first wait and
keeps the registration while waits keep coming; the selector's callback completes the
waiting future.

Rules this module enforces:

* Readiness is level-triggered, so an event can be stale: selected just before its data
  was read (the loop selects again before the woken task runs; with one request in
  flight that is every response). The selector's callback tells a stale event from a
  live one with a zero-timeout ``poll`` and ignores it: it neither wakes a waiter (a
  spurious wake-up costs the task a loop iteration and a failed read) nor ends the
  registration.
* A live event that finds nobody waiting (a pooled connection the server closed)
  removes the registration (the next wait adds it again), so an idle socket never spins
  the loop.
* A registration nobody waits on is *quiet* and counted per loop
  (:func:`quiet_watches`): it is no work for the loop, so a loop watching only quiet
  sockets is still idle to the sync bridge, which lends idle loops to callers
  (:mod:`.loop_thread`). An event arriving while such a loop is parked is handled at its
  next run, just as data arriving on an unwatched socket would be read at the next wait.
* Callers still read non-blocking and wait again if the read would block, as with any
  readiness API (anyio's wait, used on trio, may return early).
* One waiter at a time: a second concurrent wait raises ``anyio.BusyResourceError``.
* :meth:`ReadableWaiter.close` must run before the socket is closed (a descriptor number
  can be reused at once); it removes the registration and fails a pending wait with
  ``anyio.ClosedResourceError``, like :func:`anyio.notify_closing`.
* Every read wait on a socket goes through its waiter: a plain :func:`anyio.wait_readable`
  on the same descriptor would replace and then remove the registration underneath it.
* A wait is cancelled like any anyio wait. On trio, and on asyncio loops without
  ``add_reader`` (Windows' proactor loop), it is :func:`anyio.wait_readable` itself.
"""

from __future__ import annotations

import asyncio
import select
import socket
from weakref import WeakKeyDictionary

import anyio

__all__ = ["QuietWatches", "ReadableWaiter", "quiet_watches"]


class QuietWatches:
    """How many of one loop's selector registrations are waiters' that nobody waits on."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


_QUIET: WeakKeyDictionary[asyncio.AbstractEventLoop, QuietWatches] = WeakKeyDictionary()


def quiet_watches(loop: asyncio.AbstractEventLoop) -> QuietWatches:
    """The (live) count of ``loop``'s quiet registrations."""
    quiet = _QUIET.get(loop)
    if quiet is None:
        quiet = _QUIET[loop] = QuietWatches()
    return quiet


class ReadableWaiter:
    """Waits, one task at a time, for one socket to have data (or EOF) to read."""

    __slots__ = ("_closed", "_fd", "_future", "_generic", "_loop", "_poller", "_quiet", "_sock")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._fd = sock.fileno()
        #: The loop the descriptor is registered with (None: not registered).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._quiet = QuietWatches()  # the registered loop's count (a stand-in until then)
        self._future: asyncio.Future[None] | None = None
        #: Wait through anyio (not asyncio, or a loop without ``add_reader``).
        self._generic = False
        self._closed = False
        self._poller = select.poll()
        self._poller.register(self._fd, select.POLLIN)

    async def wait(self) -> None:
        """Return once the socket is readable (or maybe spuriously earlier).

        Raises:
            anyio.BusyResourceError: another task is already waiting on this socket.
            anyio.ClosedResourceError: :meth:`close` was called (before or during the wait).
        """
        if self._closed:
            raise anyio.ClosedResourceError
        if self._generic:
            await anyio.wait_readable(self._sock)
            return
        if self._future is not None:
            raise anyio.BusyResourceError("reading from")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on asyncio
            self._generic = True
            await anyio.wait_readable(self._sock)
            return
        if loop is self._loop:
            self._quiet.count -= 1  # quiet no longer: waited on
        else:
            self._unregister()
            try:
                loop.add_reader(self._fd, self._on_readable)
            except NotImplementedError:
                self._generic = True
                await anyio.wait_readable(self._sock)
                return
            self._loop, self._quiet = loop, quiet_watches(loop)
        future = self._future = loop.create_future()
        try:
            await future
        finally:
            self._future = None
            if self._loop is not None:  # still registered (not closed meanwhile)
                self._quiet.count += 1

    def readable_now(self) -> bool:
        """Whether a read would not block now (data, end of stream or an error), from a
        zero-timeout ``poll``; on any backend."""
        return bool(self._poller.poll(0))

    def close(self) -> None:
        """Stop watching the socket for good; a pending wait raises ``ClosedResourceError``."""
        self._closed = True
        future = self._future
        if future is not None and not future.done():
            future.set_exception(anyio.ClosedResourceError())
        self._unregister()

    def _on_readable(self) -> None:
        if not self.readable_now():
            return  # stale: selected before its data was read
        future = self._future
        if future is None:  # nobody waits: stop watching
            self._unregister()
        elif not future.done():
            future.set_result(None)

    def _unregister(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        if self._future is None:
            self._quiet.count -= 1
        if not loop.is_closed():
            loop.remove_reader(self._fd)
