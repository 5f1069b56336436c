"""Batch mutations (spec §3.7): up to 50 message/aggregate writes in one request.

A batch may partially succeed (no rollback): retry only ``response.failures``. A batch
create is re-sent after an ambiguous failure only when every item carries its own
``message_id``; updates and deletes name their messages and are always safe to repeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..models import MAX_BATCH_MUTATIONS, BatchMutationItem, BatchMutationResponse
from ._base import ClientCore

__all__ = ["BatchMethods"]


def _batch_body(items: Sequence[BatchMutationItem]) -> dict[str, Any]:
    """The request body, after the server's size rules are checked here.

    Raises:
        ValueError: no items, or more than ``MAX_BATCH_MUTATIONS``.
    """
    if not items:
        raise ValueError("batch must contain at least one item")
    if len(items) > MAX_BATCH_MUTATIONS:
        raise ValueError(
            f"batch cannot contain more than {MAX_BATCH_MUTATIONS} items, got {len(items)}"
        )
    return {"items": [item.to_dict() for item in items]}


class BatchMethods(ClientCore):
    """Writes spanning several agents and channels in one request."""

    async def batch_create_messages(
        self, items: list[BatchMutationItem], organisation_id: int | None = None
    ) -> BatchMutationResponse:
        """Create up to 50 messages; give items a ``message_id`` to make it idempotent.

        Args:
            items: the messages (each names its agent and channel).
            organisation_id: organisation header for this call.

        Returns:
            Per-item outcomes in request order.

        Raises:
            ValueError: no items, or more than 50.
        """
        body = _batch_body(items)
        return await self._post_message_batch(
            body["items"],
            organisation_id,
            idempotent=all(item.message_id is not None for item in items),
        )

    async def _post_message_batch(
        self, wire_items: list[dict[str, Any]], organisation_id: int | None, *, idempotent: bool
    ) -> BatchMutationResponse:
        """``POST /agents/messages`` with items already in their wire form."""
        result: BatchMutationResponse = await self._call(
            BatchMutationResponse,
            "POST",
            "/agents/messages",
            json={"items": wire_items},
            organisation_id=organisation_id,
            idempotent=idempotent,
        )
        return result

    async def batch_update_messages(
        self,
        items: list[BatchMutationItem],
        replace_data: bool = False,
        organisation_id: int | None = None,
    ) -> BatchMutationResponse:
        """Merge into (or with ``replace_data`` replace) up to 50 messages.

        Args:
            items: the updates; each needs a ``message_id``.
            replace_data: replace each message's data instead of merging.
            organisation_id: organisation header for this call.

        Returns:
            Per-item outcomes in request order.

        Raises:
            ValueError: no items, or more than 50.
        """
        result: BatchMutationResponse = await self._call(
            BatchMutationResponse,
            "PUT" if replace_data else "PATCH",
            "/agents/messages",
            json=_batch_body(items),
            organisation_id=organisation_id,
            idempotent=True,
        )
        return result

    async def batch_delete_messages(
        self, items: list[BatchMutationItem], organisation_id: int | None = None
    ) -> BatchMutationResponse:
        """Delete up to 50 messages.

        Args:
            items: the messages; each needs a ``message_id``.
            organisation_id: organisation header for this call.

        Returns:
            Per-item outcomes in request order.

        Raises:
            ValueError: no items, or more than 50.
        """
        result: BatchMutationResponse = await self._call(
            BatchMutationResponse,
            "DELETE",
            "/agents/messages",
            json=_batch_body(items),
            organisation_id=organisation_id,
        )
        return result

    async def batch_update_aggregates(
        self, items: list[BatchMutationItem], organisation_id: int | None = None
    ) -> BatchMutationResponse:
        """Deep-merge up to 50 aggregate patches (``replace`` lists paths to overwrite).

        Args:
            items: the patches (each names its agent and channel).
            organisation_id: organisation header for this call.

        Returns:
            Per-item outcomes in request order.

        Raises:
            ValueError: no items, or more than 50.
        """
        result: BatchMutationResponse = await self._call(
            BatchMutationResponse,
            "PATCH",
            "/agents/aggregates",
            json=_batch_body(items),
            organisation_id=organisation_id,
            idempotent=True,
        )
        return result
