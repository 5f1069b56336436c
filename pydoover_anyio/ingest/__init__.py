"""Ingestion: many messages into Doover as batch creates, exactly once on the wire.

::

    async with client.ingest(concurrency=16) as ingest:
        for row in rows:
            await ingest.put(agent_id, "pump_log", row)
    print(ingest.report.summary())

    with data_client.ingest() as ingest:  # the same, blocking
        ingest.put(agent_id, "pump_log", {"rpm": 1450})

* :class:`AsyncIngestor` / :class:`Ingestor`: from ``AsyncDataClient.ingest`` /
  ``DataClient.ingest``; ``put``, ``put_many``, ``flush``, ``stats``, ``report``.
* :class:`IngestReport`, :class:`IngestFailure`, :class:`FailureKind`,
  :class:`IngestStats`: what happened to every item.
* :class:`IngestError`: raised at the end of a block whose items did not all make it.

Guarantees, ids and their limits: ``docs/ingest.md``.
"""

from __future__ import annotations

from ._async import DEFAULT_CONCURRENCY, DEFAULT_LINGER, AsyncIngestor
from ._report import FailureKind, IngestError, IngestFailure, IngestReport, IngestStats
from ._sync import Ingestor

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_LINGER",
    "AsyncIngestor",
    "FailureKind",
    "IngestError",
    "IngestFailure",
    "IngestReport",
    "IngestStats",
    "Ingestor",
]
