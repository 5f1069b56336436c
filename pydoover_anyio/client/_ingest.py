"""``client.ingest()``: the ingestion pipeline over ``batch_create_messages``.

The pipeline itself is :mod:`pydoover_anyio.ingest`; this mixin only wires it to the
client: its batch create, its retry policy (read per batch, so a later change of
``max_retries`` applies) and its default agent.
"""

from __future__ import annotations

from typing import Any

from ..ingest import DEFAULT_CONCURRENCY, DEFAULT_LINGER, AsyncIngestor
from ..ingest._async import ItemRetry, ProgressCallback
from ..models import MAX_BATCH_MUTATIONS, BatchMutationResponse
from ..runtime import RetryPolicy
from ._batch import BatchMethods

__all__ = ["IngestMethods"]


class IngestMethods(BatchMethods):
    """Bulk message ingestion."""

    def ingest(
        self,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        batch_size: int = MAX_BATCH_MUTATIONS,
        buffer_size: int | None = None,
        linger: float = DEFAULT_LINGER,
        instance_id: int | None = None,
        organisation_id: int | None = None,
        on_progress: ProgressCallback | None = None,
        raise_on_failure: bool = True,
        retry_item: ItemRetry | None = None,
    ) -> AsyncIngestor:
        """An ingestor: ``async with client.ingest() as ingest: await ingest.put(...)``.

        Items are sent as batch creates of up to ``batch_size``, each item with a
        client-chosen id, so retries never duplicate a message. See ``docs/ingest.md``.

        Args:
            concurrency: Batch requests in flight at most.
            batch_size: Items per request at most (1..50).
            buffer_size: Items buffered before ``put`` waits (default
                ``2 * concurrency * batch_size``).
            linger: Seconds a part-filled batch waits for more items.
            instance_id: The id lane (0..1023); default a random free one in 1..1023.
            organisation_id: The organisation header of every request.
            on_progress: Called with the counters after each batch request.
            raise_on_failure: Raise ``IngestError`` at a normal exit if an item failed.
            retry_item: Which per-item failures to send again (default: none).

        Returns:
            The ingestor, started by its ``async with``.

        Raises:
            ValueError: A size or duration out of range.
        """
        return AsyncIngestor(
            self._ingest_batch,
            retry_policy=self._ingest_retry_policy,
            resolve_agent=self._agent,
            concurrency=concurrency,
            batch_size=batch_size,
            buffer_size=buffer_size,
            linger=linger,
            instance_id=instance_id,
            organisation_id=organisation_id,
            on_progress=on_progress,
            raise_on_failure=raise_on_failure,
            retry_item=retry_item,
        )

    async def _ingest_batch(
        self, items: list[dict[str, Any]], organisation_id: int | None
    ) -> BatchMutationResponse:
        # The wire items the ingestor built once, at put time; every one carries its
        # message_id, so the request is idempotent.
        return await self._post_message_batch(items, organisation_id, idempotent=True)

    def _ingest_retry_policy(self) -> RetryPolicy:
        return self._transport.retry
