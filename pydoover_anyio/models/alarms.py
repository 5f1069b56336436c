"""Alarms and their conditions (spec §3.8, §4.3).

An alarm is in ``Alarm`` state when every one of its conditions holds (a flat AND; an OR
is a second alarm). Older alarms carry a single condition as ``key``/``operator``/
``value`` (or the ``rate_*`` fields) instead of ``conditions``; decoding turns those into
one condition with id ``"c1"``, and fills a missing ``key``/``operator``/``value`` from the
primary condition (the first threshold, else the first rate, else the first compare), so
callers never need to know which kind of payload they got.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any

import msgspec

from ._base import REQUIRED, Id, Model, PlainModel, register_decoder

__all__ = [
    "Alarm",
    "AlarmMessages",
    "AlarmOperator",
    "AlarmState",
    "AlarmStateMessage",
    "Condition",
    "ConditionState",
    "ConditionType",
    "NotificationPolicy",
]

#: Default of fields whose absence (unlike ``null``) means "derive it".
_ABSENT: Any = msgspec.UNSET
#: Default of fields that may be null on the wire but never are after ``__post_init__``.
_FILLED_IN: Any = None


class AlarmOperator(str, Enum):  # noqa: UP042 (pydoover's str() and format())
    """How a reading is compared."""

    eq = "eq"
    ge = "ge"
    gt = "gt"
    le = "le"
    lt = "lt"


class AlarmState(str, Enum):  # noqa: UP042 (pydoover's str() and format())
    """The state an alarm is in."""

    NoData = "NoData"
    OK = "OK"
    Alarm = "Alarm"
    AlarmPending = "AlarmPending"


class NotificationPolicy(str, Enum):  # noqa: UP042 (pydoover's str() and format())
    """Whether broad default notification subscriptions include an alarm's topic."""

    default = "default"
    opt_in = "opt-in"


class ConditionType(str, Enum):  # noqa: UP042 (pydoover's str() and format())
    """What one alarm condition tests."""

    threshold = "threshold"
    rate = "rate"
    compare = "compare"
    time_of_day = "time_of_day"


def _time_to_ms(value: dt.time | int) -> int:
    """Milliseconds since UTC midnight of a naive (UTC) time; ints pass through."""
    if isinstance(value, int):
        return value
    if value.tzinfo is not None:
        raise ValueError(
            "time-of-day windows are stored in UTC and an aware time has no date to convert "
            "with; convert to UTC yourself and pass a naive time or from_ms/to_ms"
        )
    return ((value.hour * 60 + value.minute) * 60 + value.second) * 1000 + value.microsecond // 1000


