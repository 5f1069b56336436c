"""A dedicated event-loop thread and a cheap, cancellable call bridge into it.

This is the one place in the library that touches a backend directly: it needs each
backend's thread-safe scheduler (``loop.call_soon_threadsafe`` on asyncio,
``TrioToken.run_sync_soon`` on trio), which anyio does not expose as a fire-and-forget
call. Everything that runs *on* the loop is plain anyio code.

Rules this module enforces:

* A call hands a coroutine function to the loop and blocks on a bare ``_thread`` lock
  that the coroutine's wrapper releases as its last step (no ``concurrent.futures``
  machinery, about a quarter of the cost of ``BlockingPortal.call``).
* If the caller is interrupted while it waits (Ctrl-C, or any ``BaseException``), the
  call's task is cancelled through the same FIFO channel, the caller waits for the
  task's cleanup (bounded by ``cancel_grace``) and then re-raises.
* Calling from the loop thread itself raises instead of deadlocking.
* ``close()`` cancels every task still running on the loop, stops it and joins the thread.
"""

from __future__ import annotations

import _thread
import threading
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, Generic, Literal, TypeVar

import anyio

from .errors import ClientClosedError

T = TypeVar("T")

Backend = Literal["asyncio", "trio"]


_CANCELLED = "the call was cancelled because the client's event loop is shutting down"


class LoopThreadClosedError(ClientClosedError):
    """The loop thread was closed (or is closing) when a call was made."""


class _Call(Generic[T]):
    """One cross-thread call: its function, outcome and the lock the caller waits on."""

    __slots__ = ("args", "cancel_requested", "error", "fn", "handle", "lock", "result")

    def __init__(self, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]) -> None:
        self.fn = fn
        self.args = args
        self.lock = _thread.allocate_lock()
        self.lock.acquire()
        self.result: T | None = None
        self.error: BaseException | None = None
        self.handle: Any = None  # asyncio.Task or trio.CancelScope, set on the loop
        self.cancel_requested = False


