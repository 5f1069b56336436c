"""Small response envelopes the client unwraps (not part of the public API).

Each holds one endpoint's wrapper object; the client returns what pydoover returns from
it (e.g. ``CreatedId(...).id`` for ``create_channel``).
"""

from __future__ import annotations

import msgspec

from ._base import Id
from .notifications import (
    NotificationEndpoint,
    NotificationEndpointSummary,
    NotificationSubscription,
)

__all__ = [
    "CreatedId",
    "CreatedSubscription",
    "CreatedSubscriptions",
    "EndpointList",
    "EndpointSummaryList",
    "PublicKey",
    "SubscriberList",
    "SubscriptionList",
    "Success",
    "Token",
]


class CreatedId(msgspec.Struct):
    """``{"id": "<snowflake>"}``: create_channel, create_notification_endpoint."""

    id: Id


class Success(msgspec.Struct):
    """``{"success": bool}``: test_notification_endpoint."""

    success: bool


class Token(msgspec.Struct):
    """``{"token": "..."}``: regenerate_schedule_token."""

    token: str

    def __repr__(self) -> str:
        return "Token(token=<redacted>)"


class PublicKey(msgspec.Struct):
    """``{"key": "..."}``: fetch_webpush_public_key."""

    key: str


class EndpointList(msgspec.Struct):
    """``{"endpoints": [...]}``: list_notification_endpoints."""

    endpoints: list[NotificationEndpoint]


class EndpointSummaryList(msgspec.Struct):
    """``{"endpoints": [...]}``: list_notification_endpoint_summaries."""

    endpoints: list[NotificationEndpointSummary]


class SubscriptionList(msgspec.Struct):
    """``{"subscriptions": [...]}``: the subscription listings."""

    subscriptions: list[NotificationSubscription]


class SubscriberList(msgspec.Struct):
    """``{"subscribers": [...]}``: list_notification_subscribers."""

    subscribers: list[NotificationSubscription]


class CreatedSubscription(msgspec.Struct):
    """One row (one endpoint) of a created notification subscription."""

    id: Id
    endpoint_id: Id

    def to_dict(self) -> dict[str, int]:
        """``{"id": int, "endpoint_id": int}``, what pydoover returns per row."""
        return {"id": self.id, "endpoint_id": self.endpoint_id}


class CreatedSubscriptions(msgspec.Struct):
    """``{"subscriptions": [{"id", "endpoint_id"}, ...]}``: create_notification_subscription."""

    subscriptions: list[CreatedSubscription]
