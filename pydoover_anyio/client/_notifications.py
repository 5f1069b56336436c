"""Notification endpoints (spec §3.10): sending, endpoints, subscriptions, web push.

Wire rules this module enforces: a severity is sent as its integer (3-7), an endpoint type
as its NAME (``"Email"``; the server refuses the integers), ids inside bodies as decimal
strings, and ids returned by the server as ``int``. Names given for enums match
case-insensitively (``"warning"`` means ``Warn``), so a typo fails here instead of
reaching a subscriber as raw JSON.

Retries: creates (``send_notification``, endpoint and subscription creates) and
``test_notification_endpoint`` (it delivers a real test message) are only re-sent when
they provably never reached the server; ``update_web_push_endpoint`` is treated the same
way because it swaps one registration for another. The PATCH updates set fields to given
values, so they are retried like PUT and DELETE. ``fetch_webpush_public_key`` is sent
without a token (the key is public).
"""

from __future__ import annotations

from typing import Any, cast

from .._wire import UNSET, Unset
from ..models import (
    AgentNotificationResponse,
    Message,
    Notification,
    NotificationEndpoint,
    NotificationEndpointSummary,
    NotificationSeverity,
    NotificationSubscription,
    NotificationTopicFilterMode,
    NotificationType,
)
from ..models._envelopes import (
    CreatedId,
    CreatedSubscriptions,
    EndpointList,
    EndpointSummaryList,
    PublicKey,
    SubscriberList,
    SubscriptionList,
    Success,
)
from ._base import ClientCore

__all__ = ["NotificationMethods"]


def _severity(severity: NotificationSeverity | int | str) -> int:
    """The wire integer of a severity given as a member, its integer or its name."""
    return NotificationSeverity(cast(Any, severity)).value


def _subscription_fields(
    severity: NotificationSeverity | int | str | None,
    topic_filter: list[str] | None,
    topic_filter_mode: NotificationTopicFilterMode | str | None,
) -> dict[str, Any]:
    """``severity`` (int), ``topic_filter`` and ``topic_filter_mode`` when given."""
    body: dict[str, Any] = {}
    if severity is not None:
        body["severity"] = _severity(severity)
    if topic_filter is not None:
        body["topic_filter"] = topic_filter
    if topic_filter_mode is not None:
        body["topic_filter_mode"] = NotificationTopicFilterMode(topic_filter_mode).value
    return body


def _notifications_path(client: ClientCore, agent_id: int | None) -> str:
    return f"/agents/{client._agent(agent_id)}/notifications"