class LoopThread:
    """An event loop running in its own daemon thread, driven by blocking calls.

    Args:
        backend: ``"asyncio"`` (default) or ``"trio"``.
        name: the thread's name, shown in debuggers and thread dumps.
        cancel_grace: how long an interrupted caller waits for the cancelled task to
            finish its cleanup before re-raising.
    """

    def __init__(
        self,
        backend: Backend = "asyncio",
        *,
        name: str = "pydoover-anyio-loop",
        cancel_grace: float = 10.0,
    ) -> None:
        self.backend: Backend = backend
        self.cancel_grace = cancel_grace
        self._schedule: Callable[..., object] | None = None
        self._spawn: Callable[[_Call[Any]], None] | None = None
        self._cancel_handle: Callable[[Any], None] | None = None
        self._stop: Callable[[], None] | None = None
        self._startup_error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise self._startup_error

    @property
    def thread(self) -> threading.Thread:
        """The thread the loop runs in."""
        return self._thread

    @property
    def closed(self) -> bool:
        """Whether the loop has stopped (or is stopping)."""
        return self._schedule is None

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``await fn(*args)`` on the loop and block until it finishes.

        Returns:
            What the coroutine returned.

        Raises:
            LoopThreadClosedError: the loop is closed.
            RuntimeError: called from the loop thread (that would deadlock).
            BaseException: whatever the coroutine raised, unchanged.
        """
        if threading.get_ident() == self._thread.ident:
            raise RuntimeError("a blocking call was made from the client's own event-loop thread")
        call: _Call[T] = _Call(fn, args)
        self._submit(self._start, call)
        try:
            call.lock.acquire()
        except BaseException:
            call.cancel_requested = True
            self._submit_quietly(self._cancel, call)
            call.lock.acquire(timeout=self.cancel_grace)
            raise
        if call.error is not None:
            raise call.error
        return call.result  # type: ignore[return-value]

    def spawn(self, fn: Callable[..., Awaitable[object]], *args: Any) -> None:
        """Start ``fn(*args)`` as a background task; call this on the loop thread only.

        The task is cancelled when the loop closes. Its outcome is discarded, so ``fn``
        must report its own result (e.g. through events it sets).
        """
        assert self._spawn is not None
        self._spawn(_Call(fn, args))

    def run_soon(self, fn: Callable[[], object]) -> None:
        """Schedule ``fn()`` on the loop from any thread; a no-op once the loop is closed."""
        schedule = self._schedule
        if schedule is not None:
            with suppress(RuntimeError):  # the loop stopped in the meantime
                schedule(fn)

    def close(self) -> None:
        """Cancel what still runs on the loop, stop it and join its thread. Idempotent."""
        stop = self._stop
        if stop is not None and self._schedule is not None:
            schedule, self._schedule = self._schedule, None
            with suppress(RuntimeError):  # the loop already stopped on its own
                schedule(stop)
        if threading.get_ident() != self._thread.ident:
            self._thread.join()

    def stop_nowait(self) -> None:
        """Ask the loop to stop without waiting; safe from finalizers and any thread."""
        stop, schedule = self._stop, self._schedule
        self._schedule = None
        if stop is not None and schedule is not None:
            with suppress(RuntimeError):
                schedule(stop)

    # -- caller side -----------------------------------------------------------------

    def _submit(self, fn: Callable[[_Call[Any]], None], call: _Call[Any]) -> None:
        schedule = self._schedule
        if schedule is None:
            raise LoopThreadClosedError("the client's event-loop thread is closed")
        try:
            schedule(fn, call)
        except RuntimeError as exc:  # the loop closed between the check and the call
            raise LoopThreadClosedError("the client's event-loop thread is closed") from exc

    def _submit_quietly(self, fn: Callable[[_Call[Any]], None], call: _Call[Any]) -> None:
        try:
            self._submit(fn, call)
        except LoopThreadClosedError:
            call.lock.release()

    # -- loop side ---------------------------------------------------------------------

    def _start(self, call: _Call[Any]) -> None:
        assert self._spawn is not None
        self._spawn(call)

    def _cancel(self, call: _Call[Any]) -> None:
        if call.handle is not None:
            assert self._cancel_handle is not None
            self._cancel_handle(call.handle)

    def _main(self) -> None:
        try:
            if self.backend == "asyncio":
                anyio.run(self._serve_asyncio, backend="asyncio")
            else:
                anyio.run(self._serve_trio, backend="trio")
        except BaseException as exc:  # noqa: BLE001 - reported to the constructor
            if not self._ready.is_set():
                self._startup_error = exc
        finally:
            self._schedule = None
            self._ready.set()

    async def _serve_asyncio(self) -> None:
        import asyncio  # backend code lives only in this module

        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()
        stopped = asyncio.Event()

        async def run(call: _Call[Any]) -> None:
            try:
                call.result = await call.fn(*call.args)
            except asyncio.CancelledError:
                call.error = LoopThreadClosedError(_CANCELLED)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                call.error = exc
            finally:
                call.lock.release()

        def spawn(call: _Call[Any]) -> None:
            if call.cancel_requested:
                call.lock.release()
                return
            task = loop.create_task(run(call))
            call.handle = task
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        self._spawn = spawn
        self._cancel_handle = lambda task: task.cancel()
        self._stop = stopped.set
        self._schedule = loop.call_soon_threadsafe
        self._ready.set()
        await stopped.wait()
        for task in list(tasks):
            task.cancel()
        if tasks:
            await asyncio.wait(list(tasks))

    async def _serve_trio(self) -> None:
        import trio  # backend code lives only in this module

        token = trio.lowlevel.current_trio_token()
        stopped = trio.Event()

        async with trio.open_nursery() as nursery:

            async def run(call: _Call[Any]) -> None:
                try:
                    with trio.CancelScope() as scope:
                        call.handle = scope
                        if call.cancel_requested:
                            scope.cancel()
                        call.result = await call.fn(*call.args)
                    if scope.cancelled_caught:
                        call.error = LoopThreadClosedError(_CANCELLED)
                except trio.Cancelled:  # the whole loop is shutting down
                    call.error = LoopThreadClosedError(_CANCELLED)
                    raise
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    call.error = exc
                finally:
                    call.lock.release()

            def spawn(call: _Call[Any]) -> None:
                nursery.start_soon(run, call)

            self._spawn = spawn
            self._cancel_handle = lambda scope: scope.cancel()
            self._stop = stopped.set
            self._schedule = token.run_sync_soon
            self._ready.set()
            await stopped.wait()
            nursery.cancel_scope.cancel()
