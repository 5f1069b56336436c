"""The generic sync facade: blocking clients that run an async client on a loop thread.

A sync client is a :class:`SyncFacade` subclass that names the async client's methods
once, with no bodies::

    class Client(SyncFacade[AsyncClient]):
        get_users = sync_method(AsyncClient.get_users)
        iter_locations = sync_iterator(AsyncClient.iter_locations)
        stream_file = sync_stream(AsyncClient.stream_file, buffer=4)

Type checkers see ``Client().get_users`` with the async method's parameters and its
awaited return type, so no ``.pyi`` or hand-written twin is needed.

Rules this module enforces (DESIGN.md rule 2):

* Each facade owns one event-loop thread for its whole life; the async client and
  everything loop-bound is created on it, and the client is entered and exited in one
  task there (so it may hold a task group between ``__aenter__`` and ``__aexit__``).
* Ctrl-C during a blocking call cancels the call's task, waits for it, then re-raises;
  the client stays usable.
* Streams cross the thread boundary through a bounded memory stream filled by a producer
  task that owns the async iterator; the sync side pulls batches, never steps a
  generator across threads.
* After ``fork()`` the child rebuilds its loop thread and async client on first use
  instead of hanging on the parent's dead thread. An iterator, stream or context the
  parent opened is the parent's: in the child it raises ``ClientClosedError`` once its
  buffered items are used up, and its finalizer does nothing.
* ``close()`` (or ``with``) closes the async client and joins the thread. A forgotten
  client's finalizer only stops the thread; it never runs async cleanup.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager, suppress
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    NamedTuple,
    ParamSpec,
    Protocol,
    TypeVar,
    overload,
)

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._backend.loop_thread import Backend, LoopThread
from .errors import ClientClosedError

__all__ = [
    "BlockingIterator",
    "LoopHandle",
    "SyncFacade",
    "sync_context",
    "sync_iterator",
    "sync_method",
    "sync_stream",
    "sync_wrapped_context",
]

P = ParamSpec("P")
T = TypeVar("T")
U = TypeVar("U")
A = TypeVar("A", bound=AbstractAsyncContextManager[Any])

#: Seconds an async context manager gets to exit when its loop shuts down under it.
_EXIT_GRACE = 5.0

#: Items buffered between a producer task on the loop and a sync consumer.
STREAM_BUFFER = 256


class SyncFacade(Generic[A]):
    """Base class of blocking clients driving an async client on a private loop thread.

    Args:
        factory: builds the async client; called on the loop thread (again after a fork).
        backend: the loop thread's anyio backend, ``"asyncio"`` or ``"trio"``.
    """

    def __init__(self, factory: Callable[[], A], *, backend: Backend = "asyncio") -> None:
        self._factory = factory
        self._backend: Backend = backend
        self._closed = False
        self._start()

    def _start(self) -> None:
        loop = LoopThread(self._backend, name=f"{type(self).__name__}-loop")
        finalizer = weakref.finalize(self, loop.stop_nowait)
        try:
            # Entered and exited in one long-lived task on the loop, so the async client
            # may own a task group for its whole life (the gateway does).
            lifetime: _Runner[A] = loop.call(_new_runner, self._factory)
            client = loop.call(lifetime.start, loop)
        except BaseException:
            finalizer.detach()
            loop.close()
            raise
        self._finalizer = finalizer
        # Per loop: a forked child's copy of the old one may be held by a parent's thread.
        self._closing = threading.Lock()
        # One assignment: another thread sees the old loop and client or the new ones.
        self._bound: _Bound[A] = _Bound(loop, client, lifetime)

    @property
    def _loop(self) -> LoopThread:
        return self._bound.loop

    @property
    def _async_client(self) -> A:
        return self._bound.client

    def _loop_for_call(self) -> _Bound[A]:
        """The loop and the async client a call uses (rebuilt first after a fork)."""
        if self._closed:
            raise ClientClosedError(f"this {type(self).__name__} is closed; create a new one")
        bound = self._bound
        if bound.loop.inherited:
            # A forked child: the parent's loop thread does not exist here. Abandon it and
            # the async client (their sockets belong to the parent) and start afresh,
            # once, however many of the child's threads call at the same time.
            with _rebuild_lock:
                bound = self._bound
                if bound.loop.inherited:
                    self._finalizer.detach()
                    self._start()
                    bound = self._bound
        return bound

    def _call_async(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        loop, client, _ = self._loop_for_call()
        method = getattr(client, name)
        if kwargs:
            method = functools.partial(method, **kwargs)
        return loop.call(method, *args)

    def close(self) -> None:
        """Close the async client and join the loop thread. Idempotent: a second close,
        from any thread, returns once the first one is done."""
        loop, _, lifetime = self._bound
        if loop.inherited:  # a forked child's copy: nothing of the parent's loop runs here
            self._closed = True
            self._finalizer.detach()
            loop.close()
            return
        with self._closing:
            if self._closed:
                return
            self._closed = True
            self._finalizer.detach()
            try:
                loop.call(lifetime.finish, (None, None, None))
            finally:
                loop.close()

    def __enter__(self: _F) -> _F:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_F = TypeVar("_F", bound=SyncFacade[Any])


class _Bound(NamedTuple, Generic[T]):
    """What a facade's calls run on: its loop thread, the async client and its runner."""

    loop: LoopThread
    client: T
    lifetime: _Runner[T]


