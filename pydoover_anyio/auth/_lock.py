"""A lock for token refreshes that works from every thread and event loop at once.

One auth object may serve clients on several event loops: each ``DataClient`` runs its
own loop thread, so sharing one auth object between two of them means two loops. An
``anyio.Lock`` belongs to the loop that first waits on it, so this lock has two levels:

* tasks of one loop queue on that loop's own ``anyio.Lock`` (kept in an anyio ``RunVar``,
  so it goes away with its loop): cheap, fair and cancellable;
* the one task per loop that holds it then takes a ``threading.Lock`` shared by all
  loops. It never blocks its loop on it: while another loop holds it (a refresh running
  there), it polls every :data:`POLL_SECONDS`.

So at most one refresh runs at a time across every loop and thread. A forked child
gets fresh locks (a refresh running in the parent at fork time does not exist there).
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final
from weakref import WeakKeyDictionary, WeakSet

import anyio
from anyio.lowlevel import RunVar

#: How often a loop waiting for another loop's refresh looks again.
POLL_SECONDS: Final = 0.005

_LOOP_LOCKS: RunVar[WeakKeyDictionary[RefreshLock, anyio.Lock]] = RunVar(
    "pydoover_anyio.auth.refresh_locks"
)


_ALL_LOCKS: WeakSet[RefreshLock] = WeakSet()


class RefreshLock:
    """Mutual exclusion across tasks, event loops and threads (see the module docstring)."""

    def __init__(self) -> None:
        self._shared = threading.Lock()
        _ALL_LOCKS.add(self)

    def _loop_lock(self) -> anyio.Lock:
        locks = _LOOP_LOCKS.get(None)
        if locks is None:
            locks = WeakKeyDictionary()
            _LOOP_LOCKS.set(locks)
        lock = locks.get(self)
        if lock is None:
            lock = locks[self] = anyio.Lock()
        return lock

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Hold the lock for the body of an ``async with``."""
        async with self._loop_lock():
            # Polled: the holder may be on another loop, which no anyio.Event can wake.
            while not self._shared.acquire(blocking=False):  # noqa: ASYNC110
                await anyio.sleep(POLL_SECONDS)
            try:
                yield
            finally:
                self._shared.release()


def _reset_after_fork() -> None:
    for lock in list(_ALL_LOCKS):
        lock._shared = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)
