"""``DataClient``: the blocking twin of :class:`AsyncDataClient`, drop-in for pydoover's.

Every method runs the async client's method on the client's own event-loop thread
(:mod:`pydoover_anyio.runtime.facade`); nothing is implemented twice. The client is safe
to share between threads. Differences from pydoover's ``DataClient`` are the async
client's (retries, timeouts, exact iterators, see :mod:`pydoover_anyio.client`), plus:

* ``auth=`` takes one of this package's auth objects (:mod:`pydoover_anyio.auth`, the
  same ones :class:`AsyncDataClient` takes), not pydoover's sync auth classes. One auth
  object may be shared by several ``DataClient`` and ``AsyncDataClient`` instances: a
  refresh runs once for all of them.
* Iterators read ahead on the client's loop (a bounded buffer); ``close()`` them, or use
  ``with``, to stop early.
* ``stream_*_attachment`` gives, inside its ``with``, a plain iterator of ``bytes``
  chunks (the async ``AttachmentDownload``'s ``size``/``content_type`` stay on the loop);
  ``download_*_attachment`` accepts a path or a binary file object.
"""

from __future__ import annotations

import datetime as dt
import ssl
from functools import partial
from typing import Any

import httpx

from .auth import AsyncAuth
from .client import AsyncDataClient
from .client._iterators import MessageIterator, MultiAgentMessageIterator
from .gateway import GatewaySettings
from .ingest import Ingestor
from .runtime import SyncFacade, sync_context, sync_method, sync_stream, sync_wrapped_context
from .runtime.transport import HttpImplementation

__all__ = ["DataClient"]

#: Download chunks buffered on each side of the loop thread (a few times ``chunk_size``).
_DOWNLOAD_BUFFER = 2


