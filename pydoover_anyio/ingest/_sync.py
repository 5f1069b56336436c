"""``Ingestor``: the blocking twin of :class:`AsyncIngestor`, for ``DataClient.ingest``.

``DataClient.ingest`` is a :class:`~pydoover_anyio.runtime.sync_wrapped_context`: the
async ingestor is entered and exited in one task on the ``DataClient``'s event-loop
thread (so its task group is owned as usual), and the sync side gets an
:class:`Ingestor` whose blocking ``put``/``put_many``/``flush`` are each one call onto
that loop, built by the runtime's generic
:class:`~pydoover_anyio.runtime.sync_method` (no method body is written twice).
Ctrl-C during a blocked ``put`` cancels that put and re-raises; leaving the ``with``
with an exception then stops the ingestor like an exception in an ``async with``.
"""

from __future__ import annotations

import functools
from typing import Any

from ..runtime import LoopCall, sync_method
from ._async import AsyncIngestor
from ._report import IngestReport, IngestStats

__all__ = ["Ingestor"]


class Ingestor:
    """Blocking ingestion into Doover; from ``DataClient.ingest(...)`` (see there).

    ``put``, ``put_many`` and ``flush`` block like their async twins; ``stats`` and
    ``report`` are read directly. Safe to use from several threads.
    """

    def __init__(self, call: LoopCall, ingestor: AsyncIngestor) -> None:
        self._call = call
        self._ingestor = ingestor

    def _call_async(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        method = getattr(self._ingestor, name)
        if kwargs:
            method = functools.partial(method, **kwargs)
        return self._call(method, *args)

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
