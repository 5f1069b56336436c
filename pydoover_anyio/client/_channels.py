"""Channel endpoints (spec §3.1): list, fetch, create, replace, archive, data series."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..models import Channel
from ..models._envelopes import CreatedId
from ._base import ClientCore

__all__ = ["ChannelMethods"]


def _channel_body(
    is_private: bool,
    message_schema: dict[str, Any] | None,
    aggregate_schema: dict[str, Any] | None,
    history_since: int | None,
    default_ttl: int | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"is_private": is_private}
    if message_schema is not None:
        body["message_schema"] = message_schema
    if aggregate_schema is not None:
        body["aggregate_schema"] = aggregate_schema
    if history_since is not None:
        body["history_since"] = history_since
    if default_ttl is not None:
        body["default_ttl"] = default_ttl
    return body


class ChannelMethods(ClientCore):
    """Channels of an agent."""

    async def list_channels(
        self,
        agent_id: int | None,
        include_aggregate: bool = True,
        include_daily_summaries: bool = True,
        organisation_id: int | None = None,
    ) -> list[Channel]:
        """List an agent's channels.

        Args:
            agent_id: the agent (``None`` = the client's default).
            include_aggregate: include each channel's aggregate.
            include_daily_summaries: include daily message summaries.
            organisation_id: organisation header for this call.

        Returns:
            The channels.
        """
        result: list[Channel] = await self._call(
            list[Channel],
            "GET",
            f"/agents/{self._agent(agent_id)}/channels",
            query=(
                ("include_aggregate", include_aggregate),
                ("include_daily_summaries", include_daily_summaries),
            ),
            organisation_id=organisation_id,
        )
        return result

    async def fetch_channel(
        self,
        agent_id: int | None,
        channel_name: str,
        include_aggregate: bool = True,
        organisation_id: int | None = None,
    ) -> Channel:
        """Fetch one channel.

        Args:
            agent_id: the agent owning the channel.
            channel_name: the channel's name.
            include_aggregate: include the channel's aggregate.
            organisation_id: organisation header for this call.

        Returns:
            The channel.
        """
        result: Channel = await self._call(
            Channel,
            "GET",
            self._channel_path(agent_id, channel_name),
            query=(("include_aggregate", include_aggregate),),
            organisation_id=organisation_id,
        )
        return result

    async def create_channel(
        self,
        agent_id: int | None,
        channel_name: str,
        is_private: bool = False,
        message_schema: dict[str, Any] | None = None,
        aggregate_schema: dict[str, Any] | None = None,
        organisation_id: int | None = None,
        history_since: int | None = None,
        default_ttl: int | None = None,
    ) -> int:
        """Create a channel.

        The server answers 409 for a name that exists, so a re-send after a lost answer
        would report a conflict for a channel this call created: like every create, it
        is only re-sent when it provably never reached the server. Use
        :meth:`put_channel` for a create-or-update that is retried freely.

        Args:
            agent_id: the agent owning the channel.
            channel_name: the channel's name.
            is_private: whether only privileged agents can read it.
            message_schema: JSON Schema for messages.
            aggregate_schema: JSON Schema for the aggregate.
            organisation_id: organisation header for this call.
            history_since: earliest message time (Unix ms) the channel returns.
            default_ttl: fallback message TTL in seconds.

        Returns:
            The new channel's id.
        """
        result: CreatedId = await self._call(
            CreatedId,
            "POST",
            self._channel_path(agent_id, channel_name),
            json=_channel_body(
                is_private, message_schema, aggregate_schema, history_since, default_ttl
            ),
            organisation_id=organisation_id,
            idempotent=False,
        )
        return result.id

    async def put_channel(
        self,
        agent_id: int | None,
        channel_name: str,
        is_private: bool,
        message_schema: dict[str, Any] | None = None,
        aggregate_schema: dict[str, Any] | None = None,
        organisation_id: int | None = None,
        history_since: int | None = None,
        default_ttl: int | None = None,
    ) -> Channel:
        """Create or replace a channel.

        Args:
            agent_id: the agent owning the channel.
            channel_name: the channel's name.
            is_private: whether only privileged agents can read it.
            message_schema: JSON Schema for messages.
            aggregate_schema: JSON Schema for the aggregate.
            organisation_id: organisation header for this call.
            history_since: earliest message time (Unix ms) the channel returns.
            default_ttl: fallback message TTL in seconds.

        Returns:
            The channel as stored.
        """
        result: Channel = await self._call(
            Channel,
            "PUT",
            self._channel_path(agent_id, channel_name),
            json=_channel_body(
                is_private, message_schema, aggregate_schema, history_since, default_ttl
            ),
            organisation_id=organisation_id,
        )
        return result

    async def list_data_series(
        self,
        agent_id: int | None,
        field_name: str,
        before: int | dt.datetime | None = None,
        after: int | dt.datetime | None = None,
        limit: int | None = None,
        organisation_id: int | None = None,
    ) -> dict[str, Any]:
        """Read one field's values across the agent's messages.

        Args:
            agent_id: the agent.
            field_name: the data field (dotted path).
            before: exclusive upper bound (snowflake id or datetime; naive = UTC).
            after: exclusive lower bound (snowflake id or datetime; naive = UTC).
            limit: most values to return.
            organisation_id: organisation header for this call.

        Returns:
            The raw response object (``count``, ``results``, ``next``).
        """
        result: dict[str, Any] = await self._call(
            dict[str, Any],
            "GET",
            f"/agents/{self._agent(agent_id)}/data_series",
            query=(
                ("field_name", field_name),
                ("before", before),
                ("after", after),
                ("limit", limit),
            ),
            organisation_id=organisation_id,
        )
        return result

    async def archive_channel(
        self, agent_id: int, channel_name: str, organisation_id: int | None = None
    ) -> None:
        """Archive a channel: it leaves listings and its hooks stop firing.

        Args:
            agent_id: the agent owning the channel.
            channel_name: the channel's name.
            organisation_id: organisation header for this call.
        """
        await self._call(
            None,
            "POST",
            f"{self._channel_path(agent_id, channel_name)}/archive",
            organisation_id=organisation_id,
            idempotent=True,
        )

    async def unarchive_channel(
        self, agent_id: int, channel_name: str, organisation_id: int | None = None
    ) -> None:
        """Restore an archived channel.

        Args:
            agent_id: the agent owning the channel.
            channel_name: the channel's name.
            organisation_id: organisation header for this call.
        """
        await self._call(
            None,
            "POST",
            f"{self._channel_path(agent_id, channel_name)}/unarchive",
            organisation_id=organisation_id,
            idempotent=True,
        )