class Condition(PlainModel):
    """One condition of an alarm. Prefer the constructors :meth:`threshold`, :meth:`rate`,
    :meth:`compare`, :meth:`time_of_day` and :meth:`time_between`.

    ``id`` is assigned by the server; send it back when editing an alarm so the server
    keeps that condition's runtime state (e.g. a rate baseline). New conditions leave it
    ``None``.

    Args:
        type: The condition kind (a :class:`ConditionType` or its value).
        id: The server-assigned id, e.g. ``"c1"``.
        key: Dotted path of the aggregate value read.
        operator: How it is compared (an :class:`AlarmOperator` or its value).
        value: The constant of a threshold condition.
        other_key: The value compared with, for a compare condition.
        offset: Added to ``other_key``'s value, for a compare condition.
        rate_threshold: Units per second, for a rate condition.
        rate_window_ms: The window a rate is measured over.
        from_ms: Start of a time-of-day window, ms since UTC midnight.
        to_ms: End of a time-of-day window (``from_ms > to_ms`` wraps midnight).
        invert: Whether a time-of-day window means "outside these hours".

    Raises:
        ValueError: ``type`` or ``operator`` is not a known value.
    """

    __slots__ = (
        "from_ms",
        "id",
        "invert",
        "key",
        "offset",
        "operator",
        "other_key",
        "rate_threshold",
        "rate_window_ms",
        "to_ms",
        "type",
        "value",
    )

    def __init__(
        self,
        type: ConditionType | str,
        *,
        id: str | None = None,
        key: str | None = None,
        operator: AlarmOperator | str | None = None,
        value: Any = None,
        other_key: str | None = None,
        offset: float | None = None,
        rate_threshold: float | None = None,
        rate_window_ms: int | None = None,
        from_ms: int | None = None,
        to_ms: int | None = None,
        invert: bool = False,
    ) -> None:
        self.type = ConditionType(type)
        self.id = id
        self.key = key
        self.operator = None if operator is None else AlarmOperator(operator)
        self.value = value
        self.other_key = other_key
        self.offset = offset
        self.rate_threshold = rate_threshold
        self.rate_window_ms = rate_window_ms
        self.from_ms = from_ms
        self.to_ms = to_ms
        self.invert = invert

    @classmethod
    def threshold(
        cls, key: str, operator: AlarmOperator | str, value: Any, *, id: str | None = None
    ) -> Condition:
        """``key <operator> value``; also covers equality with a status string."""
        return cls(ConditionType.threshold, id=id, key=key, operator=operator, value=value)

    @classmethod
    def rate(
        cls,
        key: str,
        operator: AlarmOperator | str,
        rate_threshold: float,
        rate_window_ms: int,
        *,
        id: str | None = None,
    ) -> Condition:
        """Rate of change of ``key`` in units per second over ``rate_window_ms``.

        ``eq`` is not allowed: use ``gt``/``ge`` for a rise and ``lt``/``le`` with a
        negative threshold for a fall.
        """
        return cls(
            ConditionType.rate,
            id=id,
            key=key,
            operator=operator,
            rate_threshold=rate_threshold,
            rate_window_ms=rate_window_ms,
        )

    @classmethod
    def compare(
        cls,
        key: str,
        operator: AlarmOperator | str,
        other_key: str,
        offset: float | None = None,
        *,
        id: str | None = None,
    ) -> Condition:
        """``key <operator> other_key + offset``."""
        return cls(
            ConditionType.compare,
            id=id,
            key=key,
            operator=operator,
            other_key=other_key,
            offset=offset,
        )

    @classmethod
    def time_of_day(
        cls, from_ms: int, to_ms: int, *, invert: bool = False, id: str | None = None
    ) -> Condition:
        """A window in ms since UTC midnight (``from_ms > to_ms`` wraps midnight)."""
        return cls(ConditionType.time_of_day, id=id, from_ms=from_ms, to_ms=to_ms, invert=invert)

    @classmethod
    def time_between(
        cls,
        start: dt.time | int,
        end: dt.time | int,
        *,
        invert: bool = False,
        id: str | None = None,
    ) -> Condition:
        """A window between two naive UTC times (or ms since UTC midnight).

        Raises:
            ValueError: A time is timezone-aware (it cannot be converted without a date).
        """
        return cls.time_of_day(_time_to_ms(start), _time_to_ms(end), invert=invert, id=id)

    @property
    def keys(self) -> list[str]:
        """The aggregate keys this condition reads (none for a time window)."""
        if self.type is ConditionType.compare:
            return [key for key in (self.key, self.other_key) if key]
        return [self.key] if self.key else []

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Condition:
        """Build a condition from its JSON object.

        Raises:
            msgspec.ValidationError: ``data`` is not a condition (a ``ValueError``).
        """
        wire = msgspec.convert(data, _ConditionWire, strict=False)
        return cls(
            wire.type,
            id=wire.id,
            key=wire.key,
            operator=wire.operator,
            value=wire.value,
            other_key=wire.other_key,
            offset=wire.offset,
            rate_threshold=wire.rate_threshold,
            rate_window_ms=wire.rate_window_ms,
            from_ms=wire.from_ms,
            to_ms=wire.to_ms,
            invert=wire.invert,
        )

    def to_dict(self) -> dict[str, Any]:
        """The wire form: ``type``, then only the keys that condition type uses."""
        result: dict[str, Any] = {"type": self.type.value}
        if self.id is not None:
            result["id"] = self.id
        if self.operator is not None:
            result["operator"] = self.operator.value
        if self.key is not None:
            result["key"] = self.key
        if self.type is ConditionType.threshold:
            result["value"] = self.value
        elif self.type is ConditionType.rate:
            result["rate_threshold"] = self.rate_threshold
            result["rate_window_ms"] = self.rate_window_ms
        elif self.type is ConditionType.compare:
            result["other_key"] = self.other_key
            if self.offset is not None:
                result["offset"] = self.offset
        else:
            result["from_ms"] = self.from_ms
            result["to_ms"] = self.to_ms
            if self.invert:
                result["invert"] = True
        return result


