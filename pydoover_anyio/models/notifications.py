"""Notifications: the payload sent on an agent's ``notifications`` channel, endpoints and
subscriptions (spec §3.10, §4.4).

The server writes :class:`NotificationSeverity` and :class:`NotificationType` by member
name (``"Warn"``, ``"Email"``); decoding also accepts their integers. On input, names match
case-insensitively and a few common misspellings are accepted (``"warning"`` means
``Warn``; ``"error"``, ``"err"``, ``"fatal"`` and ``"crit"`` mean ``Critical``), because the
server silently turns an unreadable notification payload into its raw JSON text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum, IntEnum
from typing import TYPE_CHECKING, Any, ClassVar, Self, cast

import msgspec

from ._base import Id, Model, PlainModel
from .alarms import NotificationPolicy

__all__ = [
    "AgentNotificationResponse",
    "Notification",
    "NotificationEndpoint",
    "NotificationEndpointSummary",
    "NotificationSeverity",
    "NotificationSubscription",
    "NotificationSubscriptionEndpoint",
    "NotificationTopic",
    "NotificationTopicFilterMode",
    "NotificationType",
]

_TOPIC_SEGMENT = re.compile(r"[a-z0-9][a-z0-9._-]*")


class _NamedIntEnum(IntEnum):
    """An int enum the API writes by member name; lookups accept names too."""

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        """Extra lower-case spellings accepted on input, mapped to member names."""
        return {}

    @property
    def wire(self) -> str:
        """The member name, which the server always accepts."""
        return self.name

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        if not isinstance(value, str):
            return None
        wanted = value.strip().lower()
        for member in cls:
            if member.name.lower() == wanted:
                return member
        alias = cls._aliases().get(wanted)
        if alias is not None:
            return cls[alias]
        names = ", ".join(member.name for member in cls)
        raise ValueError(f"{value!r} is not a valid {cls.__name__}; expected one of {names}")


class NotificationType(_NamedIntEnum):
    """How an endpoint delivers (sent by name; the server refuses the integers)."""

    Email = 1
    Sms = 2
    WebPush = 3
    Http = 4
    Placeholder = 5
    FirebasePush = 6


class NotificationSeverity(_NamedIntEnum):
    """How important a notification is; subscribers get those at or above their level."""

    Trace = 3
    Debug = 4
    Info = 5
    Warn = 6
    Critical = 7

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {
            "warning": "Warn",
            "error": "Critical",
            "err": "Critical",
            "fatal": "Critical",
            "crit": "Critical",
        }


class NotificationTopicFilterMode(str, Enum):  # noqa: UP042 (pydoover's str() and format())
    """How ``topic_filter`` entries match: literally, or as full-match regexes."""

    exact = "exact"
    regex = "regex"


class NotificationTopic(str):
    """A canonical notification topic (a ``str``); build one with :meth:`application`."""

    @classmethod
    def application(
        cls,
        app_key: str,
        event: str,
        policy: NotificationPolicy | str = NotificationPolicy.default,
    ) -> NotificationTopic:
        """``dev/applications/<policy>/<app_key>/<event>``.

        Args:
            app_key: The app install name, e.g. ``"pump_controller_1"``.
            event: The event name.
            policy: ``"default"`` or ``"opt-in"``.

        Raises:
            TypeError: ``app_key`` or ``event`` is not a str.
            ValueError: A segment does not match ``[a-z0-9][a-z0-9._-]*``, or the policy
                is unknown.
        """
        for name, segment in (("app_key", app_key), ("event", event)):
            if not isinstance(segment, str):
                raise TypeError(f"topic {name} must be a str, not {type(segment).__name__}")
            if not _TOPIC_SEGMENT.fullmatch(segment):
                raise ValueError(
                    f"topic {name} must match {_TOPIC_SEGMENT.pattern!r}, got {segment!r}"
                )
        return cls(f"dev/applications/{NotificationPolicy(policy).value}/{app_key}/{event}")


class Notification(PlainModel):
    """The payload of a notification (a message on the agent's ``notifications`` channel).

    Fields are checked here because the server does not reject a payload it cannot read:
    it delivers the raw JSON as the text instead.

    Args:
        message: The body; a non-blank string.
        title: A headline (the server defaults it to the agent's name).
        severity: A :class:`NotificationSeverity`, a member name or its integer.
        topic: Matched against subscriptions' topic filters.

    Raises:
        TypeError: A field has the wrong type.
        ValueError: ``message`` is blank, or ``severity`` is not a known level.
    """

    NOTIFICATIONS_CHANNEL: ClassVar[str] = "notifications"

    __slots__ = ("message", "severity", "title", "topic")

    def __init__(
        self,
        message: str,
        title: str | None = None,
        severity: NotificationSeverity | str | int | None = None,
        topic: str | None = None,
    ) -> None:
        if not isinstance(message, str):
            raise TypeError(f"notification message must be a str, not {type(message).__name__}")
        if not message.strip():
            raise ValueError("notification message must not be blank")
        for name, value in (("title", title), ("topic", topic)):
            if value is not None and not isinstance(value, str):
                raise TypeError(
                    f"notification {name} must be a str or None, not {type(value).__name__}"
                )
        self.message = message
        self.title = title
        self.severity = None if severity is None else NotificationSeverity(cast(Any, severity))
        self.topic = topic

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notification:
        """Build a notification from its payload object (validated as by the constructor).

        Raises:
            KeyError: ``message`` is missing.
            TypeError: A field has the wrong type.
            ValueError: A field has a wrong value.
        """
        return cls(data["message"], data.get("title"), data.get("severity"), data.get("topic"))

    def to_dict(self) -> dict[str, Any]:
        """The payload: ``message``, plus ``title``, ``severity`` (int) and ``topic`` if set."""
        result: dict[str, Any] = {"message": self.message}
        if self.title is not None:
            result["title"] = self.title
        if self.severity is not None:
            result["severity"] = self.severity.value
        if self.topic is not None:
            result["topic"] = str(self.topic)
        return result


if TYPE_CHECKING:
    _Severity = NotificationSeverity
    _Type = NotificationType
    _Excludes = list[str]
else:  # names or integers (or null) on the wire; __post_init__ normalises them
    _Severity = int | str
    _Type = int | str
    _Excludes = list[str] | None


class NotificationEndpoint(Model):
    """A delivery target of an agent (e-mail address, phone, web push, HTTP hook, ...)."""

    _omit_none = frozenset({"priority"})
    _by_name = frozenset({"type"})

    id: Id
    agent_id: Id
    type: _Type
    name: str
    default: bool
    extra_data: Any
    priority: int | None = None

    def __post_init__(self) -> None:
        self.type = NotificationType(self.type)


class NotificationEndpointSummary(Model):
    """An endpoint without its destination or credentials, and whether it can deliver."""

    _omit_none = frozenset({"priority"})
    _by_name = frozenset({"type"})

    id: Id
    type: _Type
    name: str
    default: bool
    ready: bool
    priority: int | None = None

    def __post_init__(self) -> None:
        self.type = NotificationType(self.type)


class NotificationSubscriptionEndpoint(Model, gc=False):
    """An endpoint a subscription delivers to."""

    id: Id
    name: str
    default: bool


class NotificationSubscription(Model):
    """Who (``subscriber``) gets which notifications of whom (``subscribed_to``)."""

    id: Id
    subscriber: Id
    subscribed_to: Id
    severity: _Severity
    topic_filter: list[str]
    endpoints: list[NotificationSubscriptionEndpoint] = msgspec.field(default_factory=list)
    topic_filter_mode: NotificationTopicFilterMode = NotificationTopicFilterMode.exact
    topic_filter_exclude: _Excludes = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        self.severity = NotificationSeverity(self.severity)
        self.topic_filter_mode = NotificationTopicFilterMode(self.topic_filter_mode)
        if self.topic_filter_exclude is None:  # null on the wire
            self.topic_filter_exclude = []


class AgentNotificationResponse(Model):
    """An agent's subscriptions, its subscribers and its endpoints."""

    subscriptions: list[NotificationSubscription]
    subscribers: list[NotificationSubscription]
    endpoints: list[NotificationEndpoint]