#: What a forked child's facades rebuild under (renewed in every child).
_rebuild_lock = threading.Lock()


def _renew_rebuild_lock() -> None:
    global _rebuild_lock  # a forked child's copy may be held by a thread it lacks
    _rebuild_lock = threading.Lock()


os.register_at_fork(after_in_child=_renew_rebuild_lock)


class _Bridged(Generic[P, T]):
    """Shared machinery of the facade descriptors: the blocking function and its name.

    Once its class is created, it puts that function in its own place
    (``__set_name__``), so the class holds a plain function, as for a method written out:
    ``inspect.signature``, ``help`` and ``mock.create_autospec`` see the async method's
    parameters, and ``Client.get_users(client)`` works. The descriptor protocol below is
    only what type checkers see.
    """

    def __init__(self, method: Callable[Concatenate[Any, P], Any]) -> None:
        self._name = method.__name__
        self._impl = _make_impl(self._invoke, method)

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self._impl.__qualname__ = f"{owner.__qualname__}.{name}"
        self._impl.__module__ = owner.__module__
        setattr(owner, name, self._impl)

    def _invoke(self, facade: SyncFacade[Any], args: tuple[Any, ...], kw: dict[str, Any]) -> T:
        raise NotImplementedError

    def _bind(
        self, facade: SyncFacade[Any], args: tuple[Any, ...], kw: dict[str, Any]
    ) -> tuple[LoopThread, Callable[[], Any]]:
        """The facade's loop, and the async method bound to this call's arguments."""
        loop, client, _ = facade._loop_for_call()
        return loop, functools.partial(getattr(client, self._name), *args, **kw)

    if TYPE_CHECKING:

        @overload
        def __get__(self, obj: None, owner: type[Any]) -> Callable[Concatenate[Any, P], T]: ...
        @overload
        def __get__(self, obj: object, owner: type[Any]) -> Callable[P, T]: ...
        def __get__(self, obj: object, owner: type[Any]) -> Any: ...


def _make_impl(invoke: Callable[..., Any], method: Callable[..., Any]) -> Callable[..., Any]:
    def impl(facade: SyncFacade[Any], /, *args: Any, **kwargs: Any) -> Any:
        return invoke(facade, args, kwargs)

    impl.__name__ = method.__name__
    impl.__qualname__ = method.__qualname__
    impl.__doc__ = method.__doc__
    impl.__signature__ = _sync_signature(method)  # type: ignore[attr-defined]
    return impl


def _sync_signature(method: Callable[..., Any]) -> inspect.Signature:
    """The async method's signature with its return annotation made synchronous."""
    try:
        return inspect.signature(method)
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        return inspect.Signature()


class sync_method(_Bridged[P, T]):  # noqa: N801 - reads like a decorator
    """A blocking twin of an async method: ``sync_method(AsyncClient.get_users)``."""

    def __init__(self, method: Callable[Concatenate[Any, P], Awaitable[T]]) -> None:
        super().__init__(method)

    def _invoke(self, facade: SyncFacade[Any], args: tuple[Any, ...], kw: dict[str, Any]) -> T:
        result: T = facade._call_async(self._name, args, kw)
        return result


class sync_iterator(_Bridged[P, Iterator[T]]):  # noqa: N801 - reads like a decorator
    """A blocking iterator over an async-iterator method's items."""

    def __init__(self, method: Callable[Concatenate[Any, P], AsyncIterator[T]]) -> None:
        super().__init__(method)

    def _invoke(
        self, facade: SyncFacade[Any], args: tuple[Any, ...], kw: dict[str, Any]
    ) -> Iterator[T]:
        loop, method = self._bind(facade, args, kw)
        return BlockingIterator(loop, method, owner=facade)


