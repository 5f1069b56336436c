"""``AsyncDataClient``: the Doover Data API on anyio (asyncio and trio), drop-in for
pydoover's.

Method names, parameters and defaults equal pydoover 1.18's ``AsyncDataClient``. What
differs, on purpose:

* ``max_retries`` counts retries after the first attempt (pydoover counted attempts;
  ``0`` sent nothing at all). Retried: transport failures, timeouts, 408, 429 and 5xx,
  with capped exponential backoff, full jitter and ``Retry-After``. A create without a
  client-chosen id is re-sent only when it provably never reached the server.
* A 401 refreshes the token once (if the auth can) and re-sends once.
* ``timeout`` really applies: to each connect/read/write/pool wait and to each attempt
  as a whole.
* Usable without ``setup()``; ``close()``/``aclose()``/``async with`` close it.
* Iterators are exact in both directions and hold one page in memory: newest first
  from ``before`` (default now), or oldest first when only ``after`` is given; the
  multi-agent one follows the same rule (pydoover's walked its windows oldest first and
  skipped messages).
* Channel names are percent-escaped in paths; ``agent_id`` lists are sent 250 per request.
* ``agent_id=None`` means the client's ``agent_id`` (pydoover stored it but never used it).
* Naive datetimes are UTC (pydoover read them as local time).
* ``fetch_webpush_public_key`` sends no token and needs none.
* Attachment downloads are retried (a connection lost mid-body resumes where it
  stopped) and time out like every request; ``stream_message_attachment`` /
  ``stream_channel_aggregate_attachment`` (an :class:`AttachmentDownload`, chunks of
  ``bytes``) and ``download_message_attachment`` / ``download_channel_aggregate_attachment``
  (to a path or file) never hold the whole file in memory.
* ``ingest()`` (beyond pydoover) batches many creates with client-chosen ids, bounded
  and exactly once on the wire (:mod:`pydoover_anyio.ingest`, ``docs/ingest.md``).
* Errors are :mod:`pydoover_anyio.errors` classes; transport failures become
  ``DooverConnectionError`` and malformed bodies ``ResponseDecodeError``.
"""

from __future__ import annotations

from ._aggregates import AggregateMethods
from ._alarms import AlarmMethods
from ._base import DEFAULT_BASE_URL
from ._batch import BatchMethods
from ._channels import ChannelMethods
from ._connections import ConnectionMethods
from ._downloads import DEFAULT_CHUNK_SIZE, AttachmentDownload
from ._gateway import GatewayMethods
from ._ingest import IngestMethods
from ._iterators import (
    AsyncMessageIterator,
    AsyncMultiAgentMessageIterator,
    MessageIterator,
    MultiAgentMessageIterator,
)
from ._messages import MessageMethods
from ._multi_agent import AGENT_CHUNK, MultiAgentMethods
from ._notifications import NotificationMethods
from ._processors import ProcessorMethods

__all__ = [
    "AGENT_CHUNK",
    "DEFAULT_BASE_URL",
    "DEFAULT_CHUNK_SIZE",
    "AsyncDataClient",
    "AttachmentDownload",
    "AsyncMessageIterator",
    "AsyncMultiAgentMessageIterator",
    "MessageIterator",
    "MultiAgentMessageIterator",
]


class AsyncDataClient(
    ChannelMethods,
    MessageMethods,
    AggregateMethods,
    MultiAgentMethods,
    IngestMethods,
    BatchMethods,
    AlarmMethods,
    ConnectionMethods,
    NotificationMethods,
    ProcessorMethods,
    GatewayMethods,
):
    """Asynchronous client of the Doover Data API (asyncio or trio).

    Construct it anywhere; use it with ``async with`` (or call :meth:`close`). See
    :class:`~pydoover_anyio.client._base.ClientCore` for the constructor arguments.

    Example::

        async with AsyncDataClient(token="...") as client:
            channel = await client.fetch_channel(agent_id, "pump_log")
    """
