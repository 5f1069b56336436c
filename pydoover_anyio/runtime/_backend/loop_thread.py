"""A dedicated event-loop thread and a cheap, cancellable call bridge into it.

It touches the backends directly (see the package docstring) because it needs each
backend's thread-safe scheduler (``loop.call_soon_threadsafe`` on asyncio,
``TrioToken.run_sync_soon`` on trio), which anyio does not expose as a fire-and-forget
call, and on asyncio a loop that can be lent to the calling thread. Everything that runs
*on* the loop is plain anyio code.

Rules this module enforces:

* A call hands a coroutine function to the loop and blocks on a bare ``_thread`` lock
  that the coroutine's wrapper releases as its last step (no ``concurrent.futures``
  machinery, about a quarter of the cost of ``BlockingPortal.call``).
* On asyncio, when the loop has nothing to do (no ready callbacks, no timers, no
  watched sockets but quiet ones nobody waits on: no background work), the loop thread
  parks and a blocking call runs the same loop on the caller's own thread until its
  coroutine is done and the loop would wait again. That saves the two cross-thread
  wake-ups a call otherwise costs (on an idle VM each one means waking a halted vCPU,
  tens of µs). Whatever is left running (a background task, a timer) is handed back to
  the loop thread; any ``call_soon_threadsafe`` on a parked loop wakes the loop thread.
  Only one thread runs the loop at a time, so loop-bound objects stay on one loop for
  the client's life.
* If the caller is interrupted while it waits (Ctrl-C, or any ``BaseException``), the
  call's task is cancelled, the caller waits for the task's cleanup (bounded by
  ``cancel_grace``) and then re-raises. A call run on the caller's thread gets Ctrl-C
  through a temporary SIGINT handler that cancels its task (where SIGINT has Python's
  default handler; where it is ignored or left to the OS no handler is needed; under
  any other handler the call goes through the loop thread).
* Calling from code running on the loop raises instead of deadlocking.
* In a process forked after the loop thread started, the loop thread does not exist and
  the loop's state (its selector, sockets and locks) is a copy of the parent's: the loop
  counts as closed there. A call raises at once, and ``run_soon``, ``stop_nowait`` and
  ``close`` do nothing, so a finalizer in the child never touches the parent's loop or
  waits for a lock that a thread of the parent held at fork time.
* ``close()`` cancels every task still running on the loop, stops it and joins the thread.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]
import _thread
import asyncio
import contextvars
import functools
import os
import selectors
import signal
import threading
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, Generic, Literal, TypeVar

import anyio
from sniffio import current_async_library_cvar as _library_cvar
from sniffio import thread_local as _library_thread

from ..errors import ClientClosedError
from .readiness import QuietWatches, quiet_watches

T = TypeVar("T")

Backend = Literal["asyncio", "trio"]

_forks = 0  # how many fork() calls lie between the first process and this one


def _count_fork() -> None:
    global _forks  # a process-wide counter, read without a call on the hot paths
    _forks += 1


os.register_at_fork(after_in_child=_count_fork)


# The C functions behind ``signal.getsignal`` / ``signal.signal``, without the module's
# enum round trip (which raises and catches a ValueError per call: ~7 µs per sync call).
_get_handler: Callable[[int], object] = _signal.getsignal
_set_handler: Callable[[int, Any], Any] = _signal.signal

#: SIGINT handlers under which a main thread may run the loop (the C ``getsignal`` gives
#: ``SIG_DFL`` / ``SIG_IGN`` as plain ints).
_LENDABLE_SIGINT: tuple[object, ...] = (
    signal.default_int_handler,
    int(signal.SIG_DFL),
    int(signal.SIG_IGN),
)

_CANCELLED = "the call was cancelled because the client's event loop is shutting down"
_CLOSED = "the client's event-loop thread is closed"


def _task_context() -> contextvars.Context | None:
    """The context for a call's task: the caller's (``None``), unless it says an async
    library is running (``anyio.run`` sets that in its tasks, e.g. to ``"trio"``): a task
    inheriting the mark would send anyio's calls to that library instead of asyncio."""
    if _library_cvar.get() is None:
        return None
    context = contextvars.copy_context()
    context.run(_library_cvar.set, None)
    return context


