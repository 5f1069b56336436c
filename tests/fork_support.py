"""Running a check in a forked child, with a hang reported as a test failure, and
holding a lock in another thread across the fork (a lock the child finds held)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest


def exit_code_in_fork(child: Callable[[], int], seconds: float = 20.0) -> int:
    """Fork; the child runs ``child`` and exits with what it returns (2 if it raised).

    A child still running after ``seconds`` is killed and the test fails: it hung.
    The parent waits without blocking its own threads, and returns the exit code.
    """
    pid = os.fork()
    if pid == 0:
        signal.alarm(int(seconds) + 5)  # a last resort, should the parent die first
        try:
            code = child()
        except BaseException:  # noqa: BLE001 - any failure is the child's exit code
            code = 2
        os._exit(code)
    deadline = time.monotonic() + seconds
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.01)
    return os.waitstatus_to_exitcode(done[1])


@contextmanager
def held_by_another_thread(lock: AbstractContextManager[object]) -> Iterator[None]:
    """Hold ``lock`` in another thread for the block, as a thread in the middle of a call
    does when the process forks; released and joined afterwards."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            locked.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    locked.wait()
    try:
        yield
    finally:
        release.set()
        holder.join()