class sync_context(_Bridged[P, AbstractContextManager[T]]):  # noqa: N801
    """A ``with`` twin of an async-context-manager method.

    The async context manager is entered and exited in one task on the loop thread, so
    it may own a task group. A value that is async-iterable is handed to the sync side
    as a :class:`BlockingIterator` holding at most ``buffer`` items on each side of the
    thread boundary (keep it small when items are large, e.g. chunks of a download).
    """

    def __init__(
        self,
        method: Callable[Concatenate[Any, P], AbstractAsyncContextManager[T]],
        *,
        buffer: int = STREAM_BUFFER,
    ) -> None:
        super().__init__(method)
        self._buffer = buffer

    #: Items held on each side of the thread boundary for an async-iterable value.
    _buffer: int = STREAM_BUFFER
    #: What the ``with`` gives instead of the value (see :class:`sync_wrapped_context`).
    _wrap: Callable[[LoopHandle, Any], T] | None = None

    def _invoke(
        self, facade: SyncFacade[Any], args: tuple[Any, ...], kw: dict[str, Any]
    ) -> AbstractContextManager[T]:
        loop, method = self._bind(facade, args, kw)
        return _BlockingContext(loop, method, buffer=self._buffer, wrap=self._wrap, owner=facade)


class sync_stream(sync_context[P, "BlockingIterator[U]"]):  # noqa: N801
    """A ``with`` twin of an async-context-manager method whose value is async-iterable.

    Same as :class:`sync_context`, typed for what the sync side gets: a
    :class:`BlockingIterator` of the items. ``buffer`` bounds the items held on each side
    of the thread boundary.
    """

    def __init__(
        self,
        method: Callable[Concatenate[Any, P], AbstractAsyncContextManager[AsyncIterable[U]]],
        *,
        buffer: int = STREAM_BUFFER,
    ) -> None:
        _Bridged.__init__(self, method)
        self._buffer = buffer