class LoopThreadClosedError(ClientClosedError):
    """The loop thread was closed (or is closing) when a call was made."""


class _Call(Generic[T]):
    """One cross-thread call: its function, outcome and the lock the caller waits on."""

    __slots__ = (
        "args",
        "cancel_requested",
        "done",
        "error",
        "fn",
        "handle",
        "here",
        "lock",
        "result",
    )

    def __init__(self, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]) -> None:
        self.fn = fn
        self.args = args
        self.lock = _thread.allocate_lock()
        self.lock.acquire()
        self.result: T | None = None
        self.error: BaseException | None = None
        self.handle: Any = None  # asyncio.Task or trio.CancelScope, set on the loop
        self.cancel_requested = False
        self.here = False  # run on the caller's thread (asyncio, idle loop)
        self.done = False  # set just before the lock is released

    def finish(self) -> None:
        """Mark the call done and wake its caller (the last step of whoever ends it)."""
        self.done = True
        self.lock.release()


# What the asyncio loop's selector does when the loop is about to wait.
_BLOCK, _PARK, _DRAIN = 0, 1, 2
#: Loop steps a caller's thread may take after its coroutine is done (ready callbacks).
_DRAIN_STEPS = 8


class _LendingSelector(selectors.DefaultSelector):
    """The asyncio loop's selector: it can stop the loop instead of letting it wait.

    ``_PARK`` (the loop thread): stop when the loop would wait with no deadline and
    nothing watched but the loop's own wake-up socket and quiet sockets (registered by
    :class:`~.readiness.ReadableWaiter` with nobody waiting), i.e. when it is idle.
    ``_DRAIN`` (a caller's thread whose coroutine is done): stop at the first wait, or
    after ``_DRAIN_STEPS`` steps; :attr:`idle` says whether the loop was idle then.
    ``_BLOCK``: an ordinary selector.
    """

    def __init__(self) -> None:
        super().__init__()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.mode = _BLOCK
        self.baseline = 0  # sockets the loop itself watches (its self-pipe)
        self.quiet = QuietWatches()  # replaced by the loop's own count
        self.idle = False
        self.steps = 0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        mode = self.mode
        if mode == _BLOCK:
            return super().select(timeout)
        idle = timeout is None and len(self.get_map()) - self.quiet.count <= self.baseline
        if mode == _PARK and not idle:
            return super().select(timeout)  # background work: wait for it as usual
        events = super().select(0)
        if mode == _PARK:
            if not events:
                self._stop(idle=True)
        else:
            self.steps += 1
            if self.steps >= _DRAIN_STEPS or (timeout != 0 and not events):
                self._stop(idle=idle and not events)
        return events

    def _stop(self, *, idle: bool) -> None:
        self.idle = idle
        assert self.loop is not None
        self.loop.stop()


