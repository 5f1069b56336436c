"""Gateway methods of :class:`AsyncDataClient`: ``subscribe``, ``sync_channel``,
``send_one_shot`` (spec §7).

Rules this module enforces:

* One gateway session (one connection) per client, created on first use and owned by
  the task group that ``async with AsyncDataClient(...)`` enters; leaving that block
  (or ``close()``) ends every subscription and joins every gateway task.
* ``subscribe`` is an async context manager: entering waits until the server has
  confirmed the subscription (its first event is a ChannelSync); leaving unsubscribes
  (the wire subscription goes with the channel's last subscriber).
* ``sync_channel`` and ``send_one_shot`` wait for a Ready connection and return once
  their frame is written, instead of being dropped while disconnected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.abc

from ..gateway import GatewaySession, GatewaySettings, Subscription, gateway_url_for
from ..runtime import ClientClosedError
from ._base import ClientCore, _user_agent

__all__ = ["GatewayMethods"]


class GatewayMethods(ClientCore):
    """The WebSocket gateway, multiplexed over one connection per client."""

    _gateway_host: anyio.abc.TaskGroup | None = None
    _gateway_session: GatewaySession | None = None
    _gateway_settings: GatewaySettings | None = None

    @property
    def gateway_url(self) -> str:
        """The gateway URL: the ``gateway_url`` given, else derived from ``base_url``
        (``http`` -> ``ws``, ``https`` -> ``wss``, a trailing ``/api`` -> ``/gateway``)."""
        explicit: str | None = getattr(self, "_gateway_url", None)
        return explicit or gateway_url_for(self.base_url)

    @property
    def gateway_settings(self) -> GatewaySettings:
        """Gateway timeouts, buffer sizes and limits; set before the first subscription."""
        return self._gateway_settings or GatewaySettings()

    @gateway_settings.setter
    def gateway_settings(self, value: GatewaySettings) -> None:
        if self._gateway_session is not None:
            raise RuntimeError("gateway_settings must be set before the gateway is first used")
        self._gateway_settings = value

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        entered = await super().__aenter__()
        host = anyio.create_task_group()
        await host.__aenter__()
        self._gateway_host = host
        return entered

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        host, self._gateway_host = self._gateway_host, None
        try:
            if self._gateway_session is not None:
                self._gateway_session.close()
            if host is not None:
                host.cancel_scope.cancel()
                await host.__aexit__(None, None, None)
        finally:
            await super().__aexit__(exc_type, exc, tb)

    async def close(self) -> None:
        """Close the gateway session, the HTTP connections and (if built here) the auth."""
        if self._gateway_session is not None:
            self._gateway_session.close()  # cancels its own tasks, not the caller
        await super().close()

    def _gateway(self) -> GatewaySession:
        session = self._gateway_session
        if session is not None:
            return session
        host = self._gateway_host
        if host is None:
            raise ClientClosedError(
                "the gateway needs the client's task group: use `async with "
                "AsyncDataClient(...) as client:` (DataClient does this for you)"
            )
        session = self._gateway_session = GatewaySession(
            url=self.gateway_url,
            auth=self.auth,
            user_agent=_user_agent(),
            organisation_id=self.organisation_id,
            settings=self.gateway_settings,
            host=host,
        )
        return session

    def _channel_key(self, agent_id: int | None, channel_name: str) -> tuple[int, str]:
        """The (agent, channel) a gateway call is about.

        Raises:
            TypeError: ``channel_name`` is not a string.
            ValueError: ``channel_name`` is empty, or no agent is given nor the default.
        """
        if not isinstance(channel_name, str):
            raise TypeError(f"channel_name must be a str, not {type(channel_name).__name__}")
        if not channel_name:
            raise ValueError("channel_name must not be empty")
        return self._agent(agent_id), channel_name

    # -- the API -----------------------------------------------------------------------

    @asynccontextmanager
    async def subscribe(
        self,
        agent_id: int | None,
        channel_name: str,
        *,
        organisation_id: int | None = None,
        diff_only: bool = False,
        buffer_size: int | None = None,
    ) -> AsyncIterator[Subscription]:
        """Receive a channel's live events::

            async with client.subscribe(agent_id, "telemetry") as events:
                async for event in events:
                    ...

        The first event is a ``ChannelSync`` with the current aggregate. After a
        reconnect each subscription gets a ``Reconnected``; when it says
        ``events_missed`` a ``ChannelSync`` follows (see ``docs/gateway.md``).

        Args:
            agent_id: The channel's agent (default: the client's ``agent_id``).
            channel_name: The channel.
            organisation_id: Sent with the wire subscription (default: the client's).
            diff_only: Ask the server for aggregate diffs only (first subscriber's wins).
            buffer_size: Events buffered for this subscriber (default
                ``gateway_settings.buffer_size``); on overflow events are dropped and
                an ``EventsDropped`` then a ``ChannelSync`` are delivered.

        Yields:
            The subscription, an async iterator of events.

        Raises:
            TypeError: ``channel_name`` is not a str.
            ValueError: ``channel_name`` is empty, ``buffer_size`` is below 2, or no
                agent is given.
            ClientClosedError: the client is closed, or not entered with ``async with``.
            UnauthorizedError: the gateway refused the token (after one refresh).
            DooverAPIError: another final gateway failure (while entering or iterating).
        """
        agent, name = self._channel_key(agent_id, channel_name)
        session = self._gateway()
        subscription = await session.subscribe(
            agent,
            name,
            organisation_id=organisation_id,
            diff_only=diff_only,
            buffer_size=buffer_size,
        )
        try:
            yield subscription
        finally:
            session.unsubscribe(subscription)

    async def sync_channel(
        self, agent_id: int | None, channel_name: str, organisation_id: int | None = None
    ) -> None:
        """Ask the gateway for a fresh ``ChannelSync`` of a channel (op 14).

        Waits for a Ready connection; returns once the request is written. The
        ``ChannelSync`` reaches this client's subscribers of the channel.

        Args:
            agent_id: The channel's agent (default: the client's ``agent_id``).
            channel_name: The channel.
            organisation_id: The organisation (default: the client's).

        Raises:
            TypeError: ``channel_name`` is not a str.
            ValueError: ``channel_name`` is empty, or no agent is given.
            ClientClosedError: the client is closed, or not entered with ``async with``.
            DooverAPIError: the gateway failed for good.
        """
        key = self._channel_key(agent_id, channel_name)
        session = self._gateway()
        await session.request(session.protocol.sync_channel, key, organisation_id)

    async def send_one_shot(self, agent_id: int | None, channel_name: str, data: Any) -> None:
        """Send an ephemeral, unpersisted message to a channel's subscribers (op 15).

        Waits for a Ready connection; returns once the message is written.

        Args:
            agent_id: The channel's agent (default: the client's ``agent_id``).
            channel_name: The channel.
            data: Any JSON-serialisable value.

        Raises:
            TypeError: ``data`` is not JSON-serialisable, or ``channel_name`` not a str.
            ValueError: ``data`` holds a NaN or an infinity, ``channel_name`` is empty,
                or no agent is given.
            ClientClosedError: the client is closed, or not entered with ``async with``.
            DooverAPIError: the gateway failed for good.
        """
        key = self._channel_key(agent_id, channel_name)
        session = self._gateway()
        await session.request(session.protocol.one_shot, key, data)