class _ConditionWire(msgspec.Struct, kw_only=True):
    """The JSON shape of a condition, for validation before building a Condition."""

    type: ConditionType
    id: str | None = None
    key: str | None = None
    operator: AlarmOperator | None = None
    value: Any = None
    other_key: str | None = None
    offset: int | float | None = None
    rate_threshold: int | float | None = None
    rate_window_ms: int | None = None
    from_ms: int | None = None
    to_ms: int | None = None
    invert: bool = False


class ConditionState(Model):
    """Read-only runtime state the server keeps for one condition."""

    _omit_none = frozenset({"baseline_value", "baseline_ts", "last_seen_ts", "last_verdict"})

    baseline_value: int | float | None = None
    baseline_ts: int | None = None
    last_seen_ts: int | None = None
    last_verdict: bool | None = None


class AlarmStateMessage(PlainModel):
    """Notification override for entering one alarm state.

    Args:
        notify: Whether entering the state notifies at all.
        text: The notification text; ``None`` for the generated wording.
    """

    __slots__ = ("notify", "text")

    def __init__(self, notify: bool = True, text: str | None = None) -> None:
        self.notify = notify
        self.text = text

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlarmStateMessage:
        """Build the override from its JSON object.

        Raises:
            msgspec.ValidationError: ``data`` has the wrong shape (a ``ValueError``).
        """
        wire = msgspec.convert(data, _StateMessageWire, strict=False)
        return cls(wire.notify, wire.text)

    def to_dict(self) -> dict[str, Any]:
        """``{"notify": bool}`` plus ``"text"`` when set."""
        result: dict[str, Any] = {"notify": self.notify}
        if self.text is not None:
            result["text"] = self.text
        return result


class AlarmMessages(PlainModel):
    """Per-state notification overrides, keyed by the state being entered.

    A state left ``None`` behaves by default. ``ok`` covers recoveries from both
    ``Alarm`` and ``AlarmPending``.

    Args:
        alarm: Override for entering ``Alarm``.
        ok: Override for entering ``OK``.
        pending: Override for entering ``AlarmPending``.
        no_data: Override for entering ``NoData``.
    """

    __slots__ = ("alarm", "no_data", "ok", "pending")

    def __init__(
        self,
        alarm: AlarmStateMessage | None = None,
        ok: AlarmStateMessage | None = None,
        pending: AlarmStateMessage | None = None,
        no_data: AlarmStateMessage | None = None,
    ) -> None:
        self.alarm = alarm
        self.ok = ok
        self.pending = pending
        self.no_data = no_data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlarmMessages:
        """Build the overrides from their JSON object.

        Raises:
            msgspec.ValidationError: ``data`` has the wrong shape (a ``ValueError``).
        """
        wire = msgspec.convert(data, _MessagesWire, strict=False)

        def build(state: _StateMessageWire | None) -> AlarmStateMessage | None:
            return None if state is None else AlarmStateMessage(state.notify, state.text)

        return cls(build(wire.alarm), build(wire.ok), build(wire.pending), build(wire.no_data))

    def to_dict(self) -> dict[str, Any]:
        """Only the states that have an override."""
        states = (("alarm", self.alarm), ("ok", self.ok), ("pending", self.pending))
        return {
            name: message.to_dict()
            for name, message in (*states, ("no_data", self.no_data))
            if message is not None
        }


class _StateMessageWire(msgspec.Struct):
    notify: bool = True
    text: str | None = None


class _MessagesWire(msgspec.Struct):
    alarm: _StateMessageWire | None = None
    ok: _StateMessageWire | None = None
    pending: _StateMessageWire | None = None
    no_data: _StateMessageWire | None = None


if TYPE_CHECKING:
    _Key = str
    _Conditions = list[Condition]
    _ConditionStates = dict[str, ConditionState]
    _RateThreshold = int | float | None
    _RateWindow = int | None
else:  # on the wire these may be null or absent; Alarm.__post_init__ fills them in
    _Key = str | None
    _Conditions = list[Condition] | None
    _ConditionStates = dict[str, ConditionState] | None
    _RateThreshold = int | float | None | msgspec.UnsetType
    _RateWindow = int | None | msgspec.UnsetType