class _LendableLoop(asyncio.SelectorEventLoop):
    """An asyncio loop that reports every ``call_soon_threadsafe``, so a parked loop wakes."""

    def __init__(self, on_threadsafe: Callable[[], None]) -> None:
        self.lending = _LendingSelector()
        super().__init__(self.lending)
        self.lending.loop = self
        self.lending.baseline = len(self.lending.get_map())
        self.lending.quiet = quiet_watches(self)
        self._on_threadsafe = on_threadsafe

    def call_soon_threadsafe(  # type: ignore[override]
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        handle = super().call_soon_threadsafe(callback, *args, context=context)
        self._on_threadsafe()
        return handle

    def call_soon_from_signal(self, callback: Callable[[], object]) -> None:
        """Schedule ``callback`` and wake ``select``, without the report (a signal handler
        may run while this thread holds the lending lock)."""
        asyncio.SelectorEventLoop.call_soon_threadsafe(self, callback)

    def has_ready_callbacks(self) -> bool:
        return bool(self._ready)  # type: ignore[attr-defined]  # asyncio's run queue


class LoopThread:
    """An event loop running in its own daemon thread, driven by blocking calls.

    On asyncio the thread lends the loop to a blocking caller while it has no work of
    its own (see the module docstring); on trio every call goes through the thread.

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
        self._generation = _forks
        # Lending the asyncio loop (see the module docstring). ``_driver`` is the thread
        # running the loop, None while it is parked; the loop thread waits on ``_resume``.
        self._loop: _LendableLoop | None = None
        self._lend_lock = threading.RLock()  # re-entrant: a finalizer may schedule work
        self._parked = False
        self._driver: int | None = None
        self._resume = _thread.allocate_lock()
        self._resume.acquire()
        self._closing = False
        # Held while a call is handed to the loop, and while shutdown stops taking calls:
        # a call handed over before that is answered, never left waiting.
        self._handover = _thread.allocate_lock()
        self._tasks: set[asyncio.Task[None]] = set()
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
        """Whether the loop has stopped (or is stopping), or belongs to a parent process."""
        return self._schedule is None or self.inherited

    @property
    def inherited(self) -> bool:
        """Whether this is a forked child's copy of a parent process's loop thread."""
        return self._generation != _forks

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``await fn(*args)`` on the loop and block until it finishes.

        Returns:
            What the coroutine returned.

        Raises:
            LoopThreadClosedError: the loop is closed.
            RuntimeError: called from the loop thread (that would deadlock).
            BaseException: whatever the coroutine raised, unchanged.
        """
        if self._generation != _forks:
            raise LoopThreadClosedError(
                "this event-loop thread belongs to the parent process (the process forked "
                "since); a forked child needs clients, iterators and streams of its own"
            )
        ident = threading.get_ident()
        if ident == self._thread.ident or ident == self._driver:
            raise RuntimeError("a blocking call was made from the client's own event-loop thread")
        call: _Call[T] = _Call(fn, args)
        on_main = ident == threading.main_thread().ident
        if self._parked and self._can_run_here(on_main):
            with self._lend_lock:
                if self._parked and self._schedule is not None:
                    self._parked = False
                    self._driver = ident
                    call.here = True
            if call.here:
                return self._run_here(call, on_main)
        self._submit(self._start, call)
        try:
            call.lock.acquire()
        except BaseException:
            # A Ctrl-C may land just after the acquire succeeded: then the call is done,
            # this thread holds its lock, and waiting for it again would block.
            if not call.done:
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
        if schedule is not None and self._generation == _forks:
            with suppress(RuntimeError):  # the loop stopped in the meantime
                schedule(fn)

    def close(self) -> None:
        """Cancel what still runs on the loop, stop it and join its thread. Idempotent."""
        if self.inherited:
            self._schedule = None  # the parent's loop: nothing of it runs here
            return
        stop = self._stop
        if stop is not None and self._schedule is not None:
            schedule, self._schedule = self._schedule, None
            with suppress(RuntimeError):  # the loop already stopped on its own
                schedule(stop)
        if threading.get_ident() not in (self._thread.ident, self._driver):
            self._thread.join()

    def stop_nowait(self) -> None:
        """Ask the loop to stop without waiting; safe from finalizers and any thread."""
        stop, schedule = self._stop, self._schedule
        self._schedule = None
        if stop is not None and schedule is not None and not self.inherited:
            with suppress(RuntimeError):
                schedule(stop)

    # -- caller side -----------------------------------------------------------------

    def _submit(self, fn: Callable[[_Call[Any]], None], call: _Call[Any]) -> None:
        with self._handover:
            schedule = self._schedule
            if schedule is None:
                raise LoopThreadClosedError(_CLOSED)
            try:
                schedule(fn, call)
            except RuntimeError as exc:  # the loop closed between the check and the call
                raise LoopThreadClosedError(_CLOSED) from exc

    def _submit_quietly(self, fn: Callable[[_Call[Any]], None], call: _Call[Any]) -> None:
        try:
            self._submit(fn, call)
        except LoopThreadClosedError:
            call.finish()

    # -- loop side ---------------------------------------------------------------------

    def _start(self, call: _Call[Any]) -> None:
        assert self._spawn is not None
        if self._closing:  # handed over while the loop shuts down: no task any more
            call.error = LoopThreadClosedError(_CLOSED)
            call.finish()
            return
        self._spawn(call)

    def _cancel(self, call: _Call[Any]) -> None:
        if call.handle is not None:
            assert self._cancel_handle is not None
            self._cancel_handle(call.handle)

    def _main(self) -> None:
        try:
            if self.backend == "asyncio":
                self._drive_asyncio()
            else:
                anyio.run(self._serve_trio, backend="trio")
        except BaseException as exc:  # noqa: BLE001 - reported to the constructor
            if not self._ready.is_set():
                self._startup_error = exc
        finally:
            self._schedule = None
            self._ready.set()

    # -- asyncio: a loop lent to idle callers ------------------------------------------

    def _can_run_here(self, on_main: bool) -> bool:
        """Whether this thread may run the loop: no loop of its own running, and no
        Python SIGINT handler of someone else's to keep out of the loop's code: Python's
        default one (its Ctrl-C is routed to the call), or SIGINT ignored or left to the
        OS (no handler runs at all, e.g. in a background job), or not the main thread.
        """
        if asyncio._get_running_loop() is not None:
            return False
        if _library_thread.name is not None:
            return False  # e.g. trio runs here: anyio in the call's task would take it for trio's
        return not on_main or _get_handler(signal.SIGINT) in _LENDABLE_SIGINT

    def _run_here(self, call: _Call[T], on_main: bool) -> T:
        """Run ``call`` by driving the parked loop on this thread, then hand the loop back.

        Ctrl-C (main thread only) cancels the task and keeps running the loop for its
        cleanup, at most ``cancel_grace`` seconds; a second Ctrl-C stops waiting once the
        running step ends (it is not raised into a task: that could be any task on the
        loop), a third breaks into a step that never ends. Either way, what is left is
        handed to the loop thread, and KeyboardInterrupt is raised.
        """
        loop = self._loop
        assert loop is not None
        lending = loop.lending
        lending.mode, lending.steps = _BLOCK, 0
        task = self._create_task(call)
        interrupts = 0
        grace: list[asyncio.TimerHandle] = []
        running = True

        def stop_this_run() -> None:
            # Scheduled from the SIGINT handler, so it may run after this run ended (on
            # the loop thread, or in a later call's run): then it must not stop that one.
            if running:
                loop.stop()

        def on_sigint(signum: int, frame: object) -> None:
            nonlocal interrupts
            interrupts += 1
            if interrupts == 2:  # stop waiting, at the end of the running step; not
                loop.call_soon_from_signal(stop_this_run)  # raised into whatever task runs
                return
            if interrupts > 2:  # a step that never yields: break into it after all
                raise KeyboardInterrupt
            task.cancel()
            loop.call_soon_from_signal(
                lambda: grace.append(loop.call_later(self.cancel_grace, stop_this_run))
            )

        routed = on_main and _get_handler(signal.SIGINT) is signal.default_int_handler
        previous = _set_handler(signal.SIGINT, on_sigint) if routed else None
        try:
            try:
                loop.run_forever()  # until the task is done and the loop would wait
            finally:
                running = False
                for handle in grace:
                    handle.cancel()
                if previous is not None:
                    _set_handler(signal.SIGINT, previous)
        except BaseException:  # e.g. a second Ctrl-C: the loop thread finishes the task
            if not interrupts:
                task.cancel()  # (a second cancel would break into a shielded cleanup)
            self._hand_back(idle=False)
            if not interrupts:
                call.lock.acquire(timeout=self.cancel_grace)
            raise
        self._hand_back(idle=lending.idle and task.done())
        if interrupts:  # the task is done, or cancel_grace ran out
            raise KeyboardInterrupt
        if call.error is not None:
            raise call.error
        return call.result  # type: ignore[return-value]

    def _hand_back(self, *, idle: bool) -> None:
        """After a call on a caller's thread: park the loop, or wake the loop thread."""
        loop = self._loop
        assert loop is not None
        with self._lend_lock:
            # A call_soon_threadsafe that came in after the selector's verdict is seen
            # here: it queued its callback before taking this lock.
            if idle and not self._closing and not loop.has_ready_callbacks():
                self._parked, self._driver = True, None
            else:
                self._resume_loop_thread()

    def _wake_if_parked(self) -> None:
        """Called after every ``call_soon_threadsafe``: a parked loop must run it."""
        with self._lend_lock:
            if self._parked:
                self._parked = False
                self._resume_loop_thread()

    def _resume_loop_thread(self) -> None:
        """Hand the loop to its own thread (with ``_lend_lock`` held)."""
        self._driver = self._thread.ident
        self._resume.release()

    async def _run_asyncio(self, call: _Call[Any]) -> None:
        try:
            call.result = await call.fn(*call.args)
        except asyncio.CancelledError:
            call.error = LoopThreadClosedError(_CANCELLED)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            call.error = exc
        finally:
            if call.here:
                assert self._loop is not None
                self._loop.lending.mode = _DRAIN
            call.finish()

    def _spawn_asyncio(self, call: _Call[Any]) -> None:
        if call.cancel_requested:
            call.finish()
            return
        self._create_task(call)

    def _create_task(self, call: _Call[Any]) -> asyncio.Task[None]:
        assert self._loop is not None
        task = self._loop.create_task(self._run_asyncio(call), context=_task_context())
        call.handle = task
        self._tasks.add(task)  # asyncio keeps only weak references to tasks
        task.add_done_callback(functools.partial(self._task_done, call))
        return task

    def _task_done(self, call: _Call[Any], task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not call.done:  # cancelled before its first step: its coroutine never ran
            call.error = LoopThreadClosedError(_CANCELLED)
            if call.here:
                assert self._loop is not None
                self._loop.lending.mode = _DRAIN
            call.finish()

    def _begin_close_asyncio(self) -> None:
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        if threading.get_ident() == self._thread.ident:
            assert self._loop is not None
            self._loop.stop()
        # On a caller's thread the cancelled call ends, and _hand_back wakes the loop thread.

    def _drive_asyncio(self) -> None:
        loop = _LendableLoop(self._wake_if_parked)
        try:
            self._loop = loop
            self._spawn = self._spawn_asyncio
            self._cancel_handle = lambda task: task.cancel()
            self._stop = self._begin_close_asyncio
            self._schedule = loop.call_soon_threadsafe
            self._parked = True  # nothing to do yet: the first call may run the loop itself
            self._ready.set()
            while not self._closing:
                self._resume.acquire()  # parked: until a caller hands it back or work comes
                while not self._closing:
                    loop.lending.mode, loop.lending.idle = _PARK, False
                    loop.run_forever()  # until idle (or closing)
                    with self._lend_lock:
                        # Parked only on the selector's word: any other stop (none is
                        # expected) must not park a loop with work in flight.
                        idle = loop.lending.idle and not loop.has_ready_callbacks()
                        if not self._closing and idle:
                            self._parked, self._driver = True, None
                            break  # else: work came in while it stopped
            loop.lending.mode = _BLOCK
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            with self._handover:
                self._schedule = None
            loop.run_until_complete(asyncio.sleep(0))  # calls handed over before: refused
        finally:
            with self._lend_lock:
                self._parked, self._driver = False, None
            loop.close()

    async def _serve_trio(self) -> None:
        import trio  # imported only for a trio loop thread

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
                    call.finish()

            def spawn(call: _Call[Any]) -> None:
                nursery.start_soon(run, call)

            def stop() -> None:
                self._closing = True  # from now on _start refuses calls (see there)
                stopped.set()

            self._spawn = spawn
            self._cancel_handle = lambda scope: scope.cancel()
            self._stop = stop
            self._schedule = token.run_sync_soon
            self._ready.set()
            await stopped.wait()
            nursery.cancel_scope.cancel()