class NotificationMethods(ClientCore):
    """Notifications: sending them, and who receives them where."""

    async def send_notification(
        self,
        agent_id: int | None,
        message: str | Notification,
        *,
        title: str | None = None,
        severity: NotificationSeverity | int | str | None = None,
        topic: str | None = None,
        organisation_id: int | None = None,
    ) -> Message:
        """Send a notification: a message on the agent's ``notifications`` channel, which
        the cloud delivers to matching subscriptions.

        Not re-sent after an ambiguous failure (subscribers would get it twice).

        Args:
            agent_id: the agent (``None`` = the client's default).
            message: the text, or a complete :class:`~pydoover_anyio.models.Notification`
                (then ``title``, ``severity`` and ``topic`` are ignored).
            title: a headline.
            severity: a :class:`~pydoover_anyio.models.NotificationSeverity`, its name or
                its integer; subscribers get notifications at or above their level.
            topic: matched against subscriptions' topic filters.
            organisation_id: organisation header for this call.

        Returns:
            The created channel message.

        Raises:
            TypeError: a field has the wrong type.
            ValueError: a blank message or an unknown severity.
        """
        if isinstance(message, Notification):
            notification = message
        else:
            notification = Notification(message, title=title, severity=severity, topic=topic)
        result: Message = await self._call(
            Message,
            "POST",
            f"{self._channel_path(agent_id, Notification.NOTIFICATIONS_CHANNEL)}/messages",
            json={"data": notification.to_dict()},
            organisation_id=organisation_id,
            idempotent=False,
        )
        return result

    async def fetch_notifications(
        self,
        agent_id: int | None,
        organisation_id: int | None = None,
    ) -> AgentNotificationResponse:
        """Fetch an agent's subscriptions, subscribers and endpoints at once.

        Args:
            agent_id: the agent (``None`` = the client's default).
            organisation_id: organisation header for this call.

        Returns:
            The three lists.
        """
        result: AgentNotificationResponse = await self._call(
            AgentNotificationResponse,
            "GET",
            _notifications_path(self, agent_id),
            organisation_id=organisation_id,
        )
        return result

    async def list_notification_endpoints(
        self,
        agent_id: int | None,
        name: str | None = None,
        organisation_id: int | None = None,
    ) -> list[NotificationEndpoint]:
        """List an agent's notification endpoints (needs full endpoint access).

        Args:
            agent_id: the agent (``None`` = the client's default).
            name: only endpoints with this name.
            organisation_id: organisation header for this call.

        Returns:
            The endpoints, with their destinations.
        """
        result: EndpointList = await self._call(
            EndpointList,
            "GET",
            f"{_notifications_path(self, agent_id)}/endpoints",
            query=(("name", name),),
            organisation_id=organisation_id,
        )
        return result.endpoints

    async def list_notification_endpoint_summaries(
        self,
        agent_id: int | None,
        organisation_id: int | None = None,
    ) -> list[NotificationEndpointSummary]:
        """List endpoints without destinations or credentials, with their readiness.

        This listing is open to delegated subscription managers.

        Args:
            agent_id: the agent (``None`` = the client's default).
            organisation_id: organisation header for this call.

        Returns:
            The endpoint summaries.
        """
        result: EndpointSummaryList = await self._call(
            EndpointSummaryList,
            "GET",
            f"{_notifications_path(self, agent_id)}/endpoints/summary",
            organisation_id=organisation_id,
        )
        return result.endpoints

    async def create_notification_endpoint(
        self,
        agent_id: int | None,
        name: str,
        type: NotificationType | int | str,
        extra_data: dict[str, Any],
        default: bool,
        priority: int | None = None,
        organisation_id: int | None = None,
    ) -> int:
        """Create a notification endpoint (not re-sent after an ambiguous failure).

        Args:
            agent_id: the agent (``None`` = the client's default).
            name: the endpoint's name.
            type: a :class:`~pydoover_anyio.models.NotificationType`, its integer or name
                (always sent by name).
            extra_data: type-specific settings (address, URL, ...).
            default: whether default subscriptions deliver to it.
            priority: its delivery priority.
            organisation_id: organisation header for this call.

        Returns:
            The new endpoint's id.

        Raises:
            ValueError: an unknown endpoint type.
        """
        body: dict[str, Any] = {
            "name": name,
            "type": NotificationType(cast(Any, type)).wire,
            "extra_data": extra_data,
            "default": default,
        }
        if priority is not None:
            body["priority"] = priority
        result: CreatedId = await self._call(
            CreatedId,
            "POST",
            f"{_notifications_path(self, agent_id)}/endpoints",
            json=body,
            organisation_id=organisation_id,
            idempotent=False,
        )
        return result.id

    async def update_notification_endpoint(
        self,
        agent_id: int | None,
        endpoint_id: int,
        name: str | None = None,
        extra_data: dict[str, Any] | None = None,
        priority: int | Unset | None = UNSET,
        organisation_id: int | None = None,
    ) -> None:
        """Change some fields of an endpoint (PATCH).

        Args:
            agent_id: the agent (``None`` = the client's default).
            endpoint_id: the endpoint's id.
            name: a new name (``None`` = unchanged).
            extra_data: new settings (``None`` = unchanged).
            priority: a new priority; ``None`` clears it, ``UNSET`` leaves it.
            organisation_id: organisation header for this call.
        """
        body: dict[str, Any] = {}
        if name is not None:
            body["name"] = name
        if extra_data is not None:
            body["extra_data"] = extra_data
        if priority is not UNSET:
            body["priority"] = priority
        await self._call(
            None,
            "PATCH",
            f"{_notifications_path(self, agent_id)}/endpoints/{int(endpoint_id)}",
            json=body,
            organisation_id=organisation_id,
            idempotent=True,
        )

    async def delete_notification_endpoint(
        self,
        agent_id: int | None,
        endpoint_id: int,
        organisation_id: int | None = None,
    ) -> None:
        """Delete an endpoint.

        Args:
            agent_id: the agent (``None`` = the client's default).
            endpoint_id: the endpoint's id.
            organisation_id: organisation header for this call.
        """
        await self._call(
            None,
            "DELETE",
            f"{_notifications_path(self, agent_id)}/endpoints/{int(endpoint_id)}",
            organisation_id=organisation_id,
        )

    async def test_notification_endpoint(
        self,
        agent_id: int | None,
        endpoint_id: int,
        organisation_id: int | None = None,
    ) -> bool:
        """Deliver a test notification through an endpoint.

        Args:
            agent_id: the agent (``None`` = the client's default).
            endpoint_id: the endpoint's id.
            organisation_id: organisation header for this call.

        Returns:
            Whether delivery succeeded.
        """
        result: Success = await self._call(
            Success,
            "POST",
            f"{_notifications_path(self, agent_id)}/endpoints/{int(endpoint_id)}/test",
            organisation_id=organisation_id,
            idempotent=False,
        )
        return result.success

    async def list_notification_subscriptions(
        self,
        agent_id: int | None,
        subscribed_to: int | None = None,
        organisation_id: int | None = None,
    ) -> list[NotificationSubscription]:
        """List the agent's notification subscriptions.

        Args:
            agent_id: the subscribing agent (``None`` = the client's default).
            subscribed_to: only subscriptions to this agent.
            organisation_id: organisation header for this call.

        Returns:
            The subscriptions.
        """
        result: SubscriptionList = await self._call(
            SubscriptionList,
            "GET",
            f"{_notifications_path(self, agent_id)}/subscriptions",
            query=(("subscribed_to", subscribed_to),),
            organisation_id=organisation_id,
        )
        return result.subscriptions

    async def create_notification_subscription(
        self,
        agent_id: int | None,
        subscribe_to: int,
        severity: NotificationSeverity | int | str,
        topic_filter: list[str],
        endpoint_id: int | None = None,
        organisation_id: int | None = None,
        topic_filter_mode: NotificationTopicFilterMode | str | None = None,
        topic_filter_exclude: list[str] | None = None,
    ) -> list[dict[str, int]]:
        """Subscribe to another agent's notifications (replaces that whole subscription).

        Not re-sent after an ambiguous failure.

        Args:
            agent_id: the subscribing agent (``None`` = the client's default).
            subscribe_to: the agent whose notifications to receive.
            severity: the lowest severity delivered.
            topic_filter: topics to receive (ORed); exact text, or regexes with
                ``topic_filter_mode="regex"``.
            endpoint_id: deliver to this endpoint only (default: the default endpoints).
            organisation_id: organisation header for this call.
            topic_filter_mode: ``"exact"`` (server default) or ``"regex"``.
            topic_filter_exclude: regexes of topics never delivered; omitted = none.

        Returns:
            One ``{"id": int, "endpoint_id": int}`` per endpoint row created.

        Raises:
            ValueError: an unknown severity or filter mode.
        """
        body: dict[str, Any] = {
            "subscribe_to": str(int(subscribe_to)),
            **_subscription_fields(severity, topic_filter, topic_filter_mode),
        }
        if topic_filter_exclude is not None:
            body["topic_filter_exclude"] = topic_filter_exclude
        if endpoint_id is not None:
            body["endpoint_id"] = str(int(endpoint_id))
        result: CreatedSubscriptions = await self._call(
            CreatedSubscriptions,
            "POST",
            f"{_notifications_path(self, agent_id)}/subscriptions",
            json=body,
            organisation_id=organisation_id,
            idempotent=False,
        )
        return [row.to_dict() for row in result.subscriptions]

    async def update_notification_subscription(
        self,
        agent_id: int | None,
        subscription_id: int,
        severity: NotificationSeverity | int | str | None = None,
        topic_filter: list[str] | None = None,
        organisation_id: int | None = None,
        topic_filter_mode: NotificationTopicFilterMode | str | None = None,
        topic_filter_exclude: list[str] | None = None,
    ) -> None:
        """Change some fields of a subscription (PATCH; ``None`` = unchanged).

        Args:
            agent_id: the subscribing agent (``None`` = the client's default).
            subscription_id: the subscription's id.
            severity: a new lowest severity.
            topic_filter: new topic filters.
            organisation_id: organisation header for this call.
            topic_filter_mode: ``"exact"`` or ``"regex"``.
            topic_filter_exclude: new exclusion regexes (``[]`` clears them).

        Raises:
            ValueError: an unknown severity or filter mode.
        """
        body = _subscription_fields(severity, topic_filter, topic_filter_mode)
        if topic_filter_exclude is not None:
            body["topic_filter_exclude"] = topic_filter_exclude
        await self._call(
            None,
            "PATCH",
            f"{_notifications_path(self, agent_id)}/subscriptions/{int(subscription_id)}",
            json=body,
            organisation_id=organisation_id,
            idempotent=True,
        )

    async def delete_notification_subscription(
        self,
        agent_id: int | None,
        subscription_id: int,
        organisation_id: int | None = None,
    ) -> None:
        """Delete a subscription.

        Args:
            agent_id: the subscribing agent (``None`` = the client's default).
            subscription_id: the subscription's id.
            organisation_id: organisation header for this call.
        """
        await self._call(
            None,
            "DELETE",
            f"{_notifications_path(self, agent_id)}/subscriptions/{int(subscription_id)}",
            organisation_id=organisation_id,
        )

    async def list_default_notification_subscriptions(
        self,
        agent_id: int | None,
        subscribed_to: int | None = None,
        organisation_id: int | None = None,
    ) -> list[NotificationSubscription]:
        """List the subscriptions that deliver to the default endpoints.

        Args:
            agent_id: the subscribing agent (``None`` = the client's default).
            subscribed_to: only subscriptions to this agent.
            organisation_id: organisation header for this call.

        Returns:
            The subscriptions.
        """
        result: SubscriptionList = await self._call(
            SubscriptionList,
            "GET",
            f"{_notifications_path(self, agent_id)}/subscriptions/default",
            query=(("subscribed_to", subscribed_to),),
            organisation_id=organisation_id,
        )
        return result.subscriptions

    async def update_default_notification_subscription(
        self,
        agent_id: int | None,
        subscribed_to: int,
        severity: NotificationSeverity | int | str | None = None,
        topic_filter: list[str] | None = None,
        topic_filter_mode: NotificationTopicFilterMode | str | None = None,
        organisation_id: int | None = None,
    ) -> None:
        """Change every default-endpoint row of one subscription (PATCH; ``None`` =
        unchanged).

        Args:
            agent_id: the subscribing agent (``None`` = the client's default).
            subscribed_to: the agent subscribed to.
            severity: a new lowest severity.
            topic_filter: new topic filters.
            topic_filter_mode: ``"exact"`` or ``"regex"``.
            organisation_id: organisation header for this call.

        Raises:
            ValueError: an unknown severity or filter mode.
        """
        await self._call(
            None,
            "PATCH",
            f"{_notifications_path(self, agent_id)}/subscriptions/default/{int(subscribed_to)}",
            json=_subscription_fields(severity, topic_filter, topic_filter_mode),
            organisation_id=organisation_id,
            idempotent=True,
        )

    async def delete_default_notification_subscription(
        self,
        agent_id: int | None,
        subscribed_to: int,
        organisation_id: int | None = None,
    ) -> None:
        """Delete every default-endpoint row of one subscription.

        Args:
            agent_id: the subscribing agent (``None`` = the client's default).
            subscribed_to: the agent subscribed to.
            organisation_id: organisation header for this call.
        """
        await self._call(
            None,
            "DELETE",
            f"{_notifications_path(self, agent_id)}/subscriptions/default/{int(subscribed_to)}",
            organisation_id=organisation_id,
        )

    async def list_notification_subscribers(
        self,
        agent_id: int | None,
        organisation_id: int | None = None,
    ) -> list[NotificationSubscription]:
        """List the subscriptions other agents hold to this agent's notifications.

        Args:
            agent_id: the agent subscribed to (``None`` = the client's default).
            organisation_id: organisation header for this call.

        Returns:
            The subscriptions.
        """
        result: SubscriberList = await self._call(
            SubscriberList,
            "GET",
            f"{_notifications_path(self, agent_id)}/subscribers",
            organisation_id=organisation_id,
        )
        return result.subscribers

    async def update_web_push_endpoint(
        self,
        old_endpoint: str,
        endpoint: str,
        key_p256dh: str,
        key_auth: str,
        expires_at: int,
        organisation_id: int | None = None,
    ) -> None:
        """Replace the calling user's browser push registration with a renewed one.

        Args:
            old_endpoint: the push service URL being replaced.
            endpoint: the new push service URL.
            key_p256dh: the new subscription's public key.
            key_auth: the new subscription's auth secret.
            expires_at: when the new registration expires.
            organisation_id: organisation header for this call.
        """
        await self._call(
            None,
            "POST",
            "/agents/me/notifications/update_web_push",
            json={
                "old_endpoint": old_endpoint,
                "endpoint": endpoint,
                "key_p256dh": key_p256dh,
                "key_auth": key_auth,
                "expires_at": expires_at,
            },
            organisation_id=organisation_id,
            idempotent=False,
        )

    async def fetch_webpush_public_key(self) -> str:
        """Fetch the VAPID public key browsers subscribe to web push with.

        Sent without a token (the key is public), so it works with no credentials.

        Returns:
            The key.
        """
        result: PublicKey = await self._call(
            PublicKey, "GET", "/notifications/webpush-public-key", authenticated=False
        )
        return result.key
