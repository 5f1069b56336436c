"""``Ingestor``: the blocking twin of :class:`AsyncIngestor`, for ``DataClient.ingest``.

The async ingestor runs on the ``DataClient``'s event-loop thread: it is entered and
exited in one task there (so its task group is owned as usual), and each blocking
``put``/``put_many``/``flush`` is one call onto that loop, built by the runtime's
generic :class:`~pydoover_anyio.runtime.sync_method` (no method body is written twice).
Ctrl-C during a blocked ``put`` cancels that put and re-raises; leaving the ``with``
with an exception then stops the ingestor like an exception in an ``async with``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Concatenate, ParamSpec

from ..runtime import sync_method
from ..runtime._backend.loop_thread import LoopThread
from ..runtime.facade import SyncFacade, _BlockingContext, _Bridged
from ._async import AsyncIngestor
from ._report import IngestReport, IngestStats

__all__ = ["Ingestor", "sync_ingest"]

P = ParamSpec("P")


class Ingestor:
    """Blocking ingestion into Doover; from ``DataClient.ingest(...)`` (see there).

    ``put``, ``put_many`` and ``flush`` block like their async twins; ``stats`` and
    ``report`` are read directly. Safe to use from several threads.
    """

    def __init__(self, loop: LoopThread, ingestor: AsyncIngestor) -> None:
        self._loop = loop
        self._ingestor = ingestor

    def _call_async(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        method = getattr(self._ingestor, name)
        if kwargs:
            method = functools.partial(method, **kwargs)
        return self._loop.call(method, *args)

    put = sync_method(AsyncIngestor.put)
    put_many = sync_method(AsyncIngestor.put_many)
    flush = sync_method(AsyncIngestor.flush)

    @property
    def instance_id(self) -> int | None:
        """The id lane of this ingestor's message ids."""
        return self._ingestor.instance_id

    @property
    def stats(self) -> IngestStats:
        """Progress counters now."""
        return self._ingestor.stats

    @property
    def report(self) -> IngestReport:
        """The outcome; final once the ``with`` block has exited."""
        return self._ingestor.report


class _BlockingIngest(AbstractContextManager[Ingestor]):
    """Enters the async ingestor on the loop; hands the sync side an :class:`Ingestor`."""

    def __init__(self, loop: LoopThread, factory: Callable[[], AsyncIngestor]) -> None:
        self._loop = loop
        self._context: _BlockingContext[AsyncIngestor] = _BlockingContext(loop, factory)

    def __enter__(self) -> Ingestor:
        return Ingestor(self._loop, self._context.__enter__())

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        return self._context.__exit__(exc_type, exc, tb)


class sync_ingest(_Bridged[P, AbstractContextManager[Ingestor]]):  # noqa: N801 - a decorator
    """``DataClient.ingest``: ``with client.ingest(...) as ingest: ingest.put(...)``."""

    def __init__(self, method: Callable[Concatenate[Any, P], AsyncIngestor]) -> None:
        super().__init__(method)

    def _invoke(
        self, facade: SyncFacade[Any], args: tuple[Any, ...], kw: dict[str, Any]
    ) -> AbstractContextManager[Ingestor]:
        loop = facade._loop_for_call()
        factory = functools.partial(getattr(facade._async_client, self._name), *args, **kw)
        return _BlockingIngest(loop, factory)
