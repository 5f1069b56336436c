"""Doover Data API models, with pydoover 1.18.3's names and attributes.

Response models are ``msgspec.Struct`` types: snowflake ids are exact ``int`` (sent as JSON
strings), Unix-millisecond times stay ``int`` except ``last_updated`` of ``Aggregate`` and
``AgentAggregate`` (an aware datetime, as in pydoover), unknown fields are ignored, and
each has ``from_dict`` and ``to_dict`` like pydoover's. Argument models (``File``,
``BatchMutationItem``, ``Condition``, ``AlarmMessages``, ``Notification``, ...) take
pydoover's constructor arguments; those with a JSON form render it with ``to_dict()``.
"""

from __future__ import annotations

from .alarms import (
    Alarm,
    AlarmMessages,
    AlarmOperator,
    AlarmState,
    AlarmStateMessage,
    Condition,
    ConditionState,
    ConditionType,
    NotificationPolicy,
)
from .batch import (
    MAX_BATCH_MUTATIONS,
    AgentAggregate,
    BatchAggregateResponse,
    BatchMessageResponse,
    BatchMutationItem,
    BatchMutationResponse,
    BatchMutationResult,
)
from .channels import Aggregate, Attachment, Channel, ChannelID, File, Message, MessageLogEntry
from .connection_status import (
    ConnectionConfig,
    ConnectionDetermination,
    ConnectionDisplay,
    ConnectionStatus,
    ConnectionType,
    DooverConnectionStatus,
)
from .connections import (
    AgentPermission,
    ConnectionDetail,
    ConnectionSubscription,
    ConnectionSubscriptionLog,
    ResourcePermission,
)
from .notifications import (
    AgentNotificationResponse,
    Notification,
    NotificationEndpoint,
    NotificationEndpointSummary,
    NotificationSeverity,
    NotificationSubscription,
    NotificationSubscriptionEndpoint,
    NotificationTopic,
    NotificationTopicFilterMode,
    NotificationType,
)
from .processors import (
    ConfirmedDeviceToken,
    ProcessorTokenResponse,
    RotatedDeviceToken,
    SubscriptionInfo,
    TurnCredential,
)
from .timeseries import DataPoint, TimeseriesResponse

__all__ = [
    "MAX_BATCH_MUTATIONS",
    "AgentAggregate",
    "AgentNotificationResponse",
    "AgentPermission",
    "Aggregate",
    "Alarm",
    "AlarmMessages",
    "AlarmOperator",
    "AlarmState",
    "AlarmStateMessage",
    "Attachment",
    "BatchAggregateResponse",
    "BatchMessageResponse",
    "BatchMutationItem",
    "BatchMutationResponse",
    "BatchMutationResult",
    "Channel",
    "ChannelID",
    "Condition",
    "ConditionState",
    "ConditionType",
    "ConfirmedDeviceToken",
    "ConnectionConfig",
    "ConnectionDetail",
    "ConnectionDetermination",
    "ConnectionDisplay",
    "ConnectionStatus",
    "ConnectionSubscription",
    "ConnectionSubscriptionLog",
    "ConnectionType",
    "DataPoint",
    "DooverConnectionStatus",
    "File",
    "Message",
    "MessageLogEntry",
    "Notification",
    "NotificationEndpoint",
    "NotificationEndpointSummary",
    "NotificationPolicy",
    "NotificationSeverity",
    "NotificationSubscription",
    "NotificationSubscriptionEndpoint",
    "NotificationTopic",
    "NotificationTopicFilterMode",
    "NotificationType",
    "ProcessorTokenResponse",
    "ResourcePermission",
    "RotatedDeviceToken",
    "SubscriptionInfo",
    "TimeseriesResponse",
    "TurnCredential",
]
