"""Multi-agent reads (spec §3.6): one channel across many agents.

The API sits behind a CDN that rejects URLs over 8 KiB, so ``agent_id`` lists are sent
in chunks of :data:`AGENT_CHUNK` (as doover-js does) and the responses merged: results
concatenated, counts summed, the legacy ``next`` cursor the highest of the chunks'.
One chunk (250 agents or fewer) is exactly pydoover's single request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import partial

from .._wire import channel_segment
from ..models import BatchAggregateResponse, BatchMessageResponse, Message
from ..runtime import gather_bounded
from ._base import ClientCore
from ._iterators import AsyncMultiAgentMessageIterator, bound, now_bound
from ._paging import MultiAgentForwardPlanner, MultiAgentPlanner, PageBounds

__all__ = ["AGENT_CHUNK", "MultiAgentMethods"]

#: Agent ids per request: keeps the URL well under the CDN's 8,192-byte limit.
AGENT_CHUNK = 250

#: Chunk requests of one call in flight at once.
_CHUNKS_IN_FLIGHT = 4


def _chunks(agent_ids: Sequence[int]) -> list[list[int]]:
    ids = [int(agent) for agent in agent_ids]
    return [ids[i : i + AGENT_CHUNK] for i in range(0, len(ids), AGENT_CHUNK)] or [[]]


def _merge_messages(responses: list[BatchMessageResponse]) -> BatchMessageResponse:
    """Chunk responses as one: results in chunk order, counts summed, cursors united."""
    cursors = [r.next for r in responses if r.next is not None]
    per_agent = {a: c for r in responses for a, c in (r.next_cursors or {}).items()}
    at_limit = [a for r in responses for a in (r.at_limit_agent_ids or [])]
    any_per_agent = any(r.next_cursors is not None for r in responses)
    any_at_limit = any(r.at_limit_agent_ids is not None for r in responses)
    return BatchMessageResponse(
        results=[message for r in responses for message in r.results],
        count=sum(r.count for r in responses),
        next=max(cursors) if cursors else None,
        next_cursors=per_agent if any_per_agent else None,
        at_limit_agent_ids=at_limit if any_at_limit else None,
    )


def _agent_of(message: Message) -> int:
    return int(message.channel.agent_id)


class MultiAgentMethods(ClientCore):
    """Reads of one channel across many agents."""

    async def fetch_multi_agent_messages(
        self,
        channel_name: str,
        agent_ids: list[int],
        before: int | dt.datetime | None = None,
        after: int | dt.datetime | None = None,
        limit: int | None = None,
        agent_message_limit: int | None = None,
        field_names: list[str] | None = None,
        organisation_id: int | None = None,
    ) -> BatchMessageResponse:
        """Messages of one channel across agents (the server allows at most two days
        between ``after`` and ``before``).

        Args:
            channel_name: the channel's name.
            agent_ids: the agents (any number: sent 250 per request).
            before: exclusive upper bound (snowflake id or datetime; naive = UTC).
            after: exclusive lower bound (snowflake id or datetime; naive = UTC).
            limit: most messages per request (per chunk of 250 agents).
            agent_message_limit: most messages per agent.
            field_names: only these data fields (dotted paths).
            organisation_id: organisation header for this call.

        Returns:
            The merged response.
        """
        responses = await self._multi_agent_chunks(
            channel_name,
            agent_ids,
            PageBounds(bound(before), bound(after)),
            limit,
            agent_message_limit,
            field_names,
            organisation_id,
        )
        if len(responses) == 1:
            return responses[0]
        return _merge_messages(responses)

    def iter_multi_agent_messages(
        self,
        channel_name: str,
        agent_ids: list[int],
        before: int | dt.datetime | None = None,
        after: int | dt.datetime | None = None,
        agent_message_limit: int | None = None,
        field_names: list[str] | None = None,
        organisation_id: int | None = None,
        page_size: int = 50,
    ) -> AsyncMultiAgentMessageIterator:
        """Iterate over one channel's messages across agents.

        Exact: each message within the bounds is yielded once, whatever the chunking,
        per-agent limits or a server cap on ``limit``. Newest first, walking backward
        from ``before`` (default: now) down to ``after`` (default: two days below
        ``before``, the server's own window); with only ``after`` given, oldest first,
        walking forward from it up to now (as ``iter_messages`` does). Ranges wider
        than two days are walked in two-day windows. Use ``async for`` or
        ``await ....collect()``.

        Args:
            channel_name: the channel's name.
            agent_ids: the agents.
            before: exclusive upper bound (snowflake id or datetime; naive = UTC).
            after: exclusive lower bound (snowflake id or datetime; naive = UTC).
            agent_message_limit: most messages per agent per request.
            field_names: only these data fields (dotted paths).
            organisation_id: organisation header for this call.
            page_size: the ``limit`` of each request.

        Returns:
            An async iterator of :class:`Message` with ``collect()``.

        Raises:
            ValueError: ``page_size`` or ``agent_message_limit`` is below 1.
        """
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size!r}")
        if agent_message_limit is not None and agent_message_limit < 1:
            raise ValueError(f"agent_message_limit must be at least 1, got {agent_message_limit!r}")
        low, high = bound(after), bound(before)
        planner: MultiAgentPlanner[Message] | MultiAgentForwardPlanner[Message]
        if low is not None and high is None:
            planner = MultiAgentForwardPlanner(
                low,
                ceiling=now_bound(),
                agent_message_limit=agent_message_limit,
                agent_of=_agent_of,
            )
        else:
            planner = MultiAgentPlanner(
                high,
                low,
                now_bound=now_bound(),
                agent_message_limit=agent_message_limit,
                agent_of=_agent_of,
            )
        ids = list(agent_ids)

        async def fetch(bounds: PageBounds) -> list[list[Message]]:
            responses = await self._multi_agent_chunks(
                channel_name,
                ids,
                bounds,
                page_size,
                agent_message_limit,
                field_names,
                organisation_id,
            )
            return [r.results for r in responses]

        return AsyncMultiAgentMessageIterator(planner, fetch)

    async def fetch_multi_agent_aggregates(
        self,
        channel_name: str,
        agent_ids: list[int],
        organisation_id: int | None = None,
    ) -> BatchAggregateResponse:
        """The aggregates of one channel across agents.

        Args:
            channel_name: the channel's name.
            agent_ids: the agents (any number: sent 250 per request).
            organisation_id: organisation header for this call.

        Returns:
            The merged response.
        """
        path = f"/agents/channels/{channel_segment(channel_name)}/aggregates"
        calls = [
            partial(
                self._call,
                BatchAggregateResponse,
                "GET",
                path,
                query=(("agent_id", chunk),),
                organisation_id=organisation_id,
            )
            for chunk in _chunks(agent_ids)
        ]
        responses: list[BatchAggregateResponse] = await gather_bounded(calls, _CHUNKS_IN_FLIGHT)
        if len(responses) == 1:
            return responses[0]
        return BatchAggregateResponse(
            results=[item for r in responses for item in r.results],
            count=sum(r.count for r in responses),
        )

    async def _multi_agent_chunks(
        self,
        channel_name: str,
        agent_ids: Sequence[int],
        bounds: PageBounds,
        limit: int | None,
        agent_message_limit: int | None,
        field_names: list[str] | None,
        organisation_id: int | None,
    ) -> list[BatchMessageResponse]:
        """One request per chunk of agents, in chunk order."""
        path = f"/agents/channels/{channel_segment(channel_name)}/messages"
        calls = [
            partial(
                self._call,
                BatchMessageResponse,
                "GET",
                path,
                query=(
                    ("agent_id", chunk),
                    ("before", bounds.before),
                    ("after", bounds.after),
                    ("limit", limit),
                    ("agent_message_limit", agent_message_limit),
                    ("field_name", field_names),
                ),
                organisation_id=organisation_id,
            )
            for chunk in _chunks(agent_ids)
        ]
        responses: list[BatchMessageResponse] = await gather_bounded(calls, _CHUNKS_IN_FLIGHT)
        return responses