class DataClient(SyncFacade[AsyncDataClient]):
    """Blocking client of the Doover Data API; takes the same arguments as
    :class:`AsyncDataClient` (see there).

    An ``http_client`` is used on this client's own event loop only; do not use it
    elsewhere at the same time, and do not rely on it in a forked child (its pooled
    connections belong to the parent).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        auth: AsyncAuth | None = None,
        profile: Any = None,
        data_base_url: str | None = None,
        control_base_url: str | None = None,
        token: str | None = None,
        token_expires: Any = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        refresh_token: str | None = None,
        refresh_token_id: str | None = None,
        auth_server_url: str | None = None,
        auth_server_client_id: str | None = None,
        agent_id: int | None = None,
        organisation_id: int | None = None,
        max_retries: int = 3,
        retry_delay: float = 1.0,
        timeout: float = 60.0,
        compress: str | None = "gzip",
        compress_level: int | None = None,
        gateway_url: str | None = None,
        verify: ssl.SSLContext | bool = True,
        http: HttpImplementation = "auto",
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            partial(
                AsyncDataClient,
                base_url,
                auth=auth,
                profile=profile,
                data_base_url=data_base_url,
                control_base_url=control_base_url,
                token=token,
                token_expires=token_expires,
                client_id=client_id,
                client_secret=client_secret,
                refresh_token=refresh_token,
                refresh_token_id=refresh_token_id,
                auth_server_url=auth_server_url,
                auth_server_client_id=auth_server_client_id,
                agent_id=agent_id,
                organisation_id=organisation_id,
                max_retries=max_retries,
                retry_delay=retry_delay,
                timeout=timeout,
                compress=compress,
                compress_level=compress_level,
                gateway_url=gateway_url,
                verify=verify,
                http=http,
                http_client=http_client,
            )
        )

    # -- settings shared with the async client -------------------------------------------

    @property
    def base_url(self) -> str:
        """The data API base URL."""
        return self._async_client.base_url

    @property
    def auth(self) -> AsyncAuth:
        """The auth object requests are signed with."""
        return self._async_client.auth

    @property
    def agent_id(self) -> int | None:
        """The default agent of methods called with ``agent_id=None``."""
        return self._async_client.agent_id

    @agent_id.setter
    def agent_id(self, value: int | None) -> None:
        self._async_client.agent_id = value

    @property
    def organisation_id(self) -> int | None:
        """The default ``X-Doover-Organisation`` header."""
        return self._async_client.organisation_id

    @organisation_id.setter
    def organisation_id(self, value: int | None) -> None:
        self._async_client.organisation_id = value

    @property
    def token(self) -> str | None:
        """The access token currently held."""
        return self._async_client.token

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt of a request that may be repeated."""
        return self._async_client.max_retries

    @max_retries.setter
    def max_retries(self, value: int) -> None:
        self._async_client.max_retries = value

    @property
    def retry_delay(self) -> float:
        """The first backoff ceiling in seconds (doubled per retry, full jitter)."""
        return self._async_client.retry_delay

    @retry_delay.setter
    def retry_delay(self, value: float) -> None:
        self._async_client.retry_delay = value

    @property
    def timeout(self) -> float:
        """Seconds per connect/read/write/pool wait and per attempt overall."""
        return self._async_client.timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self._async_client.timeout = value

    @property
    def compress(self) -> str | None:
        """The request-body compression (``"gzip"`` or ``None``)."""
        return self._async_client.compress

    @compress.setter
    def compress(self, value: str | None) -> None:
        self._async_client.compress = value

    @property
    def compress_level(self) -> int | None:
        """The gzip level (``None`` = 6)."""
        return self._async_client.compress_level

    @compress_level.setter
    def compress_level(self, value: int | None) -> None:
        self._async_client.compress_level = value

    def set_token(self, token: str | None) -> None:
        """Replace the bearer token (e.g. after a device-token rotation).

        Args:
            token: the new access token, or ``None`` to drop it.
        """
        self._async_client.set_token(token)

    # -- iterators (pydoover's sync parameter order differs from its async one) ----------

    def iter_messages(
        self,
        agent_id: int | None,
        channel_name: str,
        before: int | dt.datetime | None = None,
        after: int | dt.datetime | None = None,
        field_names: list[str] | None = None,
        page_size: int = 50,
        organisation_id: int | None = None,
    ) -> MessageIterator:
        """Iterate over a channel's messages; see ``AsyncDataClient.iter_messages``.

        Returns:
            A blocking iterator of messages with ``collect()``; ``close()`` it (or use
            ``with``) to stop early.
        """
        loop, client, _ = self._loop_for_call()  # rebuilt first after a fork
        source = client.iter_messages(
            agent_id,
            channel_name,
            before=before,
            after=after,
            field_names=field_names,
            organisation_id=organisation_id,
            page_size=page_size,
        )
        return MessageIterator(loop, source, owner=self)

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
    ) -> MultiAgentMessageIterator:
        """Iterate over one channel across agents; see
        ``AsyncDataClient.iter_multi_agent_messages``.

        Returns:
            A blocking iterator of messages with ``collect()``; ``close()`` it (or use
            ``with``) to stop early.
        """
        loop, client, _ = self._loop_for_call()  # rebuilt first after a fork
        source = client.iter_multi_agent_messages(
            channel_name,
            agent_ids,
            before=before,
            after=after,
            agent_message_limit=agent_message_limit,
            field_names=field_names,
            organisation_id=organisation_id,
            page_size=page_size,
        )
        return MultiAgentMessageIterator(loop, source, owner=self)

    # -- every other endpoint, bridged -----------------------------------------------------

    list_channels = sync_method(AsyncDataClient.list_channels)
    fetch_channel = sync_method(AsyncDataClient.fetch_channel)
    create_channel = sync_method(AsyncDataClient.create_channel)
    put_channel = sync_method(AsyncDataClient.put_channel)
    list_data_series = sync_method(AsyncDataClient.list_data_series)
    archive_channel = sync_method(AsyncDataClient.archive_channel)
    unarchive_channel = sync_method(AsyncDataClient.unarchive_channel)
    list_messages = sync_method(AsyncDataClient.list_messages)
    fetch_message = sync_method(AsyncDataClient.fetch_message)
    fetch_message_logs = sync_method(AsyncDataClient.fetch_message_logs)
    create_message = sync_method(AsyncDataClient.create_message)
    update_message = sync_method(AsyncDataClient.update_message)
    delete_message = sync_method(AsyncDataClient.delete_message)
    fetch_message_attachment = sync_method(AsyncDataClient.fetch_message_attachment)
    download_message_attachment = sync_method(AsyncDataClient.download_message_attachment)
    #: ``with client.stream_message_attachment(attachment) as chunks: for chunk in chunks:``;
    #: the download runs on the client's loop, at most a few chunks cross at a time.
    stream_message_attachment = sync_stream(
        AsyncDataClient.stream_message_attachment, buffer=_DOWNLOAD_BUFFER
    )
    fetch_timeseries = sync_method(AsyncDataClient.fetch_timeseries)
    fetch_channel_aggregate = sync_method(AsyncDataClient.fetch_channel_aggregate)
    update_channel_aggregate = sync_method(AsyncDataClient.update_channel_aggregate)
    fetch_channel_aggregate_attachment = sync_method(
        AsyncDataClient.fetch_channel_aggregate_attachment
    )
    download_channel_aggregate_attachment = sync_method(
        AsyncDataClient.download_channel_aggregate_attachment
    )
    stream_channel_aggregate_attachment = sync_stream(
        AsyncDataClient.stream_channel_aggregate_attachment, buffer=_DOWNLOAD_BUFFER
    )
    fetch_multi_agent_messages = sync_method(AsyncDataClient.fetch_multi_agent_messages)
    fetch_multi_agent_aggregates = sync_method(AsyncDataClient.fetch_multi_agent_aggregates)
    batch_create_messages = sync_method(AsyncDataClient.batch_create_messages)
    batch_update_messages = sync_method(AsyncDataClient.batch_update_messages)
    batch_delete_messages = sync_method(AsyncDataClient.batch_delete_messages)
    batch_update_aggregates = sync_method(AsyncDataClient.batch_update_aggregates)
    #: ``with client.ingest(concurrency=16) as ingest: ingest.put(agent_id, name, data)``;
    #: the pipeline runs on the client's loop (docs/ingest.md).
    ingest = sync_wrapped_context(AsyncDataClient.ingest, Ingestor)
    list_alarms = sync_method(AsyncDataClient.list_alarms)
    list_agent_alarms = sync_method(AsyncDataClient.list_agent_alarms)
    fetch_alarm = sync_method(AsyncDataClient.fetch_alarm)
    create_alarm = sync_method(AsyncDataClient.create_alarm)
    put_alarm = sync_method(AsyncDataClient.put_alarm)
    update_alarm = sync_method(AsyncDataClient.update_alarm)
    delete_alarm = sync_method(AsyncDataClient.delete_alarm)
    list_connections = sync_method(AsyncDataClient.list_connections)
    fetch_connection = sync_method(AsyncDataClient.fetch_connection)
    fetch_connection_history = sync_method(AsyncDataClient.fetch_connection_history)
    fetch_subscription_history = sync_method(AsyncDataClient.fetch_subscription_history)
    fetch_channel_subscriptions = sync_method(AsyncDataClient.fetch_channel_subscriptions)
    fetch_agent_permissions = sync_method(AsyncDataClient.fetch_agent_permissions)
    send_notification = sync_method(AsyncDataClient.send_notification)
    fetch_notifications = sync_method(AsyncDataClient.fetch_notifications)
    list_notification_endpoints = sync_method(AsyncDataClient.list_notification_endpoints)
    create_notification_endpoint = sync_method(AsyncDataClient.create_notification_endpoint)
    update_notification_endpoint = sync_method(AsyncDataClient.update_notification_endpoint)
    delete_notification_endpoint = sync_method(AsyncDataClient.delete_notification_endpoint)
    test_notification_endpoint = sync_method(AsyncDataClient.test_notification_endpoint)
    list_notification_subscriptions = sync_method(AsyncDataClient.list_notification_subscriptions)
    create_notification_subscription = sync_method(AsyncDataClient.create_notification_subscription)
    update_notification_subscription = sync_method(AsyncDataClient.update_notification_subscription)
    delete_notification_subscription = sync_method(AsyncDataClient.delete_notification_subscription)
    list_default_notification_subscriptions = sync_method(
        AsyncDataClient.list_default_notification_subscriptions
    )
    delete_default_notification_subscription = sync_method(
        AsyncDataClient.delete_default_notification_subscription
    )
    list_notification_subscribers = sync_method(AsyncDataClient.list_notification_subscribers)
    update_web_push_endpoint = sync_method(AsyncDataClient.update_web_push_endpoint)
    list_notification_endpoint_summaries = sync_method(
        AsyncDataClient.list_notification_endpoint_summaries
    )
    update_default_notification_subscription = sync_method(
        AsyncDataClient.update_default_notification_subscription
    )
    fetch_webpush_public_key = sync_method(AsyncDataClient.fetch_webpush_public_key)
    fetch_subscription_info = sync_method(AsyncDataClient.fetch_subscription_info)
    fetch_schedule_info = sync_method(AsyncDataClient.fetch_schedule_info)
    put_schedule = sync_method(AsyncDataClient.put_schedule)
    put_subscription = sync_method(AsyncDataClient.put_subscription)
    put_ingestion_endpoint = sync_method(AsyncDataClient.put_ingestion_endpoint)
    delete_ingestion_endpoint = sync_method(AsyncDataClient.delete_ingestion_endpoint)
    regenerate_schedule_token = sync_method(AsyncDataClient.regenerate_schedule_token)
    invoke_ingestion_endpoint = sync_method(AsyncDataClient.invoke_ingestion_endpoint)
    fetch_turn_token = sync_method(AsyncDataClient.fetch_turn_token)
    rotate_device_token = sync_method(AsyncDataClient.rotate_device_token)
    confirm_device_token = sync_method(AsyncDataClient.confirm_device_token)

    # -- the WebSocket gateway (docs/gateway.md) -------------------------------------------

    @property
    def gateway_url(self) -> str:
        """The gateway URL (given, or derived from ``base_url``)."""
        return self._async_client.gateway_url

    @property
    def gateway_settings(self) -> GatewaySettings:
        """Gateway timeouts, buffer sizes and limits; set before the first subscription."""
        return self._async_client.gateway_settings

    @gateway_settings.setter
    def gateway_settings(self, value: GatewaySettings) -> None:
        self._async_client.gateway_settings = value

    #: ``with client.subscribe(agent_id, name) as events: for event in events: ...``;
    #: the subscription runs on the client's loop, events cross through a bounded buffer.
    subscribe = sync_context(AsyncDataClient.subscribe)
    sync_channel = sync_method(AsyncDataClient.sync_channel)
    send_one_shot = sync_method(AsyncDataClient.send_one_shot)
