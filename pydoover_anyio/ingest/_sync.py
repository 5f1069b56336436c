"""``Ingestor``: the blocking twin of :class:`AsyncIngestor`, for ``DataClient.ingest``.

``DataClient.ingest`` is a :class:`~pydoover_anyio.runtime.sync_wrapped_context`: the
async ingestor is entered and exited in one task on the ``DataClient``'s event-loop
thread (so its task group is owned as usual), and the sync side gets an
:class:`Ingestor`.

* ``put`` and ``put_many`` run on the calling thread: they check the item, mint its id
  and hand it to the ingestor's inbox (``AsyncIngestor._offer``), which one scheduled
  call on the loop moves into the buffer. No round trip to the loop thread per item:
  that cost 130-200 µs a ``put``. Only a full buffer makes a ``put`` block, as one call
  onto the loop that waits for room (Ctrl-C cancels that wait and re-raises; the item
  was not accepted).
* In a process forked while the ingestor was open, ``put``, ``stats`` and ``report``
  raise ``ClientClosedError``: the ingestor and its loop are the parent's (the child would
  queue items nobody sends, or wait for a lock a parent's thread held at fork time).
* ``flush`` is one call onto the loop, built by the runtime's generic
  :class:`~pydoover_anyio.runtime.sync_method` (no method body is written twice).
* Leaving the ``with`` with an exception stops the ingestor like an exception in an
  ``async with``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..models import BatchMutationItem
from ..runtime import ClientClosedError, LoopHandle, sync_method
from ._async import AsyncIngestor, put_arguments
from ._report import IngestReport, IngestStats

__all__ = ["Ingestor"]


class Ingestor:
    """Blocking ingestion into Doover; from ``DataClient.ingest(...)`` (see there).

    ``put`` and ``put_many`` return at once unless the buffer is full; ``flush`` blocks
    like its async twin; ``stats`` and ``report`` are read directly. Safe to use from
    several threads.
    """

    def __init__(self, loop: LoopHandle, ingestor: AsyncIngestor) -> None:
        self._loop = loop
        self._call = loop.call
        self._ingestor = ingestor
        ingestor._open_inbox(loop.run_soon)

    def _check_owned(self) -> None:
        if self._loop.inherited:
            raise ClientClosedError(
                "this ingestor belongs to the parent process (the process forked since "
                "it opened); open a new one in the child"
            )

    def _call_async(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        method = getattr(self._ingestor, name)
        if kwargs:
            method = functools.partial(method, **kwargs)
        return self._call(method, *args)

    def put(
        self,
        agent_id: int | None,
        channel_name: str,
        data: Any,
        timestamp: datetime | int | None = None,
        *,
        ttl: int | None = None,
        message_id: int | None = None,
        suppress_hooks: bool | None = None,
    ) -> int:
        """Queue one message; block while the buffer is full.

        Arguments, result and errors are those of :meth:`AsyncIngestor.put`.
        """
        self._check_owned()  # a forked child's copy would take items and never send them
        ingestor = self._ingestor
        agent, wire, at_ms = ingestor._prepare(
            agent_id, channel_name, data, timestamp, ttl, suppress_hooks
        )
        while (taken := ingestor._offer(agent, wire, at_ms, message_id)) is None:
            self._call(ingestor._wait_for_room)
        return taken

    def put_many(self, items: Iterable[BatchMutationItem]) -> list[int]:
        """Queue several messages given as :class:`BatchMutationItem`; their ids.

        As :meth:`AsyncIngestor.put_many`: each accepted item gets its id written in, and
        items before a failing one stay queued.
        """
        ids = []
        for item in items:
            args, kwargs = put_arguments(item)
            message_id = self.put(*args, **kwargs)
            item.message_id = message_id
            ids.append(message_id)
        return ids

    flush = sync_method(AsyncIngestor.flush)

    @property
    def instance_id(self) -> int | None:
        """The id lane of this ingestor's message ids."""
        return self._ingestor.instance_id

    @property
    def stats(self) -> IngestStats:
        """Progress counters now."""
        self._check_owned()  # a lock held at fork time by a parent's thread stays held here
        return self._ingestor.stats

    @property
    def report(self) -> IngestReport:
        """The outcome; final once the ``with`` block has exited."""
        self._check_owned()
        return self._ingestor.report