def _legacy_conditions(
    key: str | None, operator: AlarmOperator | None, value: Any, threshold: Any, window: Any
) -> list[Condition]:
    """The one condition an alarm from before ``conditions`` existed describes."""
    if key is None or operator is None:
        return []
    if window is not None and window is not msgspec.UNSET:
        rate = None if threshold is msgspec.UNSET else threshold
        return [
            Condition(
                ConditionType.rate,
                id="c1",
                key=key,
                operator=operator,
                rate_threshold=rate,
                rate_window_ms=window,
            )
        ]
    return [Condition.threshold(key, operator, None if value is msgspec.UNSET else value, id="c1")]


def _primary_condition(conditions: list[Condition]) -> Condition | None:
    """The condition ``key``/``operator``/``value`` describe (the server's choice)."""
    for wanted in (ConditionType.threshold, ConditionType.rate, ConditionType.compare):
        for condition in conditions:
            if condition.type is wanted:
                return condition
    return None


class Alarm(Model):
    """An alarm on a channel; the arguments are in pydoover's order.

    ``state`` and ``entered_state_ts`` are required (their default only keeps that order).
    """

    _omit_none = frozenset(
        {
            "expiry_mins",
            "last_seen_ts",
            "alarm_pending_ms",
            "rate_threshold",
            "rate_window_ms",
            "rate_baseline_value",
            "rate_baseline_ts",
            "messages",
        }
    )
    _omit_empty = frozenset({"condition_summary", "condition_state"})

    id: Id
    name: str
    description: str
    enabled: bool
    key: _Key = _FILLED_IN
    operator: AlarmOperator | None = None
    value: Any = _ABSENT
    state: AlarmState = REQUIRED
    entered_state_ts: int = REQUIRED
    conditions: _Conditions = _FILLED_IN
    condition_state: _ConditionStates = _FILLED_IN
    condition_summary: str = ""
    expiry_mins: int | float | None = None
    topic_name: str = ""
    notification_policy: NotificationPolicy = NotificationPolicy.default
    channel_name: str = ""
    last_seen_ts: int | None = None
    alarm_pending_ms: int | None = None
    messages: AlarmMessages | None = None
    rate_threshold: _RateThreshold = _ABSENT
    rate_window_ms: _RateWindow = _ABSENT
    rate_baseline_value: int | float | None = None
    rate_baseline_ts: int | None = None

    def __post_init__(self) -> None:
        if self.state is REQUIRED or self.entered_state_ts is REQUIRED:
            raise ValueError("an alarm needs `state` and `entered_state_ts`")
        self.id = int(self.id)
        self.state = AlarmState(self.state)
        self.notification_policy = NotificationPolicy(self.notification_policy)
        if self.operator is not None:
            self.operator = AlarmOperator(self.operator)
        # As received: None for null or absent, UNSET for absent where that differs.
        key: str | None = self.key
        value: Any = self.value
        threshold: Any = self.rate_threshold
        window: Any = self.rate_window_ms
        self.condition_state = self.condition_state or {}
        conditions: list[Condition] | None = self.conditions
        if not conditions:
            conditions = _legacy_conditions(key, self.operator, value, threshold, window)
        self.conditions = conditions
        primary = _primary_condition(conditions)
        if key is None:
            self.key = (primary.key if primary else None) or ""
        if self.operator is None and primary is not None:
            self.operator = primary.operator
        if value is msgspec.UNSET:
            self.value = primary.value if primary else None
        if threshold is msgspec.UNSET:
            self.rate_threshold = primary.rate_threshold if primary else None
        if window is msgspec.UNSET:
            self.rate_window_ms = primary.rate_window_ms if primary else None

    @property
    def primary_condition(self) -> Condition | None:
        """The condition ``key``/``operator``/``value`` describe, if any."""
        return _primary_condition(self.conditions)

    @property
    def is_rate_alarm(self) -> bool:
        """Whether the primary condition is a rate of change."""
        return self.rate_window_ms is not None

    @property
    def has_time_window(self) -> bool:
        """Whether a time-of-day condition restricts the alarm."""
        return any(c.type is ConditionType.time_of_day for c in self.conditions)

    @property
    def is_multi_condition(self) -> bool:
        """Whether more than one condition must hold (then read ``conditions``)."""
        return len(self.conditions) > 1


register_decoder(Condition, Condition.from_dict)
register_decoder(AlarmStateMessage, AlarmStateMessage.from_dict)
register_decoder(AlarmMessages, AlarmMessages.from_dict)