class LoopHandle(Protocol):
    """A facade's loop thread, as :class:`sync_wrapped_context` hands it to its ``wrap``."""

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``await fn(*args)`` on the loop; block until it returns (or raise what it
        raised)."""
        ...

    def run_soon(self, fn: Callable[[], object]) -> None:
        """Schedule the plain call ``fn()`` on the loop from any thread, without waiting;
        a no-op once the loop is closed."""
        ...

    @property
    def inherited(self) -> bool:
        """Whether this is a forked child's copy of a parent process's loop thread."""
        ...


class sync_wrapped_context(sync_context[P, U], Generic[P, T, U]):  # noqa: N801
    """A ``with`` twin of an async-context-manager method whose value has a sync twin.

    Entered and exited like :class:`sync_context`; the sync side gets ``wrap(loop,
    value)``, where ``loop`` (a :class:`LoopHandle`) runs coroutines on the same loop, so
    the twin can bridge the entered async object's methods with :class:`sync_method` (it
    needs a ``_call_async(name, args, kwargs)`` that looks them up on that object), and
    hand work to the loop without waiting (``loop.run_soon``).
    """

    def __init__(
        self,
        method: Callable[Concatenate[Any, P], AbstractAsyncContextManager[T]],
        wrap: Callable[[LoopHandle, T], U],
    ) -> None:
        _Bridged.__init__(self, method)
        self._wrap = wrap


class _Pump(Generic[T]):
    """Loop side of a :class:`BlockingIterator`: a producer task and its buffer.

    The producer takes items from the source only as the consumer asks for them:
    none before the first batch is asked for, then at most as many ahead of what the
    consumer has taken as it has taken (up to ``buffer``). So a source that fetches
    pages is read at most about twice as far as consumed (``for m in it: break`` costs
    one page, as with a plain loop), while a long iteration soon has the whole buffer
    working ahead of it. An ``eager`` pump (for a source that pushes, such as a
    subscription, whose items arrive whether or not they are asked for) fills its whole
    buffer from the start, so a burst has all of it to land in.
    """

    def __init__(
        self,
        source: Callable[[], AsyncIterator[T]] | AsyncIterable[T],
        buffer: int = STREAM_BUFFER,
        *,
        eager: bool = False,
    ) -> None:
        self._source = source
        send: MemoryObjectSendStream[T]
        receive: MemoryObjectReceiveStream[T]
        send, receive = anyio.create_memory_object_stream(buffer)
        self._send, self._receive = send, receive
        self._scope = anyio.CancelScope()
        self._finished = anyio.Event()
        self._failure: BaseException | None = None
        self._lead = max(1, buffer)  # the most the producer runs ahead of the consumer
        self._taken = 0  # items handed to the consumer
        self._produced = 0  # items taken from the source
        # Items the producer may have taken from the source by now.
        self._allowed = sys.maxsize if eager else 0
        self._demand = anyio.Event()

    async def produce(self) -> None:
        try:
            with self._scope:
                async with self._send:
                    source = self._source
                    iterator = aiter(source() if callable(source) else source)
                    while True:
                        while self._produced >= self._allowed:
                            await self._demand.wait()
                            self._demand = anyio.Event()
                        try:
                            item = await anext(iterator)
                        except StopAsyncIteration:
                            break
                        self._produced += 1
                        await self._send.send(item)
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as exc:  # noqa: BLE001 - re-raised on the consumer side
            self._failure = exc  # (SystemExit too: the iteration did not end)
        finally:
            self._finished.set()

    async def next_batch(self, limit: int) -> list[T]:
        """Wait for at least one item; return what is buffered (empty at the end)."""
        taken = self._taken
        allowed = taken + 1 + min(taken, self._lead)  # the item wanted, and the lead
        if allowed > self._allowed:
            self._allowed = allowed
            self._demand.set()
        batch = await self._receive_batch(limit)
        self._taken += len(batch)
        return batch

    async def _receive_batch(self, limit: int) -> list[T]:
        try:
            batch = [await self._receive.receive()]
        except anyio.EndOfStream:
            batch = []
        if not batch:
            await self._finished.wait()
            if self._failure is not None:
                raise self._failure  # as raised: its __cause__ kept, no EndOfStream context
            return []
        while len(batch) < limit:
            try:
                batch.append(self._receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
        return batch

    def cancel(self) -> None:
        self._scope.cancel()

    async def aclose(self) -> None:
        self._scope.cancel()
        await self._finished.wait()
        self._receive.close()


async def _start_pump(
    loop: LoopThread,
    source: Callable[[], AsyncIterator[T]] | AsyncIterable[T],
    buffer: int = STREAM_BUFFER,
    eager: bool = False,
) -> _Pump[T]:
    # Created on the loop: its stream and events are loop-bound.
    pump = _Pump(source, buffer, eager=eager)
    loop.spawn(pump.produce)
    return pump


class BlockingIterator(Iterator[T]):
    """A sync iterator fed by a producer task on the loop thread.

    Items are pulled in batches (one cross-thread call per batch, not per item), and
    produced on demand: nothing is taken from the source before the first ``next()``,
    and then at most about twice what was consumed (see :class:`_Pump`). Closing
    the iterator (``close()``, ``with``, exhaustion or garbage collection) cancels the
    producer. At most ``buffer`` items wait on the loop side and ``batch`` on this side.
    ``owner`` (the facade it came from) is kept alive while the iterator is, so its
    finalizer does not stop the loop under it. ``eager``: the source pushes (see
    :class:`_Pump`).
    """

    def __init__(
        self,
        loop: LoopThread,
        source: Callable[[], AsyncIterator[T]] | AsyncIterable[T],
        *,
        batch: int = STREAM_BUFFER,
        buffer: int = STREAM_BUFFER,
        owner: object = None,
        eager: bool = False,
    ) -> None:
        self._owner = owner
        self._loop = loop
        self._batch = batch
        self._buffer: deque[T] = deque()
        self._pump: _Pump[T] | None = loop.call(_start_pump, loop, source, buffer, eager)

    def __iter__(self) -> BlockingIterator[T]:
        return self

    def __next__(self) -> T:
        if self._buffer and not self._loop.inherited:  # a forked child's copy raises below
            return self._buffer.popleft()
        pump = self._pump
        if pump is None:
            raise StopIteration
        try:
            batch = self._loop.call(pump.next_batch, self._batch)
        except BaseException:
            self.close()
            raise
        if not batch:
            self.close()
            raise StopIteration
        self._buffer.extend(batch)
        return self._buffer.popleft()

    def close(self) -> None:
        """Stop the producer and drop buffered items. Idempotent."""
        pump, self._pump = self._pump, None
        self._buffer.clear()
        if pump is not None and not self._loop.closed:
            self._loop.call(pump.aclose)

    def __enter__(self) -> BlockingIterator[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # Only a non-blocking stop request: no async cleanup from a finalizer.
        pump = getattr(self, "_pump", None)
        if pump is not None:
            self._pump = None
            self._loop.run_soon(pump.cancel)


class _Runner(Generic[T]):
    """Enters and exits an async context manager in one task on the loop thread."""

    def __init__(self, factory: Callable[[], AbstractAsyncContextManager[T]]) -> None:
        self._factory = factory
        self._entered = anyio.Event()
        self._exit_requested = anyio.Event()
        self._done = anyio.Event()
        self._exit_info: tuple[Any, Any, Any] = (None, None, None)
        self.value: T | None = None
        self.enter_error: BaseException | None = None
        self.exit_error: BaseException | None = None
        self.suppress = False
        #: Cancelled by :meth:`finish` while the manager is still being entered (the
        #: caller gave up waiting): it covers the whole run, since ``__aenter__`` may
        #: leave scopes of its own open (a task group) until ``__aexit__``.
        self._scope = anyio.CancelScope()

    async def run(self) -> None:
        try:
            with self._scope:
                try:
                    manager = self._factory()
                    self.value = await manager.__aenter__()
                except Exception as exc:  # noqa: BLE001 - re-raised on the caller's side
                    self.enter_error = exc
                    return
                self._entered.set()
                try:
                    await self._exit_requested.wait()
                except BaseException as exc:  # the loop is shutting down: exit, then go
                    with anyio.CancelScope(shield=True), anyio.move_on_after(_EXIT_GRACE):
                        await manager.__aexit__(type(exc), exc, exc.__traceback__)
                    raise
                try:
                    self.suppress = bool(await manager.__aexit__(*self._exit_info))
                except Exception as exc:  # noqa: BLE001 - re-raised on the caller's side
                    self.exit_error = exc
        finally:
            self._entered.set()
            self._done.set()

    async def start(self, loop: LoopThread) -> T:
        loop.spawn(self.run)
        await self._entered.wait()
        if self.enter_error is not None:
            raise self.enter_error
        return self.value  # type: ignore[return-value]

    async def cancel(self) -> None:
        """Cancel the run wherever it is (an exit under way, say) and wait for its end."""
        self._scope.cancel()
        await self._done.wait()

    async def finish(self, exc_info: tuple[Any, Any, Any]) -> bool:
        self._exit_info = exc_info
        self._exit_requested.set()
        if not self._entered.is_set():  # still in ``__aenter__``: nothing to exit
            self._scope.cancel()
        await self._done.wait()
        if self.exit_error is not None:
            raise self.exit_error
        return self.suppress


async def _new_runner(factory: Callable[[], AbstractAsyncContextManager[T]]) -> _Runner[T]:
    return _Runner(factory)  # created on the loop: its events are loop-bound


class _BlockingContext(AbstractContextManager[T]):
    """Enters and exits an async context manager on the loop; the ``with`` gives its value,
    ``wrap(loop, value)`` if a ``wrap`` is given, else an async-iterable one as a
    :class:`BlockingIterator`. ``owner`` is kept alive as :class:`BlockingIterator`'s."""

    def __init__(
        self,
        loop: LoopThread,
        factory: Callable[[], AbstractAsyncContextManager[Any]],
        *,
        buffer: int = STREAM_BUFFER,
        wrap: Callable[[LoopHandle, Any], T] | None = None,
        owner: object = None,
    ) -> None:
        self._owner = owner
        self._loop = loop
        self._buffer = buffer
        self._wrap = wrap
        self._runner: _Runner[Any] = loop.call(_new_runner, factory)
        self._iterator: BlockingIterator[Any] | None = None

    def __enter__(self) -> T:
        try:
            value = self._loop.call(self._runner.start, self._loop)
        except BaseException as exc:
            if not self._loop.closed:  # interrupted while entering: exit what was entered
                with suppress(Exception):
                    self._loop.call(self._runner.finish, (type(exc), exc, exc.__traceback__))
            raise
        try:
            if self._wrap is not None:
                return self._wrap(self._loop, value)
            if isinstance(value, AsyncIterable):
                size = self._buffer
                # A context's iterable value pushes (a subscription): read it eagerly.
                self._iterator = BlockingIterator(
                    self._loop, value, batch=size, buffer=size, owner=self._owner, eager=True
                )
                return self._iterator  # type: ignore[return-value]
        except BaseException as exc:  # entered but not handed over (a Ctrl-C): exit it
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return value  # type: ignore[no-any-return]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if self._iterator is not None:
            self._iterator.close()
        try:
            return self._loop.call(self._runner.finish, (exc_type, exc, tb))
        except BaseException:
            # Interrupted while exiting (Ctrl-C): the exit is cancelled, as cancelling
            # an ``async with`` cancels its exit, and its cleanup waited for.
            if not self._loop.closed:
                with suppress(Exception):
                    self._loop.call(self._runner.cancel)
            raise
