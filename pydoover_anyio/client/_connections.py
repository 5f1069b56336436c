"""Gateway connection and permission endpoints (spec §3.9): live sessions, their history,
channel subscriptions and an agent's resolved permissions. All reads (GET), so every
request may be retried.

``fetch_subscription_history`` names its channel in one query parameter, ``channel``,
holding JSON text ``{"agent_id": "<id>", "name": "<channel>"}`` (written as pydoover's
``json.dumps`` writes it); ``before``/``after`` accept snowflake ids or datetimes (naive =
UTC).
"""

from __future__ import annotations

import datetime as dt
import json

from ..models import (
    AgentPermission,
    ConnectionDetail,
    ConnectionSubscription,
    ConnectionSubscriptionLog,
)
from ._base import ClientCore

__all__ = ["ConnectionMethods"]


class ConnectionMethods(ClientCore):
    """Gateway (WebSocket) connections and agent permissions."""

    async def list_connections(
        self,
        agent_id: int | None,
        organisation_id: int | None = None,
    ) -> list[ConnectionDetail]:
        """List an agent's live gateway sessions.

        Args:
            agent_id: the agent (``None`` = the client's default).
            organisation_id: organisation header for this call.

        Returns:
            The sessions.
        """
        result: list[ConnectionDetail] = await self._call(
            list[ConnectionDetail],
            "GET",
            f"/agents/{self._agent(agent_id)}/wss_connections",
            organisation_id=organisation_id,
        )
        return result

    async def fetch_connection(
        self,
        connection_id: int,
        organisation_id: int | None = None,
    ) -> ConnectionDetail:
        """Fetch one gateway session.

        Args:
            connection_id: the session's id.
            organisation_id: organisation header for this call.

        Returns:
            The session.
        """
        result: ConnectionDetail = await self._call(
            ConnectionDetail,
            "GET",
            f"/connections/{int(connection_id)}",
            organisation_id=organisation_id,
        )
        return result

    async def fetch_connection_history(
        self,
        agent_id: int | None,
        default_connection: bool,
        before: int | dt.datetime | None = None,
        after: int | dt.datetime | None = None,
        limit: int | None = None,
        organisation_id: int | None = None,
    ) -> list[ConnectionDetail]:
        """List an agent's past gateway sessions.

        Args:
            agent_id: the agent (``None`` = the client's default).
            default_connection: whether to list default sessions (``True``) or the others.
            before: exclusive upper bound (snowflake id or datetime).
            after: exclusive lower bound (snowflake id or datetime).
            limit: the most sessions to return.
            organisation_id: organisation header for this call.

        Returns:
            The sessions.

        Raises:
            TypeError: ``default_connection`` is ``None`` (the server requires it).
        """
        if default_connection is None:
            raise TypeError("default_connection is required: pass True or False")
        result: list[ConnectionDetail] = await self._call(
            list[ConnectionDetail],
            "GET",
            f"/agents/{self._agent(agent_id)}/wss_connections/history",
            query=(
                ("default_connection", bool(default_connection)),
                ("before", before),
                ("after", after),
                ("limit", limit),
            ),
            organisation_id=organisation_id,
        )
        return result

    async def fetch_subscription_history(
        self,
        agent_id: int | None,
        channel_agent_id: int,
        channel_name: str,
        before: int | dt.datetime | None = None,
        after: int | dt.datetime | None = None,
        limit: int | None = None,
        organisation_id: int | None = None,
    ) -> list[ConnectionSubscriptionLog]:
        """List when an agent's sessions subscribed to and left one channel.

        Args:
            agent_id: the agent whose sessions to look at (``None`` = the client's default).
            channel_agent_id: the agent owning the channel.
            channel_name: the channel's name.
            before: exclusive upper bound (snowflake id or datetime).
            after: exclusive lower bound (snowflake id or datetime).
            limit: the most entries to return.
            organisation_id: organisation header for this call.

        Returns:
            The subscription log entries.
        """
        channel = json.dumps({"agent_id": str(int(channel_agent_id)), "name": channel_name})
        result: list[ConnectionSubscriptionLog] = await self._call(
            list[ConnectionSubscriptionLog],
            "GET",
            f"/agents/{self._agent(agent_id)}/wss_connections/subscriptions/history",
            query=(("channel", channel), ("before", before), ("after", after), ("limit", limit)),
            organisation_id=organisation_id,
        )
        return result

    async def fetch_channel_subscriptions(
        self,
        agent_id: int | None,
        channel_name: str,
        organisation_id: int | None = None,
    ) -> list[ConnectionSubscription]:
        """List the live sessions subscribed to a channel.

        Args:
            agent_id: the agent owning the channel (``None`` = the client's default).
            channel_name: the channel's name.
            organisation_id: organisation header for this call.

        Returns:
            The subscriptions.
        """
        result: list[ConnectionSubscription] = await self._call(
            list[ConnectionSubscription],
            "GET",
            f"{self._channel_path(agent_id, channel_name)}/subscriptions",
            organisation_id=organisation_id,
        )
        return result

    async def fetch_agent_permissions(
        self,
        agent_id: int | None,
        organisation_id: int | None = None,
    ) -> AgentPermission:
        """Fetch an agent's resolved permissions.

        Args:
            agent_id: the agent (``None`` = the client's default).
            organisation_id: organisation header for this call.

        Returns:
            The permission set.
        """
        result: AgentPermission = await self._call(
            AgentPermission,
            "GET",
            f"/agents/{self._agent(agent_id)}/permissions",
            organisation_id=organisation_id,
        )
        return result
